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

/// Signs `payload` into a COSE_Sign1 with arbitrary headers, for negative vectors.
fn sign_raw(
    protected: coset::Header,
    unprotected: coset::Header,
    payload: Vec<u8>,
    key: &SigningKey,
    tagged: bool,
) -> Vec<u8> {
    use coset::{CborSerializable, TaggedCborSerializable};
    let sign1 = coset::CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .payload(payload)
        .create_signature(b"", |tbs| key.sign(tbs).to_vec())
        .build();
    if tagged {
        sign1.to_tagged_vec().unwrap()
    } else {
        sign1.to_vec().unwrap()
    }
}

/// Replaces the first seal's record field `field` in a chain's CBOR value.
fn with_record_field(chain: &[u8], field: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = ciborium::de::from_reader(chain).unwrap();
    let Value::Map(entries) = &mut value else {
        panic!()
    };
    let (_, seals) = entries
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some("seals"))
        .unwrap();
    let Value::Array(records) = seals else {
        panic!()
    };
    let Value::Map(record) = &mut records[0] else {
        panic!()
    };
    let (_, target) = record
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some(field))
        .unwrap();
    edit(target);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&value, &mut out).unwrap();
    out
}

/// The negative vectors: a damaged chain for `ct-explicit-le` and the verdict each must give
/// with the TEST 1 key trusted.
fn negatives(chain: &[u8], manifest: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    use coset::iana;
    let signer = key(KEY_1);
    let kid = signer.key_id().0.to_vec();
    let envelope_with =
        |protected: coset::Header, unprotected: coset::Header, payload: Vec<u8>, tagged: bool| {
            let envelope = sign_raw(protected, unprotected, payload, &signer, tagged);
            with_record_field(chain, "envelope", |v| *v = Value::Bytes(envelope))
        };
    let eddsa_kid = || {
        coset::HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(kid.clone())
            .build()
    };
    let manifest_value: Value = ciborium::de::from_reader(manifest).unwrap();
    let reordered = {
        let Value::Map(mut entries) = manifest_value.clone() else {
            panic!()
        };
        entries.reverse();
        let mut out = Vec::new();
        ciborium::ser::into_writer(&Value::Map(entries), &mut out).unwrap();
        out
    };
    let extra_field = {
        let Value::Map(mut entries) = manifest_value.clone() else {
            panic!()
        };
        entries.push((Value::Text("zzz_unknown".into()), Value::Integer(1.into())));
        crate::cbor::encode(&Value::Map(entries)).unwrap()
    };
    vec![
        (
            "bad-signature.cbor",
            with_record_field(chain, "envelope", |v| {
                let Value::Bytes(b) = v else { panic!() };
                let last = b.len() - 1;
                b[last] ^= 0x01;
            }),
            "INVALID",
        ),
        (
            "bad-alg-es256.cbor",
            envelope_with(
                coset::HeaderBuilder::new()
                    .algorithm(iana::Algorithm::ES256)
                    .key_id(kid.clone())
                    .build(),
                coset::Header::default(),
                manifest.to_vec(),
                true,
            ),
            "INVALID",
        ),
        (
            "unprotected-alg.cbor",
            envelope_with(
                coset::HeaderBuilder::new().key_id(kid.clone()).build(),
                coset::HeaderBuilder::new()
                    .algorithm(iana::Algorithm::EdDSA)
                    .build(),
                manifest.to_vec(),
                true,
            ),
            "INVALID",
        ),
        (
            "no-kid.cbor",
            envelope_with(
                coset::HeaderBuilder::new()
                    .algorithm(iana::Algorithm::EdDSA)
                    .build(),
                coset::Header::default(),
                manifest.to_vec(),
                true,
            ),
            "INVALID",
        ),
        (
            "untagged-envelope.cbor",
            envelope_with(
                eddsa_kid(),
                coset::Header::default(),
                manifest.to_vec(),
                false,
            ),
            "INVALID",
        ),
        (
            "envelope-trailing-byte.cbor",
            with_record_field(chain, "envelope", |v| {
                let Value::Bytes(b) = v else { panic!() };
                b.push(0);
            }),
            "INVALID",
        ),
        (
            "manifest-not-deterministic.cbor",
            envelope_with(eddsa_kid(), coset::Header::default(), reordered, true),
            "INVALID",
        ),
        (
            "manifest-unknown-field.cbor",
            envelope_with(eddsa_kid(), coset::Header::default(), extra_field, true),
            "INVALID",
        ),
        (
            "tampered-tiles.cbor",
            with_record_field(chain, "tiles", |v| {
                let Value::Array(frames) = v else { panic!() };
                let Value::Bytes(b) = &mut frames[0] else {
                    panic!()
                };
                b[0] ^= 0x80;
            }),
            "INVALID",
        ),
        (
            "tampered-salt.cbor",
            with_record_field(chain, "salts", |v| {
                let Value::Map(salts) = v else { panic!() };
                let Value::Bytes(b) = &mut salts[0].1 else {
                    panic!()
                };
                b[0] ^= 0x01;
            }),
            "ALTERED",
        ),
        (
            "truncated.cbor",
            chain[..chain.len() - 9].to_vec(),
            "INVALID",
        ),
        (
            "trailing-bytes.cbor",
            [chain, &[0x01, 0x02]].concat(),
            "INVALID",
        ),
    ]
}

#[test]
fn negative_seal_vectors_are_reproduced_and_rejected() {
    let regenerate = std::env::var_os("SCANSEAL_REGENERATE_SEAL_VECTORS").is_some();
    let dir = vectors_dir().join("ct-explicit-le");
    let case = cases().into_iter().next().unwrap();
    let files = generate(&case);
    let get = |name: &str| files.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let list = negatives(&get("chain.cbor"), &get("manifest.cbor"));
    let mut expected = serde_json::Map::new();
    for (name, bytes, verdict) in &list {
        expected.insert((*name).to_string(), json!(verdict));
        let path = dir.join(name);
        if regenerate {
            std::fs::write(&path, bytes).unwrap();
        }
        assert!(
            std::fs::read(&path).unwrap() == *bytes,
            "{} differs",
            path.display()
        );
        // Every structural negative fails to parse or to verify here already; the verdicts
        // are checked end to end by scanseal-verify's tests.
        let parsed = SealChain::from_cbor(bytes).and_then(|chain| {
            let envelope = Envelope::parse(&chain.seals[0].envelope)?;
            envelope.verify(&key(KEY_1).public_key())
        });
        let structural = !matches!(*name, "tampered-tiles.cbor" | "tampered-salt.cbor");
        assert_eq!(parsed.is_err(), structural, "{name}: {parsed:?}");
    }
    let text = format!("{}\n", serde_json::to_string_pretty(&expected).unwrap());
    let path = dir.join("negatives.json");
    if regenerate {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}
