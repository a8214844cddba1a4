//! The scanseal ledger: an append-only log of seals in one SQLite file, verifiable as an
//! RFC 9162 Merkle tree, with C2SP checkpoints and offline proofs (spec/ledger.md).
//!
//! What it does: records one [`Entry`] per seal (kind, signer key id, envelope digest, pixel
//! digest, a hash of the SOP Instance UID — never PHI), keeps every perfect subtree hash so
//! that appends, roots and proofs cost O(log n) database work, signs checkpoints of the tree
//! head with the ledger key ([`Ledger::checkpoint`]), writes self-contained proofs
//! ([`Ledger::prove`], [`EntryProof`]) and verifies a whole ledger against checkpoints kept
//! elsewhere ([`audit`]).
//!
//! What it does not do: it does not store seals or files, decide trust (callers pass the
//! trust store's `ledger` keys), or read DICOM; [`NewEntry::for_seal`] takes a seal record and
//! an [`instance_key`] computed by the caller (see [`sop_instance_uid`]).
//!
//! Concurrency: any number of processes may append at once; each append is one
//! `BEGIN IMMEDIATE` transaction, committed durably (WAL, `synchronous=FULL`) before it
//! returns.

#![forbid(unsafe_code)]

mod audit;
mod entry;
mod error;
pub mod merkle;
mod note;
mod proof;
mod store;
#[cfg(test)]
mod vectors;

pub use audit::{audit, Audit, AuditOptions, Problem, ProblemKind};
pub use entry::{
    instance_key, sop_instance_uid, Entry, EntryKind, NewEntry, PixelRecord, ENTRY_FORMAT,
};
pub use error::LedgerError;
pub use note::{
    note_key_hash, validate_origin, verifier_key, Checkpoint, NoteSignature, SignedCheckpoint,
};
pub use proof::{EntryProof, VerifiedProof, MAX_PROOF_BYTES, PROOF_HEADER};
pub use store::{default_origin, Ledger, StoredCheckpoint, APPLICATION_ID, SCHEMA_VERSION};
