//! Inputs that cannot be canonicalized give a typed error naming the problem, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use scanseal_canon::{canonicalize, CanonError, CanonOptions, DicomInstance};
use scanseal_fixtures::{EncodeOptions, Encoding, Fixture, Tag, VR};

fn try_canon(bytes: &[u8]) -> Result<scanseal_canon::Canonical, CanonError> {
    let instance = DicomInstance::from_bytes(bytes)?;
    canonicalize(&instance, &CanonOptions::new())
}

fn ct_bytes(fixture: &Fixture) -> Vec<u8> {
    fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap()
}

#[test]
fn not_dicom() {
    let err = try_canon(b"this is not a DICOM file at all, just text").unwrap_err();
    assert_eq!(err.kind(), "NotDicom", "{err}");
}

#[test]
fn truncated_at_every_offset_never_panics() {
    let bytes = ct_bytes(&Fixture::ct_slice(1));
    let mut errors = 0;
    for cut in (0..bytes.len()).step_by(7) {
        match try_canon(&bytes[..cut]) {
            Ok(_) => {}
            Err(e) => {
                errors += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // Cutting inside the pixel data or the header must be noticed.
    assert!(
        errors > bytes.len() / 7 / 2,
        "only {errors} truncations detected"
    );
}

#[test]
fn truncated_pixel_data_is_too_short_or_beyond_end() {
    let bytes = ct_bytes(&Fixture::ct_slice(2));
    let err = try_canon(&bytes[..bytes.len() - 10]).unwrap_err();
    assert!(
        matches!(err, CanonError::ValueBeyondEnd { tag, .. } if tag == Tag(0x7FE0, 0x0010)),
        "{err}"
    );
}

#[test]
fn declared_length_far_beyond_the_file_is_refused_before_allocating() {
    let mut bytes = ct_bytes(&Fixture::ct_slice(3));
    // Find Patient Name (0010,0010) PN and declare 0xFFF0 bytes.
    let at = bytes
        .windows(6)
        .position(|w| w == [0x10, 0x00, 0x10, 0x00, b'P', b'N'])
        .unwrap();
    bytes[at + 6] = 0xF0;
    bytes[at + 7] = 0xFF;
    let err = try_canon(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            CanonError::ValueBeyondEnd { .. } | CanonError::Parse { .. }
        ),
        "{err}"
    );
}

#[test]
fn missing_descriptor_attribute() {
    let mut fixture = Fixture::ct_slice(4);
    fixture.remove_attribute(Tag(0x0028, 0x0010)).unwrap();
    let err = try_canon(&ct_bytes(&fixture)).unwrap_err();
    assert!(
        matches!(
            err,
            CanonError::MissingPixelAttribute {
                keyword: "Rows",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn bad_descriptor_values() {
    let mut fixture = Fixture::ct_slice(5);
    fixture.set_attribute(Tag(0x0028, 0x0101), VR::US, 17u16);
    let err = try_canon(&ct_bytes(&fixture)).unwrap_err();
    assert_eq!(err.kind(), "BadPixelAttribute", "{err}");

    let mut fixture = Fixture::ct_slice(5);
    fixture.set_attribute(Tag(0x0028, 0x0100), VR::US, 12u16);
    let err = try_canon(&ct_bytes(&fixture)).unwrap_err();
    assert_eq!(err.kind(), "BadPixelAttribute", "{err}");
}

#[test]
fn more_frames_declared_than_present() {
    let mut fixture = Fixture::ct_slice(6);
    fixture.set_attribute(Tag(0x0028, 0x0008), VR::IS, "2");
    let err = try_canon(&ct_bytes(&fixture)).unwrap_err();
    assert!(matches!(err, CanonError::PixelDataTooShort { .. }), "{err}");
}

#[test]
fn absurd_number_of_frames() {
    let mut fixture = Fixture::ct_slice(6);
    fixture.set_attribute(Tag(0x0028, 0x0008), VR::IS, "4000000000");
    let err = try_canon(&ct_bytes(&fixture)).unwrap_err();
    assert!(
        matches!(
            err,
            CanonError::PixelDataTooShort { .. } | CanonError::TooLarge { .. }
        ),
        "{err}"
    );
    fixture.set_attribute(Tag(0x0028, 0x0008), VR::IS, "0");
    assert_eq!(
        try_canon(&ct_bytes(&fixture)).unwrap_err().kind(),
        "BadPixelAttribute"
    );
}

#[test]
fn rle_frame_that_does_not_decode() {
    let bytes = Fixture::ct_slice(7)
        .encode(Encoding::RleLossless, &EncodeOptions::default())
        .unwrap();
    // Corrupt the RLE header's segment count (first 4 bytes of the first fragment, which
    // follows the offset-table item): find the fragment by its RLE header "01 00 00 00"…
    // simplest robust corruption: truncate the last fragment's content but keep framing by
    // flipping many bytes at the end of the data.
    let mut corrupted = bytes.clone();
    let len = corrupted.len();
    for b in &mut corrupted[len - 200..len - 8] {
        *b = 0x7F; // literal runs of 128 bytes that overrun the frame
    }
    match try_canon(&corrupted) {
        Err(e) => assert!(
            matches!(e.kind(), "Decode" | "DecodedFrameSize" | "Parse"),
            "{e}"
        ),
        Ok(c) => {
            // If it still decodes it must not be the original image.
            let original = try_canon(&bytes).unwrap();
            assert_ne!(c.pixels.unwrap().digest, original.pixels.unwrap().digest);
        }
    }
}

#[test]
fn deeply_nested_sequences_are_refused() {
    use scanseal_fixtures::Element;
    let mut fixture = Fixture::structured_report();
    let mut nested = Element::new(Tag(0x0040, 0xA730), VR::SQ, "leaf");
    nested.vr = VR::LO;
    nested.tag = Tag(0x0040, 0xA160);
    for _ in 0..300 {
        nested = Element::sequence(Tag(0x0040, 0xA730), vec![vec![nested]]);
    }
    fixture.insert_attribute(nested);
    let err = try_canon(&ct_bytes(&fixture)).unwrap_err();
    assert!(matches!(err, CanonError::NestingTooDeep { .. }), "{err}");
}
