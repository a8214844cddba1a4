//! The byte-exact vectors of `spec/vectors/deid/` (spec/deidentification.md §6): the sealed
//! seal vectors de-identified with a fixed secret, key, time and salt seed, regenerated and
//! compared with the committed files. `SCANSEAL_REGENERATE_DEID_VECTORS=1` rewrites them
//! (after a deliberate, version-bumped format change only).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use scanseal_canon::{canonicalize, CanonOptions, DicomInstance};
use scanseal_keys::SigningKey;
use scanseal_seal::{embed, AttributeAction, Envelope, SealChain, SealOptions};
use serde_json::json;

use crate::{deidentify_file, Deidentifier, Profile, ProfileOption, Secret};

/// RFC 8032 §7.1 TEST 3 secret key: the de-identification service of the vectors.
const DEID_KEY: &str = "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7";
const SECRET: &str = "5343414e5345414c2d444549442d564543544f5253"; // "SCANSEAL-DEID-VECTORS"
const SALT_SEED: &str = "5343414e5345414c2d564543544f5253"; // "SCANSEAL-VECTORS"
const CREATED: &str = "2026-02-01T00:00:00Z";

struct Case {
    name: &'static str,
    /// The sealed input: a seal vector's `sealed.dcm`.
    seal_vector: &'static str,
    options: Vec<ProfileOption>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "ct-basic",
            seal_vector: "ct-explicit-le",
            options: Vec::new(),
        },
        Case {
            name: "mr-countersigned-retain-uids-modified-dates",
            seal_vector: "mr-implicit-le-countersigned",
            options: vec![
                ProfileOption::RetainUids,
                ProfileOption::RetainLongitudinalModifiedDates,
            ],
        },
    ]
}

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors")
}

fn generate(case: &Case) -> Vec<(String, Vec<u8>)> {
    let input = spec_dir()
        .join("seal")
        .join(case.seal_vector)
        .join("sealed.dcm");
    let work = tempfile::tempdir().unwrap();
    let output = work.path().join("deidentified.dcm");
    let key = SigningKey::from_seed(&hex::decode(DEID_KEY).unwrap().try_into().unwrap());
    let profile = Profile::basic().with_options(case.options.clone()).unwrap();
    let deidentifier = Deidentifier::new(
        profile,
        Secret::from_bytes(&hex::decode(SECRET).unwrap()).unwrap(),
    );
    let options = SealOptions {
        created: Some(scanseal_seal::parse_time(CREATED).unwrap()),
        salt_seed: Some(hex::decode(SALT_SEED).unwrap()),
        ..SealOptions::new()
    };
    let outcome = deidentify_file(
        &input,
        &output,
        None,
        &deidentifier,
        &key,
        &options,
        |_, _| Ok::<(), crate::DeidError>(()),
    )
    .unwrap();
    let bytes = std::fs::read(&output).unwrap();
    let blocks = embed::find_seal_blocks(&mut std::io::Cursor::new(&bytes)).unwrap();
    // The stored value may carry the one-byte pad (seal-format B3a); the vector holds the
    // chain's own encoding.
    let chain_bytes = SealChain::from_cbor(&blocks[0].chain)
        .unwrap()
        .to_cbor()
        .unwrap();
    let chain = SealChain::from_cbor(&chain_bytes).unwrap();
    let newest = chain.latest().unwrap();
    let manifest = Envelope::parse(&newest.envelope)
        .unwrap()
        .verify(&key.public_key())
        .unwrap();
    let map = manifest.deidentification.as_ref().unwrap();
    let count = |action: AttributeAction| map.count(|a| a == action);
    let description = json!({
        "name": case.name,
        "input": format!("../../seal/{}/sealed.dcm", case.seal_vector),
        "options": map.options,
        "secret": SECRET,
        "deidentification_key_seed": DEID_KEY,
        "deidentification_key_id": key.key_id().to_hex(),
        "created": CREATED,
        "salt_seed": SALT_SEED,
        "chain_length": outcome.chain_length,
        "envelope_sha256": chain.seals.iter().map(|r| r.envelope_digest().to_hex()).collect::<Vec<_>>(),
        "kept": count(AttributeAction::Kept),
        "removed": count(AttributeAction::Removed),
        "added": count(AttributeAction::Added),
        "replaced": map.count(AttributeAction::is_replacement),
        "sop_instance_uid": outcome.sop_instance_uid,
        "expected_verdict_with_all_keys_trusted": "INTACT",
    });
    vec![
        ("deidentified.dcm".into(), bytes),
        ("chain.cbor".into(), chain_bytes),
        ("envelope.cbor".into(), newest.envelope.clone()),
        ("manifest.cbor".into(), manifest.to_cbor().unwrap()),
        (
            "vector.json".into(),
            format!("{}\n", serde_json::to_string_pretty(&description).unwrap()).into_bytes(),
        ),
    ]
}

#[test]
fn deidentification_vectors_are_reproduced_byte_for_byte() {
    let regenerate = std::env::var_os("SCANSEAL_REGENERATE_DEID_VECTORS").is_some();
    for case in cases() {
        let dir = spec_dir().join("deid").join(case.name);
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
        let get = |name: &str| files.iter().find(|(n, _)| n == name).unwrap().1.clone();
        // The earlier seals keep their envelopes byte for byte, with only kept salts.
        let input_bytes = std::fs::read(
            spec_dir()
                .join("seal")
                .join(case.seal_vector)
                .join("chain.cbor"),
        )
        .unwrap();
        let before = SealChain::from_cbor(&input_bytes).unwrap();
        let after = SealChain::from_cbor(&get("chain.cbor")).unwrap();
        assert_eq!(after.seals.len(), before.seals.len() + 1);
        let manifest = scanseal_seal::Manifest::from_cbor(&get("manifest.cbor")).unwrap();
        let map = manifest.deidentification.clone().unwrap();
        for (old, new) in before.seals.iter().zip(&after.seals) {
            assert_eq!(old.envelope, new.envelope);
            assert_eq!(old.tiles, new.tiles);
            for (id, salt) in &new.salts {
                assert_eq!(map.action(id), Some(AttributeAction::Kept));
                assert_eq!(old.salt(id), Some(salt));
            }
        }
        // The file's canonical form is what the newest seal covers, pixels as acquired.
        let instance = DicomInstance::from_bytes(&get("deidentified.dcm")).unwrap();
        let canonical = canonicalize(
            &instance,
            &CanonOptions::new().tile_size(manifest.tile_size_or_default()),
        )
        .unwrap();
        assert_eq!(
            canonical.pixels.map(|p| p.digest),
            manifest.pixels.as_ref().map(|p| p.digest)
        );
        assert_eq!(canonical.attributes.len(), manifest.attributes.len());
    }
}
