//! PS3.15 Annex E, Table E.1-1, generated at build time from `data/ps3.15-table-e1-1.csv`
//! (`build.rs`), and the vocabulary of its rows: selectors and action codes.

use std::fmt;

use dicom_core::Tag;

use crate::profile::ProfileOption;

/// An action code of Table E.1-1, exactly as the table gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionCode {
    /// `X`: remove.
    X,
    /// `Z`: replace with a zero-length value.
    Z,
    /// `D`: replace with a non-zero-length dummy value consistent with the VR.
    D,
    /// `K`: keep (a sequence is still processed item by item).
    K,
    /// `C`: clean.
    C,
    /// `U`: replace the UID with one that is consistent within a set of instances.
    U,
    /// `X/Z`: X unless Z is required for IOD conformance (Type 3 versus Type 2).
    XOrZ,
    /// `X/D`: X unless D is required for IOD conformance (Type 3 versus Type 1).
    XOrD,
    /// `X/Z/D`: X unless Z or D is required for IOD conformance.
    XOrZOrD,
    /// `Z/D`: Z unless D is required for IOD conformance (Type 2 versus Type 1).
    ZOrD,
    /// `X/Z/U*`: X unless Z or replacing the contained instance UIDs is required.
    XOrZOrU,
}

impl ActionCode {
    /// The code as the table writes it (`"X/Z/U*"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionCode::X => "X",
            ActionCode::Z => "Z",
            ActionCode::D => "D",
            ActionCode::K => "K",
            ActionCode::C => "C",
            ActionCode::U => "U",
            ActionCode::XOrZ => "X/Z",
            ActionCode::XOrD => "X/D",
            ActionCode::XOrZOrD => "X/Z/D",
            ActionCode::ZOrD => "Z/D",
            ActionCode::XOrZOrU => "X/Z/U*",
        }
    }

    /// The single action scanseal takes for this code. Without IOD tables scanseal cannot tell
    /// which alternative conformance requires, so a combination resolves to its last (most
    /// preserving) alternative: the attribute stays present whenever it was, as the strictest
    /// Type would require — `X/Z` → Z, `X/D`, `Z/D`, `X/Z/D` → D, `X/Z/U*` → U.
    pub fn resolve(self) -> Action {
        match self {
            ActionCode::X => Action::Remove,
            ActionCode::Z | ActionCode::XOrZ => Action::Zero,
            ActionCode::D | ActionCode::XOrD | ActionCode::XOrZOrD | ActionCode::ZOrD => {
                Action::Dummy
            }
            ActionCode::K => Action::Keep,
            ActionCode::C => Action::Clean,
            ActionCode::U | ActionCode::XOrZOrU => Action::ReplaceUid,
        }
    }
}

impl fmt::Display for ActionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What scanseal does for an [`ActionCode`] (see [`ActionCode::resolve`] and the crate
/// documentation for the effect on each VR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Remove the element.
    Remove,
    /// Make the value zero-length (a sequence: no items).
    Zero,
    /// Replace the value with a dummy valid for the VR (a UID: the mapped UID; a sequence:
    /// the items are processed with every element the table does not list replaced by a dummy).
    Dummy,
    /// Keep the value; a sequence's items are processed by the table.
    Keep,
    /// Clean: sequences are processed by the table, dates shifted (modified-dates option),
    /// free text emptied, other values removed.
    Clean,
    /// Replace every UID of the value by its mapping (a sequence: its items are processed).
    ReplaceUid,
}

/// Which elements a row of the table applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Selector {
    /// One attribute.
    Tag(Tag),
    /// A repeating group (`60xx3000`, `50xxxxxx`).
    Repeating(RepeatingGroup),
    /// Every private element (odd group), private creators included.
    Private,
}

impl Selector {
    /// Whether this selector covers `tag`.
    pub fn matches(&self, tag: Tag) -> bool {
        match self {
            Selector::Tag(own) => *own == tag,
            Selector::Repeating(group) => group.matches(tag),
            Selector::Private => tag.0 % 2 == 1,
        }
    }
}

/// A repeating-group selector such as `60xx3000`: the pattern's `xx` stands for the repeating
/// groups of PS3.5 §7.6, the even groups `GG00`–`GG1E`; other `x` stand for any hexadecimal
/// digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RepeatingGroup {
    pattern: &'static str,
    value: u32,
    mask: u32,
}

impl RepeatingGroup {
    /// The pattern as the table writes it (`"60xx3000"`).
    pub fn pattern(&self) -> &'static str {
        self.pattern
    }

    /// Whether `tag` is in the repeating group (even group `GG00`–`GG1E`, the rest of the
    /// pattern matching).
    pub fn matches(&self, tag: Tag) -> bool {
        let word = (u32::from(tag.0) << 16) | u32::from(tag.1);
        word & self.mask == self.value && tag.0 % 2 == 0 && (tag.0 & 0x00FF) <= 0x1E
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    /// `None` for the Basic Profile.
    pub(crate) option: Option<ProfileOption>,
    pub(crate) selector: Selector,
    pub(crate) keyword: &'static str,
    pub(crate) code: ActionCode,
}

include!(concat!(env!("OUT_DIR"), "/table_e1_1.rs"));

/// Every row of the table, in the CSV's order.
pub(crate) fn rows() -> &'static [Row] {
    &ROWS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CSV as the crate ships it, read independently of the generator.
    const CSV: &str = include_str!("../data/ps3.15-table-e1-1.csv");

    fn csv_rows() -> Vec<Vec<&'static str>> {
        CSV.lines()
            .skip(1)
            .filter(|line| !line.is_empty())
            .map(|line| line.split(',').collect())
            .collect()
    }

    #[test]
    fn one_generated_row_per_csv_data_row() {
        assert_eq!(csv_rows().len(), 1227);
        assert_eq!(rows().len(), 1227);
    }

    #[test]
    fn every_generated_row_says_what_its_csv_row_says() {
        for (row, fields) in rows().iter().zip(csv_rows()) {
            let [option, selector, tag, keyword, action] = fields.as_slice() else {
                panic!("not five fields: {fields:?}");
            };
            assert_eq!(row.option.map_or("basic", |o| o.name()), *option);
            assert_eq!(row.code.as_str(), *action);
            assert_eq!(row.keyword, *keyword);
            match row.selector {
                Selector::Tag(t) => {
                    assert_eq!(*selector, "tag");
                    assert_eq!(format!("{:04x}{:04x}", t.0, t.1), *tag);
                }
                Selector::Repeating(group) => {
                    assert_eq!(*selector, "repeating");
                    assert_eq!(group.pattern(), *tag);
                }
                Selector::Private => {
                    assert_eq!(*selector, "private");
                    assert_eq!(*tag, "");
                }
            }
        }
    }

    #[test]
    fn known_rows() {
        let find = |option: Option<ProfileOption>, tag: Tag| {
            rows()
                .iter()
                .find(|r| r.option == option && r.selector == Selector::Tag(tag))
                .map(|r| (r.keyword, r.code))
        };
        assert_eq!(
            find(None, Tag(0x0010, 0x0010)),
            Some(("PatientName", ActionCode::Z))
        );
        assert_eq!(
            find(None, Tag(0x0020, 0x000D)),
            Some(("StudyInstanceUID", ActionCode::U))
        );
        assert_eq!(
            find(None, Tag(0x0008, 0x0080)),
            Some(("InstitutionName", ActionCode::XOrZOrD))
        );
        assert_eq!(
            find(None, Tag(0x0008, 0x1140)),
            Some(("ReferencedImageSequence", ActionCode::XOrZOrU))
        );
        assert_eq!(
            find(Some(ProfileOption::RetainUids), Tag(0x0020, 0x000D)),
            Some(("StudyInstanceUID", ActionCode::K))
        );
        assert_eq!(
            find(
                Some(ProfileOption::RetainLongitudinalModifiedDates),
                Tag(0x0008, 0x0020)
            ),
            Some(("StudyDate", ActionCode::C))
        );
        assert_eq!(
            find(Some(ProfileOption::CleanDescriptors), Tag(0x0008, 0x1030)),
            Some(("StudyDescription", ActionCode::C))
        );
        let private: Vec<_> = rows()
            .iter()
            .filter(|r| r.selector == Selector::Private)
            .map(|r| (r.option, r.code))
            .collect();
        assert_eq!(
            private,
            [
                (None, ActionCode::X),
                (Some(ProfileOption::RetainSafePrivate), ActionCode::C)
            ]
        );
        let overlay = rows()
            .iter()
            .find(|r| matches!(r.selector, Selector::Repeating(g) if g.pattern() == "60xx3000"))
            .map(|r| (r.option, r.keyword, r.code));
        assert_eq!(overlay, Some((None, "OverlayData", ActionCode::X)));
    }

    #[test]
    fn every_option_has_rows() {
        for option in ProfileOption::ALL {
            assert!(
                rows().iter().any(|r| r.option == Some(option)),
                "{option} has no row"
            );
        }
    }

    #[test]
    fn combinations_resolve_to_the_most_preserving_alternative() {
        assert_eq!(ActionCode::XOrZ.resolve(), Action::Zero);
        assert_eq!(ActionCode::XOrD.resolve(), Action::Dummy);
        assert_eq!(ActionCode::ZOrD.resolve(), Action::Dummy);
        assert_eq!(ActionCode::XOrZOrD.resolve(), Action::Dummy);
        assert_eq!(ActionCode::XOrZOrU.resolve(), Action::ReplaceUid);
        assert_eq!(ActionCode::X.resolve(), Action::Remove);
        assert_eq!(ActionCode::Z.resolve(), Action::Zero);
        assert_eq!(ActionCode::D.resolve(), Action::Dummy);
        assert_eq!(ActionCode::K.resolve(), Action::Keep);
        assert_eq!(ActionCode::C.resolve(), Action::Clean);
        assert_eq!(ActionCode::U.resolve(), Action::ReplaceUid);
    }

    #[test]
    fn repeating_groups_are_the_even_groups_00_to_1e() {
        let overlay = RepeatingGroup {
            pattern: "60xx3000",
            value: 0x6000_3000,
            mask: 0xFF00_FFFF,
        };
        assert!(overlay.matches(Tag(0x6000, 0x3000)));
        assert!(overlay.matches(Tag(0x6002, 0x3000)));
        assert!(overlay.matches(Tag(0x601E, 0x3000)));
        assert!(!overlay.matches(Tag(0x6001, 0x3000)));
        assert!(!overlay.matches(Tag(0x6020, 0x3000)));
        assert!(!overlay.matches(Tag(0x6002, 0x0010)));
        let curve = RepeatingGroup {
            pattern: "50xxxxxx",
            value: 0x5000_0000,
            mask: 0xFF00_0000,
        };
        assert!(curve.matches(Tag(0x5004, 0x0022)));
        assert!(!curve.matches(Tag(0x5003, 0x0022)));
        assert!(!curve.matches(Tag(0x5100, 0x0022)));
    }
}
