//! Header values for display: numbers and text read from the raw octets, for callers (the
//! forensic picture's windowing) that need a value rather than its canonical encoding.
//!
//! These are conveniences, not part of the canonical form: they are lenient (anything that
//! does not parse is `None`) where the canonicalizer is strict.

use dicom_core::{Tag, VR};

use crate::attributes::{resolved_vr, TextVr};
use crate::charset::{latin1, Charset};
use crate::read::{DataSet, ElementValue};
use crate::DicomInstance;

impl DicomInstance {
    /// The numeric values of `tag` in the data set reached by `path` (each step: a sequence
    /// tag and a 0-based item index; an empty path is the top level).
    ///
    /// Reads DS and IS (decimal text) and binary FL, FD, US, SS, UL, SL, UV, SV in the
    /// transfer syntax's byte order; the VR is the dictionary's for standard elements (so
    /// Implicit VR files read the same). `None` when the element or a step of the path is
    /// absent, the value is empty, has another VR, or any of its values does not parse to a
    /// finite number.
    pub fn numeric_values(&self, path: &[(Tag, usize)], tag: Tag) -> Option<Vec<f64>> {
        let (dataset, _) = self.reach(path)?;
        let element = dataset.get(tag)?;
        let ElementValue::Primitive(octets) = &element.value else {
            return None;
        };
        let big_endian = self.is_big_endian();
        let values = match resolved_vr(element) {
            VR::DS | VR::IS => decimal_values(octets)?,
            VR::FL => binary::<4>(octets, big_endian, |b| f64::from(f32::from_le_bytes(b)))?,
            VR::FD => binary::<8>(octets, big_endian, f64::from_le_bytes)?,
            VR::US => binary::<2>(octets, big_endian, |b| f64::from(u16::from_le_bytes(b)))?,
            VR::SS => binary::<2>(octets, big_endian, |b| f64::from(i16::from_le_bytes(b)))?,
            VR::UL => binary::<4>(octets, big_endian, |b| f64::from(u32::from_le_bytes(b)))?,
            VR::SL => binary::<4>(octets, big_endian, |b| f64::from(i32::from_le_bytes(b)))?,
            // Display values: beyond 2^53 the nearest double is good enough.
            VR::UV => binary::<8>(octets, big_endian, |b| u64::from_le_bytes(b) as f64)?,
            VR::SV => binary::<8>(octets, big_endian, |b| i64::from_le_bytes(b) as f64)?,
            _ => return None,
        };
        (!values.is_empty() && values.iter().all(|v| v.is_finite())).then_some(values)
    }

    /// The text value of `tag` (e.g. a CS) in the data set reached by `path` (as for
    /// [`DicomInstance::numeric_values`]), trailing spaces and NULs and leading spaces removed;
    /// several values stay joined by `\`.
    ///
    /// Text of SH, LO, UC, ST, LT, UT and PN is decoded with the Specific Character Set in
    /// effect (an item's own, else the enclosing data set's); other text VRs are ISO-8859-1.
    /// `None` when the element or a step of the path is absent, the value is empty after
    /// trimming, the VR is not a text VR, or the text is not valid in its character set.
    pub fn text_value(&self, path: &[(Tag, usize)], tag: Tag) -> Option<String> {
        let (dataset, charset) = self.reach(path)?;
        let element = dataset.get(tag)?;
        let ElementValue::Primitive(octets) = &element.value else {
            return None;
        };
        let vr = TextVr::of(resolved_vr(element))?;
        let text = if vr.uses_charset() {
            charset.decode(octets)?
        } else {
            latin1(octets)
        };
        let trimmed = text
            .trim_end_matches(['\0', ' '])
            .trim_start_matches(' ')
            .to_string();
        (!trimmed.is_empty()).then_some(trimmed)
    }

    /// The data set at the end of `path`, and the character set in effect there.
    fn reach(&self, path: &[(Tag, usize)]) -> Option<(&DataSet, Charset)> {
        let mut dataset = &self.dataset;
        let mut charset = Charset::in_effect(dataset, Charset::Latin1);
        for &(sequence, index) in path {
            let ElementValue::Sequence(items) = &dataset.get(sequence)?.value else {
                return None;
            };
            dataset = items.get(index)?;
            charset = Charset::in_effect(dataset, charset);
        }
        Some((dataset, charset))
    }
}

/// The character set a data set declares, else the one it inherits (C5.1.2).
/// DS / IS: backslash-separated decimal strings, each padded with spaces.
fn decimal_values(octets: &[u8]) -> Option<Vec<f64>> {
    let text = latin1(octets);
    let text = text.trim_end_matches(['\0', ' ']);
    if text.trim().is_empty() {
        return None;
    }
    text.split('\\')
        .map(|value| value.trim_matches([' ', '\0']).parse::<f64>().ok())
        .collect()
}

/// Fixed-width binary values; `None` when the length is not a multiple of the width.
fn binary<const N: usize>(
    octets: &[u8],
    big_endian: bool,
    from_le: impl Fn([u8; N]) -> f64,
) -> Option<Vec<f64>> {
    if octets.len() % N != 0 {
        return None;
    }
    octets
        .chunks_exact(N)
        .map(|chunk| {
            let mut bytes: [u8; N] = chunk.try_into().ok()?;
            if big_endian {
                bytes.reverse();
            }
            Some(from_le(bytes))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap is a failed test
mod tests {
    use scanseal_fixtures::{tags, Element, EncodeOptions, Encoding, Fixture, ImageSpec, Item};
    use scanseal_fixtures::{Value as FixtureValue, VR as FixtureVr};

    use super::*;

    fn text(tag: Tag, vr: FixtureVr, value: &str) -> Element {
        Element::text(tag, vr, value)
    }

    /// A CT fixture with functional groups: shared rescale and window, and two per-frame items
    /// whose values differ, so that an item index that is not honoured shows.
    fn fixture() -> Fixture {
        let mut fixture = Fixture::new(ImageSpec::ct(4, 4).frames(2), 1);
        fixture.set_attribute(tags::REFERENCE_PIXEL_X0, FixtureVr::SL, -7i32);
        fixture.set_attribute(
            tags::DATA_POINT_ROWS,
            FixtureVr::UL,
            FixtureValue::U32(vec![3, 70_000]),
        );
        fixture.set_attribute(tags::SLICE_LOCATION, FixtureVr::DS, " 1e2\\-0.5 ");
        fixture.set_attribute(tags::SPACING_BETWEEN_SLICES, FixtureVr::DS, "abc");
        fixture.set_attribute(tags::STUDY_ID, FixtureVr::SH, "");
        let shared: Item = vec![
            Element::sequence(
                tags::FRAME_VOILUT_SEQUENCE,
                vec![vec![
                    text(tags::WINDOW_CENTER, FixtureVr::DS, "50\\60"),
                    text(tags::WINDOW_WIDTH, FixtureVr::DS, "350"),
                    text(tags::VOILUT_FUNCTION, FixtureVr::CS, "SIGMOID"),
                ]],
            ),
            Element::sequence(
                tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                vec![vec![
                    text(tags::RESCALE_INTERCEPT, FixtureVr::DS, "-1024"),
                    text(tags::RESCALE_SLOPE, FixtureVr::DS, "2.5"),
                    text(tags::RESCALE_TYPE, FixtureVr::LO, "HU"),
                ]],
            ),
        ];
        let per_frame = |slope: &str| -> Item {
            vec![Element::sequence(
                tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                vec![vec![
                    text(tags::RESCALE_INTERCEPT, FixtureVr::DS, "0"),
                    text(tags::RESCALE_SLOPE, FixtureVr::DS, slope),
                ]],
            )]
        };
        fixture.insert_attribute(Element::sequence(
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            vec![shared],
        ));
        fixture.insert_attribute(Element::sequence(
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            vec![per_frame("3"), per_frame("4")],
        ));
        fixture
    }

    fn read(encoding: Encoding) -> DicomInstance {
        let bytes = fixture()
            .encode(encoding, &EncodeOptions::default())
            .unwrap();
        DicomInstance::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn numeric_values_at_the_top_level_in_every_byte_order() {
        for encoding in [
            Encoding::ExplicitVrLittleEndian,
            Encoding::ImplicitVrLittleEndian,
            Encoding::ExplicitVrBigEndian,
            Encoding::DeflatedExplicitVrLittleEndian,
        ] {
            let instance = read(encoding);
            let numbers = |tag| instance.numeric_values(&[], tag);
            assert_eq!(
                numbers(tags::WINDOW_CENTER),
                Some(vec![40.0]),
                "{encoding:?}"
            );
            assert_eq!(
                numbers(tags::IMAGE_POSITION_PATIENT),
                Some(vec![-125.0, -125.0, -42.5]),
                "{encoding:?}"
            );
            assert_eq!(numbers(tags::SLICE_LOCATION), Some(vec![100.0, -0.5]));
            assert_eq!(numbers(tags::NUMBER_OF_FRAMES), Some(vec![2.0]), "IS");
            assert_eq!(
                numbers(tags::EXAMINED_BODY_THICKNESS),
                Some(vec![212.5]),
                "FL"
            );
            assert_eq!(
                numbers(tags::WATER_EQUIVALENT_DIAMETER),
                Some(vec![301.25]),
                "FD"
            );
            assert_eq!(numbers(tags::ROWS), Some(vec![4.0]), "US {encoding:?}");
            assert_eq!(numbers(tags::REFERENCE_PIXEL_X0), Some(vec![-7.0]), "SL");
            assert_eq!(
                numbers(tags::DATA_POINT_ROWS),
                Some(vec![3.0, 70_000.0]),
                "UL"
            );
            // Absent, unparsable, empty, not numeric.
            assert_eq!(numbers(tags::WINDOW_CENTER_WIDTH_EXPLANATION), None);
            assert_eq!(numbers(tags::SPACING_BETWEEN_SLICES), None);
            assert_eq!(numbers(tags::STUDY_ID), None);
            assert_eq!(numbers(tags::BODY_PART_EXAMINED), None);
        }
    }

    #[test]
    fn values_in_nested_items_follow_the_path() {
        for encoding in [
            Encoding::ExplicitVrLittleEndian,
            Encoding::ImplicitVrLittleEndian,
        ] {
            let instance = read(encoding);
            let shared = |sequence| [(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, 0), (sequence, 0)];
            let voi = shared(tags::FRAME_VOILUT_SEQUENCE);
            assert_eq!(
                instance.numeric_values(&voi, tags::WINDOW_CENTER),
                Some(vec![50.0, 60.0])
            );
            assert_eq!(
                instance.text_value(&voi, tags::VOILUT_FUNCTION).as_deref(),
                Some("SIGMOID")
            );
            let rescale = shared(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE);
            assert_eq!(
                instance.numeric_values(&rescale, tags::RESCALE_SLOPE),
                Some(vec![2.5])
            );
            assert_eq!(
                instance.text_value(&rescale, tags::RESCALE_TYPE).as_deref(),
                Some("HU")
            );
            for (frame, slope) in [(0, 3.0), (1, 4.0)] {
                let path = [
                    (tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, frame),
                    (tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE, 0),
                ];
                assert_eq!(
                    instance.numeric_values(&path, tags::RESCALE_SLOPE),
                    Some(vec![slope])
                );
            }
            // An item index past the end, a step through a non-sequence, a tag not there.
            let missing = [(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, 2)];
            assert_eq!(instance.numeric_values(&missing, tags::RESCALE_SLOPE), None);
            let not_sequence = [(tags::WINDOW_CENTER, 0)];
            assert_eq!(
                instance.text_value(&not_sequence, tags::VOILUT_FUNCTION),
                None
            );
            assert_eq!(instance.text_value(&voi, tags::RESCALE_TYPE), None);
        }
    }

    #[test]
    fn text_values_are_trimmed_and_none_when_empty() {
        let instance = read(Encoding::ExplicitVrBigEndian);
        assert_eq!(
            instance
                .text_value(&[], tags::BODY_PART_EXAMINED)
                .as_deref(),
            Some("KNEE")
        );
        assert_eq!(
            instance
                .text_value(&[], tags::PHOTOMETRIC_INTERPRETATION)
                .as_deref(),
            Some("MONOCHROME2")
        );
        assert_eq!(
            instance.text_value(&[], tags::IMAGE_TYPE).as_deref(),
            Some("DERIVED\\SECONDARY"),
            "several values stay joined"
        );
        assert_eq!(instance.text_value(&[], tags::STUDY_ID), None, "empty");
        assert_eq!(instance.text_value(&[], tags::ROWS), None, "not text");
        assert_eq!(
            instance.text_value(&[], tags::VOILUT_FUNCTION),
            None,
            "absent"
        );
    }
}
