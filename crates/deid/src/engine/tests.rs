//! The engine's unit tests: every action on every relevant VR, options, selectors, nesting,
//! UID mapping, date shifting and the record attributes.

use super::*;
use crate::profile::BASIC_PROFILE_CODE;
use crate::{
    DEIDENTIFICATION_METHOD, DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
    LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED, METHOD_TEXT, PATIENT_IDENTITY_REMOVED,
};

const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
const STUDY_DATE: Tag = Tag(0x0008, 0x0020);
const STUDY_TIME: Tag = Tag(0x0008, 0x0030);
const ACQUISITION_DATE_TIME: Tag = Tag(0x0008, 0x002A);
const STUDY_UID: Tag = Tag(0x0020, 0x000D);
const SOP_UID: Tag = Tag(0x0008, 0x0018);
const SOP_CLASS_UID: Tag = Tag(0x0008, 0x0016);
const INSTITUTION_NAME: Tag = Tag(0x0008, 0x0080);
const INSTITUTION_CODES: Tag = Tag(0x0008, 0x0082);
const STUDY_DESCRIPTION: Tag = Tag(0x0008, 0x1030);
const PROCEDURE_CODES: Tag = Tag(0x0008, 0x1032); // not listed
const REFERENCED_IMAGES: Tag = Tag(0x0008, 0x1140); // X/Z/U*
const REFERENCED_SOP_UID: Tag = Tag(0x0008, 0x1155);
const CONTENT_SEQUENCE: Tag = Tag(0x0040, 0xA730); // D; clean-structured-content C
const TEXT_VALUE: Tag = Tag(0x0040, 0xA160); // not listed
const DATE: Tag = Tag(0x0040, 0xA121); // D
const CODE_VALUE: Tag = Tag(0x0008, 0x0100);
const CODE_MEANING: Tag = Tag(0x0008, 0x0104);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

fn secret() -> Secret {
    Secret::from_bytes(b"unit test secret, not for use").unwrap()
}

fn deid(options: &[ProfileOption]) -> Deidentifier {
    let profile = Profile::basic()
        .with_options(options.iter().copied())
        .unwrap();
    Deidentifier::new(profile, secret())
}

fn prim(tag: Tag, vr: VR, octets: &[u8]) -> Element {
    Element {
        tag,
        vr,
        value: ElementValue::Primitive(octets.to_vec()),
    }
}

fn seq(tag: Tag, items: Vec<Vec<Element>>) -> Element {
    Element {
        tag,
        vr: VR::SQ,
        value: ElementValue::Sequence(items.into_iter().map(DataSet::from_elements).collect()),
    }
}

fn data_set(elements: Vec<Element>) -> DataSet {
    DataSet::from_elements(elements)
}

/// The octets of a top-level primitive element.
fn octets(data_set: &DataSet, tag: Tag) -> Option<Vec<u8>> {
    match &data_set.get(tag)?.value {
        ElementValue::Primitive(octets) => Some(octets.clone()),
        _ => None,
    }
}

fn items(data_set: &DataSet, tag: Tag) -> Vec<DataSet> {
    match &data_set.get(tag).unwrap().value {
        ElementValue::Sequence(items) => items.clone(),
        other => panic!("{tag} is not a sequence: {other:?}"),
    }
}

fn action(outcome: &Outcome, tag: Tag) -> AppliedAction {
    outcome
        .elements
        .iter()
        .find(|e| e.tag == tag)
        .unwrap_or_else(|| panic!("no outcome for {tag}"))
        .action
}

/// Applies `deidentifier` to a data set of `elements`; the data set and the outcome.
fn run(deidentifier: &Deidentifier, elements: Vec<Element>) -> (DataSet, Outcome) {
    let mut data_set = data_set(elements);
    let outcome = deidentifier.apply(&mut data_set).unwrap();
    (data_set, outcome)
}

fn padded_uid(uid: &str) -> Vec<u8> {
    values::padded(VR::UI, uid.as_bytes().to_vec())
}

// ---- actions on every VR ----

#[test]
fn dummy_on_every_vr_is_exact() {
    use VR::*;
    let cases: &[(VR, &[u8])] = &[
        (AE, b"ANONYMIZED"),
        (CS, b"ANONYMIZED"),
        (LO, b"ANONYMIZED"),
        (LT, b"ANONYMIZED"),
        (PN, b"ANONYMIZED"),
        (SH, b"ANONYMIZED"),
        (ST, b"ANONYMIZED"),
        (UC, b"ANONYMIZED"),
        (UT, b"ANONYMIZED"),
        (DA, b"19000101"),
        (TM, b"000000"),
        (DT, b"19000101000000"),
        (AS, b"000D"),
        (DS, b"0 "),
        (IS, b"0 "),
        (UR, b"urn:uuid:00000000-0000-0000-0000-000000000000 "),
        (US, &[0, 0]),
        (SS, &[0, 0]),
        (UL, &[0, 0, 0, 0]),
        (SL, &[0, 0, 0, 0]),
        (FL, &[0, 0, 0, 0]),
        (AT, &[0, 0, 0, 0]),
        (FD, &[0; 8]),
        (SV, &[0; 8]),
        (UV, &[0; 8]),
        (OB, &[0, 0]),
        (OW, &[0, 0]),
        (OF, &[0; 4]),
        (OL, &[0; 4]),
        (OD, &[0; 8]),
        (OV, &[0; 8]),
    ];
    let deidentifier = deid(&[]);
    for (vr, expected) in cases {
        // (0040,A121) Date is `D`; the engine goes by the element's VR.
        let (out, outcome) = run(&deidentifier, vec![prim(DATE, *vr, b"secret value 1234")]);
        assert_eq!(octets(&out, DATE).as_deref(), Some(*expected), "{vr:?}");
        assert_eq!(out.get(DATE).unwrap().vr, *vr);
        assert_eq!(action(&outcome, DATE), AppliedAction::Dummy, "{vr:?}");
    }
}

#[test]
fn dummy_of_a_standard_element_read_as_un_uses_the_dictionary_vr() {
    let (out, outcome) = run(
        &deid(&[]),
        vec![prim(INSTITUTION_NAME, VR::UN, b"General Hospital")],
    );
    let element = out.get(INSTITUTION_NAME).unwrap();
    assert_eq!(element.vr, VR::LO);
    assert_eq!(
        element.value,
        ElementValue::Primitive(b"ANONYMIZED".to_vec())
    );
    assert_eq!(action(&outcome, INSTITUTION_NAME), AppliedAction::Dummy);
}

#[test]
fn zero_on_values_and_sequences() {
    let deidentifier = deid(&[]);
    for vr in [VR::PN, VR::LO, VR::DA, VR::OB, VR::US] {
        let (out, outcome) = run(&deidentifier, vec![prim(PATIENT_NAME, vr, b"Doe^Jane")]);
        assert_eq!(octets(&out, PATIENT_NAME), Some(Vec::new()), "{vr:?}");
        assert_eq!(action(&outcome, PATIENT_NAME), AppliedAction::Emptied);
    }
    // Referenced Study Sequence (0008,1110) is X/Z: Z, no items.
    let referenced_study = Tag(0x0008, 0x1110);
    let (out, outcome) = run(
        &deidentifier,
        vec![seq(
            referenced_study,
            vec![vec![prim(REFERENCED_SOP_UID, VR::UI, b"1.2.3\0")]],
        )],
    );
    assert!(items(&out, referenced_study).is_empty());
    assert_eq!(action(&outcome, referenced_study), AppliedAction::Emptied);
    // An already empty value is reported as kept.
    let (_, outcome) = run(&deidentifier, vec![prim(PATIENT_NAME, VR::PN, b"")]);
    assert_eq!(action(&outcome, PATIENT_NAME), AppliedAction::Kept);
}

#[test]
fn remove() {
    let (out, outcome) = run(
        &deid(&[]),
        vec![
            prim(STUDY_DESCRIPTION, VR::LO, b"CT KNEE Dr Smith"),
            prim(Tag(0x0010, 0x1040), VR::LO, b"1 Main Street"),
        ],
    );
    assert!(out.get(STUDY_DESCRIPTION).is_none());
    assert!(out.get(Tag(0x0010, 0x1040)).is_none());
    assert_eq!(action(&outcome, STUDY_DESCRIPTION), AppliedAction::Removed);
    assert_eq!(outcome.elements.len(), 2);
}

#[test]
fn combinations_resolve_deterministically() {
    let (out, outcome) = run(
        &deid(&[]),
        vec![
            prim(INSTITUTION_NAME, VR::LO, b"General Hospital"), // X/Z/D → D
            prim(Tag(0x0010, 0x0020), VR::LO, b"SYN-000123"),    // Z/D → D
            prim(Tag(0x0010, 0x2203), VR::CS, b"ALTERED "),      // X/Z → Z
            prim(Tag(0x0018, 0x1400), VR::LO, b"proc desc "),    // X/D → D
        ],
    );
    assert_eq!(octets(&out, INSTITUTION_NAME).unwrap(), b"ANONYMIZED");
    assert_eq!(octets(&out, Tag(0x0010, 0x0020)).unwrap(), b"ANONYMIZED");
    assert_eq!(octets(&out, Tag(0x0010, 0x2203)).unwrap(), b"");
    assert_eq!(octets(&out, Tag(0x0018, 0x1400)).unwrap(), b"ANONYMIZED");
    assert_eq!(
        action(&outcome, Tag(0x0010, 0x2203)),
        AppliedAction::Emptied
    );
}

#[test]
fn uid_replacement_single_multi_and_dummy() {
    let deidentifier = deid(&[]);
    let failed = Tag(0x0008, 0x0058); // U, 1-n
    let annotation_group = Tag(0x006A, 0x0003); // D on a UI
    let (out, outcome) = run(
        &deidentifier,
        vec![
            prim(SOP_CLASS_UID, VR::UI, b"1.2.840.10008.5.1.4.1.1.2\0"),
            prim(SOP_UID, VR::UI, b"1.2.3.4.5\0"),
            prim(failed, VR::UI, b"1.2.3\\4.5.6\0"),
            prim(annotation_group, VR::UI, b"9.8.7\0"),
        ],
    );
    assert_eq!(
        octets(&out, SOP_UID).unwrap(),
        padded_uid(&deidentifier.map_uid("1.2.3.4.5"))
    );
    let expected = format!(
        "{}\\{}",
        deidentifier.map_uid("1.2.3"),
        deidentifier.map_uid("4.5.6")
    );
    assert_eq!(octets(&out, failed).unwrap(), padded_uid(&expected));
    assert_eq!(
        octets(&out, annotation_group).unwrap(),
        padded_uid(&deidentifier.map_uid("9.8.7"))
    );
    // The SOP Class UID is not listed.
    assert_eq!(
        octets(&out, SOP_CLASS_UID).unwrap(),
        b"1.2.840.10008.5.1.4.1.1.2\0"
    );
    assert_eq!(action(&outcome, SOP_UID), AppliedAction::UidReplaced);
    assert_eq!(action(&outcome, failed), AppliedAction::UidReplaced);
    assert_eq!(
        action(&outcome, annotation_group),
        AppliedAction::UidReplaced
    );
    assert_eq!(action(&outcome, SOP_CLASS_UID), AppliedAction::Kept);

    // U on an empty UID: nothing to replace; D on an empty UID: a value is required.
    let (out, outcome) = run(
        &deidentifier,
        vec![
            prim(SOP_UID, VR::UI, b""),
            prim(annotation_group, VR::UI, b""),
        ],
    );
    assert_eq!(octets(&out, SOP_UID).unwrap(), b"");
    assert_eq!(action(&outcome, SOP_UID), AppliedAction::Kept);
    assert_eq!(
        octets(&out, annotation_group).unwrap(),
        padded_uid(&deidentifier.map_uid(""))
    );
}

#[test]
fn referenced_image_sequence_keeps_its_structure_with_new_uids() {
    let deidentifier = deid(&[]);
    let (out, outcome) = run(
        &deidentifier,
        vec![seq(
            REFERENCED_IMAGES,
            vec![vec![
                prim(Tag(0x0008, 0x1150), VR::UI, b"1.2.840.10008.5.1.4.1.1.2\0"),
                prim(REFERENCED_SOP_UID, VR::UI, b"1.2.3.9\0"),
            ]],
        )],
    );
    let item = &items(&out, REFERENCED_IMAGES)[0];
    assert_eq!(
        octets(item, REFERENCED_SOP_UID).unwrap(),
        padded_uid(&deidentifier.map_uid("1.2.3.9"))
    );
    assert_eq!(
        octets(item, Tag(0x0008, 0x1150)).unwrap(),
        b"1.2.840.10008.5.1.4.1.1.2\0"
    );
    assert_eq!(
        action(&outcome, REFERENCED_IMAGES),
        AppliedAction::ItemsDeidentified
    );
}

#[test]
fn retain_uids_keeps_uids_and_their_sequences() {
    let elements = || {
        vec![
            prim(STUDY_UID, VR::UI, b"1.2.3.4\0"),
            seq(
                REFERENCED_IMAGES,
                vec![vec![prim(REFERENCED_SOP_UID, VR::UI, b"1.2.3.9\0")]],
            ),
        ]
    };
    let (out, outcome) = run(&deid(&[ProfileOption::RetainUids]), elements());
    assert_eq!(octets(&out, STUDY_UID).unwrap(), b"1.2.3.4\0");
    assert_eq!(action(&outcome, STUDY_UID), AppliedAction::Kept);
    assert_eq!(action(&outcome, REFERENCED_IMAGES), AppliedAction::Kept);
    assert_eq!(
        octets(&items(&out, REFERENCED_IMAGES)[0], REFERENCED_SOP_UID).unwrap(),
        b"1.2.3.9\0"
    );
    let without = deid(&[]);
    let (out, _) = run(&without, elements());
    assert_eq!(
        octets(&out, STUDY_UID).unwrap(),
        padded_uid(&without.map_uid("1.2.3.4"))
    );
}

#[test]
fn clean_descriptors_empties_text_and_removes_binary() {
    let maker_note = Tag(0x0016, 0x002B); // OB, clean-descriptors C
    let elements = || {
        vec![
            prim(STUDY_DESCRIPTION, VR::LO, b"CT KNEE Dr Smith"),
            prim(maker_note, VR::OB, b"ACME\0\x01"),
        ]
    };
    let (out, outcome) = run(&deid(&[ProfileOption::CleanDescriptors]), elements());
    assert_eq!(octets(&out, STUDY_DESCRIPTION).unwrap(), b"");
    assert_eq!(action(&outcome, STUDY_DESCRIPTION), AppliedAction::Cleaned);
    assert!(out.get(maker_note).is_none());
    assert_eq!(action(&outcome, maker_note), AppliedAction::Removed);
    // Without the option both are removed (X).
    let (out, _) = run(&deid(&[]), elements());
    assert!(out.get(STUDY_DESCRIPTION).is_none());
}

#[test]
fn modified_dates_shift_dates_keep_times_remove_binary_timestamps() {
    let deidentifier = deid(&[ProfileOption::RetainLongitudinalModifiedDates]);
    let certified = Tag(0x0400, 0x0310); // OB, modified dates C
    let timezone = Tag(0x0008, 0x0201); // SH, modified dates C
    let patient_id = b"SYN-000123";
    let days = deidentifier.date_shift_days(patient_id);
    assert!((1..=MAX_DATE_SHIFT_DAYS).contains(&days));
    let (out, outcome) = run(
        &deidentifier,
        vec![
            prim(STUDY_DATE, VR::DA, b"20240314"),
            prim(STUDY_TIME, VR::TM, b"101530"),
            prim(
                ACQUISITION_DATE_TIME,
                VR::DT,
                b"20240314101532.250000+0100 ",
            ),
            prim(timezone, VR::SH, b"+0100 "),
            prim(Tag(0x0010, 0x0020), VR::LO, patient_id),
            prim(certified, VR::OB, &[1, 2, 3, 4]),
        ],
    );
    let expected = time::Date::from_calendar_date(2024, time::Month::March, 14)
        .unwrap()
        .checked_sub(time::Duration::days(i64::from(days)))
        .unwrap();
    let ymd = format!(
        "{:04}{:02}{:02}",
        expected.year(),
        u8::from(expected.month()),
        expected.day()
    );
    assert_eq!(octets(&out, STUDY_DATE).unwrap(), ymd.as_bytes());
    assert_eq!(
        octets(&out, ACQUISITION_DATE_TIME).unwrap(),
        format!("{ymd}101532.250000+0100").as_bytes()
    );
    assert_eq!(octets(&out, STUDY_TIME).unwrap(), b"101530");
    assert_eq!(octets(&out, timezone).unwrap(), b"+0100 ");
    assert!(out.get(certified).is_none());
    assert_eq!(action(&outcome, STUDY_DATE), AppliedAction::DatesShifted);
    assert_eq!(
        action(&outcome, ACQUISITION_DATE_TIME),
        AppliedAction::DatesShifted
    );
    assert_eq!(action(&outcome, STUDY_TIME), AppliedAction::Kept);
    assert_eq!(action(&outcome, certified), AppliedAction::Removed);

    // Full dates keep them; the Basic Profile empties the Study Date (Z).
    let (out, _) = run(
        &deid(&[ProfileOption::RetainLongitudinalFullDates]),
        vec![prim(STUDY_DATE, VR::DA, b"20240314")],
    );
    assert_eq!(octets(&out, STUDY_DATE).unwrap(), b"20240314");
    let (out, _) = run(&deid(&[]), vec![prim(STUDY_DATE, VR::DA, b"20240314")]);
    assert_eq!(octets(&out, STUDY_DATE).unwrap(), b"");
}

#[test]
fn one_patient_one_shift_and_different_patients_differ() {
    let deidentifier = deid(&[ProfileOption::RetainLongitudinalModifiedDates]);
    let shift_of = |patient: &[u8]| {
        let (out, _) = run(
            &deidentifier,
            vec![
                prim(STUDY_DATE, VR::DA, b"20240314"),
                prim(Tag(0x0010, 0x0020), VR::LO, patient),
            ],
        );
        octets(&out, STUDY_DATE).unwrap()
    };
    assert_eq!(shift_of(b"PAT-1"), shift_of(b"PAT-1 "));
    assert_eq!(
        deidentifier.date_shift_days(b"PAT-1"),
        deidentifier.date_shift_days(b" PAT-1\0")
    );
    assert_ne!(
        deidentifier.date_shift_days(b"PAT-1"),
        deidentifier.date_shift_days(b"PAT-2")
    );
    let other = Deidentifier::new(
        deidentifier.profile().clone(),
        Secret::from_bytes(b"another secret entirely").unwrap(),
    );
    assert_ne!(
        deidentifier.date_shift_days(b"PAT-1"),
        other.date_shift_days(b"PAT-1")
    );
    // Every shift is in range and gives a valid date.
    for n in 0..200u32 {
        let days = deidentifier.date_shift_days(format!("P{n}").as_bytes());
        assert!((1..=MAX_DATE_SHIFT_DAYS).contains(&days));
    }
}

// ---- selectors ----

#[test]
fn overlays_and_curves() {
    let overlay_data = Tag(0x6002, 0x3000);
    let overlay_comments = Tag(0x6002, 0x4000);
    let overlay_rows = Tag(0x6002, 0x0010); // not listed
    let curve = Tag(0x5000, 0x3000);
    let elements = || {
        vec![
            prim(curve, VR::OB, &[1, 2]),
            prim(overlay_rows, VR::US, &[0, 2]),
            prim(overlay_data, VR::OW, &[0xFF, 0xFF]),
            prim(overlay_comments, VR::LT, b"Jane Doe"),
        ]
    };
    let (out, outcome) = run(&deid(&[]), elements());
    assert!(out.get(overlay_data).is_none());
    assert!(out.get(overlay_comments).is_none());
    assert!(out.get(curve).is_none());
    assert_eq!(octets(&out, overlay_rows).unwrap(), [0, 2]);
    assert_eq!(action(&outcome, overlay_rows), AppliedAction::Kept);

    let (out, outcome) = run(&deid(&[ProfileOption::CleanGraphics]), elements());
    assert!(out.get(overlay_data).is_none());
    assert_eq!(octets(&out, overlay_comments).unwrap(), b"");
    assert_eq!(action(&outcome, overlay_comments), AppliedAction::Cleaned);
    assert!(out.get(curve).is_none());
}

fn private_elements() -> Vec<Element> {
    vec![
        prim(Tag(0x0009, 0x0010), VR::LO, b"ACME 1.0"),
        prim(Tag(0x0009, 0x0011), VR::LO, b"OTHER VENDOR"),
        prim(Tag(0x0009, 0x0012), VR::LO, b"NUMBERS "),
        prim(Tag(0x0009, 0x1001), VR::LO, b"Jane Doe's kernel"),
        prim(Tag(0x0009, 0x1002), VR::US, &[42, 0]),
        seq(
            Tag(0x0009, 0x1003),
            vec![vec![
                prim(CODE_VALUE, VR::SH, b"ACME-7"),
                prim(PATIENT_NAME, VR::PN, b"Doe^Jane"),
                prim(Tag(0x0019, 0x0010), VR::LO, b"INNER "),
                prim(Tag(0x0019, 0x1001), VR::FD, &[0; 8]),
                prim(Tag(0x0019, 0x1002), VR::UN, b"Doe"),
            ]],
        ),
        prim(Tag(0x0009, 0x1101), VR::LO, b"other vendor note"),
        prim(Tag(0x0009, 0x1201), VR::DS, b"1.5\\-2E3 "),
        prim(Tag(0x0009, 0x1202), VR::DS, b"Doe "),
        prim(Tag(0x0011, 0x1001), VR::US, &[1, 0]), // no creator
    ]
}

#[test]
fn private_elements_are_removed_under_the_basic_profile() {
    let (out, outcome) = run(&deid(&[]), private_elements());
    assert!(out.elements().iter().all(|e| e.tag.0 % 2 == 0));
    // Only the record attributes remain.
    assert_eq!(out.elements().len(), 4);
    assert!(outcome
        .elements
        .iter()
        .all(|e| e.action == AppliedAction::Removed));
}

#[test]
fn safe_private_keeps_numbers_and_the_creators_they_need() {
    let (out, outcome) = run(
        &deid(&[ProfileOption::RetainSafePrivate]),
        private_elements(),
    );
    let kept: Vec<Tag> = out
        .elements()
        .iter()
        .map(|e| e.tag)
        .filter(|t| t.0 % 2 == 1)
        .collect();
    assert_eq!(
        kept,
        [
            Tag(0x0009, 0x0010),
            Tag(0x0009, 0x0012),
            Tag(0x0009, 0x1002),
            Tag(0x0009, 0x1003),
            Tag(0x0009, 0x1201),
        ]
    );
    // The OTHER VENDOR block kept nothing, so its creator went too.
    assert_eq!(
        action(&outcome, Tag(0x0009, 0x0011)),
        AppliedAction::Removed
    );
    assert_eq!(action(&outcome, Tag(0x0009, 0x0010)), AppliedAction::Kept);
    assert_eq!(
        action(&outcome, Tag(0x0011, 0x1001)),
        AppliedAction::Removed
    );
    // The private sequence's item was processed by the same rules.
    let item = &items(&out, Tag(0x0009, 0x1003))[0];
    let inner: Vec<Tag> = item.elements().iter().map(|e| e.tag).collect();
    assert_eq!(
        inner,
        [
            CODE_VALUE,
            PATIENT_NAME,
            Tag(0x0019, 0x0010),
            Tag(0x0019, 0x1001)
        ]
    );
    assert_eq!(octets(item, PATIENT_NAME).unwrap(), b"");
    assert_eq!(
        action(&outcome, Tag(0x0009, 0x1003)),
        AppliedAction::ItemsDeidentified
    );
}

// ---- nesting ----

#[test]
fn phi_two_levels_deep_is_handled() {
    let deidentifier = deid(&[]);
    let (out, outcome) = run(
        &deidentifier,
        vec![seq(
            PROCEDURE_CODES,
            vec![vec![
                prim(CODE_VALUE, VR::SH, b"RPID2603"),
                seq(
                    Tag(0x0008, 0x1115), // not listed either
                    vec![vec![
                        prim(PATIENT_NAME, VR::PN, b"Doe^Jane"),
                        prim(STUDY_UID, VR::UI, b"1.2.3.4\0"),
                        prim(Tag(0x0010, 0x1040), VR::LO, b"1 Main Street"),
                    ]],
                ),
            ]],
        )],
    );
    let outer = &items(&out, PROCEDURE_CODES)[0];
    assert_eq!(octets(outer, CODE_VALUE).unwrap(), b"RPID2603");
    let inner = &items(outer, Tag(0x0008, 0x1115))[0];
    assert_eq!(octets(inner, PATIENT_NAME).unwrap(), b"");
    assert_eq!(
        octets(inner, STUDY_UID).unwrap(),
        padded_uid(&deidentifier.map_uid("1.2.3.4"))
    );
    assert!(inner.get(Tag(0x0010, 0x1040)).is_none());
    assert_eq!(
        action(&outcome, PROCEDURE_CODES),
        AppliedAction::ItemsDeidentified
    );
    // A sequence the table leaves alone is reported as kept.
    let (_, outcome) = run(
        &deidentifier,
        vec![seq(
            PROCEDURE_CODES,
            vec![vec![prim(CODE_VALUE, VR::SH, b"RPID2603")]],
        )],
    );
    assert_eq!(action(&outcome, PROCEDURE_CODES), AppliedAction::Kept);
}

#[test]
fn group_lengths_are_removed_at_every_level() {
    let (out, outcome) = run(
        &deid(&[]),
        vec![
            prim(Tag(0x0008, 0x0000), VR::UL, &[4, 0, 0, 0]),
            prim(Tag(0x0009, 0x0000), VR::UL, &[4, 0, 0, 0]),
            seq(
                PROCEDURE_CODES,
                vec![vec![
                    prim(Tag(0x0008, 0x0000), VR::UL, &[4, 0, 0, 0]),
                    prim(CODE_VALUE, VR::SH, b"RPID2603"),
                ]],
            ),
        ],
    );
    assert!(out.get(Tag(0x0008, 0x0000)).is_none());
    assert!(out.get(Tag(0x0009, 0x0000)).is_none());
    let item = &items(&out, PROCEDURE_CODES)[0];
    assert!(item.get(Tag(0x0008, 0x0000)).is_none());
    assert_eq!(
        action(&outcome, Tag(0x0008, 0x0000)),
        AppliedAction::Removed
    );
    assert_eq!(
        action(&outcome, PROCEDURE_CODES),
        AppliedAction::ItemsDeidentified
    );
}

fn institution_codes() -> Element {
    seq(
        INSTITUTION_CODES,
        vec![vec![
            prim(CODE_VALUE, VR::SH, b"GH-01 "),
            prim(Tag(0x0008, 0x0102), VR::SH, b"99LOCAL "),
            prim(CODE_MEANING, VR::LO, b"General Hospital"),
            prim(Tag(0x0008, 0x010C), VR::UI, b"1.2.3.77\0"),
        ]],
    )
}

#[test]
fn dummy_on_a_sequence_replaces_every_unlisted_value_below_it() {
    let (out, outcome) = run(&deid(&[]), vec![institution_codes()]);
    let item = &items(&out, INSTITUTION_CODES)[0];
    assert_eq!(octets(item, CODE_VALUE).unwrap(), b"ANONYMIZED");
    assert_eq!(octets(item, Tag(0x0008, 0x0102)).unwrap(), b"ANONYMIZED");
    assert_eq!(octets(item, CODE_MEANING).unwrap(), b"ANONYMIZED");
    // An unlisted UID (Coding Scheme UID) is structural: kept.
    assert_eq!(octets(item, Tag(0x0008, 0x010C)).unwrap(), b"1.2.3.77\0");
    assert_eq!(action(&outcome, INSTITUTION_CODES), AppliedAction::Dummy);

    // retain-institution-identity keeps the sequence (K).
    let (out, outcome) = run(
        &deid(&[ProfileOption::RetainInstitutionIdentity]),
        vec![institution_codes()],
    );
    let item = &items(&out, INSTITUTION_CODES)[0];
    assert_eq!(octets(item, CODE_MEANING).unwrap(), b"General Hospital");
    assert_eq!(action(&outcome, INSTITUTION_CODES), AppliedAction::Kept);
}

fn content() -> Element {
    seq(
        CONTENT_SEQUENCE,
        vec![vec![
            prim(Tag(0x0040, 0xA010), VR::CS, b"CONTAINS"),
            prim(Tag(0x0040, 0xA040), VR::CS, b"TEXT"),
            prim(DATE, VR::DA, b"20240314"),
            seq(
                Tag(0x0040, 0xA043),
                vec![vec![prim(CODE_MEANING, VR::LO, b"Finding ")]],
            ),
            prim(
                TEXT_VALUE,
                VR::UT,
                b"Small effusion; reviewed by Dr. Mueller",
            ),
        ]],
    )
}

#[test]
fn sr_content_is_dummied_by_the_basic_profile_and_recursed_when_cleaned() {
    let (out, outcome) = run(&deid(&[]), vec![content()]);
    let item = &items(&out, CONTENT_SEQUENCE)[0];
    assert_eq!(octets(item, TEXT_VALUE).unwrap(), b"ANONYMIZED");
    assert_eq!(octets(item, DATE).unwrap(), b"19000101");
    let concept = &items(item, Tag(0x0040, 0xA043))[0];
    assert_eq!(octets(concept, CODE_MEANING).unwrap(), b"ANONYMIZED");
    assert_eq!(action(&outcome, CONTENT_SEQUENCE), AppliedAction::Dummy);

    // clean-structured-content: the items are processed by Table E.1-1 only (documented
    // limit: Text Value is not listed, so it stays).
    let (out, outcome) = run(
        &deid(&[ProfileOption::CleanStructuredContent]),
        vec![content()],
    );
    let item = &items(&out, CONTENT_SEQUENCE)[0];
    assert_eq!(
        octets(item, TEXT_VALUE).unwrap(),
        b"Small effusion; reviewed by Dr. Mueller"
    );
    assert_eq!(octets(item, DATE).unwrap(), b"19000101");
    assert_eq!(
        action(&outcome, CONTENT_SEQUENCE),
        AppliedAction::ItemsDeidentified
    );
}

#[test]
fn sequences_read_as_un_cannot_be_inspected() {
    let (out, outcome) = run(
        &deid(&[]),
        vec![
            prim(REFERENCED_IMAGES, VR::UN, &[0xFE, 0xFF, 0x00, 0xE0]),
            prim(Tag(0x0008, 0x1110), VR::UN, &[0xFE, 0xFF, 0x00, 0xE0]),
            prim(PROCEDURE_CODES, VR::UN, &[0xFE, 0xFF, 0x00, 0xE0]),
        ],
    );
    assert!(out.get(REFERENCED_IMAGES).is_none());
    assert!(out.get(PROCEDURE_CODES).is_none());
    let study = out.get(Tag(0x0008, 0x1110)).unwrap();
    assert_eq!(study.vr, VR::SQ);
    assert_eq!(study.value, ElementValue::Sequence(Vec::new()));
    assert_eq!(action(&outcome, REFERENCED_IMAGES), AppliedAction::Removed);
    assert_eq!(
        action(&outcome, Tag(0x0008, 0x1110)),
        AppliedAction::Emptied
    );
}

#[test]
fn pixel_data_is_never_touched() {
    let pixels = Element {
        tag: PIXEL_DATA,
        vr: VR::OB,
        value: ElementValue::Encapsulated(scanseal_canon::Encapsulated {
            offset_table: vec![0],
            fragments: vec![b"Doe^Jane".to_vec()],
        }),
    };
    let rows = prim(Tag(0x0028, 0x0010), VR::US, &[2, 0]);
    for options in [
        vec![],
        ProfileOption::ALL
            .into_iter()
            .filter(|o| *o != ProfileOption::RetainLongitudinalFullDates)
            .collect(),
    ] {
        let (out, outcome) = run(&deid(&options), vec![rows.clone(), pixels.clone()]);
        assert_eq!(out.get(PIXEL_DATA), Some(&pixels));
        assert_eq!(out.get(Tag(0x0028, 0x0010)), Some(&rows));
        assert_eq!(action(&outcome, PIXEL_DATA), AppliedAction::Kept);
    }
}

#[test]
fn nesting_deeper_than_the_reader_allows_is_refused() {
    let mut element = prim(CODE_VALUE, VR::SH, b"X ");
    for _ in 0..=MAX_NESTING {
        element = seq(PROCEDURE_CODES, vec![vec![element]]);
    }
    let mut data_set = data_set(vec![element]);
    let err = deid(&[]).apply(&mut data_set).unwrap_err();
    assert!(matches!(
        err,
        DeidError::NestingTooDeep { limit, .. } if limit == MAX_NESTING
    ));
}

// ---- UIDs ----

/// PS3.5 §9.1: digits and dots, components without leading zeros, at most 64 characters.
fn is_valid_uid(uid: &str) -> bool {
    uid.len() <= 64
        && uid.split('.').all(|component| {
            !component.is_empty()
                && component.bytes().all(|b| b.is_ascii_digit())
                && (component == "0" || !component.starts_with('0'))
        })
}

#[test]
fn map_uid_is_a_keyed_uuid_under_2_25() {
    let a = deid(&[]);
    let b = Deidentifier::new(
        Profile::basic(),
        Secret::from_bytes(b"another secret entirely").unwrap(),
    );
    let uid = "1.2.826.0.1.3680043.8.498.12345";
    assert_eq!(a.map_uid(uid), a.map_uid(uid));
    assert_eq!(a.map_uid(uid), a.map_uid(&format!("{uid}\0")));
    assert_ne!(a.map_uid(uid), b.map_uid(uid));
    assert_ne!(a.map_uid(uid), a.map_uid("1.2.826.0.1.3680043.8.498.12346"));
    for n in 0..500 {
        let mapped = a.map_uid(&format!("1.2.3.{n}"));
        assert!(is_valid_uid(&mapped), "{mapped}");
        let value: u128 = mapped.strip_prefix("2.25.").unwrap().parse().unwrap();
        assert_eq!((value >> 76) & 0xF, 8, "version 8");
        assert_eq!((value >> 62) & 0x3, 0b10, "variant");
    }
    assert!(!is_valid_uid("2.25.012"));
}

#[test]
fn two_files_of_one_study_share_the_new_study_uid() {
    let deidentifier = deid(&[]);
    let file = |sop: &[u8]| {
        let (out, _) = run(
            &deidentifier,
            vec![
                prim(SOP_UID, VR::UI, sop),
                prim(STUDY_UID, VR::UI, b"1.2.3.4\0"),
            ],
        );
        (
            octets(&out, SOP_UID).unwrap(),
            octets(&out, STUDY_UID).unwrap(),
        )
    };
    let (sop_1, study_1) = file(b"1.2.3.4.1\0");
    let (sop_2, study_2) = file(b"1.2.3.4.2\0");
    assert_eq!(study_1, study_2);
    assert_ne!(sop_1, sop_2);
    assert_ne!(study_1, b"1.2.3.4\0");
}

// ---- recording ----

fn code_items(data_set: &DataSet) -> Vec<(String, String, String)> {
    items(data_set, DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .iter()
        .map(|item| {
            let text = |tag| {
                String::from_utf8(values::trim(&octets(item, tag).unwrap()).to_vec()).unwrap()
            };
            (
                text(CODE_VALUE),
                text(Tag(0x0008, 0x0102)),
                text(CODE_MEANING),
            )
        })
        .collect()
}

#[test]
fn the_method_is_recorded() {
    let (out, outcome) = run(
        &deid(&[
            ProfileOption::RetainUids,
            ProfileOption::RetainLongitudinalModifiedDates,
        ]),
        vec![prim(PATIENT_NAME, VR::PN, b"Doe^Jane")],
    );
    assert_eq!(octets(&out, PATIENT_IDENTITY_REMOVED).unwrap(), b"YES ");
    let method = String::from_utf8(octets(&out, DEIDENTIFICATION_METHOD).unwrap()).unwrap();
    let values: Vec<&str> = method.trim_end().split('\\').collect();
    assert_eq!(
        values,
        [
            METHOD_TEXT,
            "Retain UIDs Option",
            "Retain Longitudinal Temporal Information Modified Dates Option"
        ]
    );
    assert!(values.iter().all(|v| v.len() <= 64));
    let dcm = || "DCM".to_string();
    assert_eq!(
        code_items(&out),
        [
            (
                "113100".into(),
                dcm(),
                "Basic Application Confidentiality Profile".into()
            ),
            ("113110".into(), dcm(), "Retain UIDs Option".into()),
            (
                "113107".into(),
                dcm(),
                "Retain Longitudinal Temporal Information Modified Dates Option".into()
            ),
        ]
    );
    assert_eq!(
        octets(&out, LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).unwrap(),
        b"MODIFIED"
    );
    assert_eq!(
        outcome.added,
        [
            PATIENT_IDENTITY_REMOVED,
            DEIDENTIFICATION_METHOD,
            DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
            LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED
        ]
    );
    assert_eq!(outcome.elements.len(), 1);
    // Ascending order.
    let tags: Vec<Tag> = out.elements().iter().map(|e| e.tag).collect();
    assert!(tags.windows(2).all(|w| w[0] < w[1]));
    // The Basic Profile alone: one code, dates REMOVED.
    let (out, _) = run(&deid(&[]), vec![]);
    assert_eq!(
        code_items(&out),
        [(
            BASIC_PROFILE_CODE.0.to_string(),
            dcm(),
            BASIC_PROFILE_CODE.1.to_string()
        )]
    );
    assert_eq!(
        octets(&out, LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).unwrap(),
        b"REMOVED "
    );
    let (out, _) = run(&deid(&[ProfileOption::RetainLongitudinalFullDates]), vec![]);
    assert_eq!(
        octets(&out, LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).unwrap(),
        b"UNMODIFIED"
    );
}

#[test]
fn an_earlier_record_is_extended_not_lost() {
    let earlier = vec![
        prim(PATIENT_IDENTITY_REMOVED, VR::CS, b"NO"),
        prim(DEIDENTIFICATION_METHOD, VR::LO, b"Site tool 2.1"),
        seq(
            DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
            vec![vec![
                prim(CODE_VALUE, VR::SH, b"113100"),
                prim(Tag(0x0008, 0x0102), VR::SH, b"DCM "),
                prim(
                    CODE_MEANING,
                    VR::LO,
                    b"Basic Application Confidentiality Profile ",
                ),
            ]],
        ),
        prim(
            LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
            VR::CS,
            b"REMOVED ",
        ),
    ];
    let (out, outcome) = run(
        &deid(&[ProfileOption::RetainLongitudinalFullDates]),
        earlier,
    );
    assert_eq!(octets(&out, PATIENT_IDENTITY_REMOVED).unwrap(), b"YES ");
    let method = String::from_utf8(octets(&out, DEIDENTIFICATION_METHOD).unwrap()).unwrap();
    assert!(method.starts_with("Site tool 2.1\\scanseal "));
    let codes: Vec<String> = code_items(&out).into_iter().map(|c| c.0).collect();
    assert_eq!(codes, ["113100", "113106"]);
    // Dates removed earlier are not restored by keeping them now.
    assert_eq!(
        octets(&out, LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).unwrap(),
        b"REMOVED "
    );
    assert!(outcome.added.is_empty());
    assert_eq!(
        action(&outcome, PATIENT_IDENTITY_REMOVED),
        AppliedAction::Recorded
    );
    assert_eq!(
        action(&outcome, DEIDENTIFICATION_METHOD_CODE_SEQUENCE),
        AppliedAction::Recorded
    );
    assert_eq!(
        action(&outcome, LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED),
        AppliedAction::Kept
    );
}

#[test]
fn outcome_lists_every_input_element_in_order() {
    let input = vec![
        prim(Tag(0x0008, 0x0005), VR::CS, b"ISO_IR 100"),
        prim(SOP_UID, VR::UI, b"1.2.3\0"),
        prim(STUDY_DESCRIPTION, VR::LO, b"CT KNEE "),
        prim(Tag(0x0009, 0x0010), VR::LO, b"ACME 1.0"),
        prim(PATIENT_NAME, VR::PN, b"M\xfcller^J\xfcrgen "),
    ];
    let tags: Vec<Tag> = input.iter().map(|e| e.tag).collect();
    let (_, outcome) = run(&deid(&[]), input);
    let got: Vec<(Tag, AppliedAction)> =
        outcome.elements.iter().map(|e| (e.tag, e.action)).collect();
    assert_eq!(
        got,
        tags.into_iter()
            .zip([
                AppliedAction::Kept,
                AppliedAction::UidReplaced,
                AppliedAction::Removed,
                AppliedAction::Removed,
                AppliedAction::Emptied,
            ])
            .collect::<Vec<_>>()
    );
}
