//! The canonical form survives every lossless re-encoding the fixture builder can write, and
//! changes exactly where the content changes (spec §3–§6).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;

use scanseal_canon::{canonicalize, CanonOptions, Canonical, DicomInstance, PixelMode};
use scanseal_fixtures::{
    CharacterSet, EncodeOptions, Encoding, Fixture, ImageSpec, PlanarConfiguration, SequenceLength,
    Tag, VR,
};

const SEED: &[u8] = b"scanseal test seed, not secret!!";

fn canon(fixture: &Fixture, encoding: Encoding, options: &EncodeOptions) -> Canonical {
    canon_tiles(fixture, encoding, options, 16)
}

fn canon_tiles(
    fixture: &Fixture,
    encoding: Encoding,
    options: &EncodeOptions,
    tile_size: u32,
) -> Canonical {
    let bytes = fixture.encode(encoding, options).expect("fixture encodes");
    let instance = DicomInstance::from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("{encoding:?} does not read: {e}"));
    canonicalize(&instance, &CanonOptions::new().tile_size(tile_size))
        .unwrap_or_else(|e| panic!("{encoding:?} does not canonicalize: {e}"))
}

/// Attribute key → commitment under seed-derived salts.
fn commitments(canonical: &Canonical) -> BTreeMap<String, String> {
    canonical
        .attributes
        .iter()
        .map(|a| {
            (
                a.id.key(),
                a.commit(&a.derived_salt(SEED).unwrap()).to_hex(),
            )
        })
        .collect()
}

fn pixel_digest(canonical: &Canonical) -> String {
    canonical
        .pixels
        .as_ref()
        .expect("has pixels")
        .digest
        .to_hex()
}

fn assert_same(base: &Canonical, other: &Canonical, what: &str) {
    assert_eq!(
        pixel_digest(base),
        pixel_digest(other),
        "{what}: pixel digest"
    );
    assert_eq!(base.pixels, other.pixels, "{what}: frames and tiles");
    assert_eq!(commitments(base), commitments(other), "{what}: commitments");
}

fn all_encodings_agree(fixture: &Fixture, encodings: &[Encoding]) {
    let base = canon(
        fixture,
        Encoding::ExplicitVrLittleEndian,
        &EncodeOptions::default(),
    );
    assert_eq!(base.pixel_mode(), PixelMode::DecodedSamples);
    for &encoding in encodings {
        for sequence_length in [SequenceLength::Defined, SequenceLength::Undefined] {
            let options = EncodeOptions {
                sequence_length,
                ..EncodeOptions::default()
            };
            let other = canon(fixture, encoding, &options);
            assert_same(&base, &other, &format!("{encoding:?} {sequence_length:?}"));
        }
    }
}

#[test]
fn ct_slice_same_digests_in_every_encoding() {
    all_encodings_agree(&Fixture::ct_slice(1), &Encoding::ALL);
}

#[test]
fn multiframe_same_digests_in_every_encoding() {
    all_encodings_agree(&Fixture::mr_multiframe(4, 2), &Encoding::ALL);
}

#[test]
fn rgb_same_digests_interleaved_planar_and_rle() {
    let fixture = Fixture::rgb(3);
    all_encodings_agree(&fixture, &Encoding::ALL);
    let base = canon(
        &fixture,
        Encoding::ExplicitVrLittleEndian,
        &EncodeOptions::default(),
    );
    for encoding in [
        Encoding::ExplicitVrLittleEndian,
        Encoding::ExplicitVrBigEndian,
    ] {
        let planar = EncodeOptions {
            planar_configuration: PlanarConfiguration::Planar,
            ..EncodeOptions::default()
        };
        assert_same(&base, &canon(&fixture, encoding, &planar), "planar");
    }
}

#[test]
fn wide_float_and_one_bit_samples_agree_across_byte_orders() {
    let specs = [
        ImageSpec::int32(10, 7).frames(2),
        ImageSpec::float32(9, 5),
        ImageSpec::float64(4, 6).frames(3),
        ImageSpec::bits1(5, 3).frames(3),
    ];
    for spec in specs {
        let fixture = Fixture::new(spec.clone(), 11);
        all_encodings_agree(
            &fixture,
            &[
                Encoding::ImplicitVrLittleEndian,
                Encoding::ExplicitVrBigEndian,
                Encoding::DeflatedExplicitVrLittleEndian,
            ],
        );
    }
}

#[test]
fn private_block_number_and_character_set_do_not_matter() {
    let fixture = Fixture::ct_slice(4);
    let base = canon(
        &fixture,
        Encoding::ExplicitVrLittleEndian,
        &EncodeOptions::default(),
    );
    let moved = EncodeOptions {
        private_block_number: Some(0x40),
        ..EncodeOptions::default()
    };
    assert_same(
        &base,
        &canon(&fixture, Encoding::ImplicitVrLittleEndian, &moved),
        "private block moved",
    );
    let utf8 = fixture.clone().with_character_set(CharacterSet::Utf8);
    assert_same(
        &base,
        &canon(
            &utf8,
            Encoding::ExplicitVrLittleEndian,
            &EncodeOptions::default(),
        ),
        "UTF-8 instead of Latin-1",
    );
}

#[test]
fn one_changed_pixel_changes_one_frame_and_one_tile_only() {
    let mut fixture = Fixture::mr_multiframe(3, 5);
    let base = canon(
        &fixture,
        Encoding::ExplicitVrLittleEndian,
        &EncodeOptions::default(),
    );
    let old = fixture.sample(1, 20, 17, 0).unwrap();
    fixture.set_sample(1, 20, 17, 0, old ^ 1).unwrap();
    for encoding in [Encoding::ExplicitVrLittleEndian, Encoding::RleLossless] {
        let altered = canon(&fixture, encoding, &EncodeOptions::default());
        let (a, b) = (
            base.pixels.as_ref().unwrap(),
            altered.pixels.as_ref().unwrap(),
        );
        assert_ne!(a.digest, b.digest, "pixel digest must change");
        let changed_frames: Vec<usize> = (0..a.frames.len())
            .filter(|&f| a.frames[f].digest != b.frames[f].digest)
            .collect();
        assert_eq!(changed_frames, vec![1]);
        let changed_tiles: Vec<usize> = (0..a.frames[1].tiles.len())
            .filter(|&t| a.frames[1].tiles[t] != b.frames[1].tiles[t])
            .collect();
        // 24 rows x 32 columns in 16-pixel tiles: 2 tile columns; (20, 17) is tile (1, 1).
        assert_eq!(changed_tiles, vec![3]);
        assert_eq!(
            commitments(&base),
            commitments(&altered),
            "header untouched"
        );
    }
}

#[test]
fn bits_outside_bits_stored_do_not_count() {
    // CT: 16 bits allocated, 12 stored. Garbage above bit 11 (e.g. an overlay in old files)
    // is masked away (C4.2.3), a change inside the stored bits is not.
    let mut fixture = Fixture::ct_slice(6);
    let base = canon(
        &fixture,
        Encoding::ExplicitVrLittleEndian,
        &EncodeOptions::default(),
    );
    let old = fixture.sample(0, 3, 3, 0).unwrap();
    fixture.set_sample(0, 3, 3, 0, old ^ 0x8000).unwrap();
    let high = canon(
        &fixture,
        Encoding::ExplicitVrLittleEndian,
        &EncodeOptions::default(),
    );
    assert_eq!(pixel_digest(&base), pixel_digest(&high));
    fixture.set_sample(0, 3, 3, 0, old ^ 0x0800).unwrap();
    let stored = canon(
        &fixture,
        Encoding::ExplicitVrLittleEndian,
        &EncodeOptions::default(),
    );
    assert_ne!(pixel_digest(&base), pixel_digest(&stored));
}

#[test]
fn changed_added_and_removed_attributes_show_exactly() {
    let fixture = Fixture::ct_slice(7);
    let base = commitments(&canon(
        &fixture,
        Encoding::ExplicitVrLittleEndian,
        &EncodeOptions::default(),
    ));

    let mut changed = fixture.clone();
    changed.set_attribute(Tag(0x0018, 0x0050), VR::DS, "2.6");
    let changed = commitments(&canon(
        &changed,
        Encoding::ImplicitVrLittleEndian,
        &EncodeOptions::default(),
    ));
    let differing: Vec<&String> = base
        .keys()
        .filter(|k| base.get(*k) != changed.get(*k))
        .collect();
    assert_eq!(differing, vec!["00180050"]);

    let mut added = fixture.clone();
    added.set_attribute(Tag(0x0018, 0x1030), VR::LO, "inserted protocol");
    let added = commitments(&canon(
        &added,
        Encoding::ExplicitVrBigEndian,
        &EncodeOptions::default(),
    ));
    let new_keys: Vec<&String> = added.keys().filter(|k| !base.contains_key(*k)).collect();
    assert_eq!(new_keys, vec!["00181030"]);
    assert!(base.iter().all(|(k, v)| added.get(k) == Some(v)));

    let mut removed = fixture.clone();
    removed
        .remove_attribute(Tag(0x0010, 0x0030))
        .expect("has a birth date");
    let removed = commitments(&canon(
        &removed,
        Encoding::RleLossless,
        &EncodeOptions::default(),
    ));
    let gone: Vec<&String> = base.keys().filter(|k| !removed.contains_key(*k)).collect();
    assert_eq!(gone, vec!["00100030"]);
    assert_eq!(removed.len(), base.len() - 1);

    let mut private = fixture.clone();
    private
        .add_private(0x0009, "ACME 1.0", 0x05, VR::LO, "hidden note")
        .unwrap();
    let private = commitments(&canon(
        &private,
        Encoding::ExplicitVrLittleEndian,
        &EncodeOptions::default(),
    ));
    let new_keys: Vec<&String> = private.keys().filter(|k| !base.contains_key(*k)).collect();
    assert_eq!(new_keys, vec!["0009,ACME 1.0,05"]);
}

#[test]
fn key_attributes_are_flagged() {
    let canonical = canon(
        &Fixture::ct_slice(8),
        Encoding::ExplicitVrLittleEndian,
        &EncodeOptions::default(),
    );
    let key: Vec<String> = canonical
        .attributes
        .iter()
        .filter(|a| a.key)
        .map(|a| a.keyword().unwrap_or("").to_string())
        .collect();
    for keyword in [
        "PatientName",
        "SOPInstanceUID",
        "PixelSpacing",
        "RescaleSlope",
        "ImageComments",
    ] {
        assert!(key.iter().any(|k| k == keyword), "{keyword} must be key");
    }
    assert!(!key.iter().any(|k| k == "WindowCenter"));
    // Descriptor attributes are bound by the pixel digest, not listed (C5.1.1 rule 8).
    assert!(canonical
        .attributes
        .iter()
        .all(|a| a.tag != Tag(0x0028, 0x0004)));
}

#[test]
fn structured_report_is_header_only() {
    let fixture = Fixture::structured_report();
    for encoding in [
        Encoding::ExplicitVrLittleEndian,
        Encoding::ImplicitVrLittleEndian,
    ] {
        let bytes = fixture.encode(encoding, &EncodeOptions::default()).unwrap();
        let canonical = canonicalize(
            &DicomInstance::from_bytes(&bytes).unwrap(),
            &CanonOptions::new(),
        )
        .unwrap();
        assert_eq!(canonical.pixel_mode(), PixelMode::None);
        assert!(canonical.pixels.is_none());
        assert!(canonical.attributes.len() > 10);
    }
}

#[test]
fn tile_size_is_bound_into_the_digest() {
    let fixture = Fixture::ct_slice(9);
    let options = EncodeOptions::default();
    let a = canon_tiles(&fixture, Encoding::ExplicitVrLittleEndian, &options, 16);
    let b = canon_tiles(&fixture, Encoding::ExplicitVrLittleEndian, &options, 64);
    assert_ne!(pixel_digest(&a), pixel_digest(&b));
    assert_eq!(b.pixels.as_ref().unwrap().tile_count(), 1);
    // 48 x 64 in 16-pixel tiles.
    assert_eq!(a.pixels.as_ref().unwrap().tile_count(), 12);
}
