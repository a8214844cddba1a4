//! Applying a [`Profile`] to a data set.

use std::collections::HashSet;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use scanseal_canon::{DataSet, Element, ElementValue, MAX_NESTING};

use crate::method;
use crate::profile::{ListedRule, Profile, ProfileOption, Rule, RuleSource};
use crate::secret::Secret;
use crate::table::{Action, Selector};
use crate::values::{self, is_numeric_text, is_text};
use crate::DeidError;

/// Domain-separation prefix of [`Deidentifier::map_uid`]: the new UID is derived from
/// HMAC-SHA-256(secret, `UID_PREFIX` ‖ old UID).
pub const UID_PREFIX: &[u8] = b"scanseal-deid-v1 uid\0";

/// Domain-separation prefix of [`Deidentifier::date_shift_days`]: the shift is derived from
/// HMAC-SHA-256(secret, `DATE_SHIFT_PREFIX` ‖ Patient ID).
pub const DATE_SHIFT_PREFIX: &[u8] = b"scanseal-deid-v1 date-shift\0";

/// The largest date shift, in days (about ten years); the smallest is one day.
pub const MAX_DATE_SHIFT_DAYS: u32 = 3650;

/// Patient ID (0010,0020): the key of the per-patient date shift.
const PATIENT_ID: Tag = Tag(0x0010, 0x0020);

/// What the de-identifier did to one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppliedAction {
    /// Left as it was (also: a value the action would not change, such as an empty value
    /// emptied, or a sequence whose items needed no change).
    Kept,
    /// Removed.
    Removed,
    /// Given a zero-length value (a sequence: no items).
    Emptied,
    /// Given a dummy value (a sequence: its items' unlisted values replaced by dummies).
    Dummy,
    /// Cleaned: free text emptied (clean options).
    Cleaned,
    /// Every UID of the value replaced by its mapping.
    UidReplaced,
    /// Every date of the value shifted (retain-longitudinal-modified-dates).
    DatesShifted,
    /// A sequence whose items the table changed.
    ItemsDeidentified,
    /// A de-identification record attribute (0012,0062), (0012,0063), (0012,0064) or
    /// (0028,0303) that the input already had and that was updated to record this run.
    Recorded,
}

impl AppliedAction {
    /// A stable lower-case name (`"uid-replaced"`).
    pub fn as_str(self) -> &'static str {
        match self {
            AppliedAction::Kept => "kept",
            AppliedAction::Removed => "removed",
            AppliedAction::Emptied => "emptied",
            AppliedAction::Dummy => "dummy",
            AppliedAction::Cleaned => "cleaned",
            AppliedAction::UidReplaced => "uid-replaced",
            AppliedAction::DatesShifted => "dates-shifted",
            AppliedAction::ItemsDeidentified => "items-deidentified",
            AppliedAction::Recorded => "recorded",
        }
    }
}

/// What happened to one top-level element of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementOutcome {
    /// The element's tag.
    pub tag: Tag,
    /// What was done.
    pub action: AppliedAction,
}

/// What [`Deidentifier::apply`] did to a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// One entry per top-level element of the input, in input order.
    pub elements: Vec<ElementOutcome>,
    /// The top-level elements the profile added (de-identification record attributes the
    /// input did not have), in ascending order.
    pub added: Vec<Tag>,
}

/// Applies a [`Profile`] with a [`Secret`].
#[derive(Debug, Clone)]
pub struct Deidentifier {
    profile: Profile,
    secret: Secret,
}

impl Deidentifier {
    /// A de-identifier applying `profile`, deriving UIDs and date shifts from `secret`.
    pub fn new(profile: Profile, secret: Secret) -> Deidentifier {
        Deidentifier { profile, secret }
    }

    /// The profile applied.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The UID that replaces `uid`: `2.25.` followed by the decimal value of a UUID (PS3.5
    /// B.2) made from the first 128 bits of HMAC-SHA-256(secret, [`UID_PREFIX`] ‖ `uid`) with
    /// the RFC 9562 version 8 ("custom") and variant bits set. Leading and trailing spaces and
    /// NULs of `uid` are ignored. The result is deterministic for a secret, has no leading
    /// zeros in any component, and is at most 44 characters long.
    pub fn map_uid(&self, uid: &str) -> String {
        let uid = uid.trim_matches(['\0', ' ']);
        let mac = self.secret.mac(UID_PREFIX, uid.as_bytes());
        let mut octets = [0u8; 16];
        for (octet, byte) in octets.iter_mut().zip(mac) {
            *octet = byte;
        }
        octets[6] = (octets[6] & 0x0F) | 0x80; // version 8
        octets[8] = (octets[8] & 0x3F) | 0x80; // variant 0b10
        format!("2.25.{}", u128::from_be_bytes(octets))
    }

    /// The number of days (1 to [`MAX_DATE_SHIFT_DAYS`]) by which the modified-dates option
    /// moves the dates of the patient with `patient_id` (the raw value of Patient ID
    /// (0010,0020); padding and leading spaces are ignored) back: derived from
    /// HMAC-SHA-256(secret, [`DATE_SHIFT_PREFIX`] ‖ Patient ID), so every file of one patient
    /// shifts alike, in one run and in any run with the same secret. Files without a Patient
    /// ID share one shift.
    ///
    /// Together with a shifted date it gives the real date: never write it out.
    pub fn date_shift_days(&self, patient_id: &[u8]) -> u32 {
        let mac = self.secret.mac(DATE_SHIFT_PREFIX, values::trim(patient_id));
        let mut first = [0u8; 8];
        for (octet, byte) in first.iter_mut().zip(mac) {
            *octet = byte;
        }
        let offset = u64::from_be_bytes(first) % u64::from(MAX_DATE_SHIFT_DAYS);
        1 + u32::try_from(offset).unwrap_or(0)
    }

    /// Applies the profile to a top-level data set in place, then records the
    /// de-identification (see the crate documentation). Elements stay in ascending tag order.
    ///
    /// # Errors
    /// `NestingTooDeep` when sequences nest deeper than [`MAX_NESTING`] levels; the data set
    /// may then be partly de-identified and must not be used.
    pub fn apply(&self, data_set: &mut DataSet) -> Result<Outcome, DeidError> {
        let patient_id = match data_set.get(PATIENT_ID).map(|e| &e.value) {
            Some(ElementValue::Primitive(octets)) => octets.as_slice(),
            _ => &[],
        };
        let run = Run {
            profile: &self.profile,
            deidentifier: self,
            shift_days: self.date_shift_days(patient_id),
            safe_private: self
                .profile
                .private_rule()
                .is_some_and(|rule| rule.action() == Action::Clean),
        };
        let tags: Vec<Tag> = data_set.elements().iter().map(|e| e.tag).collect();
        let actions = run.data_set(data_set, Mode::Table, 0)?;
        let mut elements: Vec<ElementOutcome> = tags
            .into_iter()
            .zip(actions)
            .map(|(tag, action)| ElementOutcome { tag, action })
            .collect();
        let added = method::record(&self.profile, data_set, &mut elements);
        Ok(Outcome { elements, added })
    }
}

/// How a data set's unlisted elements are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Kept (the Basic Profile's rule).
    Table,
    /// Replaced by dummies: inside a sequence whose action is D.
    Dummies,
}

/// One application of the profile to one top-level data set.
struct Run<'a> {
    profile: &'a Profile,
    deidentifier: &'a Deidentifier,
    shift_days: u32,
    /// Whether the private rule is retain-safe-private's `C`.
    safe_private: bool,
}

/// (group, block) of a private creator (gggg,00bb) or of a private element (gggg,bbxx).
fn block_of_creator(tag: Tag) -> Option<(u16, u16)> {
    (tag.0 % 2 == 1 && (0x0010..=0x00FF).contains(&tag.1)).then_some((tag.0, tag.1))
}

impl Run<'_> {
    /// Processes every element of `data_set` (at nesting `depth`), removes those to remove,
    /// and returns what was done to each, in the input order.
    fn data_set(
        &self,
        data_set: &mut DataSet,
        mode: Mode,
        depth: usize,
    ) -> Result<Vec<AppliedAction>, DeidError> {
        let creators: HashSet<(u16, u16)> = data_set
            .elements()
            .iter()
            .filter_map(|e| block_of_creator(e.tag))
            .collect();
        let mut actions = Vec::with_capacity(data_set.elements().len());
        let mut kept_blocks: HashSet<(u16, u16)> = HashSet::new();
        let mut deferred_creators = Vec::new();
        for (index, element) in data_set.elements_mut().enumerate() {
            if self.safe_private {
                if let Some(block) = block_of_creator(element.tag) {
                    // Decided once the block's elements are.
                    deferred_creators.push((index, block));
                    actions.push(AppliedAction::Removed);
                    continue;
                }
            }
            let action = self.element(element, mode, depth, &creators)?;
            if element.tag.0 % 2 == 1 && action != AppliedAction::Removed {
                kept_blocks.insert((element.tag.0, element.tag.1 >> 8));
            }
            actions.push(action);
        }
        for (index, block) in deferred_creators {
            if let Some(action) = actions.get_mut(index) {
                *action = if kept_blocks.contains(&block) {
                    AppliedAction::Kept
                } else {
                    AppliedAction::Removed
                };
            }
        }
        let mut keep = actions
            .iter()
            .map(|a| *a != AppliedAction::Removed)
            .collect::<Vec<_>>()
            .into_iter();
        data_set.retain(|_| keep.next().unwrap_or(true));
        Ok(actions)
    }

    fn element(
        &self,
        element: &mut Element,
        mode: Mode,
        depth: usize,
        creators: &HashSet<(u16, u16)>,
    ) -> Result<AppliedAction, DeidError> {
        match self.profile.rule_for(element.tag) {
            Rule::GroupLength => Ok(AppliedAction::Removed),
            Rule::NotListed => self.unlisted(element, mode, depth),
            Rule::Listed(rule) if rule.selector == Selector::Private && self.safe_private => {
                self.safe_private(element, mode, depth, creators)
            }
            Rule::Listed(rule) => self.listed(element, &rule, mode, depth),
        }
    }

    /// Processes a sequence's items; whether anything in them changed. Not a sequence:
    /// `false`.
    fn items(&self, element: &mut Element, mode: Mode, depth: usize) -> Result<bool, DeidError> {
        let tag = element.tag;
        let ElementValue::Sequence(items) = &mut element.value else {
            return Ok(false);
        };
        if depth >= MAX_NESTING {
            return Err(DeidError::NestingTooDeep {
                tag,
                limit: MAX_NESTING,
            });
        }
        let mut changed = false;
        for item in items.iter_mut() {
            let actions = self.data_set(item, mode, depth + 1)?;
            changed |= actions.iter().any(|a| *a != AppliedAction::Kept);
        }
        Ok(changed)
    }

    /// `action` if processing the items changed something, else `Kept`.
    fn process_items(
        &self,
        element: &mut Element,
        mode: Mode,
        depth: usize,
        action: AppliedAction,
    ) -> Result<AppliedAction, DeidError> {
        Ok(if self.items(element, mode, depth)? {
            action
        } else {
            AppliedAction::Kept
        })
    }

    /// An element the table does not list.
    fn unlisted(
        &self,
        element: &mut Element,
        mode: Mode,
        depth: usize,
    ) -> Result<AppliedAction, DeidError> {
        let shape = Shape::of(element);
        match (shape, mode) {
            (Shape::Items, Mode::Table) => {
                self.process_items(element, mode, depth, AppliedAction::ItemsDeidentified)
            }
            (Shape::Items, Mode::Dummies) => {
                self.process_items(element, mode, depth, AppliedAction::Dummy)
            }
            (Shape::UnreadableSequence, _) => Ok(AppliedAction::Removed),
            (Shape::Value(_), Mode::Table) => Ok(AppliedAction::Kept),
            // Unlisted UIDs are structural (SOP Class, Transfer Syntax, coding scheme UIDs):
            // the table lists every instance UID.
            (Shape::Value(VR::UI), Mode::Dummies) => Ok(AppliedAction::Kept),
            (Shape::Value(vr), Mode::Dummies) => Ok(dummy(element, vr)),
        }
    }

    /// An element a row of the table selects.
    fn listed(
        &self,
        element: &mut Element,
        rule: &ListedRule,
        mode: Mode,
        depth: usize,
    ) -> Result<AppliedAction, DeidError> {
        let shape = Shape::of(element);
        match (rule.action(), shape) {
            (Action::Remove, _) => Ok(AppliedAction::Removed),
            (Action::Zero, _) => Ok(zero(element, shape)),
            (_, Shape::UnreadableSequence) => Ok(AppliedAction::Removed),
            (Action::Keep, Shape::Items) | (Action::ReplaceUid, Shape::Items) => {
                self.process_items(element, mode, depth, AppliedAction::ItemsDeidentified)
            }
            (Action::Keep, Shape::Value(_)) => Ok(AppliedAction::Kept),
            (Action::Dummy, Shape::Items) => {
                self.process_items(element, Mode::Dummies, depth, AppliedAction::Dummy)
            }
            (Action::Dummy, Shape::Value(VR::UI)) => Ok(self.replace_uids(element, true)),
            (Action::ReplaceUid, Shape::Value(VR::UI)) => Ok(self.replace_uids(element, false)),
            (Action::Dummy | Action::ReplaceUid, Shape::Value(vr)) => Ok(dummy(element, vr)),
            (Action::Clean, Shape::Items) => {
                self.process_items(element, mode, depth, AppliedAction::ItemsDeidentified)
            }
            (Action::Clean, Shape::Value(vr)) => Ok(self.clean(element, rule, vr)),
        }
    }

    /// `C` on a value that is not a sequence.
    fn clean(&self, element: &mut Element, rule: &ListedRule, vr: VR) -> AppliedAction {
        let dates =
            rule.source == RuleSource::Option(ProfileOption::RetainLongitudinalModifiedDates);
        if dates {
            match (vr, &element.value) {
                (VR::DA | VR::DT, ElementValue::Primitive(octets)) => {
                    match values::shift_dates(vr, octets, self.shift_days) {
                        Some(shifted) => replace(element, vr, shifted, AppliedAction::DatesShifted),
                        None => AppliedAction::Kept,
                    }
                }
                // Times and the time zone offset stay: the shift is a whole number of days.
                (_, ElementValue::Primitive(_)) if is_text(vr) => AppliedAction::Kept,
                // Binary timestamps cannot be shifted reliably.
                _ => AppliedAction::Removed,
            }
        } else if is_text(vr) && matches!(element.value, ElementValue::Primitive(_)) {
            // scanseal cannot tell identifying free text from harmless text: it empties it.
            replace(element, vr, Vec::new(), AppliedAction::Cleaned)
        } else {
            AppliedAction::Removed
        }
    }

    /// Every UID of a UI value replaced by its mapping. An empty value stays empty, unless
    /// `dummy` (the D action, which requires a value): then it becomes the mapping of "".
    fn replace_uids(&self, element: &mut Element, dummy: bool) -> AppliedAction {
        let octets = match &element.value {
            ElementValue::Primitive(octets) => octets.as_slice(),
            _ => &[],
        };
        let map = |uid: &str| self.deidentifier.map_uid(uid);
        let mapped = match values::map_uid_list(octets, map) {
            Some(mapped) => mapped,
            None if dummy => values::padded(VR::UI, map("").into_bytes()),
            None => return AppliedAction::Kept,
        };
        replace(element, VR::UI, mapped, AppliedAction::UidReplaced)
    }

    /// A private element under retain-safe-private (creators are decided by the caller).
    fn safe_private(
        &self,
        element: &mut Element,
        mode: Mode,
        depth: usize,
        creators: &HashSet<(u16, u16)>,
    ) -> Result<AppliedAction, DeidError> {
        let (group, number) = (element.tag.0, element.tag.1);
        // (gggg,0001-000F) are not private data elements; an element whose block has no
        // creator cannot be interpreted.
        if number < 0x0100 || !creators.contains(&(group, number >> 8)) {
            return Ok(AppliedAction::Removed);
        }
        match &element.value {
            ElementValue::Sequence(_) => {
                self.process_items(element, mode, depth, AppliedAction::ItemsDeidentified)
            }
            ElementValue::Encapsulated(_) => Ok(AppliedAction::Removed),
            ElementValue::Primitive(_) | ElementValue::InFile(_) => Ok(match element.vr {
                VR::US | VR::SS | VR::UL | VR::SL | VR::FL | VR::FD | VR::UV | VR::SV | VR::AT => {
                    AppliedAction::Kept
                }
                VR::DS | VR::IS => match &element.value {
                    ElementValue::Primitive(octets) if is_numeric_text(octets) => {
                        AppliedAction::Kept
                    }
                    // Only pixel data is ever left in the file; a numeric string that long
                    // is not one to keep unread.
                    _ => AppliedAction::Removed,
                },
                _ => AppliedAction::Removed,
            }),
        }
    }
}

/// What an element's value is, for choosing an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A sequence of items.
    Items,
    /// A sequence stored as undecoded octets (an explicit `UN` of a dictionary SQ): its
    /// content cannot be inspected.
    UnreadableSequence,
    /// A value, with the VR to treat it as.
    Value(VR),
}

impl Shape {
    fn of(element: &Element) -> Shape {
        match &element.value {
            ElementValue::Sequence(_) => Shape::Items,
            ElementValue::Encapsulated(_) => Shape::Value(VR::OB),
            ElementValue::Primitive(_) | ElementValue::InFile(_) => match effective_vr(element) {
                VR::SQ => Shape::UnreadableSequence,
                vr => Shape::Value(vr),
            },
        }
    }
}

/// The VR to treat a value as: the element's, except that a standard element read as `UN`
/// is treated as the dictionary's VR.
fn effective_vr(element: &Element) -> VR {
    if element.vr != VR::UN || element.tag.0 % 2 == 1 {
        return element.vr;
    }
    match StandardDataDictionary.by_tag(element.tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => vr,
        Some(VirtualVr::Xs) => VR::US,
        Some(VirtualVr::Ox | VirtualVr::Px) => VR::OB,
        Some(VirtualVr::Lt) => VR::OW,
        _ => VR::UN,
    }
}

/// Sets the value (and the VR, when a value of another VR was read as `UN`); `action` if
/// that changed anything, else `Kept`.
fn replace(element: &mut Element, vr: VR, octets: Vec<u8>, action: AppliedAction) -> AppliedAction {
    let value = ElementValue::Primitive(octets);
    if element.value == value && element.vr == vr {
        return AppliedAction::Kept;
    }
    element.value = value;
    element.vr = vr;
    action
}

/// The VR's dummy value (never called for UI or SQ; either would be removed).
fn dummy(element: &mut Element, vr: VR) -> AppliedAction {
    match values::dummy(vr) {
        Some(octets) => replace(element, vr, octets, AppliedAction::Dummy),
        None => AppliedAction::Removed,
    }
}

/// A zero-length value; a sequence without items.
fn zero(element: &mut Element, shape: Shape) -> AppliedAction {
    match (&element.value, shape) {
        (ElementValue::Sequence(items), _) if items.is_empty() => AppliedAction::Kept,
        (ElementValue::Primitive(octets), Shape::Value(_)) if octets.is_empty() => {
            AppliedAction::Kept
        }
        (_, Shape::Items | Shape::UnreadableSequence) => {
            element.vr = VR::SQ;
            element.value = ElementValue::Sequence(Vec::new());
            AppliedAction::Emptied
        }
        (_, Shape::Value(_)) => {
            element.value = ElementValue::Primitive(Vec::new());
            AppliedAction::Emptied
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
