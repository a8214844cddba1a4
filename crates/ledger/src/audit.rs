//! Verifying a whole ledger (spec/ledger.md §8): recompute the tree from the rows, check every
//! stored node and checkpoint, and check checkpoints held elsewhere for consistency.

use std::collections::BTreeMap;

use scanseal_keys::PublicKey;

use crate::merkle::{verify_consistency, Hash, TreeBuilder, EMPTY_ROOT};
use crate::note::SignedCheckpoint;
use crate::store::{db, entry_from_row, Ledger};
use crate::LedgerError;

/// What to check besides the tree itself.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// The trust store's `ledger` keys. `None`: stored checkpoints are checked only against
    /// the key recorded with them in the database, which an attacker with the file controls.
    pub trusted_keys: Option<Vec<PublicKey>>,
    /// Checkpoints kept outside the database, each with a label (its file name).
    pub external: Vec<(String, SignedCheckpoint)>,
}

/// What kind of problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A row that is missing, out of order, or does not match its leaf hash.
    Entry,
    /// A stored tree node that is missing or wrong.
    Node,
    /// Stored nodes for entries that are not there.
    ExtraNodes,
    /// A checkpoint stored in the database that does not verify or does not match the tree.
    StoredCheckpoint,
    /// An external checkpoint the ledger is not consistent with.
    ExternalCheckpoint,
    /// Fewer entries than a checkpoint covers: entries were removed.
    Rollback,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// The first sequence number known to be bad, when the problem pins one.
    pub first_bad_seq: Option<u64>,
    /// A sentence for a person.
    pub message: String,
}

/// The outcome of [`audit`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Audit {
    /// The ledger's origin.
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// The recomputed root (hex), when the whole tree could be recomputed.
    pub root: Option<String>,
    /// Stored checkpoints whose signature and root were checked and found good.
    pub checkpoints_verified: usize,
    /// External checkpoints found consistent.
    pub external_consistent: usize,
    /// `trust-store` or `recorded-keys`: what checkpoint signatures were checked against.
    pub signatures_checked_against: &'static str,
    /// Everything wrong, in the order found.
    pub problems: Vec<Problem>,
    /// Remarks that are not problems (e.g. a signature that could not be checked).
    pub notes: Vec<String>,
}

impl Audit {
    /// No problems.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// The smallest sequence number any problem pins.
    pub fn first_bad_seq(&self) -> Option<u64> {
        self.problems.iter().filter_map(|p| p.first_bad_seq).min()
    }
}

enum Target {
    Stored(usize),
    External(usize),
}

/// Verifies `ledger` (spec/ledger.md §8). Problems in the data are reported in the [`Audit`];
/// `Err` only when the database cannot be read at all.
///
/// # Errors
/// `Database` for an unreadable database.
pub fn audit(ledger: &Ledger, options: &AuditOptions) -> Result<Audit, LedgerError> {
    let path = ledger.path().to_path_buf();
    // One read transaction: a consistent snapshot even while writers append.
    let snapshot = ledger
        .connection()
        .unchecked_transaction()
        .map_err(db(&path))?;
    let size = ledger.size()?;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut problem = |kind, first_bad_seq, message: String| {
        problems.push(Problem {
            kind,
            first_bad_seq,
            message,
        })
    };

    let stored = ledger.checkpoints()?;
    let recorded_keys: Vec<PublicKey> = {
        let mut keys: Vec<PublicKey> = Vec::new();
        for key in stored.iter().filter_map(|c| c.public_key.clone()) {
            if !keys.iter().any(|k| k.key_id() == key.key_id()) {
                keys.push(key);
            }
        }
        keys
    };
    let basis = if options.trusted_keys.is_some() {
        "trust-store"
    } else {
        "recorded-keys"
    };

    // Which tree sizes need their root compared, and against what.
    let mut targets: BTreeMap<u64, Vec<(Target, Hash)>> = BTreeMap::new();
    let mut stored_good = vec![false; stored.len()];
    for (i, checkpoint) in stored.iter().enumerate() {
        let label = format!(
            "stored checkpoint {} (size {})",
            checkpoint.id, checkpoint.size
        );
        let note = match &checkpoint.note {
            Ok(note) => note,
            Err(reason) => {
                problem(
                    ProblemKind::StoredCheckpoint,
                    None,
                    format!("{label}: {reason}"),
                );
                continue;
            }
        };
        if note.checkpoint.size != checkpoint.size || note.checkpoint.origin != ledger.origin() {
            problem(
                ProblemKind::StoredCheckpoint,
                None,
                format!("{label}: its note does not match its row (size or origin differ)"),
            );
            continue;
        }
        let keys = match (&options.trusted_keys, &checkpoint.public_key) {
            (Some(trusted), _) => trusted.clone(),
            (None, Some(recorded)) => vec![recorded.clone()],
            (None, None) => Vec::new(),
        };
        if let Err(e) = note.verify(&keys) {
            problem(ProblemKind::StoredCheckpoint, None, format!("{label}: {e}"));
            continue;
        }
        if checkpoint.size > size {
            problem(
                ProblemKind::Rollback,
                Some(size),
                format!(
                    "{label} covers {} entries but the ledger has {size}: entries #{size} onward were removed",
                    checkpoint.size
                ),
            );
            continue;
        }
        targets
            .entry(checkpoint.size)
            .or_default()
            .push((Target::Stored(i), note.checkpoint.root));
        stored_good[i] = true;
    }
    let mut external_good = vec![false; options.external.len()];
    for (i, (label, note)) in options.external.iter().enumerate() {
        if note.checkpoint.origin != ledger.origin() {
            problem(
                ProblemKind::ExternalCheckpoint,
                None,
                format!(
                    "checkpoint {label} is for ledger {:?}, not this one ({:?})",
                    note.checkpoint.origin,
                    ledger.origin()
                ),
            );
            continue;
        }
        match &options.trusted_keys {
            Some(trusted) => {
                if let Err(e) = note.verify(trusted) {
                    problem(
                        ProblemKind::ExternalCheckpoint,
                        None,
                        format!("checkpoint {label} cannot be used: {e}"),
                    );
                    continue;
                }
            }
            // Without a trust store the only keys at hand are the ones the database records,
            // which whoever rewrote it controls: a mismatch is remarked on, and the checkpoint
            // the user holds is still compared with the tree.
            None if recorded_keys.is_empty() => notes.push(format!(
                "the signature of checkpoint {label} was not checked: no trust store given and no ledger key recorded"
            )),
            None => {
                if let Err(e) = note.verify(&recorded_keys) {
                    notes.push(format!(
                        "checkpoint {label} is not signed by a ledger key this database records ({e}); pass --trust to check it against your trust store"
                    ));
                }
            }
        }
        if note.checkpoint.size > size {
            problem(
                ProblemKind::Rollback,
                Some(size),
                format!(
                    "checkpoint {label} covers {} entries but the ledger has only {size}: entries #{size} onward were removed",
                    note.checkpoint.size
                ),
            );
            continue;
        }
        targets
            .entry(note.checkpoint.size)
            .or_default()
            .push((Target::External(i), note.checkpoint.root));
        external_good[i] = true;
    }

    // Stream the entries and the nodes of every level in order, recomputing the tree.
    let mut level_statements = Vec::with_capacity(64);
    for _ in 0..64 {
        level_statements.push(
            snapshot
                .prepare("SELECT idx, hash FROM nodes WHERE level = ?1 ORDER BY idx")
                .map_err(db(&path))?,
        );
    }
    let mut cursors = Vec::with_capacity(64);
    for (level, statement) in level_statements.iter_mut().enumerate() {
        cursors.push(statement.query([level as i64]).map_err(db(&path))?);
    }
    let mut entry_statement = snapshot
        .prepare(
            "SELECT seq, recorded, kind, signer, envelope, pixel_mode, pixel_digest, \
             pixel_tile_size, instance, predecessor FROM entries ORDER BY seq",
        )
        .map_err(db(&path))?;
    let mut rows = entry_statement.query([]).map_err(db(&path))?;
    let mut builder = TreeBuilder::new();
    let mut mismatched_roots: Vec<(Target, u64, Hash, Hash)> = Vec::new();
    let mut compare_roots =
        |builder: &TreeBuilder, targets: &mut BTreeMap<u64, Vec<(Target, Hash)>>| {
            if let Some(list) = targets.remove(&builder.size()) {
                let root = builder.root();
                for (target, expected) in list {
                    if expected != root {
                        mismatched_roots.push((target, builder.size(), expected, root));
                    }
                }
            }
        };
    let mut complete = true;
    'entries: loop {
        compare_roots(&builder, &mut targets);
        let Some(row) = rows.next().map_err(db(&path))? else {
            break;
        };
        let expected = builder.size();
        let entry = match entry_from_row(row) {
            Ok(entry) => entry,
            Err(e) if e.database.is_some() => return Err(e.into_error(&path)),
            Err(e) => {
                problem(
                    ProblemKind::Entry,
                    Some(e.seq.unwrap_or(expected)),
                    format!("entry #{}: {}", e.seq.unwrap_or(expected), e.reason),
                );
                complete = false;
                break;
            }
        };
        if entry.seq != expected {
            problem(
                ProblemKind::Entry,
                Some(expected),
                format!(
                    "entry #{expected} is missing (the next row is #{})",
                    entry.seq
                ),
            );
            complete = false;
            break;
        }
        let leaf = match entry.leaf_hash() {
            Ok(leaf) => leaf,
            Err(e) => {
                problem(
                    ProblemKind::Entry,
                    Some(expected),
                    format!("entry #{expected}: {e}"),
                );
                complete = false;
                break;
            }
        };
        let completed = match builder.push(leaf) {
            Ok(completed) => completed,
            Err(e) => {
                problem(
                    ProblemKind::Entry,
                    Some(expected),
                    format!("entry #{expected}: {e}"),
                );
                complete = false;
                break;
            }
        };
        for (level, index, hash) in completed {
            let first = index << level;
            let last = ((index + 1) << level) - 1;
            let stored = match cursors.get_mut(usize::from(level)) {
                Some(cursor) => cursor.next().map_err(db(&path))?,
                None => None,
            };
            let found = match stored {
                Some(row) => {
                    let idx: i64 = row.get(0).map_err(db(&path))?;
                    let bytes: Vec<u8> = row.get(1).unwrap_or_default();
                    Some((idx, bytes))
                }
                None => None,
            };
            let message = match found {
                Some((idx, bytes)) if u64::try_from(idx).ok() == Some(index) => {
                    if bytes.as_slice() == hash.as_slice() {
                        continue;
                    }
                    if level == 0 {
                        format!(
                            "entry #{expected} does not match its recorded leaf hash: the row was changed after it was recorded"
                        )
                    } else {
                        format!(
                            "the stored tree node over entries #{first}..#{last} does not match them: an entry in that range was changed"
                        )
                    }
                }
                _ if level == 0 => format!("entry #{expected} has no recorded leaf hash"),
                _ => format!("the stored tree node over entries #{first}..#{last} is missing"),
            };
            problem(
                if level == 0 {
                    ProblemKind::Entry
                } else {
                    ProblemKind::Node
                },
                Some(first),
                message,
            );
            complete = false;
            break 'entries;
        }
    }
    drop(rows);
    if complete {
        let mut extra = 0u64;
        for cursor in cursors.iter_mut() {
            while cursor.next().map_err(db(&path))?.is_some() {
                extra += 1;
            }
        }
        if extra > 0 {
            problem(
                ProblemKind::ExtraNodes,
                Some(size),
                format!(
                    "{extra} stored tree node(s) cover entries #{size} onward, which are not there: entries were removed"
                ),
            );
        }
    }
    drop(cursors);
    drop(level_statements);

    for (target, at, expected, actual) in mismatched_roots {
        let message = format!(
            "at size {at} the ledger's root is {} but {} says {}: the first {at} entries were rewritten",
            hex::encode(actual),
            match target {
                Target::Stored(i) => format!(
                    "stored checkpoint {}",
                    stored.get(i).map_or(0, |c| c.id)
                ),
                Target::External(i) => format!(
                    "checkpoint {}",
                    options.external.get(i).map_or("", |(label, _)| label.as_str())
                ),
            },
            hex::encode(expected),
        );
        match target {
            Target::Stored(_) => problem(ProblemKind::StoredCheckpoint, None, message),
            Target::External(_) => problem(ProblemKind::ExternalCheckpoint, None, message),
        }
        match target {
            Target::Stored(i) => stored_good.get_mut(i).map(|g| *g = false),
            Target::External(i) => external_good.get_mut(i).map(|g| *g = false),
        };
    }

    let root = if complete { Some(builder.root()) } else { None };
    if let Some(root) = root {
        // The roots matched during the stream; now also prove consistency from each checkpoint
        // to the current tree with the stored nodes, as a reader of the ledger would.
        for (i, checkpoint) in stored.iter().enumerate() {
            if let (Ok(note), Some(true)) = (&checkpoint.note, stored_good.get(i)) {
                if let Err(e) = consistent(ledger, note, size, &root) {
                    problem(
                        ProblemKind::StoredCheckpoint,
                        None,
                        format!(
                            "stored checkpoint {}: not consistent with the tree: {e}",
                            checkpoint.id
                        ),
                    );
                    stored_good[i] = false;
                }
            }
        }
        for (i, (label, note)) in options.external.iter().enumerate() {
            if external_good.get(i) != Some(&true) {
                continue;
            }
            if let Err(e) = consistent(ledger, note, size, &root) {
                problem(
                    ProblemKind::ExternalCheckpoint,
                    None,
                    format!("the ledger is not consistent with checkpoint {label}: {e}"),
                );
                external_good[i] = false;
            }
        }
    } else {
        // The tree could not be recomputed: nothing was shown consistent.
        stored_good.iter_mut().for_each(|g| *g = false);
        external_good.iter_mut().for_each(|g| *g = false);
    }
    let checkpoints_verified = stored_good.iter().filter(|g| **g).count();
    let external_consistent = external_good.iter().filter(|g| **g).count();
    Ok(Audit {
        origin: ledger.origin().to_string(),
        size,
        root: root.map(hex::encode),
        checkpoints_verified,
        external_consistent,
        signatures_checked_against: basis,
        problems,
        notes,
    })
}

/// Generates `PROOF(m, D[n])` from the stored nodes and verifies it (RFC 9162 §2.1.4.2).
fn consistent(
    ledger: &Ledger,
    note: &SignedCheckpoint,
    size: u64,
    root: &Hash,
) -> Result<(), LedgerError> {
    let old = &note.checkpoint;
    if old.size == 0 {
        return if old.root == EMPTY_ROOT {
            Ok(())
        } else {
            Err(LedgerError::Malformed {
                what: "checkpoint",
                reason: "an empty tree's root must be SHA-256 of nothing".into(),
            })
        };
    }
    let proof = ledger.consistency_proof(old.size, size)?;
    verify_consistency(old.size, size, &old.root, root, &proof)?;
    Ok(())
}
