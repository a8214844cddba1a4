//! CP-246 (PS3.5 §6.2.2): an undefined-length `UN` element in an explicit-VR data set holds
//! Implicit VR Little Endian items; it must canonicalize exactly like the same sequence written
//! as `SQ` (spec C5.3.4).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use scanseal_canon::{canonicalize, AttributeId, CanonOptions, DicomInstance, Salt, ValueClass};
use scanseal_fixtures::{EncodeOptions, Encoding, Fixture, Tag};

fn tag(group: u16, element: u16) -> Vec<u8> {
    [group.to_le_bytes(), element.to_le_bytes()].concat()
}

fn implicit(group: u16, element: u16, value: &[u8]) -> Vec<u8> {
    [
        tag(group, element),
        (value.len() as u32).to_le_bytes().to_vec(),
        value.to_vec(),
    ]
    .concat()
}

fn explicit_ui(group: u16, element: u16, value: &[u8]) -> Vec<u8> {
    [
        tag(group, element),
        b"UI".to_vec(),
        (value.len() as u16).to_le_bytes().to_vec(),
        value.to_vec(),
    ]
    .concat()
}

const UNDEFINED: [u8; 4] = [0xFF; 4];

fn item_start(length: [u8; 4]) -> Vec<u8> {
    [tag(0xFFFE, 0xE000), length.to_vec()].concat()
}

fn item_end() -> Vec<u8> {
    [tag(0xFFFE, 0xE00D), vec![0; 4]].concat()
}

fn sequence_end() -> Vec<u8> {
    [tag(0xFFFE, 0xE0DD), vec![0; 4]].concat()
}

const CLASS: &[u8] = b"1.2.840.10008.5.1.4.1.1.2\0";
const INSTANCE: &[u8] = b"1.2.3.4\0";
const SERIES: &[u8] = b"1.2.3.5\0";

/// (4453,100C) UN, undefined length, Implicit VR content: one defined-length item holding two
/// UIs and a nested undefined-length sequence.
fn as_undefined_un() -> Vec<u8> {
    let nested = [
        implicit(0x0008, 0x1115, &[]).as_slice()[..4].to_vec(),
        UNDEFINED.to_vec(),
        item_start(UNDEFINED),
        implicit(0x0020, 0x000E, SERIES),
        item_end(),
        sequence_end(),
    ]
    .concat();
    let content = [
        implicit(0x0008, 0x1150, CLASS),
        implicit(0x0008, 0x1155, INSTANCE),
        nested,
    ]
    .concat();
    [
        tag(0x4453, 0x100C),
        b"UN\0\0".to_vec(),
        UNDEFINED.to_vec(),
        item_start((content.len() as u32).to_le_bytes()),
        content,
        sequence_end(),
    ]
    .concat()
}

/// The same sequence as an explicit SQ with explicit-VR items.
fn as_explicit_sq() -> Vec<u8> {
    [
        tag(0x4453, 0x100C),
        b"SQ\0\0".to_vec(),
        UNDEFINED.to_vec(),
        item_start(UNDEFINED),
        explicit_ui(0x0008, 0x1150, CLASS),
        explicit_ui(0x0008, 0x1155, INSTANCE),
        tag(0x0008, 0x1115),
        b"SQ\0\0".to_vec(),
        UNDEFINED.to_vec(),
        item_start(UNDEFINED),
        explicit_ui(0x0020, 0x000E, SERIES),
        item_end(),
        sequence_end(),
        item_end(),
        sequence_end(),
    ]
    .concat()
}

fn commitment_of(element: Vec<u8>) -> (String, ValueClass, usize) {
    // A structured report has no pixel data, so the element can simply go at the end.
    let mut bytes = Fixture::structured_report()
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    bytes.extend_from_slice(&element);
    let canonical = canonicalize(
        &DicomInstance::from_bytes(&bytes).unwrap(),
        &CanonOptions::new(),
    )
    .unwrap();
    let attribute = canonical
        .attributes
        .iter()
        .find(|a| a.id == AttributeId::Orphan(Tag(0x4453, 0x100C)))
        .expect("the private sequence is canonicalized");
    (
        attribute.commit(&Salt([7; 16])).to_hex(),
        attribute.class,
        canonical.attributes.len(),
    )
}

#[test]
fn undefined_length_un_reads_as_implicit_vr_items() {
    let (un, un_class, un_count) = commitment_of(as_undefined_un());
    let (sq, sq_class, sq_count) = commitment_of(as_explicit_sq());
    assert_eq!(un_class, ValueClass::Sequence);
    assert_eq!(sq_class, ValueClass::Sequence);
    assert_eq!(un, sq, "UN (CP-246) and SQ forms must canonicalize alike");
    assert_eq!(un_count, sq_count);
}

#[test]
fn malformed_cp246_content_is_a_typed_error() {
    // An element header where an item is expected.
    let bad = [
        tag(0x4453, 0x100C),
        b"UN\0\0".to_vec(),
        UNDEFINED.to_vec(),
        implicit(0x0008, 0x1150, CLASS),
    ]
    .concat();
    let mut bytes = Fixture::structured_report()
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    bytes.extend_from_slice(&bad);
    let instance = DicomInstance::from_bytes(&bytes);
    let err = match instance {
        Ok(instance) => canonicalize(&instance, &CanonOptions::new()).unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(err.kind(), "Parse", "{err}");
}
