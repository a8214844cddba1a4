//! The SQLite ledger through its library API: proofs against an in-memory tree, the triggers,
//! schema versions, lookups, and `audit` on databases edited behind the ledger's back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use rusqlite::Connection;
use scanseal_canon::{Digest, PixelMode};
use scanseal_keys::{KeyId, SigningKey};
use scanseal_ledger::merkle::{verify_consistency, verify_inclusion, MemoryTree};
use scanseal_ledger::{
    audit, instance_key, AuditOptions, EntryKind, EntryProof, Ledger, LedgerError, NewEntry,
    PixelRecord, ProblemKind, SignedCheckpoint,
};

const ORIGIN: &str = "test.scanseal.example/ledger";

fn content(i: u64) -> NewEntry {
    NewEntry {
        kind: EntryKind::Acquired,
        signer: KeyId([1; 16]),
        envelope: Digest::of(&[b"envelope", &i.to_le_bytes()]),
        pixels: (i % 5 != 0).then(|| PixelRecord {
            mode: PixelMode::DecodedSamples,
            digest: Digest::of(&[b"pixels", &(i / 2).to_le_bytes()]),
            tile_size: 64,
        }),
        instance: instance_key(Some(&format!("1.2.3.{i}"))),
        predecessor: None,
    }
}

fn ledger_with(dir: &Path, n: u64) -> Ledger {
    let mut ledger = Ledger::create(&dir.join("ledger.db"), ORIGIN).unwrap();
    // Mixed single appends and batches.
    let mut i = 0;
    while i < n {
        let batch = (i % 7 + 1).min(n - i);
        let contents: Vec<NewEntry> = (i..i + batch).map(content).collect();
        let appended = ledger.append_batch(&contents).unwrap();
        assert_eq!(appended.first().unwrap().seq, i);
        i += batch;
    }
    ledger
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

/// Runs SQL on the database file behind the ledger's back, as an attacker with the file would.
fn tamper(path: &Path, sql: &str) {
    let connection = Connection::open(path).unwrap();
    connection.execute_batch(sql).unwrap();
}

#[test]
fn roots_and_proofs_from_the_database_match_an_in_memory_tree() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with(dir.path(), 70);
    let mut tree = MemoryTree::new();
    for seq in 0..70 {
        tree.push(ledger.entry(seq).unwrap().leaf_hash().unwrap());
    }
    for size in 1..=70u64 {
        let root = ledger.root(size).unwrap();
        assert_eq!(
            root,
            scanseal_ledger::merkle::root(&mut tree, size).unwrap()
        );
        for seq in (0..size).step_by(3) {
            let path = ledger.inclusion_proof(seq, size).unwrap();
            let leaf = ledger.entry(seq).unwrap().leaf_hash().unwrap();
            verify_inclusion(seq, size, &leaf, &path, &root).unwrap();
        }
        for old in (1..=size).step_by(5) {
            let proof = ledger.consistency_proof(old, size).unwrap();
            let old_root = ledger.root(old).unwrap();
            verify_consistency(old, size, &old_root, &root, &proof).unwrap();
        }
    }
    assert!(matches!(
        ledger.inclusion_proof(70, 70),
        Err(LedgerError::OutOfRange { .. })
    ));
    assert!(matches!(
        ledger.root(71),
        Err(LedgerError::OutOfRange { .. })
    ));
    // Every perfect subtree is stored once: sum over levels of floor(n / 2^level).
    let connection = Connection::open(ledger.path()).unwrap();
    let nodes: u64 = connection
        .query_row("SELECT COUNT(*) FROM nodes", [], |row| row.get(0))
        .unwrap();
    let expected: u64 = (0..7).map(|level| 70u64 >> level).sum();
    assert_eq!(nodes, expected);
}

#[test]
fn lookups_find_entries_by_envelope_instance_and_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with(dir.path(), 20);
    let found = ledger.find_by_envelope(&content(7).envelope).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].seq, 7);
    assert_eq!(found[0].content, content(7));
    let found = ledger
        .find_by_instance(&instance_key(Some("1.2.3.12")))
        .unwrap();
    assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![12]);
    // Entries 2 and 3 share a pixel digest (i / 2).
    let digest = content(3).pixels.unwrap().digest;
    let found = ledger.find_by_pixels(&digest).unwrap();
    assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert!(ledger
        .find_by_envelope(&Digest([0; 32]))
        .unwrap()
        .is_empty());
}

#[test]
fn triggers_refuse_update_and_delete_on_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with(dir.path(), 4);
    ledger.checkpoint(&key(9)).unwrap();
    let connection = Connection::open(ledger.path()).unwrap();
    for sql in [
        "UPDATE entries SET kind = 'deidentified' WHERE seq = 1",
        "DELETE FROM entries WHERE seq = 3",
        "UPDATE nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 0",
        "DELETE FROM nodes",
        "UPDATE checkpoints SET size = 1",
        "DELETE FROM checkpoints",
        "UPDATE ledger_meta SET value = 'x' WHERE name = 'origin'",
        "DELETE FROM ledger_meta",
    ] {
        let error = connection.execute(sql, []).unwrap_err().to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    assert!(audit(&ledger, &AuditOptions::default())
        .unwrap()
        .is_intact());
}

#[test]
fn opening_refuses_what_is_not_a_current_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    assert!(matches!(
        Ledger::open(&missing),
        Err(LedgerError::Missing { .. })
    ));
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    assert!(matches!(
        Ledger::open_read_only(&garbage),
        Err(LedgerError::NotALedger { .. })
    ));
    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    assert!(matches!(
        Ledger::open(&other),
        Err(LedgerError::NotALedger { .. })
    ));

    let path = dir.path().join("ledger.db");
    drop(Ledger::create(&path, ORIGIN).unwrap());
    assert!(matches!(
        Ledger::create(&path, ORIGIN),
        Err(LedgerError::AlreadyExists { .. })
    ));
    assert!(matches!(
        Ledger::create(&dir.path().join("x.db"), "bad origin"),
        Err(LedgerError::InvalidOrigin { .. })
    ));
    assert!(!dir.path().join("x.db").exists());
    tamper(&path, "PRAGMA user_version = 2;");
    match Ledger::open(&path) {
        Err(LedgerError::NewerVersion {
            found: 2,
            supported: 1,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // A read-only ledger refuses to append, with an error rather than a panic.
    tamper(&path, "PRAGMA user_version = 1;");
    let mut read_only = Ledger::open_read_only(&path).unwrap();
    assert!(read_only.append(&content(0)).is_err());
}

#[test]
fn proofs_verify_offline_and_only_under_the_ledger_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with(dir.path(), 13);
    assert!(ledger.prove(5).is_err(), "no checkpoint covers it yet");
    let checkpoint = ledger.checkpoint(&key(9)).unwrap();
    assert_eq!(checkpoint.checkpoint.size, 13);
    for seq in 0..13 {
        let text = ledger.prove(seq).unwrap().to_text();
        let proof = EntryProof::parse(&text).unwrap();
        let verified = proof.verify(&[key(9).public_key()]).unwrap();
        assert_eq!(verified.entry.seq, seq);
        assert_eq!(verified.entry.content, content(seq));
        assert!(proof.verify(&[key(8).public_key()]).is_err());
        // Any changed byte of the proof is refused, whatever it hits.
        for at in (0..text.len()).step_by(11) {
            let mut bytes = text.clone().into_bytes();
            bytes[at] ^= 0x01;
            if let Ok(mutant) = String::from_utf8(bytes) {
                if let Ok(parsed) = EntryProof::parse(&mutant) {
                    assert!(
                        parsed.verify(&[key(9).public_key()]).is_err(),
                        "byte {at} of the proof of #{seq} changed and it still verifies"
                    );
                }
            }
        }
    }
    // Entries appended later are proved under a later checkpoint only.
    ledger.append(&content(13)).unwrap();
    assert!(ledger.prove(13).is_err());
    ledger.checkpoint(&key(9)).unwrap();
    let proof = ledger.prove(2).unwrap();
    assert_eq!(proof.checkpoint.checkpoint.size, 14);
}

fn external(ledger: &mut Ledger) -> (String, SignedCheckpoint) {
    let signed = ledger.checkpoint(&key(9)).unwrap();
    (
        "exported.txt".to_string(),
        SignedCheckpoint::parse(&signed.text).unwrap(),
    )
}

fn trusted() -> AuditOptions {
    AuditOptions {
        trusted_keys: Some(vec![key(9).public_key()]),
        external: Vec::new(),
    }
}

#[test]
fn audit_names_the_changed_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with(dir.path(), 40);
    let exported = external(&mut ledger);
    let path = ledger.path().to_path_buf();
    drop(ledger);
    tamper(
        &path,
        "DROP TRIGGER entries_no_update; UPDATE entries SET recorded = '2020-01-01T00:00:00Z' WHERE seq = 17;",
    );
    let ledger = Ledger::open_read_only(&path).unwrap();
    let report = audit(&ledger, &trusted()).unwrap();
    assert!(!report.is_intact());
    assert_eq!(report.first_bad_seq(), Some(17));
    assert_eq!(report.problems[0].kind, ProblemKind::Entry);
    assert!(
        report.problems[0].message.contains("#17"),
        "{:?}",
        report.problems
    );
    let mut options = trusted();
    options.external.push(exported);
    let report = audit(&ledger, &options).unwrap();
    assert_eq!(report.first_bad_seq(), Some(17));
    assert_eq!(report.external_consistent, 0);
}

#[test]
fn audit_names_a_changed_node() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with(dir.path(), 40);
    let path = ledger.path().to_path_buf();
    drop(ledger);
    tamper(
        &path,
        "DROP TRIGGER nodes_no_update; UPDATE nodes SET hash = zeroblob(32) WHERE level = 3 AND idx = 2;",
    );
    let report = audit(
        &Ledger::open_read_only(&path).unwrap(),
        &AuditOptions::default(),
    )
    .unwrap();
    assert_eq!(report.problems[0].kind, ProblemKind::Node);
    assert_eq!(report.first_bad_seq(), Some(16));
    assert!(
        report.problems[0].message.contains("#16..#23"),
        "{:?}",
        report.problems
    );
}

#[test]
fn audit_detects_removed_entries_against_an_exported_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with(dir.path(), 40);
    let exported = external(&mut ledger);
    let path = ledger.path().to_path_buf();
    drop(ledger);
    // Remove the last three entries with their leaves and every node over them, and the
    // checkpoint that would tell: a clean-looking, shorter ledger.
    tamper(
        &path,
        "DROP TRIGGER entries_no_delete; DROP TRIGGER nodes_no_delete; DROP TRIGGER checkpoints_no_delete;
         DELETE FROM entries WHERE seq >= 37;
         DELETE FROM nodes WHERE ((idx + 1) << level) > 37;
         DELETE FROM checkpoints;",
    );
    let ledger = Ledger::open_read_only(&path).unwrap();
    assert!(
        audit(&ledger, &trusted()).unwrap().is_intact(),
        "alone it looks fine"
    );
    let mut options = trusted();
    options.external.push(exported);
    let report = audit(&ledger, &options).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].kind, ProblemKind::Rollback);
    assert_eq!(report.first_bad_seq(), Some(37));

    // Deleting only the rows leaves nodes over entries that are not there.
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with(dir.path(), 40);
    let path = ledger.path().to_path_buf();
    drop(ledger);
    tamper(
        &path,
        "DROP TRIGGER entries_no_delete; DELETE FROM entries WHERE seq >= 38;",
    );
    let report = audit(
        &Ledger::open_read_only(&path).unwrap(),
        &AuditOptions::default(),
    )
    .unwrap();
    assert_eq!(report.problems[0].kind, ProblemKind::ExtraNodes);
    assert_eq!(report.first_bad_seq(), Some(38));
}

#[test]
fn audit_detects_a_rebuilt_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with(dir.path(), 30);
    let exported = external(&mut ledger);
    drop(ledger);
    // The attacker rebuilds the ledger with the same origin and one entry changed: every row
    // and node is self-consistent, and they may even sign checkpoints with their own key.
    let rebuilt_dir = tempfile::tempdir().unwrap();
    let mut rebuilt = Ledger::create(&rebuilt_dir.path().join("ledger.db"), ORIGIN).unwrap();
    for i in 0..32 {
        let mut entry = content(i);
        if i == 11 {
            entry.pixels = None;
        }
        rebuilt.append(&entry).unwrap();
    }
    rebuilt.checkpoint(&key(66)).unwrap();
    assert!(audit(&rebuilt, &AuditOptions::default())
        .unwrap()
        .is_intact());

    let mut options = trusted();
    options.external.push(exported);
    let report = audit(&rebuilt, &options).unwrap();
    let kinds: Vec<ProblemKind> = report.problems.iter().map(|p| p.kind).collect();
    assert!(
        kinds.contains(&ProblemKind::StoredCheckpoint),
        "{:?}",
        report.problems
    );
    assert!(
        kinds.contains(&ProblemKind::ExternalCheckpoint),
        "{:?}",
        report.problems
    );
    assert!(report
        .problems
        .iter()
        .any(|p| p.message.contains("at size 30") && p.message.contains("rewritten")));
    assert_eq!(report.external_consistent, 0);
}

#[test]
fn audit_accepts_a_grown_ledger_consistent_with_old_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with(dir.path(), 9);
    let first = external(&mut ledger);
    for i in 9..100 {
        ledger.append(&content(i)).unwrap();
    }
    let second = external(&mut ledger);
    for i in 100..130 {
        ledger.append(&content(i)).unwrap();
    }
    let mut options = trusted();
    options.external = vec![first, second];
    let report = audit(&ledger, &options).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.size, 130);
    assert_eq!(report.checkpoints_verified, 2);
    assert_eq!(report.external_consistent, 2);
    // The same checkpoint against a ledger of another origin is refused.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Ledger::create(&other_dir.path().join("o.db"), "other.example/log").unwrap();
    let report = audit(&other, &options).unwrap();
    assert_eq!(report.problems.len(), 2);
}
