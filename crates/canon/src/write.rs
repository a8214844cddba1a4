//! Writes a [`DicomInstance`] back to a DICOM Part 10 stream: the inverse of [`crate::read`].
//!
//! Values are written exactly as stored in the tree (file byte order, padding included, odd
//! lengths kept); only the framing around them is produced here: element headers in the
//! instance's transfer syntax, sequences and items of undefined length, encapsulated pixel
//! items, and for the deflated transfer syntaxes raw deflate (RFC 1951) over the Explicit VR
//! Little Endian encoding. The property this module guarantees — and its tests check — is that
//! reading the output back gives the same tree, hence the same canonical form (`canon-v1`).

use std::io::Write;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_encoding::transfer_syntax::{Endianness, TransferSyntaxIndex};
use dicom_encoding::Codec;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use crate::read::{DataSet, DicomInstance, Element, ElementValue, Encapsulated, MAX_NESTING};
use crate::CanonError;

/// File Meta Information of a file written by [`DicomInstance::write_part10`].
///
/// The Transfer Syntax UID (0002,0010) is not a field: it is always the instance's own
/// ([`DicomInstance::transfer_syntax`]), the one its data set is encoded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Media Storage SOP Class UID (0002,0002).
    pub media_storage_sop_class_uid: String,
    /// Media Storage SOP Instance UID (0002,0003).
    pub media_storage_sop_instance_uid: String,
    /// Implementation Class UID (0002,0012).
    pub implementation_class_uid: String,
    /// Implementation Version Name (0002,0013), at most 16 characters; not written when `None`.
    pub implementation_version_name: Option<String>,
}

/// The value of a length field that means "undefined length".
const UNDEFINED: u32 = 0xFFFF_FFFF;
/// The longest value a 4-byte length field can declare (0xFFFFFFFF means undefined).
const MAX_LONG: u32 = UNDEFINED - 1;
/// The longest value a 2-byte length field can declare.
const MAX_SHORT: u32 = 0xFFFF;

const ITEM: u16 = 0xE000;
const ITEM_DELIMITATION: u16 = 0xE00D;
const SEQUENCE_DELIMITATION: u16 = 0xE0DD;
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// How a transfer syntax encodes the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// Explicit VR Little Endian, and every encapsulated transfer syntax.
    ExplicitLittle,
    /// Implicit VR Little Endian, `1.2.840.10008.1.2`.
    ImplicitLittle,
    /// Explicit VR Big Endian, `1.2.840.10008.1.2.2`.
    ExplicitBig,
    /// Explicit VR Little Endian, then raw deflate (`1.2.840.10008.1.2.1.99`,
    /// `1.2.840.10008.1.2.4.95`, and any other transfer syntax the registry deflates).
    Deflated,
}

impl Syntax {
    /// The encoding of `uid`, decided as the reader decides how to decode it: the same
    /// registry entry (so only a transfer syntax the reader accepts is written), its
    /// data-set codec for deflate, and the two UIDs that are not Explicit VR Little Endian.
    fn of(uid: &str) -> Result<Syntax, CanonError> {
        let unsupported = || CanonError::UnsupportedTransferSyntax {
            uid: uid.to_string(),
        };
        let ts = TransferSyntaxRegistry.get(uid).ok_or_else(unsupported)?;
        let syntax = match (uid, ts.codec()) {
            (_, Codec::Dataset(None)) => return Err(unsupported()),
            (_, Codec::Dataset(Some(_))) => Syntax::Deflated,
            ("1.2.840.10008.1.2", _) => Syntax::ImplicitLittle,
            ("1.2.840.10008.1.2.2", _) => Syntax::ExplicitBig,
            _ => Syntax::ExplicitLittle,
        };
        // Big endian is the one retired transfer syntax; anything else claiming it is unknown.
        let big = ts.endianness() == Endianness::Big;
        if big != (syntax == Syntax::ExplicitBig) {
            return Err(unsupported());
        }
        Ok(syntax)
    }
}

impl DicomInstance {
    /// Encodes the data set (no preamble, no File Meta Information) in the instance's
    /// transfer syntax: the bytes that follow the File Meta Information in a Part 10 file.
    ///
    /// Elements are written in the data set's order, each primitive value exactly as stored
    /// (length = number of octets, even when odd), every sequence and item with undefined
    /// length, encapsulated pixel data as a Basic Offset Table item then one item per
    /// fragment. For Deflated Explicit VR Little Endian the Explicit VR Little Endian encoding
    /// is raw-deflated and padded with one `00` byte to even length.
    ///
    /// # Errors
    /// - `UnsupportedTransferSyntax` for a transfer syntax the reader would not accept;
    /// - `FileMetaInDataSet` for a group 0002 element in the top-level data set;
    /// - `TagsNotAscending` when the elements of the data set or of an item are not in
    ///   strictly ascending tag order (nothing is re-sorted);
    /// - `ValueTooLong` for a value its length field cannot hold (more than 65535 bytes for a
    ///   VR with a 2-byte length in explicit VR, 4294967294 otherwise);
    /// - `NotEncodable` for an element that would not read back as itself: an item or
    ///   delimiter tag (FFFE,xxxx) as an element, a primitive value with VR `SQ` (in implicit
    ///   VR: of a tag the dictionary makes `SQ`), encapsulated fragments in an element other
    ///   than Pixel Data (7FE0,0010);
    /// - `NestingTooDeep` for sequences nested deeper than [`MAX_NESTING`];
    /// - `Write` if deflating fails.
    pub fn encode_data_set(&self) -> Result<Vec<u8>, CanonError> {
        let syntax = Syntax::of(&self.transfer_syntax)?;
        let mut encoder = Encoder {
            explicit: syntax != Syntax::ImplicitLittle,
            big_endian: syntax == Syntax::ExplicitBig,
            out: Vec::new(),
        };
        encoder.data_set(&self.dataset, 0)?;
        if syntax == Syntax::Deflated {
            return deflate(&encoder.out);
        }
        Ok(encoder.out)
    }

    /// Writes a complete Part 10 file to `sink`: 128 zero bytes, `DICM`, the File Meta
    /// Information, then the data set as [`DicomInstance::encode_data_set`] encodes it.
    ///
    /// The File Meta Information is Explicit VR Little Endian: (0002,0000) group length (UL),
    /// (0002,0001) File Meta Information Version `00 01` (OB), (0002,0002) and (0002,0003) from
    /// `meta`, (0002,0010) the instance's transfer syntax, (0002,0012), and (0002,0013) when
    /// given. UI values are padded with one NUL, the SH value with one space, to even length.
    /// Nothing is written to `sink` unless the whole file could be encoded.
    ///
    /// # Errors
    /// - `BadFileMeta` for a UID that is empty, longer than 64 characters or not made of
    ///   digits and periods, or an implementation version name longer than 16 characters or
    ///   with a character SH does not allow (backslash, control characters, non-ASCII);
    /// - any error of [`DicomInstance::encode_data_set`];
    /// - `Write` when `sink` fails.
    pub fn write_part10<W: Write>(&self, meta: &FileMeta, sink: &mut W) -> Result<(), CanonError> {
        let meta_bytes = file_meta(meta, &self.transfer_syntax)?;
        let data_set = self.encode_data_set()?;
        let write = |sink: &mut W, bytes: &[u8]| {
            sink.write_all(bytes)
                .map_err(|source| CanonError::Write { source })
        };
        write(sink, &[0; 128])?;
        write(sink, b"DICM")?;
        write(sink, &meta_bytes)?;
        write(sink, &data_set)?;
        sink.flush().map_err(|source| CanonError::Write { source })
    }
}

/// Whether an explicit-VR header of `vr` has `00 00` and a 4-byte length (PS3.5 Table 7.1-1,
/// the list of seal-format B12).
pub(crate) fn has_long_length(vr: VR) -> bool {
    use VR::*;
    matches!(
        vr,
        OB | OD | OF | OL | OV | OW | SQ | SV | UC | UN | UR | UT | UV
    )
}

/// Appends element headers and values in one transfer syntax's byte order and VR mode.
struct Encoder {
    explicit: bool,
    big_endian: bool,
    out: Vec<u8>,
}

impl Encoder {
    fn u16(&mut self, value: u16) {
        let bytes = if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        self.out.extend_from_slice(&bytes);
    }

    fn u32(&mut self, value: u32) {
        let bytes = if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        self.out.extend_from_slice(&bytes);
    }

    fn tag(&mut self, tag: Tag) {
        self.u16(tag.0);
        self.u16(tag.1);
    }

    /// An item or delimiter header: tag and 4-byte length, never a VR.
    fn item_header(&mut self, element: u16, length: u32) {
        self.tag(Tag(0xFFFE, element));
        self.u32(length);
    }

    /// An element header. `length` is either [`UNDEFINED`] (only for VRs with a 4-byte length
    /// in explicit VR) or a checked value length.
    fn header(&mut self, tag: Tag, vr: VR, length: u32) {
        self.tag(tag);
        if !self.explicit {
            self.u32(length);
            return;
        }
        self.out.extend_from_slice(&vr.to_bytes());
        match u16::try_from(length) {
            Ok(short) if !has_long_length(vr) => self.u16(short),
            _ => {
                self.out.extend_from_slice(&[0, 0]);
                self.u32(length);
            }
        }
    }

    /// The length field for `octets` as the value of `tag` with `vr`.
    fn value_length(&self, tag: Tag, vr: VR, octets: &[u8]) -> Result<u32, CanonError> {
        let max = if self.explicit && !has_long_length(vr) {
            MAX_SHORT
        } else {
            MAX_LONG
        };
        match u32::try_from(octets.len()) {
            Ok(length) if length <= max => Ok(length),
            _ => Err(CanonError::ValueTooLong {
                tag,
                vr: vr.to_string(),
                length: octets.len(),
                max,
            }),
        }
    }

    /// The elements of one data set (`depth` = number of enclosing sequences; 0 = top level).
    fn data_set(&mut self, data_set: &DataSet, depth: usize) -> Result<(), CanonError> {
        let mut previous: Option<Tag> = None;
        for element in &data_set.elements {
            let tag = element.tag;
            if depth == 0 && tag.0 == 0x0002 {
                return Err(CanonError::FileMetaInDataSet { tag });
            }
            if tag.0 == 0xFFFE {
                return Err(not_encodable(
                    tag,
                    "item and delimiter tags (FFFE,xxxx) cannot be data elements",
                ));
            }
            if let Some(previous) = previous {
                if tag <= previous {
                    return Err(CanonError::TagsNotAscending { previous, tag });
                }
            }
            previous = Some(tag);
            self.element(element, depth)?;
        }
        Ok(())
    }

    fn element(&mut self, element: &Element, depth: usize) -> Result<(), CanonError> {
        let tag = element.tag;
        match &element.value {
            ElementValue::Primitive(octets) => {
                self.check_primitive(element)?;
                let length = self.value_length(tag, element.vr, octets)?;
                self.header(tag, element.vr, length);
                self.out.extend_from_slice(octets);
            }
            ElementValue::InFile(span) => {
                // The output is built in memory, so the value is read into it.
                self.check_primitive(element)?;
                let octets = span.read_all()?;
                let length = self.value_length(tag, element.vr, &octets)?;
                self.header(tag, element.vr, length);
                self.out.extend_from_slice(&octets);
            }
            ElementValue::Sequence(items) => {
                if depth >= MAX_NESTING {
                    return Err(CanonError::NestingTooDeep { limit: MAX_NESTING });
                }
                // Why always `SQ`, also for a sequence the reader made of an undefined-length
                // `UN` (CP-246) or of an undefined-length implicit-VR private element:
                // - the tree cannot tell them apart: the reader records every sequence as VR
                //   SQ, so SQ is what reads back as the same element;
                // - the items are written in the file's own encoding with each nested
                //   element's VR as recorded. For CP-246 content the reader's transcoder has
                //   already turned every nested header into an explicit `UN` header with a
                //   4-byte length, which is exactly what is written here, so the re-read tree
                //   is element for element the one read before. Writing `UN` instead would
                //   require re-encoding the items as Implicit VR Little Endian (PS3.5 §6.2.2),
                //   which has no Big Endian form and would drop the explicit VRs of nested
                //   elements (a private nested `OB` would come back as `UN` and could then be
                //   parsed as items, C5.3.4);
                // - the canonical form does not depend on the choice: the canonicalizer gives
                //   class 4 to every sequence value whatever its VR (C5.3.1, C5.3.4: a private
                //   SQ and a private undefined-length UN are both sequences), and a standard
                //   element's canonical VR is the dictionary's (C2.3).
                // In implicit VR no VR is written; the undefined length alone makes the reader
                // parse any element (other than Pixel Data) as a sequence again.
                self.header(tag, VR::SQ, UNDEFINED);
                for item in items {
                    self.item_header(ITEM, UNDEFINED);
                    self.data_set(item, depth + 1)?;
                    self.item_header(ITEM_DELIMITATION, 0);
                }
                self.item_header(SEQUENCE_DELIMITATION, 0);
            }
            ElementValue::Encapsulated(pixels) => {
                if tag != PIXEL_DATA {
                    // Only Pixel Data with undefined length is read as fragments; any other
                    // element would be read as a sequence of data sets.
                    return Err(not_encodable(
                        tag,
                        "encapsulated fragments are only readable in Pixel Data (7FE0,0010)",
                    ));
                }
                if depth >= MAX_NESTING {
                    return Err(CanonError::NestingTooDeep { limit: MAX_NESTING });
                }
                self.encapsulated(tag, pixels)?;
            }
        }
        Ok(())
    }

    /// Refuses primitive values that the reader would parse as a sequence.
    fn check_primitive(&self, element: &Element) -> Result<(), CanonError> {
        if self.explicit && element.vr == VR::SQ {
            return Err(not_encodable(
                element.tag,
                "a primitive value with VR SQ would be read back as a sequence",
            ));
        }
        if !self.explicit && element.tag != PIXEL_DATA {
            let dictionary_sq = StandardDataDictionary
                .by_tag(element.tag)
                .is_some_and(|entry| matches!(entry.vr(), VirtualVr::Exact(VR::SQ)));
            if dictionary_sq {
                return Err(not_encodable(
                    element.tag,
                    "a primitive value of a tag the dictionary makes SQ would be read back as \
                     a sequence in Implicit VR",
                ));
            }
        }
        Ok(())
    }

    /// Encapsulated pixel data: header with undefined length, the Basic Offset Table item
    /// (offsets in the transfer syntax's byte order, as the reader decodes them), one item per
    /// fragment, the sequence delimitation item.
    fn encapsulated(&mut self, tag: Tag, pixels: &Encapsulated) -> Result<(), CanonError> {
        self.header(tag, VR::OB, UNDEFINED);
        let table_length = pixels
            .offset_table
            .len()
            .checked_mul(4)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n <= MAX_LONG)
            .ok_or_else(|| CanonError::ValueTooLong {
                tag,
                vr: "OB",
                length: pixels.offset_table.len().saturating_mul(4),
                max: MAX_LONG,
            })?;
        self.item_header(ITEM, table_length);
        for &offset in &pixels.offset_table {
            self.u32(offset);
        }
        for fragment in &pixels.fragments {
            let length = self.value_length(tag, VR::OB, fragment)?;
            self.item_header(ITEM, length);
            self.out.extend_from_slice(fragment);
        }
        self.item_header(SEQUENCE_DELIMITATION, 0);
        Ok(())
    }
}

fn not_encodable(tag: Tag, reason: &str) -> CanonError {
    CanonError::NotEncodable {
        tag,
        reason: reason.to_string(),
    }
}

/// Raw deflate (RFC 1951) of `inflated`, padded with one `00` byte to even length (PS3.5 A.5).
fn deflate(inflated: &[u8]) -> Result<Vec<u8>, CanonError> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(inflated)
        .map_err(|source| CanonError::Write { source })?;
    let mut compressed = encoder
        .finish()
        .map_err(|source| CanonError::Write { source })?;
    if compressed.len() % 2 == 1 {
        compressed.push(0);
    }
    Ok(compressed)
}

/// The File Meta Information after `DICM`, group length first.
fn file_meta(meta: &FileMeta, transfer_syntax: &str) -> Result<Vec<u8>, CanonError> {
    let mut group = Encoder {
        explicit: true,
        big_endian: false,
        out: Vec::new(),
    };
    let mut put = |element: u16, vr: VR, value: &[u8]| -> Result<(), CanonError> {
        let tag = Tag(0x0002, element);
        let length = group.value_length(tag, vr, value)?;
        group.header(tag, vr, length);
        group.out.extend_from_slice(value);
        Ok(())
    };
    put(0x0001, VR::OB, &[0x00, 0x01])?;
    put(
        0x0002,
        VR::UI,
        &ui(
            "media_storage_sop_class_uid",
            &meta.media_storage_sop_class_uid,
        )?,
    )?;
    put(
        0x0003,
        VR::UI,
        &ui(
            "media_storage_sop_instance_uid",
            &meta.media_storage_sop_instance_uid,
        )?,
    )?;
    put(0x0010, VR::UI, &ui("transfer_syntax", transfer_syntax)?)?;
    put(
        0x0012,
        VR::UI,
        &ui("implementation_class_uid", &meta.implementation_class_uid)?,
    )?;
    if let Some(name) = &meta.implementation_version_name {
        put(0x0013, VR::SH, &sh("implementation_version_name", name)?)?;
    }
    let body = group.out;
    let group_length = u32::try_from(body.len()).map_err(|_| CanonError::TooLarge {
        what: "File Meta Information",
    })?;
    let mut out = Vec::with_capacity(12 + body.len());
    out.extend_from_slice(&[0x02, 0x00, 0x00, 0x00]);
    out.extend_from_slice(b"UL");
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&group_length.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// A UI value: 1 to 64 digits and periods, padded with one NUL to even length.
fn ui(field: &'static str, uid: &str) -> Result<Vec<u8>, CanonError> {
    let bad = |reason: &str| CanonError::BadFileMeta {
        field,
        reason: reason.to_string(),
    };
    if uid.is_empty() {
        return Err(bad("empty UID"));
    }
    if uid.len() > 64 {
        return Err(bad(&format!(
            "UID of {} characters (at most 64)",
            uid.len()
        )));
    }
    if !uid.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad("a UID holds only digits and periods"));
    }
    let mut value = uid.as_bytes().to_vec();
    if value.len() % 2 == 1 {
        value.push(0);
    }
    Ok(value)
}

/// An SH value: at most 16 printable ASCII characters without backslash, padded with one
/// space to even length.
fn sh(field: &'static str, text: &str) -> Result<Vec<u8>, CanonError> {
    let bad = |reason: &str| CanonError::BadFileMeta {
        field,
        reason: reason.to_string(),
    };
    if text.len() > 16 {
        return Err(bad(&format!(
            "{} characters (SH holds at most 16)",
            text.len()
        )));
    }
    if !text
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'\\')
    {
        return Err(bad(
            "only printable ASCII characters other than backslash are allowed",
        ));
    }
    let mut value = text.as_bytes().to_vec();
    if value.len() % 2 == 1 {
        value.push(b' ');
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn instance(transfer_syntax: &str, elements: Vec<Element>) -> DicomInstance {
        DicomInstance {
            transfer_syntax: transfer_syntax.to_string(),
            dataset: DataSet { elements },
        }
    }

    fn primitive(tag: Tag, vr: VR, octets: &[u8]) -> Element {
        Element {
            tag,
            vr,
            value: ElementValue::Primitive(octets.to_vec()),
        }
    }

    #[test]
    fn transfer_syntaxes_map_to_their_encodings() {
        assert_eq!(
            Syntax::of("1.2.840.10008.1.2").unwrap(),
            Syntax::ImplicitLittle
        );
        assert_eq!(
            Syntax::of("1.2.840.10008.1.2.1").unwrap(),
            Syntax::ExplicitLittle
        );
        assert_eq!(
            Syntax::of("1.2.840.10008.1.2.2").unwrap(),
            Syntax::ExplicitBig
        );
        assert_eq!(
            Syntax::of("1.2.840.10008.1.2.1.99").unwrap(),
            Syntax::Deflated
        );
        assert_eq!(
            Syntax::of("1.2.840.10008.1.2.4.95").unwrap(),
            Syntax::Deflated
        );
        for encapsulated in [
            "1.2.840.10008.1.2.5",
            "1.2.840.10008.1.2.4.50",
            "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.90",
        ] {
            assert_eq!(Syntax::of(encapsulated).unwrap(), Syntax::ExplicitLittle);
        }
        assert_eq!(
            Syntax::of("1.2.3.4").unwrap_err().kind(),
            "UnsupportedTransferSyntax"
        );
    }

    #[test]
    fn long_and_short_headers() {
        // Every VR with a 4-byte length, and a sample of those with a 2-byte length.
        for vr in [
            VR::OB,
            VR::OD,
            VR::OF,
            VR::OL,
            VR::OV,
            VR::OW,
            VR::SV,
            VR::UC,
            VR::UN,
            VR::UR,
            VR::UT,
            VR::UV,
        ] {
            let bytes = instance(
                "1.2.840.10008.1.2.1",
                vec![primitive(Tag(0x0009, 0x1001), vr, b"ab")],
            )
            .encode_data_set()
            .unwrap();
            let mut want = vec![0x09, 0x00, 0x01, 0x10];
            want.extend_from_slice(&vr.to_bytes());
            want.extend_from_slice(&[0, 0, 2, 0, 0, 0, b'a', b'b']);
            assert_eq!(bytes, want, "{vr:?}");
        }
        for vr in [
            VR::AE,
            VR::AT,
            VR::CS,
            VR::DS,
            VR::FD,
            VR::LO,
            VR::LT,
            VR::PN,
            VR::SH,
            VR::ST,
            VR::UI,
            VR::UL,
            VR::US,
        ] {
            let bytes = instance(
                "1.2.840.10008.1.2.1",
                vec![primitive(Tag(0x0009, 0x1001), vr, b"ab")],
            )
            .encode_data_set()
            .unwrap();
            let mut want = vec![0x09, 0x00, 0x01, 0x10];
            want.extend_from_slice(&vr.to_bytes());
            want.extend_from_slice(&[2, 0, b'a', b'b']);
            assert_eq!(bytes, want, "{vr:?}");
        }
    }

    #[test]
    fn limits_of_the_length_fields() {
        let at = |vr: VR, len: usize, ts: &str| {
            instance(
                ts,
                vec![primitive(Tag(0x0010, 0x0020), vr, &vec![b'1'; len])],
            )
            .encode_data_set()
        };
        assert!(at(VR::LO, 65535, "1.2.840.10008.1.2.1").is_ok());
        assert!(at(VR::LO, 65535, "1.2.840.10008.1.2.2").is_ok());
        let err = at(VR::LO, 65536, "1.2.840.10008.1.2.2").unwrap_err();
        assert!(
            matches!(
                err,
                CanonError::ValueTooLong {
                    tag: Tag(0x0010, 0x0020),
                    vr: "LO",
                    length: 65536,
                    max: 65535
                }
            ),
            "{err}"
        );
        // Implicit VR and 4-byte-length VRs have no 64 KiB limit.
        assert!(at(VR::LO, 65536, "1.2.840.10008.1.2").is_ok());
        assert!(at(VR::UT, 65536, "1.2.840.10008.1.2.1").is_ok());
    }

    #[test]
    fn primitive_values_that_would_read_as_sequences_are_refused() {
        let sq = instance(
            "1.2.840.10008.1.2.1",
            vec![primitive(Tag(0x0009, 0x1001), VR::SQ, b"")],
        );
        assert_eq!(sq.encode_data_set().unwrap_err().kind(), "NotEncodable");
        // (0008,1140) Referenced Image Sequence is SQ in the dictionary: in Implicit VR a
        // primitive value would read back as items.
        let implicit = instance(
            "1.2.840.10008.1.2",
            vec![primitive(Tag(0x0008, 0x1140), VR::UN, b"")],
        );
        assert_eq!(
            implicit.encode_data_set().unwrap_err().kind(),
            "NotEncodable"
        );
        // In explicit VR it is written as the UN it is (as CP-246 content reads).
        let explicit = instance(
            "1.2.840.10008.1.2.1",
            vec![primitive(Tag(0x0008, 0x1140), VR::UN, b"")],
        );
        assert!(explicit.encode_data_set().is_ok());
    }

    #[test]
    fn misplaced_elements_are_refused() {
        let meta = instance(
            "1.2.840.10008.1.2.1",
            vec![primitive(Tag(0x0002, 0x0010), VR::UI, b"1.2\0")],
        );
        assert!(matches!(
            meta.encode_data_set().unwrap_err(),
            CanonError::FileMetaInDataSet {
                tag: Tag(0x0002, 0x0010)
            }
        ));
        let item_tag = instance(
            "1.2.840.10008.1.2.1",
            vec![primitive(Tag(0xFFFE, 0xE000), VR::OB, b"")],
        );
        assert_eq!(
            item_tag.encode_data_set().unwrap_err().kind(),
            "NotEncodable"
        );
        let fragments = instance(
            "1.2.840.10008.1.2.5",
            vec![Element {
                tag: Tag(0x0009, 0x1001),
                vr: VR::OB,
                value: ElementValue::Encapsulated(Encapsulated::default()),
            }],
        );
        assert_eq!(
            fragments.encode_data_set().unwrap_err().kind(),
            "NotEncodable"
        );
    }

    #[test]
    fn nesting_is_bounded_like_the_reader() {
        let nested = |levels: usize| {
            let mut element = primitive(Tag(0x0010, 0x0020), VR::LO, b"ID");
            for _ in 0..levels {
                element = Element {
                    tag: Tag(0x0008, 0x1140),
                    vr: VR::SQ,
                    value: ElementValue::Sequence(vec![DataSet {
                        elements: vec![element],
                    }]),
                };
            }
            instance("1.2.840.10008.1.2.1", vec![element])
        };
        let deepest = nested(MAX_NESTING);
        let bytes = deepest.encode_data_set().unwrap();
        let mut file = Vec::new();
        let meta = FileMeta {
            media_storage_sop_class_uid: "1.2.3".into(),
            media_storage_sop_instance_uid: "1.2.3.4".into(),
            implementation_class_uid: "1.2.3.4.5".into(),
            implementation_version_name: None,
        };
        deepest.write_part10(&meta, &mut file).unwrap();
        let reread = DicomInstance::from_bytes(&file).unwrap();
        assert_eq!(reread.dataset, deepest.dataset);
        assert!(file.ends_with(&bytes));
        assert_eq!(
            nested(MAX_NESTING + 1)
                .encode_data_set()
                .unwrap_err()
                .kind(),
            "NestingTooDeep"
        );
    }

    #[test]
    fn file_meta_is_validated() {
        let ok = FileMeta {
            media_storage_sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            media_storage_sop_instance_uid: "1.2.3".into(),
            implementation_class_uid: "1.2.3.4".into(),
            implementation_version_name: Some("SCANSEAL_0_1".into()),
        };
        let empty = instance("1.2.840.10008.1.2.1", Vec::new());
        let mut sink = Vec::new();
        empty.write_part10(&ok, &mut sink).unwrap();
        for bad in [
            FileMeta {
                implementation_version_name: Some("SEVENTEEN_CHARS_X".into()),
                ..ok.clone()
            },
            FileMeta {
                implementation_version_name: Some("A\\B".into()),
                ..ok.clone()
            },
            FileMeta {
                media_storage_sop_class_uid: String::new(),
                ..ok.clone()
            },
            FileMeta {
                media_storage_sop_instance_uid: "1.2.3\0".into(),
                ..ok.clone()
            },
            FileMeta {
                implementation_class_uid: "1.".repeat(33),
                ..ok.clone()
            },
        ] {
            let mut sink = Vec::new();
            let err = empty.write_part10(&bad, &mut sink).unwrap_err();
            assert_eq!(err.kind(), "BadFileMeta", "{bad:?}");
            assert!(sink.is_empty(), "nothing is written on error");
        }
    }

    #[test]
    fn sink_errors_are_typed() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let meta = FileMeta {
            media_storage_sop_class_uid: "1.2".into(),
            media_storage_sop_instance_uid: "1.2.3".into(),
            implementation_class_uid: "1.2.3.4".into(),
            implementation_version_name: None,
        };
        let err = instance("1.2.840.10008.1.2.1", Vec::new())
            .write_part10(&meta, &mut Broken)
            .unwrap_err();
        assert!(matches!(err, CanonError::Write { .. }), "{err}");
    }
}
