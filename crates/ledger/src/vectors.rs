//! The byte-exact vectors of `spec/vectors/ledger/` (spec/ledger.md §9): regenerated from
//! fixed inputs and compared with the committed files. `SCANSEAL_REGENERATE_LEDGER_VECTORS=1`
//! rewrites them (after a deliberate, version-bumped format change only).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use scanseal_canon::{Digest, PixelMode};
use scanseal_keys::SigningKey;
use serde_json::json;

use crate::merkle::MemoryTree;
use crate::{
    instance_key, merkle, note_key_hash, verifier_key, EntryKind, EntryProof, Ledger, NewEntry,
    PixelRecord,
};

/// RFC 8032 §7.1 TEST 1 (the ledger key) and TEST 2 (the seals' signer).
const KEY_1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const KEY_2: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const ORIGIN: &str = "vectors.scanseal.example/ledger";
const PROVED: u64 = 3;

fn key(hex_seed: &str) -> SigningKey {
    SigningKey::from_seed(&hex::decode(hex_seed).unwrap().try_into().unwrap())
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors/ledger")
}

/// Seven entries covering every kind and pixel form.
fn entries() -> Vec<(NewEntry, Option<&'static str>)> {
    let signer = key(KEY_2).key_id();
    let envelope = |i: u8| Digest::of(&[b"vector envelope ", &[i]]);
    let pixels = |mode, i: u8, tile_size| {
        Some(PixelRecord {
            mode,
            digest: Digest::of(&[b"vector pixels ", &[i]]),
            tile_size,
        })
    };
    let uids = [
        Some("1.2.826.0.1.3680043.10.1234.1"),
        Some("1.2.826.0.1.3680043.10.1234.2"),
        Some("1.2.826.0.1.3680043.10.1234.3"),
        Some("1.2.826.0.1.3680043.10.1234.1"),
        None,
        Some("2.25.987654321"),
        Some("1.2.826.0.1.3680043.10.1234.7"),
    ];
    let contents = [
        (
            EntryKind::Acquired,
            pixels(PixelMode::DecodedSamples, 0, 64),
            None,
        ),
        (
            EntryKind::Acquired,
            pixels(PixelMode::EncodedFrames, 1, 0),
            None,
        ),
        (EntryKind::Acquired, None, None),
        (
            EntryKind::Countersigned,
            pixels(PixelMode::DecodedSamples, 0, 64),
            Some(envelope(0)),
        ),
        (
            EntryKind::Acquired,
            pixels(PixelMode::DecodedSamples, 4, 16),
            None,
        ),
        (
            EntryKind::Deidentified,
            pixels(PixelMode::DecodedSamples, 0, 64),
            Some(envelope(3)),
        ),
        (
            EntryKind::Acquired,
            pixels(PixelMode::DecodedSamples, 6, 1),
            None,
        ),
    ];
    contents
        .into_iter()
        .zip(uids)
        .enumerate()
        .map(|(i, ((kind, pixels, predecessor), uid))| {
            (
                NewEntry {
                    kind,
                    signer,
                    envelope: envelope(i as u8),
                    pixels,
                    instance: instance_key(uid),
                    predecessor,
                },
                uid,
            )
        })
        .collect()
}

struct Generated {
    json: String,
    checkpoint: String,
    proof: String,
}

fn generate() -> Generated {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::create(&dir.path().join("vectors.db"), ORIGIN).unwrap();
    let inputs = entries();
    let mut tree = MemoryTree::new();
    let mut entries_json = Vec::new();
    for (i, (content, uid)) in inputs.iter().enumerate() {
        let recorded = scanseal_seal::parse_time(&format!("2026-01-01T00:00:0{i}Z")).unwrap();
        let entry = ledger
            .append_recorded(std::slice::from_ref(content), recorded)
            .unwrap()
            .pop()
            .unwrap();
        let encoded = entry.encode().unwrap();
        let leaf = entry.leaf_hash().unwrap();
        tree.push(leaf);
        entries_json.push(json!({
            "seq": entry.seq,
            "kind": content.kind.as_str(),
            "recorded": scanseal_seal::format_time(entry.recorded).unwrap(),
            "signer_hex": content.signer.to_hex(),
            "envelope_hex": content.envelope.to_hex(),
            "pixels": content.pixels.map(|p| json!({
                "mode": p.mode.name(),
                "digest_hex": p.digest.to_hex(),
                "tile_size": p.tile_size,
            })),
            "instance_uid": uid,
            "instance_hex": content.instance.to_hex(),
            "predecessor_hex": content.predecessor.map(|d| d.to_hex()).unwrap_or_default(),
            "encoded_hex": hex::encode(&encoded),
            "leaf_hash_hex": hex::encode(leaf),
        }));
    }
    let n = ledger.size().unwrap();
    let mut roots = Vec::new();
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for size in 1..=n {
        let root = ledger.root(size).unwrap();
        assert_eq!(root, merkle::root(&mut tree, size).unwrap());
        roots.push(hex::encode(root));
        for index in 0..size {
            let path = ledger.inclusion_proof(index, size).unwrap();
            inclusion.push(json!({
                "index": index,
                "size": size,
                "path": path.iter().map(hex::encode).collect::<Vec<_>>(),
            }));
        }
        for old_size in 1..=size {
            let proof = ledger.consistency_proof(old_size, size).unwrap();
            consistency.push(json!({
                "old_size": old_size,
                "new_size": size,
                "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
            }));
        }
    }
    let ledger_key = key(KEY_1);
    let checkpoint = ledger.checkpoint(&ledger_key).unwrap();
    let proof: EntryProof = ledger.prove(PROVED).unwrap();
    let public = ledger_key.public_key();
    let value = json!({
        "origin": ORIGIN,
        "ledger_key": {
            "secret_hex": KEY_1,
            "public_hex": hex::encode(public.to_bytes()),
            "key_hash_hex": hex::encode(note_key_hash(ORIGIN, &public)),
            "verifier_key": verifier_key(ORIGIN, &public),
        },
        "entries": entries_json,
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
        "checkpoint_file": "checkpoint.txt",
        "proof_file": format!("entry-{PROVED}.tlog-proof"),
    });
    Generated {
        json: serde_json::to_string_pretty(&value).unwrap() + "\n",
        checkpoint: checkpoint.text,
        proof: proof.to_text(),
    }
}

#[test]
fn vectors_match_the_committed_files() {
    let generated = generate();
    let dir = vectors_dir();
    let files = [
        ("vectors.json", &generated.json),
        ("checkpoint.txt", &generated.checkpoint),
        (&*format!("entry-{PROVED}.tlog-proof"), &generated.proof),
    ];
    if std::env::var_os("SCANSEAL_REGENERATE_LEDGER_VECTORS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    for (name, text) in files {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| {
            panic!("{name}: {e} (SCANSEAL_REGENERATE_LEDGER_VECTORS=1 writes it)")
        });
        assert_eq!(
            &committed, text,
            "spec/vectors/ledger/{name} differs from what the code produces"
        );
    }
    // The committed proof verifies under the ledger key, and only under it.
    let proof = EntryProof::parse(&generated.proof).unwrap();
    let verified = proof.verify(&[key(KEY_1).public_key()]).unwrap();
    assert_eq!(verified.entry.seq, PROVED);
    assert!(proof.verify(&[key(KEY_2).public_key()]).is_err());
}
