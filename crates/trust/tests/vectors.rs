//! The byte-exact test vectors of `spec/keys-and-trust.md` (`spec/vectors/keys/`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use scanseal_keys::{KeyId, PublicKey, SigningKey};
use scanseal_trust::{parse_time, Role, TrustError, TrustStore};
use serde_json::Value;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors/keys")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(vectors().join(name)).unwrap()
}

fn json(name: &str) -> Value {
    serde_json::from_str(&read(name)).unwrap()
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn rfc8032_test1_key_files() {
    let v = json("rfc8032-test1.json");
    let seed: [u8; 32] = hex::decode(field(&v, "seed")).unwrap().try_into().unwrap();
    let key = SigningKey::from_seed(&seed);

    // What keygen writes for this seed, byte for byte.
    assert_eq!(*key.to_pem(), read(field(&v, "private_key_file")));
    assert_eq!(
        key.public_key().to_pem(),
        read(field(&v, "public_key_file"))
    );
    assert_eq!(
        hex::encode(key.public_key().to_bytes()),
        field(&v, "public_key")
    );
    assert_eq!(
        hex::encode(key.public_key().spki_der()),
        field(&v, "spki_der")
    );
    assert_eq!(key.public_key().spki_der().len(), 44);
    assert_eq!(key.key_id().to_hex(), field(&v, "key_id"));

    // Reading the files gives the same key; v2 (with the public key) is accepted too.
    let from_v1 = SigningKey::from_pem(&read(field(&v, "private_key_file"))).unwrap();
    let from_v2 = SigningKey::from_pem(&read(field(&v, "private_key_v2_file"))).unwrap();
    assert_eq!(from_v1.key_id().to_hex(), field(&v, "key_id"));
    assert_eq!(from_v2.key_id().to_hex(), field(&v, "key_id"));
    let public = PublicKey::from_pem(&read(field(&v, "public_key_file"))).unwrap();
    assert_eq!(public.key_id().to_hex(), field(&v, "key_id"));
    assert_eq!(
        PublicKey::from_spki_der(&hex::decode(field(&v, "spki_der")).unwrap()).unwrap(),
        public
    );

    // The RFC's signature over the empty message.
    let signature = hex::decode(field(&v, "signature")).unwrap();
    let message = hex::decode(field(&v, "message")).unwrap();
    assert_eq!(hex::encode(from_v2.sign(&message)), field(&v, "signature"));
    public.verify(&message, &signature).unwrap();
    let mut flipped = signature.clone();
    flipped[0] ^= 1;
    assert!(public.verify(&message, &flipped).is_err());
}

#[test]
fn rfc8032_test1_v2_with_another_public_key_is_refused() {
    let v = json("rfc8032-test1.json");
    let good = hex::decode(field(&v, "private_key_v2_der")).unwrap();
    // The unmodified DER is what the v2 file holds.
    assert_eq!(
        pem_body(&read(field(&v, "private_key_v2_file"))),
        b64(&good)
    );
    assert!(SigningKey::from_pem(&pem("PRIVATE KEY", &good)).is_ok());
    // The same file with the embedded public key replaced by another valid key's.
    let other = SigningKey::from_seed(&[7; 32]).public_key().to_bytes();
    let mut bad = good.clone();
    let start = bad.len() - 32;
    bad[start..].copy_from_slice(&other);
    assert!(SigningKey::from_pem(&pem("PRIVATE KEY", &bad)).is_err());
}

#[test]
fn trust_store_vector_round_trips_byte_for_byte() {
    let text = read("trust-store.toml");
    let store = TrustStore::from_toml(&text).unwrap();
    assert_eq!(store.to_toml(), text);
    let names: Vec<&str> = store.entries().iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["ct-01", "deid-01", "ledger-01", "ct-02"]);

    // save() writes the same bytes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trust.toml");
    store.save(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert_eq!(TrustStore::load(&path).unwrap(), store);

    // The same store built with add() and revoke() is written identically.
    let mut built = TrustStore::new();
    for key in store.entries() {
        let mut copy = key.clone();
        let revoked_at = copy.revoked_at.take();
        built.add(copy).unwrap();
        if let Some(at) = revoked_at {
            built.revoke(&key.name, at).unwrap();
        }
    }
    assert_eq!(built.to_toml(), text);

    // ct-01 is the RFC 8032 TEST 1 key.
    let v = json("rfc8032-test1.json");
    let ct = store.find_by_name("ct-01").unwrap();
    assert_eq!(ct.key_id().to_hex(), field(&v, "key_id"));
    assert_eq!(ct.role, Role::Acquisition);
}

#[test]
fn trust_evaluation_vectors() {
    let v = json("trust-evaluation.json");
    let store = TrustStore::from_toml(&read(field(&v, "store"))).unwrap();
    let cases = v["cases"].as_array().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for case in cases {
        let key_id = KeyId::from_hex(field(case, "key_id")).unwrap();
        let role: Role = field(case, "role").parse().unwrap();
        let at = parse_time(field(case, "signed_at")).unwrap();
        let decision = store.evaluate(&key_id, role, at);
        assert_eq!(decision.word(), field(case, "decision"), "{case}");
        assert_eq!(
            decision.key().map(|k| k.name.as_str()),
            case["name"]
                .as_str()
                .filter(|_| decision.word() != "unknown"),
            "{case}"
        );
        seen.insert(decision.word());
    }
    let all: std::collections::BTreeSet<&str> = v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(seen, all, "every decision is covered");
    assert_eq!(all.len(), 6);
}

/// The rule an error breaks, in the words of `trust-store-invalid.json`.
fn rule(error: &TrustError) -> &'static str {
    match error {
        TrustError::At { error, .. } | TrustError::InFile { error, .. } => rule(error),
        TrustError::Toml { message }
            if message.contains("unknown field")
                || message.contains("missing field")
                || message.contains("invalid type") =>
        {
            "shape"
        }
        TrustError::Toml { .. } => "syntax",
        TrustError::MissingVersion | TrustError::UnsupportedVersion { .. } => "version",
        TrustError::BadName { .. } => "name",
        TrustError::BadRole { .. } => "role",
        TrustError::KeyIdMismatch { .. } => "key-id",
        TrustError::BadPublicKey { .. } => "public-key",
        TrustError::BadTime { .. } => "time",
        TrustError::BadWindow { .. } => "window",
        TrustError::DuplicateName { .. } => "duplicate-name",
        TrustError::DuplicateKeyId { .. } => "duplicate-key-id",
        other => panic!("unexpected error kind: {other:?}"),
    }
}

#[test]
fn invalid_trust_stores_are_refused_for_the_stated_rule() {
    let v = json("trust-store-invalid.json");
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let err = TrustStore::from_toml(field(case, "toml")).unwrap_err();
        assert_eq!(
            rule(&err),
            field(case, "error"),
            "{}: {err}",
            field(case, "name")
        );
        // Errors about an entry say where it is.
        if !matches!(field(case, "error"), "version") {
            assert!(
                err.to_string().starts_with("line "),
                "{}: {err}",
                field(case, "name")
            );
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for i in 0..3 {
            n = (n << 8) | u32::from(chunk.get(i).copied().unwrap_or(0));
        }
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = b64(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}
