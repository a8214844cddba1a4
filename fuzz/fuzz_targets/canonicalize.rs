//! Arbitrary bytes → `DicomInstance::from_bytes` → `canonicalize`: never a panic, a hang or an
//! allocation out of proportion to the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scanseal_canon::{canonicalize, CanonOptions, DicomInstance};

fuzz_target!(init: scanseal_fuzz::contain_decoder_panics(), |data: &[u8]| {
    if let Ok(instance) = DicomInstance::from_bytes(data) {
        let _ = canonicalize(&instance, &CanonOptions::new());
    }
});
