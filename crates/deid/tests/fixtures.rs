//! The engine on the synthetic fixtures, read from every encoding: no original PHI value
//! survives anywhere in the tree, and the pixels are untouched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dicom_core::Tag;
use scanseal_canon::{canonicalize, CanonOptions, DataSet, DicomInstance, ElementValue, FileMeta};
use scanseal_deid::{AppliedAction, Deidentifier, Profile, ProfileOption, Secret};
use scanseal_fixtures::{EncodeOptions, Encoding, Fixture, PATIENT_ID};

const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

fn fixtures() -> Vec<(&'static str, Fixture, Vec<Encoding>)> {
    let all = Encoding::ALL.to_vec();
    let no_pixels: Vec<Encoding> = all
        .iter()
        .copied()
        .filter(|e| !e.is_encapsulated())
        .collect();
    vec![
        ("ct_slice", Fixture::ct_slice(7), all.clone()),
        ("mr_multiframe", Fixture::mr_multiframe(3, 11), all),
        ("structured_report", Fixture::structured_report(), no_pixels),
    ]
}

/// Calls `f` with every primitive value (and encapsulated fragment) of the tree.
fn walk(data_set: &DataSet, f: &mut impl FnMut(Tag, &[u8])) {
    for element in data_set.elements() {
        match &element.value {
            ElementValue::Primitive(octets) => f(element.tag, octets),
            ElementValue::InFile(span) => f(element.tag, &span.read_all().unwrap()),
            ElementValue::Sequence(items) => {
                for item in items {
                    walk(item, f);
                }
            }
            ElementValue::Encapsulated(pixels) => {
                for fragment in &pixels.fragments {
                    f(element.tag, fragment);
                }
            }
        }
    }
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect()
}

/// The identifying values the fixtures carry, in the byte forms they may take.
fn phi(original: &DataSet) -> Vec<Vec<u8>> {
    let mut needles: Vec<Vec<u8>> = ["Müller^Jürgen", "Müller", "Jürgen", "Dr. Müller"]
        .iter()
        .flat_map(|text| [latin1(text), text.as_bytes().to_vec()])
        .collect();
    needles.extend(
        [
            PATIENT_ID,
            "19640229",         // birth date
            "20240314",         // study, series, acquisition, content date
            "General Hospital", // institution
            "SCANNER01",        // station
            "SN-004217",        // device serial number
            "ACC-0001",         // accession number
            "STUDY1",           // study ID
            "060Y",             // age
            "CT KNEE RIGHT",    // study description
            "MR KNEE RIGHT",
            "Axial 2.5mm B30f", // series description
            "T1 SE sagittal",
            "Radiology report",
            "Synthetic test image; not patient data", // image comments
            "Small effusion",                         // SR text
            "ACME recon kernel",                      // private text
            "other vendor note",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec()),
    );
    // Every instance UID (standard UIDs such as SOP Classes are not identifying).
    walk(original, &mut |tag, octets| {
        let text = String::from_utf8_lossy(octets);
        let uid = text.trim_end_matches(['\0', ' ']);
        let looks_like_uid =
            !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if looks_like_uid && uid.matches('.').count() >= 3 && !uid.starts_with("1.2.840.10008.") {
            assert!(uid.len() > 10, "{tag}: {uid}");
            needles.push(uid.as_bytes().to_vec());
        }
    });
    needles
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_no_phi(name: &str, encoding: Encoding, after: &DataSet, needles: &[Vec<u8>]) {
    walk(after, &mut |tag, octets| {
        for needle in needles {
            assert!(
                !contains(octets, needle),
                "{name} {encoding:?}: {tag} still holds {:?}",
                String::from_utf8_lossy(needle)
            );
        }
    });
}

fn profiles() -> Vec<Profile> {
    vec![
        Profile::basic(),
        Profile::basic()
            .with_options([
                ProfileOption::RetainLongitudinalModifiedDates,
                ProfileOption::CleanDescriptors,
                ProfileOption::CleanGraphics,
                ProfileOption::RetainSafePrivate,
            ])
            .unwrap(),
    ]
}

#[test]
fn no_original_phi_survives_and_pixels_are_untouched() {
    let secret = || Secret::from_bytes(b"fixture test secret").unwrap();
    for profile in profiles() {
        let deidentifier = Deidentifier::new(profile, secret());
        for (name, fixture, encodings) in fixtures() {
            for encoding in encodings {
                let bytes = fixture.encode(encoding, &EncodeOptions::default()).unwrap();
                let mut instance = DicomInstance::from_bytes(&bytes).unwrap();
                let before = canonicalize(&instance, &CanonOptions::new()).unwrap();
                let pixels_before = instance.data_set().get(PIXEL_DATA).cloned();
                let needles = phi(instance.data_set());
                assert!(needles.len() > 20, "{name}: {} needles", needles.len());

                let outcome = deidentifier.apply(instance.data_set_mut()).unwrap();

                assert_no_phi(name, encoding, instance.data_set(), &needles);
                assert_eq!(
                    instance.data_set().get(PIXEL_DATA).cloned(),
                    pixels_before,
                    "{name} {encoding:?}"
                );
                assert_eq!(name == "structured_report", pixels_before.is_none());
                let after = canonicalize(&instance, &CanonOptions::new()).unwrap();
                assert_eq!(
                    after.pixels.as_ref().map(|p| p.digest),
                    before.pixels.as_ref().map(|p| p.digest),
                    "{name} {encoding:?}"
                );
                assert!(
                    outcome
                        .elements
                        .iter()
                        .any(|e| e.action == AppliedAction::UidReplaced),
                    "{name}"
                );
                let tags: Vec<Tag> = instance
                    .data_set()
                    .elements()
                    .iter()
                    .map(|e| e.tag)
                    .collect();
                assert!(tags.windows(2).all(|w| w[0] < w[1]), "{name} {encoding:?}");
            }
        }
    }
}

#[test]
fn every_file_of_a_study_gets_the_same_new_study_uid_and_patient_shift() {
    let deidentifier = Deidentifier::new(
        Profile::basic()
            .with_option(ProfileOption::RetainLongitudinalModifiedDates)
            .unwrap(),
        Secret::from_bytes(b"fixture test secret").unwrap(),
    );
    // Same seed: same study; the instances differ by their SOP Instance UID.
    let mut first = Fixture::ct_slice(5);
    let mut second = Fixture::ct_slice(5);
    first.set_attribute(
        Tag(0x0008, 0x0018),
        dicom_core::VR::UI,
        "1.2.826.0.1.3680043.10.1",
    );
    second.set_attribute(
        Tag(0x0008, 0x0018),
        dicom_core::VR::UI,
        "1.2.826.0.1.3680043.10.2",
    );
    let value = |data_set: &DataSet, tag| match &data_set.get(tag).unwrap().value {
        ElementValue::Primitive(octets) => octets.clone(),
        _ => panic!("{tag} is not a value"),
    };
    let mut results = Vec::new();
    for (fixture, encoding) in [
        (first, Encoding::ExplicitVrLittleEndian),
        (second, Encoding::ImplicitVrLittleEndian),
    ] {
        let bytes = fixture.encode(encoding, &EncodeOptions::default()).unwrap();
        let mut instance = DicomInstance::from_bytes(&bytes).unwrap();
        deidentifier.apply(instance.data_set_mut()).unwrap();
        let data_set = instance.data_set();
        results.push((
            value(data_set, Tag(0x0020, 0x000D)),
            value(data_set, Tag(0x0020, 0x000E)),
            value(data_set, Tag(0x0008, 0x0018)),
            value(data_set, Tag(0x0008, 0x0020)),
        ));
    }
    let (a, b) = (&results[0], &results[1]);
    assert_eq!(a.0, b.0, "study");
    assert_eq!(a.1, b.1, "series");
    assert_ne!(a.2, b.2, "instance");
    assert_eq!(a.3, b.3, "shifted study date");
    assert_ne!(a.3, b"20240314");
}

/// What the engine writes can be encoded and read back unchanged in every encoding (the
/// Part 10 writer refuses values it could not read back).
#[test]
fn the_result_writes_and_reads_back() {
    let deidentifier = Deidentifier::new(
        Profile::basic(),
        Secret::from_bytes(b"fixture test secret").unwrap(),
    );
    for (name, fixture, encodings) in fixtures() {
        for encoding in encodings {
            let bytes = fixture.encode(encoding, &EncodeOptions::default()).unwrap();
            let mut instance = DicomInstance::from_bytes(&bytes).unwrap();
            deidentifier.apply(instance.data_set_mut()).unwrap();
            let meta = FileMeta {
                media_storage_sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
                media_storage_sop_instance_uid: "2.25.1".into(),
                implementation_class_uid: "2.25.2".into(),
                implementation_version_name: None,
            };
            let mut written = Vec::new();
            instance.write_part10(&meta, &mut written).unwrap();
            let reread = DicomInstance::from_bytes(&written).unwrap();
            assert_eq!(
                reread.data_set(),
                instance.data_set(),
                "{name} {encoding:?}"
            );
        }
    }
}
