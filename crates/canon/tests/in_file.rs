//! Native pixel data left in the file (`DicomInstance::open` / `from_file`) gives exactly what
//! the same file read into memory gives: the same tree (but for the pixel value's
//! representation), the same canonical form, the same frames and the same re-encoding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::fs::File;
use std::path::Path;

use scanseal_canon::{
    canonicalize, CanonError, CanonOptions, DicomInstance, ElementValue, IN_FILE_MIN_LEN,
};
use scanseal_fixtures::{
    EncodeOptions, Encoding, Fixture, ImageSpec, PlanarConfiguration, Tag, Value, VR,
};

const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// A fixture with an element after the pixel data (as a seal block is), so that reading
/// resumes after a value left in the file.
fn with_trailer(mut fixture: Fixture) -> Fixture {
    fixture
        .add_private(
            0x7FF1,
            "TRAILER TEST",
            0x01,
            VR::LO,
            Value::from("after the pixels"),
        )
        .unwrap();
    fixture
}

fn cases() -> Vec<(&'static str, Fixture, EncodeOptions)> {
    let planar = EncodeOptions {
        planar_configuration: PlanarConfiguration::Planar,
        ..EncodeOptions::default()
    };
    vec![
        (
            "ct 256x256x3",
            Fixture::new(ImageSpec::ct(256, 256).frames(3), 5),
            EncodeOptions::default(),
        ),
        (
            "rgb planar 200x180x2",
            Fixture::new(ImageSpec::rgb8(200, 180).frames(2), 6),
            planar,
        ),
        (
            "mono8 301x257 (odd length)",
            Fixture::new(ImageSpec::mono8(301, 257), 7),
            EncodeOptions::default(),
        ),
        (
            "bits1 600x600x3",
            Fixture::new(ImageSpec::bits1(600, 600).frames(3), 8),
            EncodeOptions::default(),
        ),
        (
            "float32 160x160",
            Fixture::new(ImageSpec::float32(160, 160), 9),
            EncodeOptions::default(),
        ),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_file_read_in_place_canonicalizes_as_the_same_file_read_into_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut left_in_file = 0;
    for (name, fixture, options) in cases() {
        let fixture = with_trailer(fixture);
        for encoding in [
            Encoding::ExplicitVrLittleEndian,
            Encoding::ImplicitVrLittleEndian,
            Encoding::ExplicitVrBigEndian,
            Encoding::DeflatedExplicitVrLittleEndian,
            Encoding::RleLossless,
        ] {
            let what = format!("{name}, {encoding:?}");
            let Ok(bytes) = fixture.encode(encoding, &options) else {
                continue; // e.g. float pixel data has no RLE form
            };
            let path = write(dir.path(), "instance.dcm", &bytes);
            let in_memory = DicomInstance::from_bytes(&bytes).unwrap();
            let opened = DicomInstance::open(&path).unwrap();

            let pixel = opened.data_set().get(PIXEL_DATA).map(|e| &e.value);
            let native = matches!(
                encoding,
                Encoding::ExplicitVrLittleEndian
                    | Encoding::ImplicitVrLittleEndian
                    | Encoding::ExplicitVrBigEndian
            );
            if let Some(ElementValue::InFile(span)) = pixel {
                assert!(native, "{what}: only native pixel data is left in the file");
                assert!(span.len() >= IN_FILE_MIN_LEN, "{what}");
                assert_eq!(
                    span.read_all().unwrap(),
                    match &in_memory.data_set().get(PIXEL_DATA).unwrap().value {
                        ElementValue::Primitive(octets) => octets.clone(),
                        other => panic!("{what}: in memory the pixel value is {other:?}"),
                    },
                    "{what}: the span holds the value's bytes"
                );
                left_in_file += 1;
            } else if native && name != "float32 160x160" {
                panic!(
                    "{what}: native pixel data of {} bytes was read into memory",
                    {
                        match pixel {
                            Some(ElementValue::Primitive(octets)) => octets.len(),
                            _ => 0,
                        }
                    }
                );
            }
            // Everything but the pixel value's representation is the same tree.
            let others = |instance: &DicomInstance| {
                instance
                    .data_set()
                    .elements()
                    .iter()
                    .filter(|e| e.tag.0 != 0x7FE0)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                others(&opened),
                others(&in_memory),
                "{what}: other elements"
            );

            for tile_size in [64, 17] {
                let options = CanonOptions::new().tile_size(tile_size);
                assert_eq!(
                    canonicalize(&opened, &options).unwrap(),
                    canonicalize(&in_memory, &options).unwrap(),
                    "{what}: canonical form, tiles of {tile_size}"
                );
            }
            let frames = fixture.spec().unwrap().number_of_frames;
            for frame in 0..frames {
                assert_eq!(
                    opened.frame_samples(frame).unwrap(),
                    in_memory.frame_samples(frame).unwrap(),
                    "{what}: frame {frame}"
                );
            }
            assert_eq!(
                opened.encode_data_set().unwrap(),
                in_memory.encode_data_set().unwrap(),
                "{what}: re-encoding"
            );
        }
    }
    assert!(
        left_in_file >= 10,
        "only {left_in_file} cases left pixels in the file"
    );
}

#[test]
fn a_file_cut_short_after_it_was_opened_is_an_error_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::new(ImageSpec::ct(256, 256).frames(2), 3);
    let bytes = fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    let path = write(dir.path(), "cut.dcm", &bytes);
    let opened = DicomInstance::open(&path).unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(bytes.len() as u64 - 1000)
        .unwrap();
    match canonicalize(&opened, &CanonOptions::new()) {
        Err(error @ CanonError::ValueUnreadable { tag, .. }) => {
            assert_eq!(tag, PIXEL_DATA);
            assert!(error.to_string().contains("(7FE0,0010)"), "{error}");
        }
        other => panic!("expected ValueUnreadable, got {other:?}"),
    }
}

#[test]
fn a_declared_pixel_length_beyond_the_file_is_refused_when_opening() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::new(ImageSpec::ct(256, 256), 4);
    let bytes = fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    let path = write(dir.path(), "short.dcm", &bytes[..bytes.len() - 10]);
    match DicomInstance::open(&path) {
        Err(CanonError::ValueBeyondEnd { tag, .. }) => assert_eq!(tag, PIXEL_DATA),
        other => panic!("expected ValueBeyondEnd, got {other:?}"),
    }
}
