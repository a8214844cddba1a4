//! The byte-exact vectors of `spec/vectors/seal/` (spec §8): regenerated from fixed inputs
//! and compared with the committed files. `SCANSEAL_REGENERATE_SEAL_VECTORS=1` rewrites them
//! (after a deliberate, version-bumped format change only).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use ciborium::value::Value;
use scanseal_canon::{canonicalize, CanonOptions, DicomInstance};
use scanseal_fixtures::{EncodeOptions, Encoding, Fixture};
use scanseal_keys::SigningKey;
use serde_json::json;

use crate::{embed, seal_canonical, Claims, Envelope, SealChain, SealOptions};

/// RFC 8032 §7.1 TEST 1 and TEST 2 secret keys.
const KEY_1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const KEY_2: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const SALT_SEED: &str = "5343414e5345414c2d564543544f5253"; // "SCANSEAL-VECTORS"
const CREATED: &str = "2026-01-01T00:00:00Z";

fn key(hex_seed: &str) -> SigningKey {
    SigningKey::from_seed(&hex::decode(hex_seed).unwrap().try_into().unwrap())
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors/seal")
}

struct Case {
    name: &'static str,
    fixture: Fixture,
    encoding: Encoding,
    tile_size: u32,
    claims: Claims,
    countersign: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "ct-explicit-le",
            fixture: Fixture::ct_slice(1),
            encoding: Encoding::ExplicitVrLittleEndian,
            tile_size: 16,
            claims: Claims::default(),
            countersign: false,
        },
        Case {
            name: "mr-implicit-le-countersigned",
            fixture: Fixture::mr_multiframe(2, 2),
            encoding: Encoding::ImplicitVrLittleEndian,
            tile_size: 64,
            claims: Claims {
                device_id: Some("MR-3T-02".into()),
                operator_id: Some("tech-0042".into()),
            },
            countersign: true,
        },
        Case {
            name: "sr-big-endian-no-pixels",
            fixture: Fixture::structured_report(),
            encoding: Encoding::ExplicitVrBigEndian,
            tile_size: 64,
            claims: Claims::default(),
            countersign: false,
        },
    ]
}

/// Everything a case produces, file name → bytes.
fn generate(case: &Case) -> Vec<(String, Vec<u8>)> {
    let input = case
        .fixture
        .encode(case.encoding, &EncodeOptions::default())
        .unwrap();
    let instance = DicomInstance::from_bytes(&input).unwrap();
    let canonical =
        canonicalize(&instance, &CanonOptions::new().tile_size(case.tile_size)).unwrap();
    let options = SealOptions {
        created: Some(crate::parse_time(CREATED).unwrap()),
        claims: case.claims.clone(),
        salt_seed: Some(hex::decode(SALT_SEED).unwrap()),
        ..SealOptions::new()
    };
    let first = seal_canonical(&canonical, &key(KEY_1), &options, None).unwrap();
    let mut chain = SealChain { seals: vec![first] };
    if case.countersign {
        let second = seal_canonical(&canonical, &key(KEY_2), &options, chain.latest()).unwrap();
        chain.seals.push(second);
    }
    let chain_bytes = chain.to_cbor().unwrap();
    let latest = chain.latest().unwrap();
    let envelope = Envelope::parse(&latest.envelope).unwrap();
    let manifest = envelope
        .verify(&key(if case.countersign { KEY_2 } else { KEY_1 }).public_key())
        .unwrap();
    let mut sealed = Vec::new();
    embed::write_with_chain(&mut std::io::Cursor::new(&input), &mut sealed, &chain_bytes).unwrap();

    let description = json!({
        "name": case.name,
        "signer_seeds": if case.countersign { json!([KEY_1, KEY_2]) } else { json!([KEY_1]) },
        "signer_key_ids": chain.seals.iter().map(|r| Envelope::parse(&r.envelope).unwrap().key_id().to_hex()).collect::<Vec<_>>(),
        "created": CREATED,
        "salt_seed": SALT_SEED,
        "tile_size": case.tile_size,
        "transfer_syntax": canonical.transfer_syntax,
        "pixel_digest": manifest.pixels.as_ref().map(|p| p.digest.to_hex()),
        "attributes": manifest.attributes.len(),
        "envelope_sha256": chain.seals.iter().map(|r| r.envelope_digest().to_hex()).collect::<Vec<_>>(),
        "chain_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&chain_bytes)),
        "expected_verdict_with_both_keys_trusted": "INTACT",
    });
    vec![
        ("input.dcm".into(), input),
        ("sealed.dcm".into(), sealed),
        ("chain.cbor".into(), chain_bytes),
        ("envelope.cbor".into(), latest.envelope.clone()),
        ("manifest.cbor".into(), manifest.to_cbor().unwrap()),
        (
            "vector.json".into(),
            format!("{}\n", serde_json::to_string_pretty(&description).unwrap()).into_bytes(),
        ),
    ]
}

/// The payload of a COSE_Sign1, read independently of `Envelope`.
fn envelope_payload(envelope: &[u8]) -> Vec<u8> {
    let value: Value = ciborium::de::from_reader(envelope).unwrap();
    let Value::Tag(18, inner) = value else {
        panic!("not tag 18")
    };
    let Value::Array(items) = *inner else {
        panic!("not an array")
    };
    let Value::Bytes(payload) = &items[2] else {
        panic!("no payload")
    };
    payload.clone()
}

#[test]
fn seal_vectors_are_reproduced_byte_for_byte() {
    let regenerate = std::env::var_os("SCANSEAL_REGENERATE_SEAL_VECTORS").is_some();
    for case in cases() {
        let dir = vectors_dir().join(case.name);
        let files = generate(&case);
        if regenerate {
            std::fs::create_dir_all(&dir).unwrap();
        }
        for (name, bytes) in &files {
            let path = dir.join(name);
            if regenerate {
                std::fs::write(&path, bytes).unwrap();
            }
            let committed = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (regenerate the vectors)", path.display()));
            assert!(
                committed == *bytes,
                "{} differs from what the code produces",
                path.display()
            );
        }
        // The manifest in the envelope is the manifest file, and decoding + re-encoding the
        // chain is the identity.
        let get = |name: &str| files.iter().find(|(n, _)| n == name).unwrap().1.clone();
        let envelope = get("envelope.cbor");
        assert_eq!(envelope_payload(&envelope), get("manifest.cbor"));
        let chain = SealChain::from_cbor(&get("chain.cbor")).unwrap();
        assert_eq!(chain.to_cbor().unwrap(), get("chain.cbor"));
        // The sealed file is the input plus the block, and the block holds the chain.
        let blocks = embed::find_seal_blocks(&mut std::io::Cursor::new(get("sealed.dcm"))).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(SealChain::from_cbor(&blocks[0].chain).unwrap(), chain);
        let input = get("input.dcm");
        let sealed = get("sealed.dcm");
        assert!(
            sealed.starts_with(&input),
            "{}: sealing must append here",
            case.name
        );
    }
}
