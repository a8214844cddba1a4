//! Inputs found by the fuzz targets (`fuzz/`): each one, fed to the API it broke, now gives a
//! typed error. The inputs are under `tests/fuzz-regressions/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::path::Path;

use scanseal_canon::{canonicalize, CanonError, CanonOptions, DicomInstance};

fn input(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// fuzz target `canonicalize`: a JPEG 2000 Lossless frame whose codestream holds more samples
/// than Rows × Columns × Samples per Pixel. dicom-transfer-syntax-registry 0.10.1's JPEG 2000
/// adapter indexes past its output buffer and panics (`adapters/jpeg2k.rs:90`); canon runs
/// every frame decoder inside `catch_unwind`, so the panic is a `Decode` error naming the
/// frame, never the end of the process.
#[test]
fn jpeg2k_frame_with_more_samples_than_the_descriptor_is_a_decode_error() {
    let bytes = input("jpeg2k-more-samples-than-frame.dcm");
    let instance = DicomInstance::from_bytes(&bytes).unwrap();
    assert_eq!(instance.transfer_syntax(), "1.2.840.10008.1.2.4.90");
    let err = canonicalize(&instance, &CanonOptions::new()).unwrap_err();
    assert!(
        matches!(&err, CanonError::Decode { frame: 0, reason, .. } if reason.contains("panicked")),
        "{err}"
    );
}
