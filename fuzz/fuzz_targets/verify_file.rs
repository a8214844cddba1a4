//! Arbitrary bytes → a file → `scanseal_verify::verify_file` against the example trust store.
//! The verdict is data; the target only requires no panic, hang or huge allocation.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scanseal_trust::TrustStore;
use scanseal_verify::{verify_file, VerifyOptions};

fn trust() -> &'static TrustStore {
    static TRUST: OnceLock<TrustStore> = OnceLock::new();
    TRUST.get_or_init(|| {
        TrustStore::from_toml(include_str!("../../keys-example/trust.toml"))
            .unwrap_or_else(|e| panic!("keys-example/trust.toml: {e}"))
    })
}

/// One file per process, written for every input and removed after it (no sidecar is ever
/// next to it).
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("scanseal-fuzz-verify-{}.dcm", std::process::id()))
    })
}

fuzz_target!(init: scanseal_fuzz::contain_decoder_panics(), |data: &[u8]| {
    let path = path();
    if let Err(e) = std::fs::write(path, data) {
        panic!("cannot write {}: {e}", path.display());
    }
    let _ = verify_file(path, trust(), &VerifyOptions::default());
    // Nothing is left behind when the run ends (only a crashing input's file stays).
    let _ = std::fs::remove_file(path);
});
