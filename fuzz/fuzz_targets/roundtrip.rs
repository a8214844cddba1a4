//! The stability property of canon's writer: an instance that reads and canonicalizes, written
//! back with `DicomInstance::write_part10`, reads back as the same tree with the same
//! canonical form. A difference is a bug, reported by panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scanseal_canon::{canonicalize, CanonOptions, DicomInstance, FileMeta};

fuzz_target!(init: scanseal_fuzz::contain_decoder_panics(), |data: &[u8]| {
    let Ok(instance) = DicomInstance::from_bytes(data) else {
        return;
    };
    let options = CanonOptions::new();
    let Ok(canonical) = canonicalize(&instance, &options) else {
        return;
    };
    let meta = FileMeta {
        media_storage_sop_class_uid: "1.2.840.10008.5.1.4.1.1.7".into(),
        media_storage_sop_instance_uid: "1.2.3.4".into(),
        implementation_class_uid: "1.2.3.4.5".into(),
        implementation_version_name: Some("SCANSEAL_FUZZ".into()),
    };
    let mut written = Vec::new();
    if instance.write_part10(&meta, &mut written).is_err() {
        return;
    }
    let reread = match DicomInstance::from_bytes(&written) {
        Ok(reread) => reread,
        Err(e) => panic!("the written instance does not read back: {e}"),
    };
    let recanonical = match canonicalize(&reread, &options) {
        Ok(recanonical) => recanonical,
        Err(e) => panic!("the written instance does not canonicalize: {e}"),
    };
    if recanonical != canonical {
        if recanonical.pixels != canonical.pixels {
            panic!(
                "pixels differ after a write and a read: {:?} vs {:?}",
                canonical.pixels, recanonical.pixels
            );
        }
        let before: Vec<_> = canonical
            .attributes
            .iter()
            .map(|a| format!("{a:?}"))
            .collect();
        let after: Vec<_> = recanonical
            .attributes
            .iter()
            .map(|a| format!("{a:?}"))
            .collect();
        let first = before.iter().zip(&after).position(|(a, b)| a != b);
        panic!(
            "canonical form differs after a write and a read ({} vs {} attributes; first \
             difference at {first:?}): {:?} vs {:?}",
            before.len(),
            after.len(),
            first.and_then(|i| before.get(i)),
            first.and_then(|i| after.get(i)),
        );
    }
    if reread.data_set() != instance.data_set() {
        panic!(
            "the data set reads back differently (same canonical form): {:?} vs {:?}",
            instance.data_set(),
            reread.data_set()
        );
    }
});
