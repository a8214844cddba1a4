//! Ledger benchmark: prints a table, asserts nothing.
//!
//!     cargo run --release -p scanseal-ledger --example ledger_bench -- [ENTRIES] [DIR]
//!
//! ENTRIES (default 1,000,000) are appended in batches of 10,000, then 1,000 single durable
//! appends are timed, then inclusion proofs, a checkpoint, a consistency proof and a full
//! `audit` at that size. DIR (default: a temporary directory) holds the database
//! (`bench-ledger.db`), and, so that the CLI can be timed on it (`bench/run.sh`), the checkpoint
//! key's public half (`bench-ledger.pub`, as `scanseal keygen` writes it) and the checkpoint
//! (`bench-ledger.checkpoint`).

use std::time::Instant;

use scanseal_canon::{Digest, PixelMode};
use scanseal_keys::{KeyId, SigningKey};
use scanseal_ledger::merkle::verify_inclusion;
use scanseal_ledger::{
    audit, instance_key, AuditOptions, EntryKind, Ledger, NewEntry, PixelRecord,
};

fn content(i: u64) -> NewEntry {
    NewEntry {
        kind: EntryKind::Acquired,
        signer: KeyId([7; 16]),
        envelope: Digest::of(&[b"bench envelope", &i.to_le_bytes()]),
        pixels: Some(PixelRecord {
            mode: PixelMode::DecodedSamples,
            digest: Digest::of(&[b"bench pixels", &i.to_le_bytes()]),
            tile_size: 64,
        }),
        instance: instance_key(Some(&format!("1.2.826.0.1.3680043.10.99.{i}"))),
        predecessor: None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let entries: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    let path = dir.join("bench-ledger.db");
    let mut ledger = Ledger::create(&path, "bench.scanseal.example/ledger")?;
    let mut rows = Vec::new();

    let started = Instant::now();
    let mut next = 0;
    while next < entries {
        let batch: Vec<NewEntry> = (next..(next + 10_000).min(entries)).map(content).collect();
        ledger.append_batch(&batch)?;
        next += batch.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    rows.push((
        format!("append, batches of 10,000 ({entries} entries)"),
        format!("{:.0} entries/s ({seconds:.1} s)", entries as f64 / seconds),
    ));

    let singles = 1000;
    let started = Instant::now();
    for i in 0..singles {
        ledger.append(&content(entries + i))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    rows.push((
        format!("append, single durable commits ({singles})"),
        format!(
            "{:.0} entries/s, {:.2} ms each",
            singles as f64 / seconds,
            seconds * 1000.0 / singles as f64
        ),
    ));

    let size = ledger.size()?;
    let root = ledger.root(size)?;
    let proofs = 1000u64;
    let started = Instant::now();
    for i in 0..proofs {
        let seq = (i * 7_919_993) % size;
        let path = ledger.inclusion_proof(seq, size)?;
        let leaf = ledger.entry(seq)?.leaf_hash()?;
        verify_inclusion(seq, size, &leaf, &path, &root)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    rows.push((
        format!("inclusion proof + verify at {size}"),
        format!("{:.1} µs each", seconds * 1e6 / proofs as f64),
    ));

    let key = SigningKey::from_seed(&[1; 32]);
    let started = Instant::now();
    let checkpoint = ledger.checkpoint(&key)?;
    let checkpoint_seconds = started.elapsed().as_secs_f64();
    std::fs::write(dir.join("bench-ledger.pub"), key.public_key().to_pem())?;
    std::fs::write(dir.join("bench-ledger.checkpoint"), &checkpoint.text)?;
    rows.push((
        format!("checkpoint at {size}"),
        format!("{:.2} ms", checkpoint_seconds * 1000.0),
    ));
    let started = Instant::now();
    let proof = ledger.prove(size / 3)?;
    proof.verify(&[key.public_key()])?;
    rows.push((
        "ledger prove + verify-proof (one entry)".into(),
        format!("{:.2} ms", started.elapsed().as_secs_f64() * 1000.0),
    ));
    drop(ledger);

    let ledger = Ledger::open_read_only(&path)?;
    let started = Instant::now();
    let report = audit(
        &ledger,
        &AuditOptions {
            trusted_keys: Some(vec![key.public_key()]),
            external: vec![("bench".into(), checkpoint)],
        },
    )?;
    let seconds = started.elapsed().as_secs_f64();
    if !report.is_intact() {
        return Err(format!("audit failed: {:?}", report.problems).into());
    }
    rows.push((
        format!("ledger verify (audit) at {size}"),
        format!("{seconds:.1} s ({:.0} entries/s)", size as f64 / seconds),
    ));
    let bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    rows.push((
        "database size".into(),
        format!(
            "{:.0} MB ({:.0} bytes/entry)",
            bytes as f64 / 1e6,
            bytes as f64 / size as f64
        ),
    ));

    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!("| {:width$} | result |", "ledger benchmark");
    println!("|{}|--------|", "-".repeat(width + 2));
    for (what, result) in rows {
        println!("| {what:width$} | {result} |");
    }
    Ok(())
}
