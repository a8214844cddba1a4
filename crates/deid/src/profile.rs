//! The Basic Profile, its options, and the rule the table gives each tag.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use dicom_core::Tag;

use crate::table::{rows, Action, ActionCode, Row, Selector};
use crate::DeidError;

/// The coding scheme of the de-identification method codes (CID 7050).
pub const CODING_SCHEME_DESIGNATOR: &str = "DCM";

/// The CID 7050 code of the Basic Application Confidentiality Profile: (value, meaning).
// Verified against PS3.16 CID 7050 "De-identification Method" (value set
// urn:oid:1.2.840.10008.6.1.925) as transcribed in bvdh/dicom-terminology-in-fhir
// `input/fsh/ValueSet-dicom-cid-7050-DeidentificationMethod.fsh`: 113100 "Basic Application
// Confidentiality Profile", 113101 "Clean Pixel Data Option", 113102 "Clean Recognizable
// Visual Features Option", 113103 "Clean Graphics Option", 113104 "Clean Structured Content
// Option", 113105 "Clean Descriptors Option", 113106 "Retain Longitudinal Temporal Information
// Full Dates Option", 113107 "Retain Longitudinal Temporal Information Modified Dates Option",
// 113108 "Retain Patient Characteristics Option", 113109 "Retain Device Identity Option",
// 113110 "Retain UIDs Option", 113111 "Retain Safe Private Option", 113112 "Retain Institution
// Identity Option" (the same values are quoted by other toolkits' tests, e.g. KheopsDICOM).
pub const BASIC_PROFILE_CODE: (&str, &str) =
    ("113100", "Basic Application Confidentiality Profile");

/// An option of the Basic Application Level Confidentiality Profile (PS3.15 E.3) that Table
/// E.1-1 describes. (Clean Pixel Data and Clean Recognizable Visual Features are not in the
/// table and not offered: scanseal never changes pixels.)
///
/// The order of the variants is [`ProfileOption::ALL`]'s, which is the order options are
/// listed and recorded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProfileOption {
    /// Retain UIDs Option (E.3.9).
    RetainUids,
    /// Retain Device Identity Option (E.3.8).
    RetainDeviceIdentity,
    /// Retain Institution Identity Option (E.3.11).
    RetainInstitutionIdentity,
    /// Retain Patient Characteristics Option (E.3.7).
    RetainPatientCharacteristics,
    /// Retain Longitudinal Temporal Information With Full Dates Option (E.3.6).
    RetainLongitudinalFullDates,
    /// Retain Longitudinal Temporal Information With Modified Dates Option (E.3.6).
    RetainLongitudinalModifiedDates,
    /// Clean Descriptors Option (E.3.5).
    CleanDescriptors,
    /// Clean Structured Content Option (E.3.4).
    CleanStructuredContent,
    /// Clean Graphics Option (E.3.3).
    CleanGraphics,
    /// Retain Safe Private Option (E.3.10).
    RetainSafePrivate,
}

impl ProfileOption {
    /// Every option, in order.
    pub const ALL: [ProfileOption; 10] = [
        ProfileOption::RetainUids,
        ProfileOption::RetainDeviceIdentity,
        ProfileOption::RetainInstitutionIdentity,
        ProfileOption::RetainPatientCharacteristics,
        ProfileOption::RetainLongitudinalFullDates,
        ProfileOption::RetainLongitudinalModifiedDates,
        ProfileOption::CleanDescriptors,
        ProfileOption::CleanStructuredContent,
        ProfileOption::CleanGraphics,
        ProfileOption::RetainSafePrivate,
    ];

    /// The option's name, as the table's `profile_or_option` column writes it
    /// (`"retain-uids"`).
    pub fn name(self) -> &'static str {
        match self {
            ProfileOption::RetainUids => "retain-uids",
            ProfileOption::RetainDeviceIdentity => "retain-device-identity",
            ProfileOption::RetainInstitutionIdentity => "retain-institution-identity",
            ProfileOption::RetainPatientCharacteristics => "retain-patient-characteristics",
            ProfileOption::RetainLongitudinalFullDates => "retain-longitudinal-full-dates",
            ProfileOption::RetainLongitudinalModifiedDates => "retain-longitudinal-modified-dates",
            ProfileOption::CleanDescriptors => "clean-descriptors",
            ProfileOption::CleanStructuredContent => "clean-structured-content",
            ProfileOption::CleanGraphics => "clean-graphics",
            ProfileOption::RetainSafePrivate => "retain-safe-private",
        }
    }

    /// The option named `name` ([`ProfileOption::name`]), if any.
    pub fn from_name(name: &str) -> Option<ProfileOption> {
        ProfileOption::ALL.into_iter().find(|o| o.name() == name)
    }

    /// The option's code in PS3.16 CID 7050 "De-identification Method" (coding scheme
    /// [`CODING_SCHEME_DESIGNATOR`]): (code value, code meaning). See [`BASIC_PROFILE_CODE`]
    /// for the source.
    pub fn code(self) -> (&'static str, &'static str) {
        match self {
            ProfileOption::CleanGraphics => ("113103", "Clean Graphics Option"),
            ProfileOption::CleanStructuredContent => ("113104", "Clean Structured Content Option"),
            ProfileOption::CleanDescriptors => ("113105", "Clean Descriptors Option"),
            ProfileOption::RetainLongitudinalFullDates => (
                "113106",
                "Retain Longitudinal Temporal Information Full Dates Option",
            ),
            ProfileOption::RetainLongitudinalModifiedDates => (
                "113107",
                "Retain Longitudinal Temporal Information Modified Dates Option",
            ),
            ProfileOption::RetainPatientCharacteristics => {
                ("113108", "Retain Patient Characteristics Option")
            }
            ProfileOption::RetainDeviceIdentity => ("113109", "Retain Device Identity Option"),
            ProfileOption::RetainUids => ("113110", "Retain UIDs Option"),
            ProfileOption::RetainSafePrivate => ("113111", "Retain Safe Private Option"),
            ProfileOption::RetainInstitutionIdentity => {
                ("113112", "Retain Institution Identity Option")
            }
        }
    }

    /// Every option's name, comma-separated (for messages).
    pub(crate) fn name_list() -> String {
        let names: Vec<&str> = ProfileOption::ALL.iter().map(|o| o.name()).collect();
        names.join(", ")
    }
}

impl fmt::Display for ProfileOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProfileOption {
    type Err = DeidError;

    /// # Errors
    /// `UnknownOption` for a name that is not one of [`ProfileOption::ALL`]'s.
    fn from_str(name: &str) -> Result<ProfileOption, DeidError> {
        ProfileOption::from_name(name).ok_or_else(|| DeidError::UnknownOption {
            name: name.to_string(),
        })
    }
}

/// Where a rule comes from: the Basic Profile's row or a chosen option's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleSource {
    /// The Basic Profile.
    Basic,
    /// An option that overrides the Basic Profile for this selector.
    Option(ProfileOption),
}

/// The row of Table E.1-1 that applies to an element under a [`Profile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedRule {
    /// The row's selector.
    pub selector: Selector,
    /// The row's keyword (`"Unknown"` where the published table has none).
    pub keyword: &'static str,
    /// The row's action code, as published.
    pub code: ActionCode,
    /// The Basic Profile or the option the row belongs to.
    pub source: RuleSource,
}

impl ListedRule {
    /// The action scanseal takes ([`ActionCode::resolve`]).
    pub fn action(&self) -> Action {
        self.code.resolve()
    }

    fn from_row(row: &Row) -> ListedRule {
        ListedRule {
            selector: row.selector,
            keyword: row.keyword,
            code: row.code,
            source: row.option.map_or(RuleSource::Basic, RuleSource::Option),
        }
    }
}

/// What the profile does with an element of a given tag, at any nesting level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The table does not list the tag: the element is kept (a sequence's items are still
    /// processed), except inside a sequence being replaced by dummies ([`Action::Dummy`]).
    NotListed,
    /// A group length (gggg,0000): removed at every level (it would be wrong after editing,
    /// and group lengths other than the command and meta groups' are retired).
    GroupLength,
    /// A row of the table.
    Listed(ListedRule),
}

/// The Basic Application Level Confidentiality Profile plus a set of options: which row of
/// Table E.1-1 applies to each tag.
#[derive(Clone)]
pub struct Profile {
    options: BTreeSet<ProfileOption>,
    tags: HashMap<Tag, ListedRule>,
    repeating: Vec<ListedRule>,
    private: Option<ListedRule>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Options that exclude each other (PS3.15 E.3.6: dates are kept or modified, not both).
const EXCLUSIVE: [(ProfileOption, ProfileOption); 1] = [(
    ProfileOption::RetainLongitudinalFullDates,
    ProfileOption::RetainLongitudinalModifiedDates,
)];

impl Profile {
    /// The Basic Profile without options.
    pub fn basic() -> Profile {
        Profile::resolve(BTreeSet::new())
    }

    /// This profile with `option` added (adding an option twice is harmless).
    ///
    /// # Errors
    /// `ConflictingOptions` when `option` excludes an option already chosen
    /// (`retain-longitudinal-full-dates` and `retain-longitudinal-modified-dates`).
    pub fn with_option(self, option: ProfileOption) -> Result<Profile, DeidError> {
        for &chosen in &self.options {
            let conflict = EXCLUSIVE
                .iter()
                .any(|&(a, b)| (a, b) == (chosen, option) || (b, a) == (chosen, option));
            if conflict {
                return Err(DeidError::ConflictingOptions {
                    first: chosen,
                    second: option,
                });
            }
        }
        let mut options = self.options;
        options.insert(option);
        Ok(Profile::resolve(options))
    }

    /// This profile with every option of `options` added, in turn.
    ///
    /// # Errors
    /// As [`Profile::with_option`].
    pub fn with_options(
        self,
        options: impl IntoIterator<Item = ProfileOption>,
    ) -> Result<Profile, DeidError> {
        options
            .into_iter()
            .try_fold(self, |profile, option| profile.with_option(option))
    }

    /// The chosen options, in [`ProfileOption::ALL`]'s order.
    pub fn options(&self) -> Vec<ProfileOption> {
        self.options.iter().copied().collect()
    }

    /// Whether `option` is chosen.
    pub fn has_option(&self, option: ProfileOption) -> bool {
        self.options.contains(&option)
    }

    /// The rule for an element with `tag`, at any nesting level: a group length, the row that
    /// applies (private selector for odd groups, then the exact tag, then a repeating group),
    /// or not listed.
    pub fn rule_for(&self, tag: Tag) -> Rule {
        if tag.1 == 0x0000 {
            return Rule::GroupLength;
        }
        let listed = if tag.0 % 2 == 1 {
            self.private
        } else {
            self.tags.get(&tag).copied().or_else(|| {
                self.repeating
                    .iter()
                    .find(|rule| rule.selector.matches(tag))
                    .copied()
            })
        };
        listed.map_or(Rule::NotListed, Rule::Listed)
    }

    /// The rule for private elements.
    pub(crate) fn private_rule(&self) -> Option<ListedRule> {
        self.private
    }

    /// The value of Longitudinal Temporal Information Modified (0028,0303) this profile
    /// records: `UNMODIFIED` with the full-dates option, `MODIFIED` with the modified-dates
    /// option, otherwise `REMOVED`.
    // PS3.15 E.3.6: with Full Dates "(0028,0303) shall be added to the Dataset with a value of
    // "UNMODIFIED""; with Modified Dates "... with a value of "MODIFIED"" (text checked in
    // chsasank/dicom_standard source/part15/chapter_E.rst, section E.3.6). PS3.15 E.2: "... with
    // a Value of "REMOVED" if none of the Retain Longitudinal Temporal Information Options is
    // applied" (as quoted by several de-identifiers' sources; the defined terms UNMODIFIED,
    // MODIFIED, REMOVED are those of PS3.3 Table C.12-1, SOP Common Module).
    pub fn longitudinal_temporal_information(&self) -> &'static str {
        if self.has_option(ProfileOption::RetainLongitudinalFullDates) {
            "UNMODIFIED"
        } else if self.has_option(ProfileOption::RetainLongitudinalModifiedDates) {
            "MODIFIED"
        } else {
            "REMOVED"
        }
    }

    /// Resolves the table for `options`: the Basic Profile's row for each selector, replaced
    /// by a chosen option's row for the same selector. When several chosen options have a row
    /// for one selector, a `C` row wins over a `K` row (cleaning is the safer of the two: e.g.
    /// Calibration Date under retain-device-identity `K` and retain-longitudinal-modified-dates
    /// `C` is shifted); among rows with the same code, the option first in
    /// [`ProfileOption::ALL`] wins.
    fn resolve(options: BTreeSet<ProfileOption>) -> Profile {
        let mut resolved: HashMap<Selector, ListedRule> = HashMap::new();
        for row in rows().iter().filter(|row| row.option.is_none()) {
            resolved.insert(row.selector, ListedRule::from_row(row));
        }
        let mut overriding: HashMap<Selector, ListedRule> = HashMap::new();
        let rank = |rule: &ListedRule| {
            let option = match rule.source {
                RuleSource::Option(option) => Some(option),
                RuleSource::Basic => None,
            };
            (rule.code != ActionCode::C, option)
        };
        for row in rows() {
            let Some(option) = row.option else { continue };
            if !options.contains(&option) {
                continue;
            }
            let candidate = ListedRule::from_row(row);
            let better = overriding
                .get(&row.selector)
                .is_none_or(|current| rank(&candidate) < rank(current));
            if better {
                overriding.insert(row.selector, candidate);
            }
        }
        resolved.extend(overriding);

        let mut tags = HashMap::new();
        let mut repeating = Vec::new();
        let mut private = None;
        for (selector, rule) in resolved {
            match selector {
                Selector::Tag(tag) => {
                    tags.insert(tag, rule);
                }
                Selector::Repeating(_) => repeating.push(rule),
                Selector::Private => private = Some(rule),
            }
        }
        // Deterministic order (a tag matches at most one repeating pattern in the table).
        repeating.sort_by_key(|rule| match rule.selector {
            Selector::Repeating(group) => group.pattern(),
            _ => "",
        });
        Profile {
            options,
            tags,
            repeating,
            private,
        }
    }
}

impl Default for Profile {
    fn default() -> Self {
        Profile::basic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(profile: &Profile, tag: Tag) -> (ActionCode, RuleSource) {
        match profile.rule_for(tag) {
            Rule::Listed(rule) => (rule.code, rule.source),
            other => panic!("{tag} is not listed: {other:?}"),
        }
    }

    #[test]
    fn names_round_trip_and_codes_are_distinct() {
        let mut codes = std::collections::HashSet::new();
        for option in ProfileOption::ALL {
            assert_eq!(ProfileOption::from_name(option.name()), Some(option));
            assert_eq!(option.name().parse::<ProfileOption>().ok(), Some(option));
            assert!(codes.insert(option.code().0));
            assert!(option.code().1.len() <= 64);
        }
        assert!(!codes.contains(BASIC_PROFILE_CODE.0));
        assert!(matches!(
            "retain-everything".parse::<ProfileOption>(),
            Err(DeidError::UnknownOption { name }) if name == "retain-everything"
        ));
        assert_eq!(
            ProfileOption::RetainUids.code(),
            ("113110", "Retain UIDs Option")
        );
        assert_eq!(
            ProfileOption::RetainLongitudinalModifiedDates.code(),
            (
                "113107",
                "Retain Longitudinal Temporal Information Modified Dates Option"
            )
        );
    }

    #[test]
    fn the_two_date_options_exclude_each_other() {
        let full = Profile::basic()
            .with_option(ProfileOption::RetainLongitudinalFullDates)
            .unwrap();
        let err = full
            .with_option(ProfileOption::RetainLongitudinalModifiedDates)
            .unwrap_err();
        assert!(matches!(
            err,
            DeidError::ConflictingOptions {
                first: ProfileOption::RetainLongitudinalFullDates,
                second: ProfileOption::RetainLongitudinalModifiedDates
            }
        ));
        let err = Profile::basic()
            .with_options([
                ProfileOption::RetainLongitudinalModifiedDates,
                ProfileOption::RetainUids,
                ProfileOption::RetainLongitudinalFullDates,
            ])
            .unwrap_err();
        assert!(matches!(err, DeidError::ConflictingOptions { .. }));
    }

    #[test]
    fn options_are_sorted_and_deduplicated() {
        let profile = Profile::basic()
            .with_options([
                ProfileOption::RetainSafePrivate,
                ProfileOption::RetainUids,
                ProfileOption::CleanDescriptors,
                ProfileOption::RetainUids,
            ])
            .unwrap();
        assert_eq!(
            profile.options(),
            [
                ProfileOption::RetainUids,
                ProfileOption::CleanDescriptors,
                ProfileOption::RetainSafePrivate
            ]
        );
        assert!(Profile::basic().options().is_empty());
    }

    #[test]
    fn an_option_row_overrides_the_basic_row() {
        let study_uid = Tag(0x0020, 0x000D);
        let basic = Profile::basic();
        assert_eq!(
            listed(&basic, study_uid),
            (ActionCode::U, RuleSource::Basic)
        );
        let uids = Profile::basic()
            .with_option(ProfileOption::RetainUids)
            .unwrap();
        assert_eq!(
            listed(&uids, study_uid),
            (ActionCode::K, RuleSource::Option(ProfileOption::RetainUids))
        );
        // An option does not touch tags it has no row for.
        assert_eq!(
            listed(&uids, Tag(0x0010, 0x0010)),
            (ActionCode::Z, RuleSource::Basic)
        );
    }

    #[test]
    fn clean_wins_over_keep_between_options() {
        // Calibration Date: retain-device-identity K, full dates K, modified dates C.
        let calibration_date = Tag(0x0014, 0x407E);
        let device = Profile::basic()
            .with_option(ProfileOption::RetainDeviceIdentity)
            .unwrap();
        assert_eq!(
            listed(&device, calibration_date),
            (
                ActionCode::K,
                RuleSource::Option(ProfileOption::RetainDeviceIdentity)
            )
        );
        let both = device
            .with_option(ProfileOption::RetainLongitudinalModifiedDates)
            .unwrap();
        assert_eq!(
            listed(&both, calibration_date),
            (
                ActionCode::C,
                RuleSource::Option(ProfileOption::RetainLongitudinalModifiedDates)
            )
        );
        assert_eq!(
            listed(&Profile::basic(), calibration_date),
            (ActionCode::X, RuleSource::Basic)
        );
    }

    #[test]
    fn selectors_group_lengths_private_repeating() {
        let basic = Profile::basic();
        assert_eq!(basic.rule_for(Tag(0x0008, 0x0000)), Rule::GroupLength);
        assert_eq!(basic.rule_for(Tag(0x0009, 0x0000)), Rule::GroupLength);
        assert_eq!(
            listed(&basic, Tag(0x0009, 0x0010)),
            (ActionCode::X, RuleSource::Basic)
        );
        assert_eq!(
            listed(&basic, Tag(0x0009, 0x1001)),
            (ActionCode::X, RuleSource::Basic)
        );
        assert_eq!(
            listed(&basic, Tag(0x6002, 0x3000)),
            (ActionCode::X, RuleSource::Basic)
        );
        assert_eq!(
            listed(&basic, Tag(0x5010, 0x0022)),
            (ActionCode::X, RuleSource::Basic)
        );
        assert_eq!(basic.rule_for(Tag(0x6002, 0x0010)), Rule::NotListed);
        let graphics = Profile::basic()
            .with_option(ProfileOption::CleanGraphics)
            .unwrap();
        assert_eq!(
            listed(&graphics, Tag(0x6002, 0x3000)),
            (
                ActionCode::C,
                RuleSource::Option(ProfileOption::CleanGraphics)
            )
        );
        let safe = Profile::basic()
            .with_option(ProfileOption::RetainSafePrivate)
            .unwrap();
        assert_eq!(
            listed(&safe, Tag(0x0009, 0x1001)),
            (
                ActionCode::C,
                RuleSource::Option(ProfileOption::RetainSafePrivate)
            )
        );
    }

    #[test]
    fn pixel_attributes_are_not_listed() {
        let everything = Profile::basic()
            .with_options(
                ProfileOption::ALL
                    .into_iter()
                    .filter(|o| *o != ProfileOption::RetainLongitudinalFullDates),
            )
            .unwrap();
        for profile in [Profile::basic(), everything] {
            for element in [
                0x0002, 0x0004, 0x0006, 0x0008, 0x0010, 0x0011, 0x0034, 0x0100, 0x0101, 0x0102,
                0x0103, 0x1050, 0x1051, 0x1052, 0x1053, 0x2110, 0x2114,
            ] {
                assert_eq!(profile.rule_for(Tag(0x0028, element)), Rule::NotListed);
            }
            for element in [0x0008, 0x0009, 0x0010] {
                assert_eq!(profile.rule_for(Tag(0x7FE0, element)), Rule::NotListed);
            }
        }
    }

    #[test]
    fn temporal_information_value() {
        assert_eq!(
            Profile::basic().longitudinal_temporal_information(),
            "REMOVED"
        );
        let full = Profile::basic()
            .with_option(ProfileOption::RetainLongitudinalFullDates)
            .unwrap();
        assert_eq!(full.longitudinal_temporal_information(), "UNMODIFIED");
        let modified = Profile::basic()
            .with_option(ProfileOption::RetainLongitudinalModifiedDates)
            .unwrap();
        assert_eq!(modified.longitudinal_temporal_information(), "MODIFIED");
    }
}
