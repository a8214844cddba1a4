//! End-to-end tests of `scanseal keygen` and `scanseal trust` in a temporary directory, and of
//! the committed example keys and trust store in `keys-example/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use scanseal_keys::{PublicKey, SigningKey};
use scanseal_trust::{Role, TrustStore};
use serde_json::Value;

fn scanseal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scanseal"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = scanseal(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "scanseal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with exit 2 and one `scanseal: ` message; returns it.
fn fails(args: &[&str]) -> String {
    let out = scanseal(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "scanseal {args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "scanseal {args:?} printed to stdout");
    stderr
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `keygen --out DIR --name NAME`; returns the printed key id.
fn keygen(dir: &Path, name: &str) -> String {
    let out = ok(&["keygen", "--out", s(dir), "--name", name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], s(&dir.join(format!("{name}.key"))));
    assert_eq!(lines[1], s(&dir.join(format!("{name}.pub"))));
    let id = lines[2].strip_prefix("key id ").unwrap().to_string();
    assert_eq!(id.len(), 32);
    id
}

fn list_json(store: &Path) -> Vec<Value> {
    ok(&["trust", "list", "--json", "--store", s(store)])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let id = keygen(dir.path(), "ct-01");
    let key_path = dir.path().join("ct-01.key");
    let pub_path = dir.path().join("ct-01.pub");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&key_path).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
    let key = SigningKey::load(&key_path).unwrap();
    assert_eq!(key.key_id().to_hex(), id);
    assert_eq!(PublicKey::load(&pub_path).unwrap().key_id().to_hex(), id);

    // Two runs make two different keys.
    assert_ne!(keygen(dir.path(), "ct-02"), id);
}

#[test]
fn keygen_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "ct-01");
    let before = std::fs::read(dir.path().join("ct-01.key")).unwrap();
    let err = fails(&["keygen", "--out", s(dir.path()), "--name", "ct-01"]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("ct-01.key")).unwrap(), before);

    // Only the public half exists: still refused, and no private key is left behind.
    std::fs::write(dir.path().join("ct-02.pub"), "x").unwrap();
    let err = fails(&["keygen", "--out", s(dir.path()), "--name", "ct-02"]);
    assert!(err.contains("ct-02.pub already exists"), "{err}");
    assert!(!dir.path().join("ct-02.key").exists());
}

#[test]
fn keygen_refuses_bad_names_and_unusable_directories() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(&["keygen", "--out", s(dir.path()), "--name", "../escape"]);
    assert!(err.contains("not allowed"), "{err}");
    // --out is a file, not a directory.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = fails(&["keygen", "--out", s(&file), "--name", "k"]);
    assert!(err.starts_with(&format!("scanseal: {}", s(&file))), "{err}");
    // One message, not the same cause twice.
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn keygen_creates_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new").join("keys");
    let id = keygen(&out, "ct-01");
    let key = SigningKey::load(&out.join("ct-01.key")).unwrap();
    assert_eq!(key.key_id().to_hex(), id);
}

#[test]
fn trust_add_list_revoke_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let ct = keygen(dir.path(), "ct-01");
    let ledger = keygen(dir.path(), "ledger-01");
    let store = dir.path().join("sub-store.toml");
    assert!(!store.exists());

    // The store is created; the name defaults to the file stem.
    let out = ok(&[
        "trust",
        "add",
        "--store",
        s(&store),
        "--role",
        "acquisition",
        "--not-before",
        "2026-01-01",
        "--not-after",
        "2036-01-01T01:00:00+01:00",
        s(&dir.path().join("ct-01.pub")),
    ]);
    assert_eq!(
        out,
        format!("added ct-01 (acquisition, key id {ct}) to {}\n", s(&store))
    );
    assert!(store.exists());
    let out = ok(&[
        "trust",
        "add",
        "--store",
        s(&store),
        "--role",
        "ledger",
        "--name",
        "the-ledger",
        s(&dir.path().join("ledger-01.pub")),
    ]);
    assert!(out.contains("added the-ledger (ledger, key id"), "{out}");

    let records = list_json(&store);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["name"], "ct-01");
    assert_eq!(records[0]["role"], "acquisition");
    assert_eq!(records[0]["key_id"], ct.as_str());
    assert_eq!(records[0]["not_before"], "2026-01-01T00:00:00Z");
    assert_eq!(records[0]["not_after"], "2036-01-01T00:00:00Z");
    assert_eq!(records[0]["revoked_at"], Value::Null);
    assert_eq!(records[1]["name"], "the-ledger");
    assert_eq!(records[1]["key_id"], ledger.as_str());
    assert_eq!(records[1]["not_before"], Value::Null);
    // public_key is the body of the .pub PEM.
    let pem = std::fs::read_to_string(dir.path().join("ledger-01.pub")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(records[1]["public_key"], body.as_str());

    // Revoke, then the table shows it.
    let out = ok(&[
        "trust",
        "revoke",
        "--store",
        s(&store),
        "--at",
        "2027-03-01T12:00:00Z",
        "ct-01",
    ]);
    assert_eq!(
        out,
        format!(
            "revoked ct-01 (key id {ct}) as of 2027-03-01T12:00:00Z in {}\n",
            s(&store)
        )
    );
    let table = ok(&["trust", "list", "--store", s(&store)]);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines,
        [
            vec![
                "NAME",
                "ROLE",
                "KEY ID",
                "NOT BEFORE",
                "NOT AFTER",
                "REVOKED"
            ],
            vec![
                "ct-01",
                "acquisition",
                ct.as_str(),
                "2026-01-01T00:00:00Z",
                "2036-01-01T00:00:00Z",
                "2027-03-01T12:00:00Z"
            ],
            vec!["the-ledger", "ledger", ledger.as_str(), "-", "-", "-"],
        ]
    );
    // Columns line up.
    let starts: Vec<usize> = table
        .lines()
        .map(|l| l.find(&ct[..4]).unwrap_or(0))
        .collect();
    assert_eq!(
        table.lines().next().unwrap().find("KEY ID"),
        Some(starts[1])
    );

    // What the CLI wrote is what the library reads.
    let loaded = TrustStore::load(&store).unwrap();
    assert_eq!(loaded.entries().len(), 2);
    assert_eq!(loaded.entries()[1].role, Role::Ledger);
    assert_eq!(
        loaded.to_toml(),
        std::fs::read_to_string(&store).unwrap(),
        "the file is in canonical form"
    );

    // A revocation can only move earlier.
    let err = fails(&[
        "trust",
        "revoke",
        "--store",
        s(&store),
        "--at",
        "2028-01-01",
        "ct-01",
    ]);
    assert!(
        err.contains("already revoked at 2027-03-01T12:00:00Z"),
        "{err}"
    );
    ok(&[
        "trust",
        "revoke",
        "--store",
        s(&store),
        "--at",
        "2027-01-01",
        "ct-01",
    ]);
    assert_eq!(list_json(&store)[0]["revoked_at"], "2027-01-01T00:00:00Z");
}

#[test]
fn trust_add_refuses_duplicates_and_leaves_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "ct-01");
    keygen(dir.path(), "ct-02");
    let store = dir.path().join("trust.toml");
    let pub1 = dir.path().join("ct-01.pub");
    let add = |name: Option<&str>, key: &Path| {
        let mut args = vec![
            "trust",
            "add",
            "--store",
            s(&store),
            "--role",
            "acquisition",
        ];
        if let Some(name) = name {
            args.extend(["--name", name]);
        }
        args.push(s(key));
        scanseal(&args)
    };
    assert!(add(None, &pub1).status.success());
    let before = std::fs::read(&store).unwrap();

    let out = add(Some("other"), &pub1);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("scanseal: "), "{err}");
    assert!(err.contains("already in the trust store as ct-01"), "{err}");

    let out = add(Some("ct-01"), &dir.path().join("ct-02.pub"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("already has a key named ct-01"), "{err}");

    assert_eq!(std::fs::read(&store).unwrap(), before);
    // No temporary files are left in the directory.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ct-01.key",
            "ct-01.pub",
            "ct-02.key",
            "ct-02.pub",
            "trust.toml"
        ]
    );
}

#[test]
fn trust_add_refuses_a_private_key_clearly() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "ct-01");
    let store = dir.path().join("trust.toml");
    let key_path = dir.path().join("ct-01.key");
    let err = fails(&[
        "trust",
        "add",
        "--store",
        s(&store),
        "--role",
        "acquisition",
        s(&key_path),
    ]);
    assert!(err.contains("private key"), "{err}");
    assert!(err.contains(".pub"), "{err}");
    // Nothing of the key is echoed, and no store was created.
    let pem = std::fs::read_to_string(&key_path).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!err.contains(&body[16..]), "{err}");
    assert!(!store.exists());
}

#[test]
fn trust_commands_refuse_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "ct-01");
    let store = dir.path().join("trust.toml");
    let pub1 = dir.path().join("ct-01.pub");

    // Role, time and window.
    let out = scanseal(&[
        "trust",
        "add",
        "--store",
        s(&store),
        "--role",
        "root",
        s(&pub1),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = fails(&[
        "trust",
        "add",
        "--store",
        s(&store),
        "--role",
        "ledger",
        "--not-before",
        "next tuesday",
        s(&pub1),
    ]);
    assert!(err.contains("next tuesday"), "{err}");
    let err = fails(&[
        "trust",
        "add",
        "--store",
        s(&store),
        "--role",
        "ledger",
        "--not-before",
        "2030-01-01",
        "--not-after",
        "2029-01-01",
        s(&pub1),
    ]);
    assert!(err.contains("not earlier than not_after"), "{err}");
    // A bad name, given or from the file stem.
    let err = fails(&[
        "trust",
        "add",
        "--store",
        s(&store),
        "--role",
        "ledger",
        "--name",
        ".x",
        s(&pub1),
    ]);
    assert!(err.contains("not allowed"), "{err}");
    let odd = dir.path().join("bad name.pub");
    std::fs::copy(&pub1, &odd).unwrap();
    let err = fails(&[
        "trust",
        "add",
        "--store",
        s(&store),
        "--role",
        "ledger",
        s(&odd),
    ]);
    assert!(err.contains("\"bad name\""), "{err}");
    assert!(!store.exists());

    // Missing store for list and revoke; unknown name.
    let err = fails(&["trust", "list", "--store", s(&store)]);
    assert!(err.contains("trust.toml"), "{err}");
    let err = fails(&[
        "trust",
        "revoke",
        "--store",
        s(&store),
        "--at",
        "now",
        "ct-01",
    ]);
    assert!(err.contains("trust.toml"), "{err}");
    ok(&[
        "trust",
        "add",
        "--store",
        s(&store),
        "--role",
        "ledger",
        s(&pub1),
    ]);
    let err = fails(&[
        "trust",
        "revoke",
        "--store",
        s(&store),
        "--at",
        "now",
        "nobody",
    ]);
    assert!(err.contains("no key named nobody"), "{err}");

    // A damaged store is refused with its place, and not rewritten.
    let text = std::fs::read_to_string(&store).unwrap();
    std::fs::write(
        &store,
        text.replace("role = \"ledger\"", "role = \"ledger\"\ncolour = 1"),
    )
    .unwrap();
    let damaged = std::fs::read(&store).unwrap();
    let err = fails(&["trust", "list", "--store", s(&store)]);
    assert!(
        err.contains("line 7, column 1: unknown field `colour`"),
        "{err}"
    );
    let err = fails(&[
        "trust",
        "revoke",
        "--store",
        s(&store),
        "--at",
        "now",
        "ct-01",
    ]);
    assert!(err.contains("unknown field"), "{err}");
    assert_eq!(std::fs::read(&store).unwrap(), damaged);
}

#[test]
fn trust_list_of_an_empty_store_prints_only_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("trust.toml");
    TrustStore::new().save(&store).unwrap();
    assert_eq!(
        ok(&["trust", "list", "--store", s(&store)]).trim_end(),
        "NAME  ROLE  KEY ID  NOT BEFORE  NOT AFTER  REVOKED"
    );
    assert_eq!(ok(&["trust", "list", "--json", "--store", s(&store)]), "");
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn example_keys_and_trust_store_agree() {
    let dir = repo().join("keys-example");
    let store = dir.join("trust.toml");
    let text = std::fs::read_to_string(&store).unwrap();
    let loaded = TrustStore::load(&store).unwrap();
    assert_eq!(
        loaded.to_toml(),
        text,
        "keys-example/trust.toml is canonical"
    );
    let expected = [
        ("example-ct-01", "acquisition"),
        ("example-deid-01", "deidentification"),
        ("example-ledger-01", "ledger"),
    ];
    let records = list_json(&store);
    assert_eq!(records.len(), expected.len());
    for (record, (name, role)) in records.iter().zip(expected) {
        assert_eq!(record["name"], name);
        assert_eq!(record["role"], role);
        assert_eq!(record["not_before"], "2026-01-01T00:00:00Z");
        assert_eq!(record["not_after"], "2036-01-01T00:00:00Z");
        assert_eq!(record["revoked_at"], Value::Null);
        let public = PublicKey::load(&dir.join(format!("{name}.pub"))).unwrap();
        assert_eq!(
            record["key_id"],
            public.key_id().to_hex().as_str(),
            "{name}"
        );
        // The private key belongs to the public one (read without the permission check:
        // a clone does not keep file modes).
        let private = SigningKey::from_pem(
            &std::fs::read_to_string(dir.join(format!("{name}.key"))).unwrap(),
        )
        .unwrap();
        assert_eq!(private.public_key(), public, "{name}");
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("chmod 600 keys-example/*.key"));
    assert!(readme.contains("NEVER FOR PRODUCTION"));
}

/// `openssl genpkey -algorithm ed25519 -aes-256-cbc -pass pass:scanseal-test` (a throwaway key).
const ENCRYPTED_KEY: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAiIhV8f7m4WKQICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEOHmx0lPXDXTtppZarPyotgEQHTW
ZEZm9XBdOpr8CtZMhAw78E1gHOsJsjelI/mfy9iTva3tDDAconU7zWnOTwTCf1Hn
fjnXXnAsLKGywzDXqKU=
-----END ENCRYPTED PRIVATE KEY-----
";

#[test]
fn encrypted_private_keys_are_refused() {
    // keys-v1 K2: encrypted PKCS#8 is not read as a private key, nor taken as a public one.
    assert!(SigningKey::from_pem(ENCRYPTED_KEY).is_err());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enc.pub");
    std::fs::write(&path, ENCRYPTED_KEY).unwrap();
    let store = dir.path().join("trust.toml");
    let err = fails(&[
        "trust",
        "add",
        "--store",
        s(&store),
        "--role",
        "ledger",
        s(&path),
    ]);
    assert!(err.contains("private key"), "{err}");
    assert!(!store.exists());
}
