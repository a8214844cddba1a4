//! Unit tests of the store, its file format and evaluation.

use super::*;
use scanseal_keys::SigningKey;
use time::macros::datetime;

fn public(seed: u8) -> PublicKey {
    SigningKey::from_seed(&[seed; 32]).public_key()
}

fn key(name: &str, role: Role, seed: u8) -> TrustedKey {
    TrustedKey::new(name, role, public(seed))
}

/// A store with one key of each role; `ct` has a window, `deid` is revoked.
fn sample() -> TrustStore {
    let mut store = TrustStore::new();
    let mut ct = key("ct-01", Role::Acquisition, 1);
    ct.not_before = Some(datetime!(2026-01-01 00:00:00 UTC));
    ct.not_after = Some(datetime!(2031-01-01 00:00:00 UTC));
    store.add(ct).unwrap();
    let mut deid = key("deid-01", Role::Deidentification, 2);
    deid.revoked_at = Some(datetime!(2027-06-01 12:00:00 UTC));
    store.add(deid).unwrap();
    store.add(key("ledger-01", Role::Ledger, 3)).unwrap();
    store
}

fn entry_text(name: &str, seed: u8) -> String {
    let key = public(seed);
    format!(
        "[[key]]\nname = \"{name}\"\nrole = \"ledger\"\nkey_id = \"{}\"\npublic_key = \"{}\"\n",
        key.key_id(),
        file::public_key_text(&key)
    )
}

/// The innermost error and its (line, column), if it has one.
fn unwrap_at(error: &TrustError) -> (Option<(usize, usize)>, &TrustError) {
    match error {
        TrustError::At {
            line,
            column,
            error,
        } => (Some((*line, *column)), error),
        other => (None, other),
    }
}

#[test]
fn roles_have_exact_text_forms() {
    for role in Role::ALL {
        assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
    }
    assert_eq!(Role::Deidentification.to_string(), "deidentification");
    for bad in ["Acquisition", "de-identification", "", "ledger "] {
        assert!(matches!(
            bad.parse::<Role>(),
            Err(TrustError::BadRole { .. })
        ));
    }
}

#[test]
fn save_and_load_round_trip_byte_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trust.toml");
    let store = sample();
    store.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(file::HEADER), "{text}");
    assert!(text.contains("\nversion = 1\n"));
    let loaded = TrustStore::load(&path).unwrap();
    assert_eq!(loaded, store);
    assert_eq!(loaded.to_toml(), text);
    // Insertion order is kept.
    let names: Vec<&str> = loaded.entries().iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["ct-01", "deid-01", "ledger-01"]);
    // No temporary file is left behind.
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn save_replaces_and_keeps_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trust.toml");
    TrustStore::new().save(&path).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{}version = 1\n", file::HEADER)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    sample().save(&path).unwrap();
    assert_eq!(TrustStore::load(&path).unwrap(), sample());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }
}

#[test]
fn save_into_a_missing_directory_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("trust.toml");
    let err = sample().save(&path).unwrap_err();
    assert!(matches!(err, TrustError::Io { .. }), "{err}");
    assert!(err.to_string().contains("trust.toml"), "{err}");
    assert!(!path.exists());
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = TrustStore::load(&dir.path().join("nope.toml")).unwrap_err();
    match &err {
        TrustError::Io { error, .. } => assert_eq!(error.kind(), std::io::ErrorKind::NotFound),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("nope.toml"));
}

#[test]
fn load_errors_name_the_file_and_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trust.toml");
    let text = format!(
        "version = 1\n\n{}colour = \"blue\"\n",
        entry_text("ledger-01", 3)
    );
    std::fs::write(&path, text).unwrap();
    let err = TrustStore::load(&path).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("trust.toml: line 8, column 1: unknown field `colour`"),
        "{shown}"
    );
    let TrustError::InFile { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(
        unwrap_at(error),
        (Some((8, 1)), TrustError::Toml { .. })
    ));
}

#[test]
fn garbage_is_refused() {
    for text in [
        "",
        "\0\u{1}binary",
        "not toml at all",
        "version = 1\n[[key]]\nname = \"x\"\n",
        "version = 1\nkey = 5\n",
        "version = 1\nversion = 1\n",
        "[[key]]\nversion = 1\n",
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
    ] {
        let err = TrustStore::from_toml(text).unwrap_err();
        assert!(!err.to_string().is_empty());
    }
    assert!(matches!(
        TrustStore::from_toml("").unwrap_err(),
        TrustError::MissingVersion
    ));
    // A missing field is named.
    let err = TrustStore::from_toml("version = 1\n[[key]]\nname = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("missing field `role`"), "{err}");
}

#[test]
fn other_versions_are_refused_by_name() {
    for (text, found) in [
        ("version = 2\n", "2"),
        ("version = 0\n", "0"),
        ("version = \"1\"\n", "\"1\""),
        ("version = 1.0\n", "1.0"),
        // Another version is refused as such, not for a field this one does not know.
        ("version = 2\nsigned_by = \"x\"\n", "2"),
    ] {
        let err = TrustStore::from_toml(text).unwrap_err();
        match &err {
            TrustError::UnsupportedVersion { found: f } => assert_eq!(f, found),
            other => panic!("{text:?}: {other:?}"),
        }
        assert!(err.to_string().contains("not supported"), "{err}");
    }
    assert!(TrustStore::from_toml("version = 1\n")
        .unwrap()
        .entries()
        .is_empty());
}

#[test]
fn unknown_fields_are_refused() {
    let top = format!("version = 1\nowner = \"me\"\n{}", entry_text("a", 1));
    let err = TrustStore::from_toml(&top).unwrap_err();
    assert!(err.to_string().contains("unknown field `owner`"), "{err}");
    let inner = format!("version = 1\n{}comment = \"x\"\n", entry_text("a", 1));
    let err = TrustStore::from_toml(&inner).unwrap_err();
    assert!(err.to_string().contains("unknown field `comment`"), "{err}");
}

#[test]
fn key_id_must_be_the_id_of_the_public_key() {
    let good = entry_text("a", 1);
    let id = public(1).key_id().to_hex();
    for stated in [
        public(2).key_id().to_hex(),
        id.to_uppercase(),
        format!("{id}00"),
        String::new(),
    ] {
        let text = format!("version = 1\n{}", good.replace(&id, &stated));
        let err = TrustStore::from_toml(&text).unwrap_err();
        let (place, inner) = unwrap_at(&err);
        assert_eq!(place, Some((5, 10)), "{err}");
        match inner {
            TrustError::KeyIdMismatch {
                name,
                stated: s,
                computed,
            } => {
                assert_eq!(name, "a");
                assert_eq!(*s, stated);
                assert_eq!(*computed, public(1).key_id());
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn public_key_must_be_strict_base64_of_an_ed25519_spki() {
    let good = entry_text("a", 1);
    let b64 = file::public_key_text(&public(1));
    let mut der = public(1).spki_der();
    der[3] = 0x06; // mangle the algorithm identifier
    for bad in [
        b64.trim_end_matches('=').to_string(),
        format!("{b64}\n"),
        format!(" {b64}"),
        "MCowBQYDK2VwAyEA".to_string(),
        scanseal_keys::base64::encode(&der),
        scanseal_keys::base64::encode(&SigningKey::from_seed(&[1; 32]).to_pem().as_bytes()[..48]),
    ] {
        let text = format!(
            "version = 1\n{}",
            good.replace(&b64, &bad.replace('\n', "\\n"))
        );
        let err = TrustStore::from_toml(&text).unwrap_err();
        assert!(
            matches!(
                unwrap_at(&err),
                (Some((6, 14)), TrustError::BadPublicKey { .. })
            ),
            "{bad:?}: {err:?}"
        );
    }
}

#[test]
fn bad_names_roles_and_times_are_refused_with_their_place() {
    let good = format!("version = 1\n{}", entry_text("ok-1", 1));
    let cases = [
        ("name = \"ok-1\"", "name = \".hidden\"", (3, 8)),
        ("name = \"ok-1\"", "name = \"a/b\"", (3, 8)),
        ("name = \"ok-1\"", "name = \"\"", (3, 8)),
        ("role = \"ledger\"", "role = \"Ledger\"", (4, 8)),
        ("role = \"ledger\"", "role = \"root\"", (4, 8)),
    ];
    for (from, to, place) in cases {
        let err = TrustStore::from_toml(&good.replace(from, to)).unwrap_err();
        assert_eq!(unwrap_at(&err).0, Some(place), "{to}: {err}");
    }
    for time in [
        "2026-01-01",
        "now",
        "2026-01-01T00:00:00.5Z",
        "2026-01-01T00:00:00",
        "yesterday",
    ] {
        let text = format!("{good}not_after = \"{time}\"\n");
        let err = TrustStore::from_toml(&text).unwrap_err();
        assert!(
            matches!(unwrap_at(&err), (Some((7, 13)), TrustError::BadTime { .. })),
            "{time}: {err:?}"
        );
    }
    // A TOML datetime (unquoted) is not a string.
    let err =
        TrustStore::from_toml(&format!("{good}not_after = 2026-01-01T00:00:00Z\n")).unwrap_err();
    assert!(err.to_string().contains("line 7"), "{err}");
}

#[test]
fn times_in_other_offsets_are_read_as_utc() {
    let good = format!("version = 1\n{}", entry_text("ok-1", 1));
    let text = format!("{good}not_before = \"2026-01-01T01:00:00+01:00\"\n");
    let store = TrustStore::from_toml(&text).unwrap();
    assert_eq!(
        store.entries()[0].not_before,
        Some(datetime!(2026-01-01 00:00:00 UTC))
    );
    assert!(store
        .to_toml()
        .contains("not_before = \"2026-01-01T00:00:00Z\"\n"));
}

#[test]
fn duplicates_in_a_file_are_refused_naming_the_existing_entry() {
    let text = format!(
        "version = 1\n\n{}\n{}",
        entry_text("a", 1),
        entry_text("a", 2)
    );
    let err = TrustStore::from_toml(&text).unwrap_err();
    assert!(
        matches!(unwrap_at(&err), (Some((10, 8)), TrustError::DuplicateName { name }) if name == "a"),
        "{err:?}"
    );
    let text = format!(
        "version = 1\n\n{}\n{}",
        entry_text("a", 1),
        entry_text("b", 1)
    );
    let err = TrustStore::from_toml(&text).unwrap_err();
    assert!(
        matches!(unwrap_at(&err), (Some((12, 10)), TrustError::DuplicateKeyId { existing, .. }) if existing == "a"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("already in the trust store as a"),
        "{err}"
    );
}

#[test]
fn window_must_not_be_empty() {
    let good = format!("version = 1\n{}", entry_text("w", 1));
    for (before, after) in [
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("2027-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ] {
        let text = format!("{good}not_before = \"{before}\"\nnot_after = \"{after}\"\n");
        let err = TrustStore::from_toml(&text).unwrap_err();
        assert!(
            matches!(
                unwrap_at(&err),
                (Some((8, 13)), TrustError::BadWindow { .. })
            ),
            "{err:?}"
        );
    }
    let mut k = key("w", Role::Ledger, 1);
    k.not_before = Some(datetime!(2026-01-01 00:00:00 UTC));
    k.not_after = Some(datetime!(2026-01-01 00:00:00.5 UTC));
    // Equal once truncated to whole seconds.
    assert!(matches!(
        TrustStore::new().add(k),
        Err(TrustError::BadWindow { .. })
    ));
}

#[test]
fn add_refuses_duplicates_and_bad_names() {
    let mut store = sample();
    let err = store.add(key("ct-01", Role::Ledger, 9)).unwrap_err();
    assert!(matches!(&err, TrustError::DuplicateName { name } if name == "ct-01"));
    let err = store.add(key("other", Role::Ledger, 1)).unwrap_err();
    match &err {
        TrustError::DuplicateKeyId { key_id, existing } => {
            assert_eq!(*key_id, public(1).key_id());
            assert_eq!(existing, "ct-01");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("as ct-01"), "{err}");
    for bad in ["", ".x", "a b", "a/b", "é", &"x".repeat(129)] {
        assert!(matches!(
            store.add(key(bad, Role::Ledger, 9)),
            Err(TrustError::BadName { .. })
        ));
    }
    assert_eq!(store.entries().len(), 3);
    store.add(key(&"x".repeat(128), Role::Ledger, 9)).unwrap();
}

#[test]
fn add_normalizes_times_to_utc_whole_seconds() {
    let mut store = TrustStore::new();
    let mut k = key("k", Role::Ledger, 1);
    k.not_before = Some(datetime!(2026-01-01 01:00:00.9 +01:00));
    store.add(k).unwrap();
    assert_eq!(
        store.entries()[0].not_before,
        Some(datetime!(2026-01-01 00:00:00 UTC))
    );
    assert_eq!(
        store.entries()[0].not_before.unwrap().offset(),
        time::UtcOffset::UTC
    );
}

#[test]
fn revoke_sets_the_time_and_only_moves_it_earlier() {
    let mut store = sample();
    let err = store
        .revoke("nobody", datetime!(2026-01-01 00:00:00 UTC))
        .unwrap_err();
    assert!(matches!(&err, TrustError::UnknownName { name } if name == "nobody"));
    assert!(err.to_string().contains("no key named nobody"));

    store
        .revoke("ct-01", datetime!(2028-01-01 00:00:00.5 UTC))
        .unwrap();
    assert_eq!(
        store.find_by_name("ct-01").unwrap().revoked_at,
        Some(datetime!(2028-01-01 00:00:00 UTC))
    );
    // Later or equal: refused, naming the existing time.
    for later in [
        datetime!(2028-01-01 00:00:00 UTC),
        datetime!(2029-01-01 00:00:00 UTC),
    ] {
        let err = store.revoke("ct-01", later).unwrap_err();
        assert!(
            err.to_string()
                .contains("already revoked at 2028-01-01T00:00:00Z"),
            "{err}"
        );
    }
    store
        .revoke("ct-01", datetime!(2027-01-01 00:00:00 UTC))
        .unwrap();
    assert_eq!(
        store.find_by_name("ct-01").unwrap().revoked_at,
        Some(datetime!(2027-01-01 00:00:00 UTC))
    );
}

#[test]
fn find_by_id_and_name() {
    let store = sample();
    assert_eq!(store.find(&public(2).key_id()).unwrap().name, "deid-01");
    assert!(store.find(&public(9).key_id()).is_none());
    assert_eq!(store.find_by_name("ledger-01").unwrap().role, Role::Ledger);
    assert!(store.find_by_name("ledger-02").is_none());
}

#[test]
fn every_decision() {
    let store = sample();
    let ct = public(1).key_id();
    let deid = public(2).key_id();
    let ledger = public(3).key_id();
    let t = |d: OffsetDateTime| d;

    let decision = store.evaluate(
        &ct,
        Role::Acquisition,
        t(datetime!(2026-06-01 00:00:00 UTC)),
    );
    assert!(decision.is_trusted());
    assert_eq!(decision.key().unwrap().name, "ct-01");
    assert_eq!(decision.to_string(), "key ct-01 is trusted for acquisition");

    // Unknown comes first, whatever the role and time.
    let decision = store.evaluate(
        &public(9).key_id(),
        Role::Ledger,
        t(datetime!(2026-06-01 00:00:00 UTC)),
    );
    assert_eq!(decision, TrustDecision::Unknown);
    assert!(decision.key().is_none());
    assert_eq!(decision.word(), "unknown");
    assert_eq!(decision.to_string(), "key is not in the trust store");

    // The role is checked before revocation and window.
    let decision = store.evaluate(
        &deid,
        Role::Acquisition,
        t(datetime!(2030-01-01 00:00:00 UTC)),
    );
    assert!(
        matches!(decision, TrustDecision::WrongRole { wanted: Role::Acquisition, key } if key.name == "deid-01")
    );
    assert_eq!(
        decision.to_string(),
        "key deid-01 is trusted for deidentification, not acquisition"
    );
    let decision = store.evaluate(&ct, Role::Ledger, t(datetime!(2020-01-01 00:00:00 UTC)));
    assert_eq!(decision.word(), "wrong-role");

    // Revocation: at or after refused, before trusted.
    let revoked = datetime!(2027-06-01 12:00:00 UTC);
    let decision = store.evaluate(&deid, Role::Deidentification, revoked);
    assert!(matches!(decision, TrustDecision::Revoked { at, .. } if at == revoked));
    assert_eq!(
        decision.to_string(),
        "key deid-01 was revoked at 2027-06-01T12:00:00Z"
    );
    assert_eq!(
        store
            .evaluate(
                &deid,
                Role::Deidentification,
                revoked + time::Duration::days(400)
            )
            .word(),
        "revoked"
    );
    assert!(store
        .evaluate(
            &deid,
            Role::Deidentification,
            revoked - time::Duration::nanoseconds(1)
        )
        .is_trusted());

    // Window, bounds inclusive.
    let not_before = datetime!(2026-01-01 00:00:00 UTC);
    let not_after = datetime!(2031-01-01 00:00:00 UTC);
    assert!(store
        .evaluate(&ct, Role::Acquisition, not_before)
        .is_trusted());
    assert!(store
        .evaluate(&ct, Role::Acquisition, not_after)
        .is_trusted());
    let decision = store.evaluate(
        &ct,
        Role::Acquisition,
        not_before - time::Duration::seconds(1),
    );
    assert!(
        matches!(decision, TrustDecision::NotYetValid { not_before: nb, .. } if nb == not_before)
    );
    assert_eq!(
        decision.to_string(),
        "key ct-01 is not valid before 2026-01-01T00:00:00Z"
    );
    let decision = store.evaluate(
        &ct,
        Role::Acquisition,
        not_after + time::Duration::nanoseconds(1),
    );
    assert!(matches!(decision, TrustDecision::Expired { not_after: na, .. } if na == not_after));
    assert_eq!(
        decision.to_string(),
        "key ct-01 expired at 2031-01-01T00:00:00Z"
    );

    // No bounds: any time.
    for year in [1970, 2026, 9999] {
        let when = time::Date::from_calendar_date(year, time::Month::January, 1)
            .unwrap()
            .midnight()
            .assume_utc();
        assert!(store.evaluate(&ledger, Role::Ledger, when).is_trusted());
    }
}

#[test]
fn revocation_is_checked_before_the_window() {
    let mut store = sample();
    store
        .revoke("ct-01", datetime!(2025-06-01 00:00:00 UTC))
        .unwrap();
    let ct = public(1).key_id();
    // Revoked before its window opened: both before and after the window, it is "revoked".
    for when in [
        datetime!(2025-07-01 00:00:00 UTC),
        datetime!(2032-01-01 00:00:00 UTC),
    ] {
        assert_eq!(
            store.evaluate(&ct, Role::Acquisition, when).word(),
            "revoked"
        );
    }
    // Before the revocation, the window still applies.
    assert_eq!(
        store
            .evaluate(&ct, Role::Acquisition, datetime!(2025-01-01 00:00:00 UTC))
            .word(),
        "not-yet-valid"
    );
}

#[test]
fn evaluation_times_in_other_offsets_compare_as_instants() {
    let store = sample();
    let ct = public(1).key_id();
    // 2025-12-31T23:30:00-01:00 is 2026-01-01T00:30:00Z: inside the window.
    assert!(store
        .evaluate(
            &ct,
            Role::Acquisition,
            datetime!(2025-12-31 23:30:00 -01:00)
        )
        .is_trusted());
}

#[test]
fn trusted_keys_are_those_of_the_role_trusted_at_the_time() {
    let mut store = TrustStore::new();
    store.add(key("ct-01", Role::Acquisition, 1)).unwrap();
    store.add(key("log-old", Role::Ledger, 2)).unwrap();
    store.add(key("log-new", Role::Ledger, 3)).unwrap();
    store
        .revoke("log-old", datetime!(2026-06-01 00:00 UTC))
        .unwrap();
    assert_eq!(
        store.trusted_keys(Role::Ledger, datetime!(2026-05-01 00:00 UTC)),
        vec![public(2), public(3)]
    );
    assert_eq!(
        store.trusted_keys(Role::Ledger, datetime!(2026-07-01 00:00 UTC)),
        vec![public(3)]
    );
    assert_eq!(
        store.trusted_keys(Role::Acquisition, datetime!(2026-07-01 00:00 UTC)),
        vec![public(1)]
    );
}
