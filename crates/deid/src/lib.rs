//! De-identification of DICOM instances: the Basic Application Level Confidentiality Profile
//! and its options, PS3.15 Annex E, **Table E.1-1**, applied to scanseal's raw DICOM tree
//! ([`scanseal_canon::DataSet`]).
//!
//! The table is data, not code: `data/ps3.15-table-e1-1.csv` is a verbatim copy of the table
//! as published by DICOM (see `data/README.md`), and `build.rs` turns it into the lookup table
//! at build time, failing the build on a malformed row.
//!
//! # What it does
//!
//! [`Deidentifier::apply`] edits a top-level data set in place and returns an [`Outcome`]:
//! what it did to each top-level element of the input, and which elements it added. New UIDs
//! and date shifts are derived with HMAC-SHA-256 from a [`Secret`] (drawn at random, or
//! loaded from a file so that a later run reproduces them); nothing else is random, so the
//! same input, profile and secret always give the same output.
//!
//! **Which rule applies** ([`Profile::rule_for`]). The same rules apply at every nesting level:
//! the items of sequences are processed like the top level.
//! - A group length (gggg,0000) is removed at every level: it would be wrong after editing
//!   (and outside the command and meta groups it is retired).
//! - An element of an odd group (private; creators (gggg,0010-00FF) included) gets the
//!   `private` row.
//! - Otherwise the `tag` row of its tag, else a `repeating` row: `50xxxxxx` is every element of
//!   the even groups 5000–501E (Curve Data), `60xx3000` / `60xx4000` element 3000 / 4000 of the
//!   even groups 6000–601E (Overlay Data, Overlay Comments).
//! - An option row replaces the Basic Profile's row for the same selector when the option is
//!   chosen. When several chosen options have a row for one selector, `C` wins over `K`, then
//!   the option first in [`ProfileOption::ALL`]. Attributes the table does not list are kept
//!   (a kept sequence's items are still processed), except inside a sequence replaced by
//!   dummies (see D).
//!
//! **Combined codes** are resolved without IOD knowledge (the engine has no IOD tables), to the
//! alternative that keeps the attribute present, as its strictest Type would require:
//! `X/Z` → Z, `X/D`, `Z/D`, `X/Z/D` → D, `X/Z/U*` → U ([`ActionCode::resolve`]).
//!
//! **Actions.** "Text" below means the character VRs; all values written are ASCII (valid in
//! any Specific Character Set) and padded to even length with the VR's padding (a space; NUL
//! for UI; a zero byte for binary values).
//! - `X`: the element is removed.
//! - `Z`: a zero-length value; a sequence keeps no items.
//! - `D`: a dummy valid for the VR: `ANONYMIZED` for AE CS LO LT PN SH ST UC UT; DA
//!   `19000101`; TM `000000`; DT `19000101000000`; AS `000D`; DS and IS `0`; UR
//!   `urn:uuid:00000000-0000-0000-0000-000000000000` (the nil UUID URN: a valid URI that names
//!   nothing); zeros for binary values (2 bytes for US SS OB OW UN, 4 for UL SL FL AT OF OL,
//!   8 for FD SV UV OD OV). `D` on a UI value replaces the UID like `U` (an empty value gets
//!   the mapping of the empty string). `D` on a sequence applies to "the Sequence and all of
//!   its contents" (PS3.15 E.1.1): its items are processed with the table, and every element
//!   the table does not list — at any depth below — gets its VR's dummy instead of being kept
//!   (UIDs excepted: the table lists every instance UID, so unlisted UIDs are structural, such
//!   as SOP Class UIDs). So an SR Content Sequence's text, or an Institution Code Sequence's
//!   code meaning, does not survive the Basic Profile.
//! - `K`: kept; a sequence's items are processed.
//! - `U`: every value of the (possibly multi-valued) UI element, without its padding, is
//!   replaced by [`Deidentifier::map_uid`]; an empty value stays empty; a sequence's items are
//!   processed (`X/Z/U*`); on a value of another VR, the dummy.
//! - `C`: a sequence's items are processed by the table. Under
//!   `retain-longitudinal-modified-dates`, DA and DT values are moved back by the patient's
//!   shift ([`Deidentifier::date_shift_days`]: 1 to 3650 days derived from the secret and
//!   the top-level Patient ID, so every file of one patient shifts alike and a run with the
//!   same secret reproduces it); a DT keeps its time and UTC offset; a value that is not one
//!   complete date — partial dates (`YYYY`, `YYYYMM`), ranges (`-`), or a date that would fall
//!   before year 1 — is replaced by the dummy; TM and other text (the timezone offset) are
//!   kept, since a whole-day shift does not change them; binary timestamps are removed. Under
//!   every other option (clean-descriptors, clean-graphics, …) scanseal cannot tell
//!   identifying free text from harmless text, so it **empties** text values (zero length) and
//!   removes every other value (binary data, overlays, curves).
//! - Private elements are removed under the Basic Profile. Under `retain-safe-private`, PS3.15
//!   Table E.3.10-1 (the list of known-safe private attributes) is not part of the data, so
//!   scanseal follows E.3.10 Note 2 conservatively: a private element is kept only if its VR
//!   cannot carry text (US SS UL SL FL FD UV SV AT, and DS / IS holding only numeric
//!   characters); a private sequence is kept with its items processed by the same rules;
//!   everything else is removed (text, dates, OB OW UN OF …; private elements of an Implicit
//!   VR file are read as UN and so removed), as is an element whose block has no creator. A
//!   block's creator element is kept if and only if the block keeps at least one element.
//! - A sequence stored as undecoded `UN` octets (an Explicit VR `UN` whose dictionary VR is
//!   SQ) cannot be inspected: it is removed, unless its action is `Z` (then it becomes an
//!   empty sequence). A standard element read as `UN` otherwise gets the dummy of its
//!   dictionary VR (and that VR).
//!
//! **Recording.** After the table, at the top level:
//! (0012,0062) Patient Identity Removed = `YES`;
//! (0012,0063) De-identification Method: earlier values, then [`METHOD_TEXT`] and the code
//! meaning of each chosen option (each at most 64 characters);
//! (0012,0064) De-identification Method Code Sequence: earlier items, then one item per code
//! not already present — 113100 for the Basic Profile and [`ProfileOption::code`] for each
//! chosen option, coding scheme `DCM` (PS3.16 CID 7050);
//! (0028,0303) Longitudinal Temporal Information Modified: `UNMODIFIED` with
//! `retain-longitudinal-full-dates`, `MODIFIED` with `retain-longitudinal-modified-dates`,
//! otherwise `REMOVED` (PS3.15 E.2, E.3.6) — or the earlier value where that is more
//! protective. Attributes the input lacked are listed in [`Outcome::added`]; those it had and
//! that changed are reported as [`AppliedAction::Recorded`].
//!
//! Elements stay in ascending tag order. The engine never touches Pixel Data (7FE0,0010) or
//! the pixel descriptor attributes (the table lists none of them), nor anything the table does
//! not list outside a `D` sequence. Outcomes are honest: an action that leaves a value as it
//! was is reported as [`AppliedAction::Kept`].
//!
//! # What it does not do
//!
//! - It does not detect or remove text burned into the pixels (Burned In Annotation,
//!   Recognizable Visual Features): pixels are never changed, and the Clean Pixel Data and
//!   Clean Recognizable Visual Features options are not offered.
//! - It does not apply Table E.1-2 (SR content items by concept name): free text in an SR's
//!   TEXT content items survives `clean-structured-content` (whose `C` processes the items by
//!   Table E.1-1, which does not list Text Value). It does not look at attributes the table
//!   does not list, by VR or otherwise: an unlisted date or free-text attribute is kept.
//! - It does not know IODs: combined codes resolve as above, whatever the attribute's Type in
//!   the instance's IOD.
//! - The engine ([`Deidentifier::apply`]) does not read or write files, touch the File Meta
//!   Information, seal, or keep a mapping table: UIDs and date shifts are recomputed from the
//!   [`Secret`]. [`deidentify_file`] is the part that does the rest for a sealed file (spec
//!   `deidentification.md` §3): it refuses an input that does not match its seal, applies the
//!   engine, writes the file with a new File Meta Information, withholds the salts of every
//!   attribute not kept, appends the `deidentified` seal and reads the output back before
//!   putting it in place atomically. It does not verify signatures (that is
//!   `scanseal-verify`) and does not write the ledger (its caller's hook does).
//!
//! # Example
//!
//! ```
//! use dicom_core::{Tag, VR};
//! use scanseal_canon::{DataSet, Element, ElementValue};
//! use scanseal_deid::{AppliedAction, Deidentifier, Profile, ProfileOption, Secret};
//!
//! let text = |tag, vr, value: &[u8]| Element { tag, vr, value: ElementValue::Primitive(value.to_vec()) };
//! let mut data_set = DataSet::from_elements(vec![
//!     text(Tag(0x0008, 0x0020), VR::DA, b"20240314"),   // Study Date
//!     text(Tag(0x0010, 0x0010), VR::PN, b"Doe^Jane"),   // Patient's Name
//!     text(Tag(0x0010, 0x0020), VR::LO, b"PAT-0042"),   // Patient ID
//!     text(Tag(0x0020, 0x000D), VR::UI, b"1.2.3.4\0"),  // Study Instance UID
//! ]);
//! let profile = Profile::basic().with_option(ProfileOption::RetainLongitudinalModifiedDates)?;
//! let deidentifier = Deidentifier::new(profile, Secret::from_bytes(b"a site secret, 16+ bytes")?);
//! let outcome = deidentifier.apply(&mut data_set)?;
//!
//! let actions: Vec<AppliedAction> = outcome.elements.iter().map(|e| e.action).collect();
//! assert_eq!(actions, [
//!     AppliedAction::DatesShifted,
//!     AppliedAction::Emptied,
//!     AppliedAction::Dummy,
//!     AppliedAction::UidReplaced,
//! ]);
//! assert_eq!(outcome.added.len(), 4); // (0012,0062), (0012,0063), (0012,0064), (0028,0303)
//! let stored = match data_set.get(Tag(0x0020, 0x000D)).map(|e| &e.value) {
//!     Some(ElementValue::Primitive(octets)) => String::from_utf8_lossy(octets).into_owned(),
//!     _ => String::new(),
//! };
//! assert_eq!(stored.trim_end_matches('\0'), deidentifier.map_uid("1.2.3.4"));
//! Ok::<_, scanseal_deid::DeidError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod engine;
mod error;
mod file;
mod method;
mod profile;
mod secret;
mod table;
mod values;
#[cfg(test)]
mod vectors;

pub use engine::{
    AppliedAction, Deidentifier, ElementOutcome, Outcome, DATE_SHIFT_PREFIX, MAX_DATE_SHIFT_DAYS,
    UID_PREFIX,
};
pub use error::DeidError;
pub use file::{deidentify_file, DeidentifiedFile, IMPLEMENTATION_CLASS_UID};
pub use method::{
    DEIDENTIFICATION_METHOD, DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
    LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED, METHOD_TEXT, PATIENT_IDENTITY_REMOVED,
};
pub use profile::{
    ListedRule, Profile, ProfileOption, Rule, RuleSource, BASIC_PROFILE_CODE,
    CODING_SCHEME_DESIGNATOR,
};
pub use secret::{Secret, MIN_SECRET_BYTES, SECRET_PREFIX};
pub use table::{Action, ActionCode, RepeatingGroup, Selector};
