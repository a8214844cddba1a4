use std::path::PathBuf;

/// Why a ledger operation failed. Every variant names what is wrong so the message can be
/// shown to a user as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The file is not a SQLite database, or not a scanseal ledger.
    #[error("{path}: not a scanseal ledger ({reason})")]
    NotALedger { path: PathBuf, reason: String },
    /// The ledger was written by a newer scanseal.
    #[error("{path}: ledger schema version {found} is newer than this scanseal understands ({supported}); upgrade scanseal")]
    NewerVersion {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// `ledger init` on a path that exists.
    #[error("{path}: already exists; a ledger is never overwritten")]
    AlreadyExists { path: PathBuf },
    /// The ledger file does not exist.
    #[error("{path}: no ledger here (create one with `scanseal ledger init {path}`)")]
    Missing { path: PathBuf },
    /// An origin that cannot be a checkpoint origin / signed-note key name.
    #[error("invalid ledger origin {origin:?}: {reason}")]
    InvalidOrigin {
        origin: String,
        reason: &'static str,
    },
    /// An entry encoding, checkpoint, note or proof that does not follow spec/ledger.md.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// A stored row that is not what the format allows (the database was edited).
    #[error("ledger entry #{seq} is corrupt: {reason}")]
    CorruptEntry { seq: u64, reason: String },
    /// A sequence number or tree size beyond the ledger.
    #[error("{what} {value} is beyond the ledger, which has {size} entries")]
    OutOfRange {
        what: &'static str,
        value: u64,
        size: u64,
    },
    /// A node the tree needs is missing from the database.
    #[error("ledger node (level {level}, index {index}) is missing: the database is damaged or was edited")]
    MissingNode { level: u8, index: u64 },
    /// A signature that does not verify, or no acceptable signature at all.
    #[error("{what}: {reason}")]
    Signature { what: &'static str, reason: String },
    /// Merkle proof generation failed on its arguments.
    #[error("Merkle tree: {0}")]
    Merkle(#[from] crate::merkle::MerkleError),
    /// A proof that does not verify.
    #[error("proof does not verify: {0}")]
    Proof(#[from] crate::merkle::ProofError),
    /// The seal given to build an entry could not be read.
    #[error("seal: {0}")]
    Seal(#[from] scanseal_seal::SealError),
    /// SQLite failed.
    #[error("{path}: database error: {source}")]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
