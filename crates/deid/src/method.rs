//! Recording the de-identification in the data set (PS3.15 E.1.1 item 6, E.2, E.3.6).

use dicom_core::{Tag, VR};
use scanseal_canon::{DataSet, Element, ElementValue};

use crate::engine::{AppliedAction, ElementOutcome};
use crate::profile::{Profile, BASIC_PROFILE_CODE, CODING_SCHEME_DESIGNATOR};
use crate::values::{padded, trim};

/// Patient Identity Removed (0012,0062), CS.
pub const PATIENT_IDENTITY_REMOVED: Tag = Tag(0x0012, 0x0062);
/// De-identification Method (0012,0063), LO, 1-n.
pub const DEIDENTIFICATION_METHOD: Tag = Tag(0x0012, 0x0063);
/// De-identification Method Code Sequence (0012,0064), SQ.
pub const DEIDENTIFICATION_METHOD_CODE_SEQUENCE: Tag = Tag(0x0012, 0x0064);
/// Longitudinal Temporal Information Modified (0028,0303), CS.
pub const LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED: Tag = Tag(0x0028, 0x0303);

const CODE_VALUE: Tag = Tag(0x0008, 0x0100);
const CODING_SCHEME: Tag = Tag(0x0008, 0x0102);
const CODE_MEANING: Tag = Tag(0x0008, 0x0104);

/// The first value scanseal writes into De-identification Method (0012,0063); the code
/// meaning of each chosen option follows it.
pub const METHOD_TEXT: &str = concat!(
    "scanseal ",
    env!("CARGO_PKG_VERSION"),
    ": PS3.15 Table E.1-1 Basic Profile"
);

/// Longitudinal Temporal Information Modified's defined terms, least to most protective.
const TEMPORAL_ORDER: [&str; 3] = ["UNMODIFIED", "MODIFIED", "REMOVED"];

/// Adds or updates the record attributes at the top level of `data_set`; marks those the input
/// had as `Recorded` in `elements` (when their value changed) and returns the tags added.
pub(crate) fn record(
    profile: &Profile,
    data_set: &mut DataSet,
    elements: &mut [ElementOutcome],
) -> Vec<Tag> {
    let mut recorder = Recorder {
        data_set,
        elements,
        added: Vec::new(),
    };

    // E.1.1 item 6: "replaced or added ... with a value of YES".
    recorder.put(text(PATIENT_IDENTITY_REMOVED, VR::CS, "YES"));

    // E.1.1 item 6: a description "inserted in or added to" (0012,0063): earlier values stay.
    let mut methods = recorder.existing_values(DEIDENTIFICATION_METHOD);
    let ours = std::iter::once(METHOD_TEXT)
        .chain(profile.options().into_iter().map(|o| o.code().1))
        .map(str::to_string);
    for value in ours {
        if !methods.contains(&value) {
            methods.push(value);
        }
    }
    recorder.put(text(DEIDENTIFICATION_METHOD, VR::LO, &methods.join("\\")));

    // E.1.1 item 6: codes "added to" (0012,0064): earlier items stay, ours are appended
    // unless an item with the same code value and coding scheme is already there.
    let mut items = match recorder.data_set.get(DEIDENTIFICATION_METHOD_CODE_SEQUENCE) {
        Some(Element {
            value: ElementValue::Sequence(items),
            ..
        }) => items.clone(),
        _ => Vec::new(),
    };
    let codes =
        std::iter::once(BASIC_PROFILE_CODE).chain(profile.options().into_iter().map(|o| o.code()));
    for (value, meaning) in codes {
        let present = items.iter().any(|item| {
            item_text(item, CODE_VALUE).as_deref() == Some(value)
                && item_text(item, CODING_SCHEME).as_deref() == Some(CODING_SCHEME_DESIGNATOR)
        });
        if !present {
            items.push(code_item(value, meaning));
        }
    }
    recorder.put(Element {
        tag: DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        vr: VR::SQ,
        value: ElementValue::Sequence(items),
    });

    // E.2 / E.3.6; a value already present that is more protective stays (a date removed or
    // modified by an earlier de-identification is not restored by this one).
    let ours = profile.longitudinal_temporal_information();
    let rank = |term: &str| TEMPORAL_ORDER.iter().position(|t| *t == term);
    let temporal = recorder
        .existing_values(LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED)
        .into_iter()
        .next()
        .filter(|existing| rank(existing) > rank(ours))
        .unwrap_or_else(|| ours.to_string());
    recorder.put(text(
        LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
        VR::CS,
        &temporal,
    ));

    recorder.added
}

struct Recorder<'a> {
    data_set: &'a mut DataSet,
    elements: &'a mut [ElementOutcome],
    added: Vec<Tag>,
}

impl Recorder<'_> {
    /// The values of a top-level text element, without padding; none if absent or empty.
    fn existing_values(&self, tag: Tag) -> Vec<String> {
        match self.data_set.get(tag) {
            Some(Element {
                value: ElementValue::Primitive(octets),
                ..
            }) => trim(octets)
                .split(|b| *b == b'\\')
                .map(|v| String::from_utf8_lossy(trim(v)).into_owned())
                .filter(|v| !v.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }

    fn put(&mut self, element: Element) {
        let tag = element.tag;
        match self.data_set.get(tag) {
            Some(existing) if *existing == element => {}
            Some(_) => {
                for outcome in self.elements.iter_mut().filter(|o| o.tag == tag) {
                    outcome.action = AppliedAction::Recorded;
                }
                self.data_set.put(element);
            }
            None => {
                self.added.push(tag);
                self.data_set.put(element);
            }
        }
    }
}

fn text(tag: Tag, vr: VR, value: &str) -> Element {
    Element {
        tag,
        vr,
        value: ElementValue::Primitive(padded(vr, value.as_bytes().to_vec())),
    }
}

fn code_item(value: &str, meaning: &str) -> DataSet {
    DataSet::from_elements(vec![
        text(CODE_VALUE, VR::SH, value),
        text(CODING_SCHEME, VR::SH, CODING_SCHEME_DESIGNATOR),
        text(CODE_MEANING, VR::LO, meaning),
    ])
}

fn item_text(item: &DataSet, tag: Tag) -> Option<String> {
    match &item.get(tag)?.value {
        ElementValue::Primitive(octets) => Some(String::from_utf8_lossy(trim(octets)).into_owned()),
        _ => None,
    }
}
