//! The SQLite database (spec/ledger.md §7).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use scanseal_canon::{Digest, PixelMode};
use scanseal_keys::{KeyId, PublicKey, SigningKey};
use time::OffsetDateTime;

use crate::entry::{Entry, EntryKind, NewEntry, PixelRecord};
use crate::merkle::{self, node_hash, Hash, NodeSource};
use crate::note::{validate_origin, Checkpoint, SignedCheckpoint};
use crate::proof::EntryProof;
use crate::LedgerError;

/// `PRAGMA application_id` of a scanseal ledger: "SSLG".
pub const APPLICATION_ID: i64 = 0x5353_4C47;
/// The schema version this build writes and the newest it reads.
pub const SCHEMA_VERSION: i64 = 1;
/// How long a writer waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// Schema migrations: `MIGRATIONS[v]` takes a database from version `v` to `v + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE ledger_meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE entries (
    seq          INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 0),
    recorded     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    signer       BLOB NOT NULL,
    envelope     BLOB NOT NULL,
    pixel_mode   TEXT,
    pixel_digest BLOB,
    pixel_tile_size INTEGER,
    instance     BLOB NOT NULL,
    predecessor  BLOB
);
CREATE INDEX entries_by_envelope ON entries (envelope);
CREATE INDEX entries_by_instance ON entries (instance);
CREATE INDEX entries_by_pixels ON entries (pixel_digest);
CREATE TABLE nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY,
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    key_id     BLOB NOT NULL,
    public_key BLOB NOT NULL,
    created    TEXT NOT NULL,
    note       TEXT NOT NULL
);
CREATE INDEX checkpoints_by_size ON checkpoints (size);
CREATE TRIGGER ledger_meta_no_update BEFORE UPDATE ON ledger_meta
    BEGIN SELECT RAISE(ABORT, 'the scanseal ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER ledger_meta_no_delete BEFORE DELETE ON ledger_meta
    BEGIN SELECT RAISE(ABORT, 'the scanseal ledger is append-only: DELETE refused'); END;
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'the scanseal ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'the scanseal ledger is append-only: DELETE refused'); END;
CREATE TRIGGER nodes_no_update BEFORE UPDATE ON nodes
    BEGIN SELECT RAISE(ABORT, 'the scanseal ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER nodes_no_delete BEFORE DELETE ON nodes
    BEGIN SELECT RAISE(ABORT, 'the scanseal ledger is append-only: DELETE refused'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'the scanseal ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'the scanseal ledger is append-only: DELETE refused'); END;
"#];

/// A checkpoint as stored in the ledger.
#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    /// Row id (order of creation).
    pub id: i64,
    /// When it was made (the ledger's clock).
    pub created: String,
    /// The key recorded as its signer.
    pub public_key: Option<PublicKey>,
    /// The signed note, parsed.
    pub note: Result<SignedCheckpoint, String>,
    /// Size as stored in its row.
    pub size: u64,
}

/// An open ledger.
pub struct Ledger {
    connection: Connection,
    path: PathBuf,
    origin: String,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.path)
            .field("origin", &self.origin)
            .finish()
    }
}

/// A default origin: unique per ledger, following the signed-note advice of a schema-less URL.
pub fn default_origin() -> String {
    let suffix: [u8; 8] = rand::random();
    format!("scanseal.local/ledger/{}", hex::encode(suffix))
}

impl Ledger {
    /// Creates a new, empty ledger at `path`, which must not exist. The database is built in a
    /// temporary file next to it and moved into place only when complete.
    ///
    /// # Errors
    /// `AlreadyExists`, `InvalidOrigin`, `Io`, `Database`.
    pub fn create(path: &Path, origin: &str) -> Result<Ledger, LedgerError> {
        validate_origin(origin)?;
        if path.symlink_metadata().is_ok() {
            return Err(LedgerError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        let io = |source| LedgerError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".scanseal-ledger-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io)?;
        {
            let mut connection = Connection::open(temp.path()).map_err(db(temp.path()))?;
            connection
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
                .map_err(db(path))?;
            let tx = connection.transaction().map_err(db(path))?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(db(path))?;
            migrate(&tx, 0, path)?;
            let created = now_text()?;
            tx.execute(
                "INSERT INTO ledger_meta (name, value) VALUES ('origin', ?1), ('created', ?2)",
                params![origin, created],
            )
            .map_err(db(path))?;
            tx.commit().map_err(db(path))?;
            // Closing the last connection checkpoints the WAL into the main file, so the file
            // moved into place below is the whole database.
            connection.close().map_err(|(_, e)| db(path)(e))?;
        }
        temp.as_file().sync_all().map_err(io)?;
        temp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                LedgerError::AlreadyExists {
                    path: path.to_path_buf(),
                }
            } else {
                io(e.error)
            }
        })?;
        if let Ok(dir) = std::fs::File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ledger::open(path)
    }

    /// Opens an existing ledger for appending (migrating an older schema).
    ///
    /// # Errors
    /// `Missing`, `NotALedger`, `NewerVersion`, `Database`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        Ledger::open_with(path, false)
    }

    /// Opens an existing ledger read-only (for verification and lookups).
    ///
    /// # Errors
    /// As [`Ledger::open`].
    pub fn open_read_only(path: &Path) -> Result<Ledger, LedgerError> {
        Ledger::open_with(path, true)
    }

    fn open_with(path: &Path, read_only: bool) -> Result<Ledger, LedgerError> {
        match path.metadata() {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(LedgerError::NotALedger {
                    path: path.to_path_buf(),
                    reason: "not a regular file".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LedgerError::Missing {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(LedgerError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        check_header(path)?;
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let not_a_ledger = |reason: String| LedgerError::NotALedger {
            path: path.to_path_buf(),
            reason,
        };
        let mut connection = Connection::open_with_flags(path, flags).map_err(db(path))?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(db(path))?;
        let mut application_id =
            connection.pragma_query_value(None, "application_id", |row| row.get::<_, i64>(0));
        if read_only && is_cannot_open(&application_id) && has_wal_content(path) {
            return Err(LedgerError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other(
                    "cannot be opened here: SQLite cannot create its -shm file in this directory \
                     and a write-ahead log (-wal) with unmerged entries lies next to it; copy the \
                     database together with its -wal file to writable storage",
                ),
            });
        }
        if read_only && is_cannot_open(&application_id) {
            // A WAL database on read-only media (evidence on a write-protected disk) cannot be
            // opened normally: SQLite wants to create its -shm file. With no WAL content to
            // read and nobody able to write there, the file is opened as immutable instead.
            connection = Connection::open_with_flags(
                immutable_uri(path),
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(db(path))?;
            application_id =
                connection.pragma_query_value(None, "application_id", |row| row.get(0));
        }
        let application_id: i64 = application_id.map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
                not_a_ledger("not a SQLite database".into())
            }
            e => db(path)(e),
        })?;
        if application_id != APPLICATION_ID {
            return Err(not_a_ledger(format!(
                "SQLite application id {application_id:#x}, expected {APPLICATION_ID:#x}"
            )));
        }
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(db(path))?;
        if version > SCHEMA_VERSION {
            return Err(LedgerError::NewerVersion {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            return Err(not_a_ledger(format!("schema version {version}")));
        }
        // The three lookup indexes are keyed by hashes, so appends touch random pages; a
        // larger page cache keeps them in memory for big ledgers (64 MiB, allocated lazily).
        connection
            .pragma_update(None, "cache_size", -65_536)
            .map_err(db(path))?;
        if !read_only {
            connection
                .pragma_update(None, "synchronous", "FULL")
                .map_err(db(path))?;
            if version < SCHEMA_VERSION {
                let tx = connection
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(db(path))?;
                migrate(&tx, version, path)?;
                tx.commit().map_err(db(path))?;
            }
        } else if version < SCHEMA_VERSION {
            return Err(not_a_ledger(format!(
                "schema version {version} needs migrating; open it for writing once"
            )));
        }
        let origin: Option<String> = connection
            .query_row(
                "SELECT value FROM ledger_meta WHERE name = 'origin'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(db(path))?;
        let origin = origin.ok_or_else(|| not_a_ledger("no origin recorded".into()))?;
        validate_origin(&origin)?;
        Ok(Ledger {
            connection,
            path: path.to_path_buf(),
            origin,
        })
    }

    /// The ledger's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Number of entries.
    ///
    /// # Errors
    /// `Database`.
    pub fn size(&self) -> Result<u64, LedgerError> {
        size_of(&self.connection, &self.path)
    }

    /// Appends one entry, recorded now, in its own durable transaction.
    ///
    /// # Errors
    /// `Database` (including another writer holding the ledger for longer than two minutes).
    pub fn append(&mut self, entry: &NewEntry) -> Result<Entry, LedgerError> {
        let mut entries = self.append_batch(std::slice::from_ref(entry))?;
        entries.pop().ok_or_else(|| LedgerError::Malformed {
            what: "append",
            reason: "nothing was appended".into(),
        })
    }

    /// Appends entries in one durable transaction: all or none are committed.
    ///
    /// # Errors
    /// As [`Ledger::append`].
    pub fn append_batch(&mut self, entries: &[NewEntry]) -> Result<Vec<Entry>, LedgerError> {
        let recorded = scanseal_seal::whole_seconds(OffsetDateTime::now_utc());
        self.append_recorded(entries, recorded)
    }

    /// [`Ledger::append_batch`] with an explicit recorded time (for vectors and imports).
    ///
    /// # Errors
    /// As [`Ledger::append`].
    pub fn append_recorded(
        &mut self,
        entries: &[NewEntry],
        recorded: OffsetDateTime,
    ) -> Result<Vec<Entry>, LedgerError> {
        let path = self.path.clone();
        let recorded = scanseal_seal::whole_seconds(recorded);
        let recorded_text =
            scanseal_seal::format_time(recorded).map_err(|e| LedgerError::Malformed {
                what: "entry",
                reason: format!("recorded time: {e}"),
            })?;
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db(&path))?;
        let mut size = size_of(&tx, &path)?;
        let mut appended = Vec::with_capacity(entries.len());
        {
            let mut insert_entry = tx
                .prepare_cached(
                    "INSERT INTO entries (seq, recorded, kind, signer, envelope, pixel_mode, \
                     pixel_digest, pixel_tile_size, instance, predecessor) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(db(&path))?;
            let mut insert_node = tx
                .prepare_cached("INSERT INTO nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
                .map_err(db(&path))?;
            let mut stored = StoredNodes {
                connection: &tx,
                path: &path,
            };
            for content in entries {
                let entry = Entry {
                    seq: size,
                    recorded,
                    content: content.clone(),
                };
                let leaf = entry.leaf_hash()?;
                let seq = to_sql_int(size)?;
                insert_entry
                    .execute(params![
                        seq,
                        recorded_text,
                        content.kind.as_str(),
                        &content.signer.0[..],
                        &content.envelope.0[..],
                        content.pixels.map(|p| p.mode.name()),
                        content.pixels.map(|p| p.digest.0.to_vec()),
                        content.pixels.map(|p| p.tile_size),
                        &content.instance.0[..],
                        content.predecessor.map(|d| d.0.to_vec()),
                    ])
                    .map_err(db(&path))?;
                // Store every perfect subtree this leaf completes: the leaf, then its parent
                // while it is a right child. At most log2(n) + 1 rows.
                let mut level: u8 = 0;
                let mut index = size;
                let mut hash = leaf;
                loop {
                    insert_node
                        .execute(params![level, to_sql_int(index)?, &hash[..]])
                        .map_err(db(&path))?;
                    if index % 2 == 0 {
                        break;
                    }
                    let left = stored.node(level, index - 1)?;
                    hash = node_hash(&left, &hash);
                    index /= 2;
                    level += 1;
                }
                size += 1;
                appended.push(entry);
            }
        }
        tx.commit().map_err(db(&path))?;
        Ok(appended)
    }

    /// The entry at `seq`.
    ///
    /// # Errors
    /// `OutOfRange`, `CorruptEntry`, `Database`.
    pub fn entry(&self, seq: u64) -> Result<Entry, LedgerError> {
        let mut found = self.query_entries("WHERE seq = ?1", &to_sql_int(seq)?)?;
        match found.pop() {
            Some(entry) => Ok(entry),
            None => Err(LedgerError::OutOfRange {
                what: "entry",
                value: seq,
                size: self.size()?,
            }),
        }
    }

    /// Entries recording the seal whose envelope digest is `envelope`, oldest first.
    ///
    /// # Errors
    /// `CorruptEntry`, `Database`.
    pub fn find_by_envelope(&self, envelope: &Digest) -> Result<Vec<Entry>, LedgerError> {
        self.query_entries("WHERE envelope = ?1 ORDER BY seq", &envelope.0.to_vec())
    }

    /// Entries for an instance key (entry.rs `instance_key`), oldest first.
    ///
    /// # Errors
    /// `CorruptEntry`, `Database`.
    pub fn find_by_instance(&self, instance: &Digest) -> Result<Vec<Entry>, LedgerError> {
        self.query_entries("WHERE instance = ?1 ORDER BY seq", &instance.0.to_vec())
    }

    /// Entries with this pixel digest, oldest first.
    ///
    /// # Errors
    /// `CorruptEntry`, `Database`.
    pub fn find_by_pixels(&self, digest: &Digest) -> Result<Vec<Entry>, LedgerError> {
        self.query_entries("WHERE pixel_digest = ?1 ORDER BY seq", &digest.0.to_vec())
    }

    fn query_entries(
        &self,
        condition: &str,
        value: &dyn rusqlite::ToSql,
    ) -> Result<Vec<Entry>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached(&format!(
                "SELECT seq, recorded, kind, signer, envelope, pixel_mode, pixel_digest, \
                 pixel_tile_size, instance, predecessor FROM entries {condition} LIMIT 1000"
            ))
            .map_err(db(&self.path))?;
        let mut rows = statement.query([value]).map_err(db(&self.path))?;
        let mut entries = Vec::new();
        while let Some(row) = rows.next().map_err(db(&self.path))? {
            entries.push(entry_from_row(row).map_err(|e| e.into_error(&self.path))?);
        }
        Ok(entries)
    }

    /// The Merkle root at `size` (≤ the current size), from O(log size) stored nodes.
    ///
    /// # Errors
    /// `OutOfRange`, `MissingNode`, `Database`.
    pub fn root(&self, size: u64) -> Result<Hash, LedgerError> {
        self.check_size("tree size", size)?;
        generated(merkle::root(&mut self.nodes(), size))
    }

    /// `PATH(seq, D[size])`.
    ///
    /// # Errors
    /// `OutOfRange`, `MissingNode`, `Database`.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size("tree size", size)?;
        if seq >= size {
            return Err(LedgerError::OutOfRange {
                what: "entry",
                value: seq,
                size,
            });
        }
        generated(merkle::inclusion_proof(&mut self.nodes(), seq, size))
    }

    /// `PROOF(old_size, D[new_size])`.
    ///
    /// # Errors
    /// `OutOfRange`, `Merkle` (bad sizes), `MissingNode`, `Database`.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        self.check_size("tree size", new_size)?;
        generated(merkle::consistency_proof(
            &mut self.nodes(),
            old_size,
            new_size,
        ))
    }

    fn check_size(&self, what: &'static str, value: u64) -> Result<(), LedgerError> {
        let size = self.size()?;
        if value > size {
            return Err(LedgerError::OutOfRange { what, value, size });
        }
        Ok(())
    }

    pub(crate) fn nodes(&self) -> StoredNodes<'_> {
        StoredNodes {
            connection: &self.connection,
            path: &self.path,
        }
    }

    /// Signs the current tree head with the ledger key, stores the checkpoint and returns it.
    ///
    /// # Errors
    /// `Database`, `MissingNode`.
    pub fn checkpoint(&mut self, key: &SigningKey) -> Result<SignedCheckpoint, LedgerError> {
        let path = self.path.clone();
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db(&path))?;
        let size = size_of(&tx, &path)?;
        let root = generated(merkle::root(
            &mut StoredNodes {
                connection: &tx,
                path: &path,
            },
            size,
        ))?;
        let signed = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        }
        .sign(key);
        let public = key.public_key();
        tx.execute(
            "INSERT INTO checkpoints (size, root, key_id, public_key, created, note) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                to_sql_int(size)?,
                &root[..],
                &public.key_id().0[..],
                public.spki_der(),
                now_text()?,
                signed.text,
            ],
        )
        .map_err(db(&path))?;
        tx.commit().map_err(db(&path))?;
        Ok(signed)
    }

    /// Every stored checkpoint, oldest first.
    ///
    /// # Errors
    /// `Database`.
    pub fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, LedgerError> {
        self.query_checkpoints("ORDER BY id", [])
    }

    /// The largest stored checkpoint covering entry `seq` (size > seq), newest among equals.
    ///
    /// # Errors
    /// `Database`.
    pub fn checkpoint_covering(&self, seq: u64) -> Result<Option<StoredCheckpoint>, LedgerError> {
        Ok(self
            .query_checkpoints(
                "WHERE size > ?1 ORDER BY size DESC, id DESC LIMIT 1",
                [to_sql_int(seq)?],
            )?
            .pop())
    }

    fn query_checkpoints<P: rusqlite::Params>(
        &self,
        condition: &str,
        params: P,
    ) -> Result<Vec<StoredCheckpoint>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT id, size, public_key, created, note FROM checkpoints {condition}"
            ))
            .map_err(db(&self.path))?;
        let mut rows = statement.query(params).map_err(db(&self.path))?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().map_err(db(&self.path))? {
            let id: i64 = row.get(0).map_err(db(&self.path))?;
            let size: i64 = row.get(1).map_err(db(&self.path))?;
            let public_key: Option<Vec<u8>> = row.get(2).ok();
            let created: String = row.get(3).unwrap_or_default();
            let note: Result<String, _> = row.get(4);
            found.push(StoredCheckpoint {
                id,
                created,
                public_key: public_key.and_then(|der| PublicKey::from_spki_der(&der).ok()),
                note: match note {
                    Ok(text) => SignedCheckpoint::parse(&text).map_err(|e| e.to_string()),
                    Err(e) => Err(format!("unreadable note: {e}")),
                },
                size: u64::try_from(size).unwrap_or(u64::MAX),
            });
        }
        Ok(found)
    }

    /// An offline proof of entry `seq` under the largest stored checkpoint that covers it.
    ///
    /// # Errors
    /// `OutOfRange`; `Malformed` when no checkpoint covers the entry yet (make one first);
    /// `MissingNode`, `Database`.
    pub fn prove(&self, seq: u64) -> Result<EntryProof, LedgerError> {
        let entry = self.entry(seq)?;
        let stored = self.checkpoint_covering(seq)?.ok_or_else(|| LedgerError::Malformed {
            what: "proof request",
            reason: format!(
                "no checkpoint covers entry #{seq} yet; make one with `scanseal ledger checkpoint --key KEY {}`",
                self.path.display()
            ),
        })?;
        let checkpoint = stored.note.map_err(|reason| LedgerError::Malformed {
            what: "stored checkpoint",
            reason,
        })?;
        let path = self.inclusion_proof(seq, checkpoint.checkpoint.size)?;
        Ok(EntryProof {
            entry: entry.encode()?,
            index: seq,
            path,
            checkpoint,
        })
    }
}

/// Checks the database header in the first 100 bytes of the file (the magic string,
/// `user_version` at offset 60 and `application_id` at offset 68, big endian) before SQLite
/// opens it, so that a file this build refuses — not a SQLite database, another application's
/// database, a ledger of a newer schema — is refused without SQLite creating its `-wal` and
/// `-shm` files next to it (it does for a database in WAL mode, even read-only). The header can
/// lag behind a write-ahead log only by a migration not yet checkpointed, which leaves an
/// older `user_version`, never a newer one, so nothing refused here would be accepted after
/// the log. [`Ledger::open`] checks both values again through SQLite.
fn check_header(path: &Path) -> Result<(), LedgerError> {
    use std::io::Read;
    let not_a_ledger = |reason: &str| LedgerError::NotALedger {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let io = |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut header = Vec::with_capacity(100);
    std::fs::File::open(path)
        .map_err(io)?
        .take(100)
        .read_to_end(&mut header)
        .map_err(io)?;
    if header.is_empty() {
        return Err(not_a_ledger("an empty file"));
    }
    let field = |at: usize| {
        header
            .get(at..at + 4)
            .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
            .map(i32::from_be_bytes)
    };
    let (Some(version), Some(application_id)) = (field(60), field(68)) else {
        return Err(not_a_ledger("not a SQLite database"));
    };
    if !header.starts_with(b"SQLite format 3\0") {
        return Err(not_a_ledger("not a SQLite database"));
    }
    if i64::from(application_id) != APPLICATION_ID {
        return Err(not_a_ledger(&format!(
            "SQLite application id {application_id:#x}, expected {APPLICATION_ID:#x}"
        )));
    }
    if i64::from(version) > SCHEMA_VERSION {
        return Err(LedgerError::NewerVersion {
            path: path.to_path_buf(),
            found: version.into(),
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn is_cannot_open<T>(result: &Result<T, rusqlite::Error>) -> bool {
    matches!(result, Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::CannotOpen)
}

/// Whether a `-wal` file with content sits next to the database.
fn has_wal_content(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_os_string();
    wal.push("-wal");
    std::fs::metadata(wal).is_ok_and(|m| m.len() > 0)
}

/// `file:PATH?immutable=1`, with the characters a URI path cannot hold escaped.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// Runs the migrations from `from` to [`SCHEMA_VERSION`] inside `tx`.
fn migrate(tx: &rusqlite::Transaction<'_>, from: i64, path: &Path) -> Result<(), LedgerError> {
    for (version, script) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
    {
        tx.execute_batch(script).map_err(db(path))?;
        tx.pragma_update(None, "user_version", version as i64 + 1)
            .map_err(db(path))?;
    }
    Ok(())
}

fn size_of(connection: &Connection, path: &Path) -> Result<u64, LedgerError> {
    let next: i64 = connection
        .query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM entries", [], |row| {
            row.get(0)
        })
        .map_err(db(path))?;
    u64::try_from(next).map_err(|_| LedgerError::CorruptEntry {
        seq: 0,
        reason: "negative sequence number".into(),
    })
}

pub(crate) fn to_sql_int(value: u64) -> Result<i64, LedgerError> {
    i64::try_from(value).map_err(|_| LedgerError::OutOfRange {
        what: "number",
        value,
        size: i64::MAX as u64,
    })
}

fn now_text() -> Result<String, LedgerError> {
    scanseal_seal::format_time(scanseal_seal::whole_seconds(OffsetDateTime::now_utc())).map_err(
        |e| LedgerError::Malformed {
            what: "clock",
            reason: e.to_string(),
        },
    )
}

pub(crate) fn db(path: &Path) -> impl Fn(rusqlite::Error) -> LedgerError + '_ {
    move |source| LedgerError::Database {
        path: path.to_path_buf(),
        source,
    }
}

fn generated<T>(result: Result<T, merkle::GenerateError<LedgerError>>) -> Result<T, LedgerError> {
    result.map_err(generate_error)
}

fn generate_error(error: merkle::GenerateError<LedgerError>) -> LedgerError {
    match error {
        merkle::GenerateError::Source(e) => e,
        merkle::GenerateError::Merkle(e) => LedgerError::Merkle(e),
    }
}

/// A row that does not decode, with what is wrong.
pub(crate) struct RowError {
    pub(crate) seq: Option<u64>,
    pub(crate) reason: String,
    pub(crate) database: Option<rusqlite::Error>,
}

impl RowError {
    pub(crate) fn into_error(self, path: &Path) -> LedgerError {
        match (self.database, self.seq) {
            (Some(source), _) => LedgerError::Database {
                path: path.to_path_buf(),
                source,
            },
            (None, seq) => LedgerError::CorruptEntry {
                seq: seq.unwrap_or(0),
                reason: self.reason,
            },
        }
    }
}

/// Rebuilds an [`Entry`] from its row; the row's columns must be exactly what an append writes.
pub(crate) fn entry_from_row(row: &rusqlite::Row<'_>) -> Result<Entry, RowError> {
    let database = |e: rusqlite::Error| RowError {
        seq: None,
        reason: e.to_string(),
        database: Some(e),
    };
    let seq: i64 = row.get(0).map_err(database)?;
    let seq_u = u64::try_from(seq).map_err(|_| RowError {
        seq: None,
        reason: format!("negative sequence number {seq}"),
        database: None,
    })?;
    let corrupt = |reason: String| RowError {
        seq: Some(seq_u),
        reason,
        database: None,
    };
    let get_text = |i: usize, name: &str| -> Result<String, RowError> {
        row.get::<_, String>(i)
            .map_err(|_| corrupt(format!("column {name} is not text")))
    };
    let get_blob = |i: usize, name: &str| -> Result<Option<Vec<u8>>, RowError> {
        row.get::<_, Option<Vec<u8>>>(i)
            .map_err(|_| corrupt(format!("column {name} is not a blob")))
    };
    fn array<const N: usize>(
        value: Option<Vec<u8>>,
        name: &str,
        corrupt: &dyn Fn(String) -> RowError,
    ) -> Result<[u8; N], RowError> {
        let value = value.ok_or_else(|| corrupt(format!("column {name} is empty")))?;
        <[u8; N]>::try_from(value.as_slice())
            .map_err(|_| corrupt(format!("column {name} is {} bytes, not {N}", value.len())))
    }
    let recorded_text = get_text(1, "recorded")?;
    let recorded = scanseal_seal::parse_time(&recorded_text)
        .map_err(|_| corrupt(format!("recorded time {recorded_text:?} is not valid")))?;
    let kind_text = get_text(2, "kind")?;
    let kind = EntryKind::from_name(&kind_text)
        .ok_or_else(|| corrupt(format!("unknown kind {kind_text:?}")))?;
    let signer = KeyId(array::<16>(get_blob(3, "signer")?, "signer", &corrupt)?);
    let envelope = Digest(array::<32>(get_blob(4, "envelope")?, "envelope", &corrupt)?);
    let pixel_mode: Option<String> = row
        .get(5)
        .map_err(|_| corrupt("column pixel_mode is not text".into()))?;
    let pixel_digest = get_blob(6, "pixel_digest")?;
    let tile_size: Option<i64> = row
        .get(7)
        .map_err(|_| corrupt("column pixel_tile_size is not an integer".into()))?;
    let pixels = match (pixel_mode, pixel_digest, tile_size) {
        (None, None, None) => None,
        (Some(mode), digest @ Some(_), Some(tile_size)) => {
            let tile_size = u32::try_from(tile_size)
                .map_err(|_| corrupt(format!("pixel tile size {tile_size} is out of range")))?;
            let mode = match PixelMode::from_name(&mode) {
                Some(m) if m != PixelMode::None => m,
                _ => return Err(corrupt(format!("unknown pixel mode {mode:?}"))),
            };
            Some(PixelRecord {
                mode,
                digest: Digest(array::<32>(digest, "pixel_digest", &corrupt)?),
                tile_size,
            })
        }
        _ => {
            return Err(corrupt(
                "pixel_mode, pixel_digest and pixel_tile_size must all be set or all be empty"
                    .into(),
            ))
        }
    };
    let instance = Digest(array::<32>(get_blob(8, "instance")?, "instance", &corrupt)?);
    let predecessor = match get_blob(9, "predecessor")? {
        None => None,
        some => Some(Digest(array::<32>(some, "predecessor", &corrupt)?)),
    };
    Ok(Entry {
        seq: seq_u,
        recorded,
        content: NewEntry {
            kind,
            signer,
            envelope,
            pixels,
            instance,
            predecessor,
        },
    })
}

/// The perfect-subtree hashes stored in a ledger database (through a connection or an open
/// transaction on it).
pub(crate) struct StoredNodes<'a> {
    connection: &'a Connection,
    path: &'a Path,
}

impl NodeSource for StoredNodes<'_> {
    type Error = LedgerError;

    fn node(&mut self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2")
            .map_err(db(self.path))?;
        let hash: Option<Vec<u8>> = statement
            .query_row(params![level, to_sql_int(index)?], |row| row.get(0))
            .optional()
            .map_err(db(self.path))?;
        hash.and_then(|h| Hash::try_from(h.as_slice()).ok())
            .ok_or(LedgerError::MissingNode { level, index })
    }
}
