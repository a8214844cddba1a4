//! The writer (`DicomInstance::encode_data_set`, `DicomInstance::write_part10`) is the inverse
//! of the reader: what it writes reads back as the same tree, in the same transfer syntax, with
//! the same canonical form, and writing that again gives the same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::io::Read;
use std::path::{Path, PathBuf};

use scanseal_canon::{
    canonicalize, CanonError, CanonOptions, Canonical, DataSet, DicomInstance, Element,
    ElementValue, Encapsulated, FileMeta, ValueClass,
};
use scanseal_fixtures::encode::{IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME};
use scanseal_fixtures::{EncodeOptions, Encoding, Fixture, SequenceLength, Tag, VR};

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const RLE: &str = "1.2.840.10008.1.2.5";

fn meta() -> FileMeta {
    FileMeta {
        media_storage_sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        media_storage_sop_instance_uid: "1.2.3".into(),
        implementation_class_uid: "1.2.3.4".into(),
        implementation_version_name: Some("SCANSEAL1".into()),
    }
}

fn write(instance: &DicomInstance, meta: &FileMeta) -> Vec<u8> {
    let mut out = Vec::new();
    instance.write_part10(meta, &mut out).unwrap();
    out
}

fn canon(instance: &DicomInstance, what: &str) -> Canonical {
    canonicalize(instance, &CanonOptions::new().tile_size(16))
        .unwrap_or_else(|e| panic!("{what}: does not canonicalize: {e}"))
}

fn assert_same_canonical(original: &Canonical, rewritten: &Canonical, what: &str) {
    assert_eq!(
        original.transfer_syntax, rewritten.transfer_syntax,
        "{what}: transfer syntax"
    );
    assert_eq!(
        original.attributes.len(),
        rewritten.attributes.len(),
        "{what}: attribute count"
    );
    for (a, b) in original.attributes.iter().zip(&rewritten.attributes) {
        assert_eq!(a.id, b.id, "{what}: attribute order");
        assert_eq!(
            a.canonical_bytes(),
            b.canonical_bytes(),
            "{what}: canonical bytes of {}",
            a.id
        );
        assert_eq!((a.tag, a.vr, a.class, a.key), (b.tag, b.vr, b.class, b.key));
    }
    assert_eq!(original.pixels, rewritten.pixels, "{what}: pixels");
    if let (Some(a), Some(b)) = (&original.pixels, &rewritten.pixels) {
        assert_eq!(a.digest, b.digest, "{what}: pixel digest");
        assert_eq!(a.frames, b.frames, "{what}: frames");
    }
    assert_eq!(original, rewritten, "{what}");
}

/// Reads `bytes`, writes them, reads the output: the same tree, transfer syntax and canonical
/// form; writing the re-read instance gives the same bytes. Returns the first output.
fn roundtrip(bytes: &[u8], what: &str) -> Vec<u8> {
    let original = DicomInstance::from_bytes(bytes)
        .unwrap_or_else(|e| panic!("{what}: the input does not read: {e}"));
    let first = write(&original, &meta());
    let reread = DicomInstance::from_bytes(&first)
        .unwrap_or_else(|e| panic!("{what}: the output does not read: {e}"));
    assert_eq!(
        reread.transfer_syntax(),
        original.transfer_syntax(),
        "{what}: transfer syntax"
    );
    assert_eq!(reread.data_set(), original.data_set(), "{what}: tree");
    assert_same_canonical(&canon(&original, what), &canon(&reread, what), what);
    let second = write(&reread, &meta());
    assert!(first == second, "{what}: the second write differs");
    first
}

fn fixtures() -> Vec<(&'static str, Fixture)> {
    vec![
        ("ct_slice", Fixture::ct_slice(7)),
        ("mr_multiframe", Fixture::mr_multiframe(3, 11)),
        ("rgb", Fixture::rgb(5)),
        ("structured_report", Fixture::structured_report()),
    ]
}

#[test]
fn every_fixture_encoding_round_trips() {
    let mut count = 0;
    for (name, fixture) in fixtures() {
        for encoding in Encoding::ALL {
            for sequence_length in [SequenceLength::Defined, SequenceLength::Undefined] {
                let options = EncodeOptions {
                    sequence_length,
                    ..EncodeOptions::default()
                };
                let what = format!("{name} {encoding:?} {sequence_length:?}");
                let Ok(bytes) = fixture.encode(encoding, &options) else {
                    // (no fixture is expected to refuse an encoding)
                    panic!("{what}: the fixture does not encode");
                };
                let output = roundtrip(&bytes, &what);
                assert_eq!(
                    DicomInstance::from_bytes(&output)
                        .unwrap()
                        .transfer_syntax(),
                    encoding.transfer_syntax_uid()
                );
                count += 1;
            }
        }
    }
    assert_eq!(count, 4 * 5 * 2);
}

/// The fixture builder is an independent writer with the same conventions (undefined sequence
/// lengths, File Meta elements in the same order): for its output, read → write reproduces the
/// file byte for byte, deflated ones included.
#[test]
fn fixture_files_are_reproduced_byte_for_byte() {
    let fixture_meta = |instance: &DicomInstance| {
        let text = |tag: Tag| match instance.data_set().get(tag).map(|e| &e.value) {
            Some(ElementValue::Primitive(octets)) => String::from_utf8(octets.clone())
                .unwrap()
                .trim_end_matches(['\0', ' '])
                .to_string(),
            _ => panic!("no {tag}"),
        };
        FileMeta {
            media_storage_sop_class_uid: text(Tag(0x0008, 0x0016)),
            media_storage_sop_instance_uid: text(Tag(0x0008, 0x0018)),
            implementation_class_uid: IMPLEMENTATION_CLASS_UID.into(),
            implementation_version_name: Some(IMPLEMENTATION_VERSION_NAME.into()),
        }
    };
    for (name, fixture) in fixtures() {
        for encoding in Encoding::ALL {
            let bytes = fixture.encode(encoding, &EncodeOptions::default()).unwrap();
            let instance = DicomInstance::from_bytes(&bytes).unwrap();
            let written = write(&instance, &fixture_meta(&instance));
            assert!(
                written == bytes,
                "{name} {encoding:?}: output differs from the fixture builder's file"
            );
        }
    }
}

fn vector_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            vector_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "dcm") {
            out.push(path);
        }
    }
}

#[test]
fn every_spec_vector_file_round_trips() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors");
    let mut files = Vec::new();
    vector_files(&root, &mut files);
    files.sort();
    // input.dcm and sealed.dcm of each seal vector (Explicit LE, Implicit LE, Big Endian).
    assert!(files.len() >= 6, "found only {files:?}");
    let mut syntaxes = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        roundtrip(&bytes, &file.display().to_string());
        syntaxes.push(
            DicomInstance::from_bytes(&bytes)
                .unwrap()
                .transfer_syntax()
                .to_string(),
        );
    }
    for ts in [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE] {
        assert!(syntaxes.iter().any(|s| s == ts), "no vector in {ts}");
    }
}

// --- private and CP-246 sequences -------------------------------------------------------------

fn le_tag(group: u16, element: u16) -> Vec<u8> {
    [group.to_le_bytes(), element.to_le_bytes()].concat()
}

fn implicit(group: u16, element: u16, value: &[u8]) -> Vec<u8> {
    [
        le_tag(group, element),
        (value.len() as u32).to_le_bytes().to_vec(),
        value.to_vec(),
    ]
    .concat()
}

fn item(length: u32) -> Vec<u8> {
    [le_tag(0xFFFE, 0xE000), length.to_le_bytes().to_vec()].concat()
}

fn item_end() -> Vec<u8> {
    [le_tag(0xFFFE, 0xE00D), vec![0; 4]].concat()
}

fn sequence_end() -> Vec<u8> {
    [le_tag(0xFFFE, 0xE0DD), vec![0; 4]].concat()
}

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Implicit VR content of one item: two standard UIs, a private creator and a private LO
/// of the block, and a nested undefined-length private sequence.
fn implicit_item_content() -> Vec<u8> {
    [
        implicit(0x0008, 0x1150, b"1.2.840.10008.5.1.4.1.1.2\0"),
        implicit(0x0008, 0x1155, b"1.2.3.4\0"),
        implicit(0x4453, 0x0010, b"NESTED "),
        implicit(0x4453, 0x1001, b"inner"),
        le_tag(0x4453, 0x1002),
        UNDEFINED.to_le_bytes().to_vec(),
        item(UNDEFINED),
        implicit(0x0020, 0x000E, b"1.2.3.5\0"),
        item_end(),
        sequence_end(),
    ]
    .concat()
}

/// A structured report (no pixel data: elements can go at the end) with `extra` appended.
fn report_with(encoding: Encoding, extra: &[u8]) -> Vec<u8> {
    let mut bytes = Fixture::structured_report()
        .encode(encoding, &EncodeOptions::default())
        .unwrap();
    bytes.extend_from_slice(extra);
    bytes
}

fn attribute_class(instance: &DicomInstance, tag: Tag) -> ValueClass {
    canon(instance, "class")
        .attributes
        .iter()
        .find(|a| a.tag == tag)
        .unwrap_or_else(|| panic!("{tag} is canonicalized"))
        .class
}

/// CP-246: an undefined-length explicit `UN` holding Implicit VR items is written back as an
/// `SQ` with explicit items (the nested elements as the reader recorded them, `UN`), and
/// canonicalizes as before.
#[test]
fn cp246_un_sequences_round_trip_as_sq() {
    let content = implicit_item_content();
    let element = [
        le_tag(0x4453, 0x100C),
        b"UN\0\0".to_vec(),
        UNDEFINED.to_le_bytes().to_vec(),
        item(content.len() as u32),
        content,
        sequence_end(),
    ]
    .concat();
    let bytes = report_with(Encoding::ExplicitVrLittleEndian, &element);
    let output = roundtrip(&bytes, "CP-246 UN");
    let sq_header = [
        le_tag(0x4453, 0x100C),
        b"SQ\0\0".to_vec(),
        UNDEFINED.to_le_bytes().to_vec(),
    ]
    .concat();
    assert!(
        output.windows(sq_header.len()).any(|w| w == sq_header),
        "written as SQ"
    );
    let reread = DicomInstance::from_bytes(&output).unwrap();
    assert_eq!(
        attribute_class(&reread, Tag(0x4453, 0x100C)),
        ValueClass::Sequence
    );
}

/// In Implicit VR an undefined-length private element is read as a sequence: it must be
/// written with undefined length again so that it still is one.
#[test]
fn implicit_vr_private_sequences_round_trip() {
    let element = [
        le_tag(0x4453, 0x100C),
        UNDEFINED.to_le_bytes().to_vec(),
        item(UNDEFINED),
        implicit_item_content(),
        item_end(),
        sequence_end(),
    ]
    .concat();
    let bytes = report_with(Encoding::ImplicitVrLittleEndian, &element);
    let output = roundtrip(&bytes, "implicit private sequence");
    let reread = DicomInstance::from_bytes(&output).unwrap();
    assert_eq!(
        attribute_class(&reread, Tag(0x4453, 0x100C)),
        ValueClass::Sequence
    );
}

/// A defined-length private `UN` whose octets are Implicit VR items (C5.3.4: class 4) stays
/// the same octets, in every transfer syntax.
#[test]
fn defined_length_private_un_items_keep_their_octets() {
    let content = implicit_item_content();
    let value = [item(content.len() as u32), content].concat();
    let explicit = [
        le_tag(0x4453, 0x1020),
        b"UN\0\0".to_vec(),
        (value.len() as u32).to_le_bytes().to_vec(),
        value.clone(),
    ]
    .concat();
    let bytes = report_with(Encoding::ExplicitVrLittleEndian, &explicit);
    roundtrip(&bytes, "defined-length UN, explicit");
    let instance = DicomInstance::from_bytes(&bytes).unwrap();
    assert_eq!(
        attribute_class(&instance, Tag(0x4453, 0x1020)),
        ValueClass::Sequence
    );
    let bytes = report_with(
        Encoding::ImplicitVrLittleEndian,
        &implicit(0x4453, 0x1020, &value),
    );
    roundtrip(&bytes, "defined-length UN, implicit");
}

/// A sequence whose element VR is not `SQ` (here `UN`, as a de-identifier might build one) is
/// still written as `SQ` with explicit-VR items: written as an undefined-length `UN` its items
/// would be read as Implicit VR (CP-246) and no longer parse.
#[test]
fn sequences_are_written_as_sq_whatever_their_recorded_vr() {
    let mut instance =
        DicomInstance::from_bytes(&report_with(Encoding::ExplicitVrLittleEndian, &[])).unwrap();
    let items = vec![DataSet::from_elements(vec![
        primitive(Tag(0x0008, 0x1150), VR::UI, b"1.2.3\0"),
        primitive(Tag(0x4453, 0x0010), VR::LO, b"VENDOR"),
        primitive(Tag(0x4453, 0x1001), VR::LO, b"text"),
    ])];
    instance.data_set_mut().put(Element {
        tag: Tag(0x4453, 0x100C),
        vr: VR::UN,
        value: ElementValue::Sequence(items.clone()),
    });
    let before = canon(&instance, "UN sequence");
    let output = write(&instance, &meta());
    let sq_header = [
        le_tag(0x4453, 0x100C),
        b"SQ\0\0".to_vec(),
        UNDEFINED.to_le_bytes().to_vec(),
    ]
    .concat();
    assert!(output.windows(sq_header.len()).any(|w| w == sq_header));
    let reread = DicomInstance::from_bytes(&output).unwrap();
    assert_eq!(
        reread.data_set().get(Tag(0x4453, 0x100C)).map(|e| &e.value),
        Some(&ElementValue::Sequence(items))
    );
    let after = canon(&reread, "UN sequence re-read");
    assert_eq!(before.attributes.len(), after.attributes.len());
    for (a, b) in before.attributes.iter().zip(&after.attributes) {
        assert_eq!(a.canonical_bytes(), b.canonical_bytes(), "{}", a.id);
    }
    assert_eq!(
        attribute_class(&reread, Tag(0x4453, 0x100C)),
        ValueClass::Sequence
    );
}

// --- hand-computed bytes ----------------------------------------------------------------------

fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.split_whitespace().collect();
    hex::decode(digits).unwrap()
}

fn primitive(tag: Tag, vr: VR, octets: &[u8]) -> Element {
    Element {
        tag,
        vr,
        value: ElementValue::Primitive(octets.to_vec()),
    }
}

fn sequence(tag: Tag, items: Vec<Vec<Element>>) -> Element {
    Element {
        tag,
        vr: VR::SQ,
        value: ElementValue::Sequence(items.into_iter().map(DataSet::from_elements).collect()),
    }
}

/// The small data set of the byte checks: text, a sequence with a nested sequence and an
/// empty item, a private block with an odd-length OB, a US stored as `00 02` (never swapped),
/// and encapsulated pixel data: two fragments and their offsets.
fn small_data_set() -> DataSet {
    DataSet::from_elements(vec![
        primitive(Tag(0x0008, 0x0060), VR::CS, b"CT"),
        sequence(
            Tag(0x0008, 0x1140),
            vec![
                vec![
                    sequence(
                        Tag(0x0008, 0x114A),
                        vec![vec![primitive(Tag(0x0008, 0x1155), VR::UI, b"1.3\0")]],
                    ),
                    primitive(Tag(0x0008, 0x1150), VR::UI, b"1.2\0"),
                ],
                vec![],
            ],
        ),
        primitive(Tag(0x0009, 0x0010), VR::LO, b"ACME"),
        primitive(Tag(0x0009, 0x1001), VR::OB, &[1, 2, 3]),
        primitive(Tag(0x0028, 0x0010), VR::US, &[0x00, 0x02]),
        Element {
            tag: Tag(0x7FE0, 0x0010),
            vr: VR::OB,
            value: ElementValue::Encapsulated(Encapsulated {
                offset_table: vec![0, 12],
                fragments: vec![vec![0xAA, 0xBB, 0xCC, 0xDD], vec![0xEE, 0xFF]],
            }),
        },
    ])
}

/// The File Meta Information `write_part10` writes for [`meta`] and `ts` (odd length: one NUL).
fn expected_meta(ts: &str) -> Vec<u8> {
    let mut ts_value = ts.as_bytes().to_vec();
    if ts_value.len() % 2 == 1 {
        ts_value.push(0);
    }
    let body = [
        hex("02 00 01 00 4F 42 00 00 02 00 00 00 00 01"),
        hex("02 00 02 00 55 49 1A 00"),
        b"1.2.840.10008.5.1.4.1.1.2\0".to_vec(),
        hex("02 00 03 00 55 49 06 00"),
        b"1.2.3\0".to_vec(),
        hex("02 00 10 00 55 49"),
        (ts_value.len() as u16).to_le_bytes().to_vec(),
        ts_value,
        hex("02 00 12 00 55 49 08 00"),
        b"1.2.3.4\0".to_vec(),
        hex("02 00 13 00 53 48 0A 00"),
        b"SCANSEAL1 ".to_vec(),
    ]
    .concat();
    [
        vec![0; 128],
        b"DICM".to_vec(),
        hex("02 00 00 00 55 4C 04 00"),
        (body.len() as u32).to_le_bytes().to_vec(),
        body,
    ]
    .concat()
}

/// An instance in `ts` holding `data_set`: read from a file with an empty data set (the
/// public API has no constructor), then edited.
fn instance_with(ts: &str, data_set: DataSet) -> DicomInstance {
    let mut instance = DicomInstance::from_bytes(&expected_meta(ts)).unwrap();
    assert_eq!(instance.transfer_syntax(), ts);
    assert!(instance.data_set().elements().is_empty());
    *instance.data_set_mut() = data_set;
    instance
}

fn check_bytes(ts: &str, want: &[u8]) {
    let instance = instance_with(ts, small_data_set());
    assert_eq!(
        hex::encode(instance.encode_data_set().unwrap()),
        hex::encode(want),
        "{ts}"
    );
    let file = write(&instance, &meta());
    assert_eq!(
        hex::encode(&file),
        hex::encode([expected_meta(ts), want.to_vec()].concat()),
        "{ts}: file"
    );
    // And the reader reads exactly that tree back.
    let reread = DicomInstance::from_bytes(&file).unwrap();
    assert_eq!(reread.data_set(), &small_data_set(), "{ts}: re-read");
}

#[test]
fn explicit_vr_little_endian_bytes() {
    let want = hex("08 00 60 00 43 53 02 00 43 54
         08 00 40 11 53 51 00 00 FF FF FF FF
           FE FF 00 E0 FF FF FF FF
             08 00 4A 11 53 51 00 00 FF FF FF FF
               FE FF 00 E0 FF FF FF FF
                 08 00 55 11 55 49 04 00 31 2E 33 00
               FE FF 0D E0 00 00 00 00
             FE FF DD E0 00 00 00 00
             08 00 50 11 55 49 04 00 31 2E 32 00
           FE FF 0D E0 00 00 00 00
           FE FF 00 E0 FF FF FF FF
           FE FF 0D E0 00 00 00 00
         FE FF DD E0 00 00 00 00
         09 00 10 00 4C 4F 04 00 41 43 4D 45
         09 00 01 10 4F 42 00 00 03 00 00 00 01 02 03
         28 00 10 00 55 53 02 00 00 02
         E0 7F 10 00 4F 42 00 00 FF FF FF FF
           FE FF 00 E0 08 00 00 00 00 00 00 00 0C 00 00 00
           FE FF 00 E0 04 00 00 00 AA BB CC DD
           FE FF 00 E0 02 00 00 00 EE FF
         FE FF DD E0 00 00 00 00");
    check_bytes(EXPLICIT_LE, &want);
    // Every encapsulated transfer syntax encodes the data set the same way.
    check_bytes(RLE, &want);
}

#[test]
fn implicit_vr_little_endian_bytes() {
    let want = hex("08 00 60 00 02 00 00 00 43 54
         08 00 40 11 FF FF FF FF
           FE FF 00 E0 FF FF FF FF
             08 00 4A 11 FF FF FF FF
               FE FF 00 E0 FF FF FF FF
                 08 00 55 11 04 00 00 00 31 2E 33 00
               FE FF 0D E0 00 00 00 00
             FE FF DD E0 00 00 00 00
             08 00 50 11 04 00 00 00 31 2E 32 00
           FE FF 0D E0 00 00 00 00
           FE FF 00 E0 FF FF FF FF
           FE FF 0D E0 00 00 00 00
         FE FF DD E0 00 00 00 00
         09 00 10 00 04 00 00 00 41 43 4D 45
         09 00 01 10 03 00 00 00 01 02 03
         28 00 10 00 02 00 00 00 00 02
         E0 7F 10 00 FF FF FF FF
           FE FF 00 E0 08 00 00 00 00 00 00 00 0C 00 00 00
           FE FF 00 E0 04 00 00 00 AA BB CC DD
           FE FF 00 E0 02 00 00 00 EE FF
         FE FF DD E0 00 00 00 00");
    let instance = instance_with(IMPLICIT_LE, small_data_set());
    assert_eq!(
        hex::encode(instance.encode_data_set().unwrap()),
        hex::encode(&want)
    );
    let file = write(&instance, &meta());
    assert_eq!(file, [expected_meta(IMPLICIT_LE), want].concat());
    // In Implicit VR the reader takes VRs from the dictionary: the private creator comes back
    // as LO, the private OB as UN, everything else as written.
    let reread = DicomInstance::from_bytes(&file).unwrap();
    let vrs: Vec<VR> = reread.data_set().elements().iter().map(|e| e.vr).collect();
    assert_eq!(
        vrs,
        [VR::CS, VR::SQ, VR::LO, VR::UN, VR::US, VR::OB],
        "{:?}",
        reread.data_set()
    );
    let values = |d: &DataSet| {
        d.elements()
            .iter()
            .map(|e| e.value.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(values(reread.data_set()), values(&small_data_set()));
}

#[test]
fn explicit_vr_big_endian_bytes() {
    // Tags, lengths, item tags and offsets big endian; values exactly as stored.
    let want = hex("00 08 00 60 43 53 00 02 43 54
         00 08 11 40 53 51 00 00 FF FF FF FF
           FF FE E0 00 FF FF FF FF
             00 08 11 4A 53 51 00 00 FF FF FF FF
               FF FE E0 00 FF FF FF FF
                 00 08 11 55 55 49 00 04 31 2E 33 00
               FF FE E0 0D 00 00 00 00
             FF FE E0 DD 00 00 00 00
             00 08 11 50 55 49 00 04 31 2E 32 00
           FF FE E0 0D 00 00 00 00
           FF FE E0 00 FF FF FF FF
           FF FE E0 0D 00 00 00 00
         FF FE E0 DD 00 00 00 00
         00 09 00 10 4C 4F 00 04 41 43 4D 45
         00 09 10 01 4F 42 00 00 00 00 00 03 01 02 03
         00 28 00 10 55 53 00 02 00 02
         7F E0 00 10 4F 42 00 00 FF FF FF FF
           FF FE E0 00 00 00 00 08 00 00 00 00 00 00 00 0C
           FF FE E0 00 00 00 00 04 AA BB CC DD
           FF FE E0 00 00 00 00 02 EE FF
         FF FE E0 DD 00 00 00 00");
    check_bytes(EXPLICIT_BE, &want);
}

// --- errors -----------------------------------------------------------------------------------

#[test]
fn a_long_value_with_a_two_byte_length_is_a_typed_error() {
    let long = primitive(Tag(0x0010, 0x0020), VR::LO, &vec![b'x'; 70_000]);
    for ts in [EXPLICIT_LE, EXPLICIT_BE, DEFLATED, RLE] {
        let instance = instance_with(ts, DataSet::from_elements(vec![long.clone()]));
        let err = instance.encode_data_set().unwrap_err();
        assert!(
            matches!(
                err,
                CanonError::ValueTooLong {
                    tag: Tag(0x0010, 0x0020),
                    vr: "LO",
                    length: 70_000,
                    max: 65_535,
                }
            ),
            "{ts}: {err}"
        );
        assert_eq!(err.kind(), "ValueTooLong");
        let mut sink = Vec::new();
        assert!(instance.write_part10(&meta(), &mut sink).is_err());
        assert!(sink.is_empty(), "{ts}: nothing written");
    }
    // Nested in an item too.
    let nested = instance_with(
        EXPLICIT_LE,
        DataSet::from_elements(vec![sequence(
            Tag(0x0008, 0x1140),
            vec![vec![long.clone()]],
        )]),
    );
    assert_eq!(nested.encode_data_set().unwrap_err().kind(), "ValueTooLong");
    // Implicit VR has 4-byte lengths only.
    let implicit = instance_with(IMPLICIT_LE, DataSet::from_elements(vec![long]));
    assert_eq!(implicit.encode_data_set().unwrap().len(), 8 + 70_000);
}

#[test]
fn tags_out_of_order_are_a_typed_error() {
    let a = primitive(Tag(0x0008, 0x0060), VR::CS, b"CT");
    let b = primitive(Tag(0x0010, 0x0020), VR::LO, b"ID");
    // Top level: swap the order (from_elements sorts, so edit the tags in place).
    let mut instance = instance_with(
        EXPLICIT_LE,
        DataSet::from_elements(vec![a.clone(), b.clone()]),
    );
    assert!(instance.encode_data_set().is_ok());
    for element in instance.data_set_mut().elements_mut() {
        element.tag = if element.tag == a.tag { b.tag } else { a.tag };
    }
    let err = instance.encode_data_set().unwrap_err();
    assert!(
        matches!(
            err,
            CanonError::TagsNotAscending {
                previous: Tag(0x0010, 0x0020),
                tag: Tag(0x0008, 0x0060)
            }
        ),
        "{err}"
    );
    // A repeated tag.
    for element in instance.data_set_mut().elements_mut() {
        element.tag = a.tag;
    }
    assert_eq!(
        instance.encode_data_set().unwrap_err().kind(),
        "TagsNotAscending"
    );
    // Inside an item.
    let mut instance = instance_with(
        IMPLICIT_LE,
        DataSet::from_elements(vec![sequence(
            Tag(0x0008, 0x1140),
            vec![vec![a.clone(), b]],
        )]),
    );
    assert!(instance.encode_data_set().is_ok());
    let Some(Element {
        value: ElementValue::Sequence(items),
        ..
    }) = instance.data_set_mut().get_mut(Tag(0x0008, 0x1140))
    else {
        panic!("the sequence");
    };
    for element in items[0].elements_mut() {
        element.tag = if element.tag == a.tag {
            Tag(0x0010, 0x0020)
        } else {
            a.tag
        };
    }
    assert_eq!(
        instance.encode_data_set().unwrap_err().kind(),
        "TagsNotAscending"
    );
}

#[test]
fn file_meta_elements_in_the_data_set_are_a_typed_error() {
    let mut instance = instance_with(EXPLICIT_LE, DataSet::default());
    instance
        .data_set_mut()
        .put(primitive(Tag(0x0002, 0x0013), VR::SH, b"X "));
    let err = instance.encode_data_set().unwrap_err();
    assert!(
        matches!(
            err,
            CanonError::FileMetaInDataSet {
                tag: Tag(0x0002, 0x0013)
            }
        ),
        "{err}"
    );
}

// --- deflate ----------------------------------------------------------------------------------

fn inflate(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn deflated_output_inflates_to_the_explicit_le_encoding() {
    for (name, fixture) in fixtures() {
        for sequence_length in [SequenceLength::Defined, SequenceLength::Undefined] {
            let options = EncodeOptions {
                sequence_length,
                ..EncodeOptions::default()
            };
            let deflated = DicomInstance::from_bytes(
                &fixture
                    .encode(Encoding::DeflatedExplicitVrLittleEndian, &options)
                    .unwrap(),
            )
            .unwrap();
            let explicit = DicomInstance::from_bytes(
                &fixture
                    .encode(Encoding::ExplicitVrLittleEndian, &options)
                    .unwrap(),
            )
            .unwrap();
            let compressed = deflated.encode_data_set().unwrap();
            assert_eq!(compressed.len() % 2, 0, "{name}: padded to even length");
            let explicit_bytes = explicit.encode_data_set().unwrap();
            assert!(
                inflate(&compressed) == explicit_bytes,
                "{name} {sequence_length:?}: inflated data set differs"
            );
            assert!(
                compressed.len() < explicit_bytes.len(),
                "{name}: compressed"
            );
        }
    }
    // The hand-built data set too.
    let deflated = instance_with(DEFLATED, small_data_set());
    let explicit = instance_with(EXPLICIT_LE, small_data_set());
    assert_eq!(
        inflate(&deflated.encode_data_set().unwrap()),
        explicit.encode_data_set().unwrap()
    );
}
