//! The README's library example, run for real: seal the example slice with the example key
//! and verify it with the example trust store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use scanseal_keys::SigningKey;
use scanseal_seal::{seal_file, Placement, SealOptions};
use scanseal_trust::TrustStore;
use scanseal_verify::{verify_file, Verdict, VerifyOptions};

#[test]
fn readme_library_example_seals_and_verifies_the_example_slice() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let work = tempfile::tempdir().unwrap();
    // A private copy of the example key with the mode scanseal demands (a clone has 0644).
    let key_path = work.path().join("example-ct-01.key");
    std::fs::copy(root.join("keys-example/example-ct-01.key"), &key_path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let sealed = work.path().join("sealed.dcm");

    let key = SigningKey::load(&key_path).unwrap();
    let placement = Placement::Embedded {
        output: sealed.clone(),
    };
    seal_file(
        &root.join("examples/ct-slice.dcm"),
        &placement,
        &key,
        &SealOptions::new(),
    )
    .unwrap();

    let trust = TrustStore::load(&root.join("keys-example/trust.toml")).unwrap();
    let report = verify_file(&sealed, &trust, &VerifyOptions::default());
    assert_eq!(report.verdict, Verdict::Intact, "{report:#?}");
    assert_eq!(
        report.signer.as_ref().and_then(|s| s.name.as_deref()),
        Some("example-ct-01")
    );
}
