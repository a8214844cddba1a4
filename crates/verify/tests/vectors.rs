//! The seal vectors of `spec/vectors/seal/` through the verifier: every sealed vector is
//! `INTACT` with its signers trusted, and every negative sibling gives its listed verdict.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use scanseal_keys::SigningKey;
use scanseal_trust::{Role, TrustStore, TrustedKey};
use scanseal_verify::{verify_file, Verdict, VerifyOptions};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors/seal")
}

fn trust_for(vector: &serde_json::Value) -> TrustStore {
    let mut store = TrustStore::new();
    for (index, seed) in vector["signer_seeds"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let seed: [u8; 32] = hex::decode(seed.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let public = SigningKey::from_seed(&seed).public_key();
        assert_eq!(
            public.key_id().to_hex(),
            vector["signer_key_ids"][index].as_str().unwrap()
        );
        store
            .add(TrustedKey::new(
                &format!("signer-{index}"),
                Role::Acquisition,
                public,
            ))
            .unwrap();
    }
    store
}

#[test]
fn sealed_vectors_verify_intact() {
    let mut seen = 0;
    for entry in std::fs::read_dir(vectors()).unwrap() {
        let dir = entry.unwrap().path();
        let vector: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("vector.json")).unwrap()).unwrap();
        let trust = trust_for(&vector);
        let report = verify_file(&dir.join("sealed.dcm"), &trust, &VerifyOptions::default());
        assert_eq!(
            report.verdict,
            Verdict::Intact,
            "{}: {report:#?}",
            dir.display()
        );
        assert_eq!(
            report.chain.len(),
            vector["signer_seeds"].as_array().unwrap().len()
        );
        assert_eq!(
            report
                .chain
                .iter()
                .map(|l| l.envelope_sha256.clone())
                .collect::<Vec<_>>(),
            vector["envelope_sha256"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        );
        // The unsealed input has no seal.
        let report = verify_file(&dir.join("input.dcm"), &trust, &VerifyOptions::default());
        assert_eq!(report.verdict, Verdict::Unsigned);
        seen += 1;
    }
    assert_eq!(seen, 3);
}

#[test]
fn negative_vectors_give_their_verdicts() {
    let dir = vectors().join("ct-explicit-le");
    let vector: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("vector.json")).unwrap()).unwrap();
    let trust = trust_for(&vector);
    let expected: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("negatives.json")).unwrap()).unwrap();
    assert!(expected.len() >= 10);
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("scan.dcm");
    std::fs::copy(dir.join("input.dcm"), &input).unwrap();
    for (name, verdict) in &expected {
        std::fs::copy(dir.join(name), work.path().join("scan.dcm.seal")).unwrap();
        let report = verify_file(&input, &trust, &VerifyOptions::default());
        assert_eq!(
            report.verdict.as_str(),
            verdict.as_str().unwrap(),
            "{name}: {}",
            report.reason
        );
    }
    // And the genuine chain as a sidecar is intact.
    std::fs::copy(dir.join("chain.cbor"), work.path().join("scan.dcm.seal")).unwrap();
    assert_eq!(
        verify_file(&input, &trust, &VerifyOptions::default()).verdict,
        Verdict::Intact
    );
}
