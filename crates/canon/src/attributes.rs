//! The attribute half of the canonical form (spec §5–§6).

use std::borrow::Cow;
use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use crate::charset::{latin1, Charset};
use crate::digest::{length_prefix, put_bytes, put_u32, ATTRIBUTE_PREFIX};
use crate::key_attributes::is_key_attribute;
use crate::read::{parse_implicit_items, DataSet, Element, ElementValue};
use crate::{CanonError, Digest, Salt};

/// The private creator of the seal's own block (C5.1.1 rule 7).
pub const SEAL_PRIVATE_CREATOR: &str = "SCANSEAL 1";

/// The canonical identity of an attribute (C5.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeId {
    /// A standard (even-group) element.
    Standard(Tag),
    /// A private element identified by its block's creator and its offset in the block.
    Private {
        /// The odd group.
        group: u16,
        /// The creator string, trimmed.
        creator: String,
        /// The low byte of the element number.
        offset: u8,
    },
    /// An odd-group element without a creator.
    Orphan(Tag),
}

impl AttributeId {
    /// `ID` bytes of C5.2.1.
    pub fn encode(&self) -> Result<Vec<u8>, CanonError> {
        let mut out = Vec::with_capacity(8);
        match self {
            AttributeId::Standard(tag) => {
                out.push(1);
                out.extend_from_slice(&tag.0.to_le_bytes());
                out.extend_from_slice(&tag.1.to_le_bytes());
            }
            AttributeId::Private {
                group,
                creator,
                offset,
            } => {
                out.push(2);
                out.extend_from_slice(&group.to_le_bytes());
                put_bytes(&mut out, creator.as_bytes(), "private creator")?;
                out.push(*offset);
            }
            AttributeId::Orphan(tag) => {
                out.push(3);
                out.extend_from_slice(&tag.0.to_le_bytes());
                out.extend_from_slice(&tag.1.to_le_bytes());
            }
        }
        Ok(out)
    }

    /// Parses `ID` bytes (the inverse of [`AttributeId::encode`]); `None` unless `bytes` is
    /// exactly one well-formed `ID`.
    pub fn decode(bytes: &[u8]) -> Option<AttributeId> {
        let u16_at = |at: usize| -> Option<u16> {
            Some(u16::from_le_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
        };
        match bytes.first()? {
            1 | 3 if bytes.len() == 5 => {
                let tag = Tag(u16_at(1)?, u16_at(3)?);
                Some(if bytes[0] == 1 {
                    AttributeId::Standard(tag)
                } else {
                    AttributeId::Orphan(tag)
                })
            }
            2 => {
                let group = u16_at(1)?;
                let length = u32::from_le_bytes(bytes.get(3..7)?.try_into().ok()?);
                let end = 7usize.checked_add(usize::try_from(length).ok()?)?;
                let creator = std::str::from_utf8(bytes.get(7..end)?).ok()?.to_string();
                if bytes.len() != end + 1 {
                    return None;
                }
                Some(AttributeId::Private {
                    group,
                    creator,
                    offset: bytes[end],
                })
            }
            _ => None,
        }
    }

    /// The standard keyword (e.g. `PatientName`) of a standard attribute.
    pub fn keyword(&self) -> Option<&'static str> {
        match self {
            AttributeId::Standard(tag) => StandardDataDictionary.by_tag(*tag).map(|e| e.alias()),
            _ => None,
        }
    }

    /// Whether this is a `key-attributes-v1` attribute.
    pub fn is_key(&self) -> bool {
        matches!(self, AttributeId::Standard(tag) if crate::is_key_attribute(*tag))
    }

    /// The group number.
    pub fn group(&self) -> u16 {
        match self {
            AttributeId::Standard(tag) | AttributeId::Orphan(tag) => tag.0,
            AttributeId::Private { group, .. } => *group,
        }
    }

    /// A stable text key: `GGGGEEEE` for standard and orphan elements, `GGGG,creator,XX`
    /// for private ones.
    pub fn key(&self) -> String {
        match self {
            AttributeId::Standard(tag) | AttributeId::Orphan(tag) => {
                format!("{:04X}{:04X}", tag.0, tag.1)
            }
            AttributeId::Private {
                group,
                creator,
                offset,
            } => format!("{group:04X},{creator},{offset:02X}"),
        }
    }
}

impl fmt::Display for AttributeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeId::Standard(tag) | AttributeId::Orphan(tag) => {
                write!(f, "({:04X},{:04X})", tag.0, tag.1)
            }
            AttributeId::Private {
                group,
                creator,
                offset,
            } => write!(f, "({group:04X},\"{creator}\",{offset:02X})"),
        }
    }
}

impl Ord for AttributeId {
    /// C5.2.3: by group; standard, then private by creator bytes and offset, then orphans.
    fn cmp(&self, other: &Self) -> Ordering {
        fn rank(id: &AttributeId) -> (u16, u8, &[u8], u16) {
            match id {
                AttributeId::Standard(tag) => (tag.0, 1, &[], tag.1),
                AttributeId::Private {
                    group,
                    creator,
                    offset,
                } => (*group, 2, creator.as_bytes(), u16::from(*offset)),
                AttributeId::Orphan(tag) => (tag.0, 3, &[], tag.1),
            }
        }
        rank(self).cmp(&rank(other))
    }
}

impl PartialOrd for AttributeId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The value class of C5.3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueClass {
    /// Decoded text values.
    Text,
    /// Text that is not valid in its character set, kept as octets.
    UndecodableText,
    /// Little-endian octets.
    Octets,
    /// A sequence of items.
    Sequence,
}

impl ValueClass {
    fn code(self) -> u8 {
        match self {
            ValueClass::Text => 1,
            ValueClass::UndecodableText => 2,
            ValueClass::Octets => 3,
            ValueClass::Sequence => 4,
        }
    }
}

/// One top-level canonical attribute (C5.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalAttribute {
    /// Canonical identity.
    pub id: AttributeId,
    /// The tag as found in the file (for private elements, with its block number).
    pub tag: Tag,
    /// The VR used to canonicalize (C2.3).
    pub vr: VR,
    /// Value class (C5.3.1).
    pub class: ValueClass,
    /// Whether it is in `key-attributes-v1` (§7).
    pub key: bool,
    /// Whether an item of this sequence, at any depth, holds elements of a `SCANSEAL 1`
    /// block. C5.1.2 excludes them from the canonical form, so they are outside every seal;
    /// a verifier reports them (seal-format B5) and a sealer refuses the instance.
    pub holds_seal_block: bool,
    /// `ID ‖ V`.
    canonical: Vec<u8>,
}

impl CanonicalAttribute {
    /// The canonical bytes `ID ‖ V` (C5.4.1).
    pub fn canonical_bytes(&self) -> &[u8] {
        &self.canonical
    }

    /// `len(ID ‖ V)`.
    pub fn canonical_len(&self) -> usize {
        self.canonical.len()
    }

    /// The standard keyword (e.g. `PatientName`), or `None` for private and unknown elements.
    pub fn keyword(&self) -> Option<&'static str> {
        self.id.keyword()
    }

    /// `COMMITMENT` of C6.2 under `salt`.
    pub fn commit(&self, salt: &Salt) -> Digest {
        Digest::of(&[ATTRIBUTE_PREFIX, &salt.0, &self.canonical])
    }

    /// The salt C6.3 derives for this attribute from `seed`.
    ///
    /// # Errors
    /// `TooLarge` for a seed of 4 GiB or more.
    pub fn derived_salt(&self, seed: &[u8]) -> Result<Salt, CanonError> {
        Salt::derive(seed, &self.id.encode()?)
    }
}

/// Walks data sets with the state canonicalization needs.
pub(crate) struct AttributeCanonicalizer {
    big_endian: bool,
    /// Set when an item held an element of a `SCANSEAL 1` block (see
    /// [`CanonicalAttribute::holds_seal_block`]); read and reset per top-level element.
    seal_block_in_item: Cell<bool>,
}

/// One canonicalized element of a data set, before it becomes a top-level attribute.
struct CanonicalElement {
    id: AttributeId,
    tag: Tag,
    vr: VR,
    class: ValueClass,
    value: Vec<u8>,
    holds_seal_block: bool,
}

const DESCRIPTOR_TAGS: [u16; 10] = [
    0x0002, 0x0004, 0x0006, 0x0008, 0x0010, 0x0011, 0x0100, 0x0101, 0x0102, 0x0103,
];

impl AttributeCanonicalizer {
    pub(crate) fn new(big_endian: bool) -> AttributeCanonicalizer {
        AttributeCanonicalizer {
            big_endian,
            seal_block_in_item: Cell::new(false),
        }
    }

    /// The canonical attributes of the top-level data set, in canonical order.
    pub(crate) fn top_level(
        &self,
        dataset: &DataSet,
        has_pixels: bool,
    ) -> Result<Vec<CanonicalAttribute>, CanonError> {
        let elements = self.data_set(dataset, Charset::Latin1, true, has_pixels)?;
        elements
            .into_iter()
            .map(|element| {
                let mut canonical = element.id.encode()?;
                canonical.extend_from_slice(&element.value);
                let key = matches!(element.id, AttributeId::Standard(tag) if is_key_attribute(tag));
                Ok(CanonicalAttribute {
                    id: element.id,
                    tag: element.tag,
                    vr: element.vr,
                    class: element.class,
                    key,
                    holds_seal_block: element.holds_seal_block,
                    canonical,
                })
            })
            .collect()
    }

    /// Canonical elements of one data set (top level or item), sorted (C5.2.3).
    fn data_set(
        &self,
        dataset: &DataSet,
        inherited: Charset,
        top_level: bool,
        has_pixels: bool,
    ) -> Result<Vec<CanonicalElement>, CanonError> {
        let charset = Charset::in_effect(dataset, inherited);
        let creators = private_creators(dataset, charset);
        let mut out = Vec::with_capacity(dataset.elements.len());
        let mut seen = HashSet::new();
        for element in &dataset.elements {
            let tag = element.tag;
            let Some(id) = identity(tag, &creators) else {
                continue;
            };
            if excluded(tag, &id, top_level, has_pixels) {
                if !top_level && is_seal_block_element(&id) {
                    self.seal_block_in_item.set(true);
                }
                continue;
            }
            let vr = resolved_vr(element);
            if top_level {
                self.seal_block_in_item.set(false);
            }
            let (class, value) = self.value(element, &id, vr, charset)?;
            let holds_seal_block = top_level && self.seal_block_in_item.get();
            if !seen.insert(id.clone()) {
                return Err(CanonError::DuplicateAttribute {
                    identity: id.to_string(),
                });
            }
            out.push(CanonicalElement {
                id,
                tag,
                vr,
                class,
                value,
                holds_seal_block,
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// `V` of C5.3.1.
    fn value(
        &self,
        element: &Element,
        id: &AttributeId,
        vr: VR,
        charset: Charset,
    ) -> Result<(ValueClass, Vec<u8>), CanonError> {
        let private = !matches!(id, AttributeId::Standard(_));
        let loaded;
        let octets: &[u8] = match &element.value {
            ElementValue::Sequence(items) => {
                return Ok((ValueClass::Sequence, self.sequence(items, charset)?))
            }
            ElementValue::Encapsulated(_) => {
                return Err(CanonError::Parse {
                    offset: None,
                    reason: format!(
                        "encapsulated pixel data in {} outside the top-level Pixel Data",
                        element.tag
                    ),
                })
            }
            // Only pixel data is left in the file, and it is not an attribute (C5.1.2); any
            // other value is read like one held in memory.
            ElementValue::InFile(span) => {
                loaded = span.read_all()?;
                &loaded
            }
            ElementValue::Primitive(octets) => octets,
        };
        if private {
            // C5.3.4: a defined-length UN that parses as implicit VR items.
            if vr == VR::UN && octets.starts_with(&[0xFE, 0xFF, 0x00, 0xE0]) {
                if let Some(items) = parse_implicit_items(octets) {
                    // Items parsed from UN are always implicit VR little endian.
                    let nested = AttributeCanonicalizer::new(false);
                    let value = nested.sequence(&items, charset)?;
                    if nested.seal_block_in_item.get() {
                        self.seal_block_in_item.set(true);
                    }
                    return Ok((ValueClass::Sequence, value));
                }
            }
            let octets = self.little_endian(element, octets)?;
            return Ok((
                ValueClass::Octets,
                octets_value(ValueClass::Octets, &octets)?,
            ));
        }
        if let Some(text_vr) = TextVr::of(vr) {
            let decoder = if text_vr.uses_charset() {
                charset
            } else {
                Charset::Latin1
            };
            return match decoder.decode(octets) {
                Some(text) => Ok((ValueClass::Text, text_value(&text, text_vr)?)),
                None => Ok((
                    ValueClass::UndecodableText,
                    octets_value(ValueClass::UndecodableText, octets)?,
                )),
            };
        }
        let octets = self.little_endian(element, octets)?;
        Ok((
            ValueClass::Octets,
            octets_value(ValueClass::Octets, &octets)?,
        ))
    }

    fn sequence(&self, items: &[DataSet], charset: Charset) -> Result<Vec<u8>, CanonError> {
        let mut out = vec![ValueClass::Sequence.code()];
        out.extend_from_slice(&length_prefix(items.len(), "item count")?);
        for item in items {
            let elements = self.data_set(item, charset, false, false)?;
            out.extend_from_slice(&length_prefix(elements.len(), "attribute count")?);
            for element in elements {
                out.extend_from_slice(&element.id.encode()?);
                out.extend_from_slice(&element.value);
            }
        }
        Ok(out)
    }

    /// Brings a value to little-endian octets (§5.3), swapping per unit of the VR as written
    /// in a big-endian file.
    fn little_endian<'a>(
        &self,
        element: &Element,
        octets: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, CanonError> {
        if !self.big_endian {
            return Ok(Cow::Borrowed(octets));
        }
        let unit = match element.vr {
            VR::AT | VR::OW | VR::SS | VR::US => 2,
            VR::OF | VR::OL | VR::FL | VR::SL | VR::UL => 4,
            VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
            _ => return Ok(Cow::Borrowed(octets)),
        };
        if octets.len() % unit != 0 {
            return Err(CanonError::BadValueLength {
                tag: element.tag,
                vr: element.vr.to_string(),
                length: octets.len(),
                unit,
            });
        }
        let mut swapped = octets.to_vec();
        for chunk in swapped.chunks_exact_mut(unit) {
            chunk.reverse();
        }
        Ok(Cow::Owned(swapped))
    }
}

impl DataSet {
    /// Removes every private block of this data set whose creator reads
    /// [`SEAL_PRIVATE_CREATOR`] (C5.1.1 rule 7): its creator element and every element of the
    /// block. Returns how many elements were removed. Creators are read as the canonical form
    /// reads them (C5.2.1), so exactly the blocks the canonical form leaves out are removed.
    pub fn remove_seal_blocks(&mut self) -> usize {
        let charset = Charset::in_effect(self, Charset::Latin1);
        let blocks: HashSet<(u16, u8)> = private_creators(self, charset)
            .into_iter()
            .filter(|(_, creator)| creator == SEAL_PRIVATE_CREATOR)
            .map(|(block, _)| block)
            .collect();
        let before = self.elements.len();
        self.elements.retain(|e| {
            let Tag(group, number) = e.tag;
            let block = if (0x0010..=0x00FF).contains(&number) {
                number as u8
            } else if number >= 0x1000 {
                (number >> 8) as u8
            } else {
                return true;
            };
            !blocks.contains(&(group, block))
        });
        before - self.elements.len()
    }
}

/// Creator strings of the data set's private blocks: (group, block) → creator (C5.2.1).
fn private_creators(dataset: &DataSet, charset: Charset) -> BTreeMap<(u16, u8), String> {
    let mut creators = BTreeMap::new();
    for element in &dataset.elements {
        let Tag(group, number) = element.tag;
        if group % 2 == 1 && (0x0010..=0x00FF).contains(&number) {
            if let ElementValue::Primitive(octets) = &element.value {
                let text = charset.decode(octets).unwrap_or_else(|| latin1(octets));
                let creator = TextVr(VR::LO).trim(&text);
                creators.insert((group, number as u8), creator);
            }
        }
    }
    creators
}

/// The identity of an element (C5.2.1), or `None` for private creator elements (rule 6).
fn identity(tag: Tag, creators: &BTreeMap<(u16, u8), String>) -> Option<AttributeId> {
    let Tag(group, number) = tag;
    if group % 2 == 0 {
        return Some(AttributeId::Standard(tag));
    }
    if (0x0010..=0x00FF).contains(&number) {
        return None;
    }
    if number >= 0x1000 {
        let block = (number >> 8) as u8;
        if let Some(creator) = creators.get(&(group, block)) {
            return Some(AttributeId::Private {
                group,
                creator: creator.clone(),
                offset: (number & 0xFF) as u8,
            });
        }
    }
    Some(AttributeId::Orphan(tag))
}

/// Whether `id` is an element of a `SCANSEAL 1` block (C5.1.1 rule 7).
fn is_seal_block_element(id: &AttributeId) -> bool {
    matches!(id, AttributeId::Private { creator, .. } if creator == SEAL_PRIVATE_CREATOR)
}

/// C5.1.1 (top level) and C5.1.2 (items).
fn excluded(tag: Tag, id: &AttributeId, top_level: bool, has_pixels: bool) -> bool {
    let Tag(group, number) = tag;
    if number == 0x0000 || tag == Tag(0x0008, 0x0005) {
        return true;
    }
    if is_seal_block_element(id) {
        return true;
    }
    if !top_level {
        return false;
    }
    group == 0x0002
        || (group == 0x7FE0 && matches!(number, 0x0001 | 0x0002 | 0x0008 | 0x0009 | 0x0010))
        || tag == Tag(0xFFFA, 0xFFFA)
        || tag == Tag(0x4FFE, 0x0001)
        || tag == Tag(0xFFFC, 0xFFFC)
        || (has_pixels && group == 0x0028 && DESCRIPTOR_TAGS.contains(&number))
}

/// The VR to canonicalize with (C2.3): the dictionary's for known standard elements (the
/// written VR when it is one of the dictionary's alternatives), else the VR as read.
pub(crate) fn resolved_vr(element: &Element) -> VR {
    if element.tag.0 % 2 == 1 {
        return element.vr;
    }
    let Some(entry) = StandardDataDictionary.by_tag(element.tag) else {
        return element.vr;
    };
    let alternatives: &[VR] = match entry.vr() {
        VirtualVr::Exact(vr) => return vr,
        VirtualVr::Xs => &[VR::US, VR::SS],
        VirtualVr::Ox | VirtualVr::Px => &[VR::OB, VR::OW],
        VirtualVr::Lt => &[VR::US, VR::OW],
        _ => return element.vr,
    };
    if alternatives.contains(&element.vr) {
        element.vr
    } else {
        alternatives[0]
    }
}

/// The text VRs of class 1 and their rules (C5.3.2, C5.3.3).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextVr(VR);

impl TextVr {
    pub(crate) fn of(vr: VR) -> Option<TextVr> {
        use VR::*;
        matches!(
            vr,
            AE | AS | CS | DA | DS | DT | IS | LO | LT | PN | SH | ST | TM | UC | UI | UR | UT
        )
        .then_some(TextVr(vr))
    }

    pub(crate) fn uses_charset(self) -> bool {
        matches!(
            self.0,
            VR::SH | VR::LO | VR::UC | VR::ST | VR::LT | VR::UT | VR::PN
        )
    }

    fn single_valued(self) -> bool {
        matches!(self.0, VR::LT | VR::ST | VR::UT | VR::UR)
    }

    /// C5.3.2: trailing NULs and spaces in any mix, then leading spaces for some VRs.
    fn trim(self, value: &str) -> String {
        let value = value.trim_end_matches(['\0', ' ']);
        match self.0 {
            VR::PN | VR::LT | VR::ST | VR::UT | VR::UR | VR::UC | VR::UI => value,
            _ => value.trim_start_matches(' '),
        }
        .to_string()
    }
}

/// Class 1 `V`: `u8(1) ‖ u32(n) ‖ str(v₁) ‖ …`.
fn text_value(text: &str, vr: TextVr) -> Result<Vec<u8>, CanonError> {
    let values: Vec<String> = if text.is_empty() {
        Vec::new()
    } else if vr.single_valued() {
        vec![vr.trim(text)]
    } else {
        text.split('\\').map(|v| vr.trim(v)).collect()
    };
    let mut out = vec![ValueClass::Text.code()];
    put_u32(
        &mut out,
        u32::try_from(values.len()).map_err(|_| CanonError::TooLarge {
            what: "value count",
        })?,
    );
    for value in values {
        put_bytes(&mut out, value.as_bytes(), "text value")?;
    }
    Ok(out)
}

/// Class 2 and 3 `V`: `u8(class) ‖ bytes(octets)`.
fn octets_value(class: ValueClass, octets: &[u8]) -> Result<Vec<u8>, CanonError> {
    let mut out = Vec::with_capacity(octets.len() + 5);
    out.push(class.code());
    put_bytes(&mut out, octets, "attribute value")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn attribute_ids_decode_what_they_encode() {
        for id in [
            AttributeId::Standard(Tag(0x0010, 0x0010)),
            AttributeId::Orphan(Tag(0x0009, 0x1001)),
            AttributeId::Private {
                group: 0x0029,
                creator: "SIEMENS CSA HEADER".into(),
                offset: 0x10,
            },
        ] {
            let bytes = id.encode().unwrap();
            assert_eq!(AttributeId::decode(&bytes), Some(id));
            assert_eq!(AttributeId::decode(&bytes[..bytes.len() - 1]), None);
            assert_eq!(
                AttributeId::decode(&[bytes.clone(), vec![0]].concat()),
                None
            );
        }
        assert_eq!(AttributeId::decode(&[]), None);
        assert_eq!(AttributeId::decode(&[2, 0, 0, 255, 255, 255, 255]), None);
    }

    fn element(tag: Tag, vr: VR, value: &[u8]) -> Element {
        Element {
            tag,
            vr,
            value: ElementValue::Primitive(value.to_vec()),
        }
    }

    fn sequence(tag: Tag, items: Vec<DataSet>) -> Element {
        Element {
            tag,
            vr: VR::SQ,
            value: ElementValue::Sequence(items),
        }
    }

    /// An item holding one ordinary element and, optionally, a `SCANSEAL 1` block.
    fn item(with_seal_block: bool) -> DataSet {
        let mut elements = vec![element(Tag(0x0008, 0x1150), VR::UI, b"1.2.3\0")];
        if with_seal_block {
            elements.push(element(Tag(0x7FF1, 0x0010), VR::LO, b"SCANSEAL 1"));
            elements.push(element(Tag(0x7FF1, 0x1000), VR::OB, b"hidden"));
        }
        DataSet::from_elements(elements)
    }

    #[test]
    fn seal_blocks_in_items_are_excluded_but_flagged_on_the_top_level_attribute() {
        let data_set = |with_seal_block: bool| {
            DataSet::from_elements(vec![
                element(Tag(0x0010, 0x0010), VR::PN, b"Doe^J\0"),
                // Two levels down: Referenced Series > Referenced Instance items.
                sequence(
                    Tag(0x0008, 0x1115),
                    vec![DataSet::from_elements(vec![sequence(
                        Tag(0x0008, 0x114A),
                        vec![item(false), item(with_seal_block)],
                    )])],
                ),
                sequence(Tag(0x0008, 0x1140), vec![item(false)]),
            ])
        };
        let canonicalizer = AttributeCanonicalizer::new(false);
        let plain = canonicalizer.top_level(&data_set(false), false).unwrap();
        let hiding = canonicalizer.top_level(&data_set(true), false).unwrap();
        assert_eq!(plain.len(), 3);
        for (a, b) in plain.iter().zip(&hiding) {
            assert_eq!(a.canonical_bytes(), b.canonical_bytes());
            assert!(!a.holds_seal_block);
            assert_eq!(
                b.holds_seal_block,
                b.tag == Tag(0x0008, 0x1115),
                "{}",
                b.tag
            );
        }
    }

    #[test]
    fn a_seal_block_in_an_item_of_a_private_un_sequence_is_flagged() {
        // C5.3.4: a defined-length private UN that parses as implicit VR LE items.
        let mut octets = Vec::new();
        let mut inner = Vec::new();
        for (tag, value) in [
            ((0x7FF1u16, 0x0010u16), &b"SCANSEAL 1"[..]),
            ((0x7FF1, 0x1000), b"xy"),
        ] {
            inner.extend_from_slice(&tag.0.to_le_bytes());
            inner.extend_from_slice(&tag.1.to_le_bytes());
            inner.extend_from_slice(&(value.len() as u32).to_le_bytes());
            inner.extend_from_slice(value);
        }
        octets.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        octets.extend_from_slice(&(inner.len() as u32).to_le_bytes());
        octets.extend_from_slice(&inner);
        let data_set = DataSet::from_elements(vec![
            element(Tag(0x0009, 0x0010), VR::LO, b"ACME 1"),
            element(Tag(0x0009, 0x1001), VR::UN, &octets),
        ]);
        let attributes = AttributeCanonicalizer::new(false)
            .top_level(&data_set, false)
            .unwrap();
        assert_eq!(attributes.len(), 1);
        assert_eq!(attributes[0].class, ValueClass::Sequence);
        assert!(attributes[0].holds_seal_block);
    }
}
