//! The embedded seal block: where a seal chain lives inside a DICOM file (normative text:
//! `spec/seal-format.md`, "Embedded block").
//!
//! A seal chain (an opaque byte string here) is stored in a private block of the data set:
//!
//! * the private creator element `(7FF1,00bb)` LO `"SCANSEAL 1"`
//!   ([`SEAL_PRIVATE_CREATOR`]), where `bb` is `0x10`,
//!   or the lowest block number in `0x10..=0xFF` that nothing in group `7FF1` uses yet;
//! * the chain element `(7FF1,bb01)` OB, whose value is the chain, padded with one `0x00` byte
//!   when the chain's length is odd.
//!
//! Sealing changes nothing else: the two encoded elements are **spliced** into the original
//! bytes at their sorted position (after Pixel Data, before `(FFFA,FFFA)` and `(FFFC,FFFC)`);
//! the data set is never re-serialized and the File Meta Information is copied as it is. For
//! Deflated Explicit VR Little Endian the splice happens in the inflated data set, which is
//! then deflated again: there the byte-for-byte guarantee holds for the inflated data set.
//!
//! To find where to splice, this module walks the data set's **top level** with its own
//! byte-level walker over `Read + Seek`: values are skipped by seeking (never read into
//! memory, except a seal block's chain and private creator values, compared in small chunks),
//! every declared length is checked against the bytes that remain before it is used, sequences
//! nest at most [`MAX_NESTING`] deep, top-level tags must ascend strictly and the data set must
//! end exactly at the end of the file. Any other shape is an [`EmbedError`] naming what is
//! wrong and where; nothing here panics on any input.
//!
//! Functions: [`find_seal_blocks`] / [`scan_seal_blocks`] (read), [`write_with_chain`]
//! (insert or replace), [`write_without_seal_blocks`] (remove).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::ops::Range;

use flate2::bufread::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use scanseal_canon::SEAL_PRIVATE_CREATOR;

/// The private group a new seal block is written to. Odd (private), and it sorts after Pixel
/// Data `(7FE0,0010)`, so in nearly every file the block is appended, but before the Digital
/// Signatures Sequence `(FFFA,FFFA)` and Data Set Trailing Padding `(FFFC,FFFC)`.
pub const SEAL_GROUP: u16 = 0x7FF1;

/// The element offset of the chain element in a seal block: `(gggg,bb01)`.
pub const CHAIN_ELEMENT_OFFSET: u8 = 0x01;

/// The lowest private block number (PS3.5 §7.8.1).
pub const FIRST_BLOCK: u8 = 0x10;

/// How deeply sequences may nest before a data set is refused (the canonicalizer's limit).
pub const MAX_NESTING: usize = scanseal_canon::MAX_NESTING;

/// The largest chain value (padding included) that is read or written: 64 MiB.
pub const MAX_CHAIN_LEN: u64 = 64 * 1024 * 1024;

/// The length value meaning "undefined length".
const UNDEFINED_LENGTH: u32 = 0xFFFF_FFFF;
const ITEM: ElementTag = ElementTag::new(0xFFFE, 0xE000);
const ITEM_DELIMITER: ElementTag = ElementTag::new(0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: ElementTag = ElementTag::new(0xFFFE, 0xE0DD);
const PIXEL_DATA: ElementTag = ElementTag::new(0x7FE0, 0x0010);
/// The File Meta Information group.
const META_GROUP: u16 = 0x0002;
/// Transfer Syntax UID is (0002,0010).
const TRANSFER_SYNTAX_ELEMENT: u16 = 0x0010;
/// A UI value is at most 64 characters; a longer Transfer Syntax UID value is refused.
const MAX_UID_VALUE_LEN: u32 = 128;
const PREAMBLE_LEN: u64 = 128;
const MAGIC: &[u8; 4] = b"DICM";
/// Buffer size for copying and for the walker's reads.
const BUFFER_LEN: usize = 64 * 1024;

/// Read-ahead of the walker over a seekable file. Small, because the walk skips values by
/// seeking: a larger buffer would mostly be filled with pixel samples that are then skipped
/// (on a CT slice, a 64 KiB buffer copied an eighth of the pixel data for nothing; 4 KiB
/// holds a typical header).
const WALK_BUFFER_LEN: usize = 4 * 1024;

/// A data element tag: group and element number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ElementTag {
    /// The group number.
    pub group: u16,
    /// The element number.
    pub element: u16,
}

impl ElementTag {
    /// The tag `(group,element)`.
    pub const fn new(group: u16, element: u16) -> ElementTag {
        ElementTag { group, element }
    }

    /// The creator element of private block `block` in `group`: `(gggg,00bb)`.
    pub const fn creator(group: u16, block: u8) -> ElementTag {
        ElementTag::new(group, block as u16)
    }

    /// The chain element of private block `block` in `group`: `(gggg,bb01)`.
    pub const fn chain(group: u16, block: u8) -> ElementTag {
        ElementTag::new(group, ((block as u16) << 8) | CHAIN_ELEMENT_OFFSET as u16)
    }

    /// If this is a private creator slot `(gggg,0010)`–`(gggg,00FF)` of an odd group, its
    /// block number.
    fn creator_block(self) -> Option<u8> {
        if self.group % 2 == 1 {
            u8::try_from(self.element)
                .ok()
                .filter(|&b| b >= FIRST_BLOCK)
        } else {
            None
        }
    }

    /// If this is an element `(gggg,bbxx)` of private block `bb` of an odd group, the block.
    fn private_block(self) -> Option<u8> {
        if self.group % 2 == 1 {
            u8::try_from(self.element >> 8)
                .ok()
                .filter(|&b| b >= FIRST_BLOCK)
        } else {
            None
        }
    }
}

impl fmt::Display for ElementTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:04X},{:04X})", self.group, self.element)
    }
}

/// What byte offsets count from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetBase {
    /// Offsets in the file, from its first byte.
    File,
    /// Offsets in the inflated data set of a deflated file, from its first byte (the byte
    /// after the File Meta Information, once inflated).
    InflatedDataSet,
}

/// A byte offset, with what it counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Offset {
    /// What the offset counts from.
    pub base: OffsetBase,
    /// The offset in bytes.
    pub value: u64,
}

impl Offset {
    /// A file offset.
    pub const fn file(value: u64) -> Offset {
        Offset {
            base: OffsetBase::File,
            value,
        }
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.base {
            OffsetBase::File => write!(f, "byte {}", self.value),
            OffsetBase::InflatedDataSet => {
                write!(f, "byte {} of the inflated data set", self.value)
            }
        }
    }
}

/// How the data set is encoded, from the Transfer Syntax UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataSetEncoding {
    /// Explicit VR Little Endian: `1.2.840.10008.1.2.1` and every other standard transfer
    /// syntax not listed below (all encapsulated ones).
    ExplicitVrLittleEndian,
    /// Implicit VR Little Endian, `1.2.840.10008.1.2`.
    ImplicitVrLittleEndian,
    /// Explicit VR Big Endian (retired), `1.2.840.10008.1.2.2`.
    ExplicitVrBigEndian,
    /// Explicit VR Little Endian compressed with raw deflate (RFC 1951):
    /// `1.2.840.10008.1.2.1.99` and JPIP Referenced Deflate `1.2.840.10008.1.2.4.95`.
    DeflatedExplicitVrLittleEndian,
}

impl DataSetEncoding {
    /// The encoding a Transfer Syntax UID names, or `None` for a UID outside the DICOM
    /// transfer syntax root `1.2.840.10008.1.2`.
    pub fn from_uid(uid: &str) -> Option<DataSetEncoding> {
        match uid {
            "1.2.840.10008.1.2" => Some(DataSetEncoding::ImplicitVrLittleEndian),
            "1.2.840.10008.1.2.2" => Some(DataSetEncoding::ExplicitVrBigEndian),
            "1.2.840.10008.1.2.1.99" | "1.2.840.10008.1.2.4.95" => {
                Some(DataSetEncoding::DeflatedExplicitVrLittleEndian)
            }
            _ if uid.starts_with("1.2.840.10008.1.2.") => {
                Some(DataSetEncoding::ExplicitVrLittleEndian)
            }
            _ => None,
        }
    }

    /// Whether the data set is deflated.
    pub fn is_deflated(self) -> bool {
        self == DataSetEncoding::DeflatedExplicitVrLittleEndian
    }

    /// What [`SealBlock`] ranges, [`Splice`]s and data set error offsets count from.
    pub fn offset_base(self) -> OffsetBase {
        if self.is_deflated() {
            OffsetBase::InflatedDataSet
        } else {
            OffsetBase::File
        }
    }

    fn mode(self) -> Mode {
        match self {
            DataSetEncoding::ImplicitVrLittleEndian => Mode::IMPLICIT_LE,
            DataSetEncoding::ExplicitVrBigEndian => Mode::EXPLICIT_BE,
            DataSetEncoding::ExplicitVrLittleEndian
            | DataSetEncoding::DeflatedExplicitVrLittleEndian => Mode::EXPLICIT_LE,
        }
    }
}

/// One top-level element: its tag and its bytes, header included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementSpan {
    /// The element's tag.
    pub tag: ElementTag,
    /// From the first byte of its header to the byte after its value (after the sequence
    /// delimiter for an undefined-length value).
    pub range: Range<u64>,
}

/// One seal block found at the top level of a data set: a private block, in any odd group,
/// whose creator is `SCANSEAL 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealBlock {
    /// The private group.
    pub group: u16,
    /// The block number (`0x10..=0xFF`).
    pub block: u8,
    /// The chain element's value exactly as stored, padding included. Empty when the block
    /// has no chain element (then [`chain_element`](Self::chain_element) is `None`); a reader
    /// must treat such a block as malformed, not as an empty chain.
    pub chain: Vec<u8>,
    /// The creator element `(gggg,00bb)`.
    pub creator: ElementSpan,
    /// The chain element `(gggg,bb01)`, if the block has one.
    pub chain_element: Option<ElementSpan>,
    /// Any other elements of the block `(gggg,bbxx)`. A well-formed block has none; a reader
    /// must treat a block with any as malformed (they would be outside every seal).
    pub extra_elements: Vec<ElementSpan>,
    /// What the ranges count from (the inflated data set for deflated files).
    pub offset_base: OffsetBase,
}

impl SealBlock {
    /// Whether the block has a chain element and nothing else besides its creator.
    pub fn is_well_formed(&self) -> bool {
        self.chain_element.is_some() && self.extra_elements.is_empty()
    }
}

/// Everything [`scan_seal_blocks`] learns about a file's seal blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealScan {
    /// The Transfer Syntax UID from the File Meta Information (padding removed).
    pub transfer_syntax: String,
    /// How the data set is encoded.
    pub encoding: DataSetEncoding,
    /// The file offset where the data set starts (after the last File Meta element).
    pub data_set_start: u64,
    /// The data set's length in bytes (for deflated files: inflated).
    pub data_set_len: u64,
    /// The top-level seal blocks, in file order. More than one is an error for writing.
    pub blocks: Vec<SealBlock>,
    /// How many `SCANSEAL 1` creator elements were seen inside sequence items. Such a block is
    /// never a seal. Counted in every sequence the walker can recognise without a data
    /// dictionary: explicit VR `SQ`, and every undefined-length sequence; a defined-length
    /// sequence in Implicit VR (or a defined-length `UN`) is skipped as an opaque value.
    pub nested_creators: u64,
    /// Where the first of those nested creator elements starts.
    pub first_nested_creator: Option<Offset>,
}

/// One change made by a write: at `input_offset`, `removed` bytes of the input were replaced
/// by `inserted` new bytes, which start at `output_offset` in the output. Offsets count as
/// the summary's `offset_base` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice {
    /// Where the change starts in the input.
    pub input_offset: u64,
    /// How many input bytes were dropped.
    pub removed: u64,
    /// Where the new bytes start in the output.
    pub output_offset: u64,
    /// How many bytes were inserted.
    pub inserted: u64,
}

/// What [`write_with_chain`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedAction {
    /// The file had no seal block: creator and chain element were inserted.
    InsertedBlock,
    /// The file's seal block had no chain element: one was inserted.
    InsertedChain,
    /// The file's seal block's chain element was replaced (the creator stays as it is).
    ReplacedChain,
}

/// The result of [`write_with_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedSummary {
    /// How the data set is encoded.
    pub encoding: DataSetEncoding,
    /// What the splice offsets count from.
    pub offset_base: OffsetBase,
    /// The seal block's group.
    pub group: u16,
    /// The seal block's number.
    pub block: u8,
    /// What was done.
    pub action: EmbedAction,
    /// The changes, in order (one or two).
    pub splices: Vec<Splice>,
    /// Bytes inserted in total.
    pub inserted: u64,
    /// Bytes removed in total.
    pub removed: u64,
}

/// The result of [`write_without_seal_blocks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalSummary {
    /// How the data set is encoded.
    pub encoding: DataSetEncoding,
    /// What the splice offsets count from.
    pub offset_base: OffsetBase,
    /// The (group, block number) of each block removed, in file order.
    pub blocks: Vec<(u16, u8)>,
    /// The removed byte ranges, in order (`inserted` is always 0).
    pub splices: Vec<Splice>,
    /// Bytes removed in total.
    pub removed: u64,
}

/// Why a seal block could not be found, inserted or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// Reading the source failed.
    #[error("cannot read the file: {source}")]
    Read {
        /// The cause.
        source: io::Error,
    },
    /// Writing the output failed.
    #[error("cannot write the output: {source}")]
    Write {
        /// The cause.
        source: io::Error,
    },
    /// The deflated data set does not inflate.
    #[error("cannot inflate the deflated data set: {source}")]
    Inflate {
        /// The cause.
        source: io::Error,
    },
    /// No `DICM` magic at byte 128 (after the preamble) or byte 0.
    #[error("not a DICOM file: {reason}")]
    NotDicom {
        /// What is missing.
        reason: String,
    },
    /// The File Meta Information group cannot be walked.
    #[error("invalid File Meta Information at byte {offset}: {reason}")]
    InvalidFileMeta {
        /// File offset of the offending element.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The File Meta Information has no Transfer Syntax UID (0002,0010).
    #[error("the File Meta Information has no Transfer Syntax UID (0002,0010)")]
    MissingTransferSyntax,
    /// The Transfer Syntax UID is not a DICOM transfer syntax.
    #[error("transfer syntax {uid:?} is not a DICOM transfer syntax; its encoding is unknown")]
    UnsupportedTransferSyntax {
        /// The UID found.
        uid: String,
    },
    /// The data ends in the middle of something.
    #[error("the data ends at {offset} in the middle of {what}")]
    Truncated {
        /// Where the missing bytes should be.
        offset: Offset,
        /// What was being read.
        what: &'static str,
    },
    /// A declared length goes beyond the end of the file.
    #[error("{tag} at {offset} declares {length} bytes but only {available} remain in the file")]
    ValueBeyondEnd {
        /// The element (or item) tag.
        tag: ElementTag,
        /// Where its header starts.
        offset: Offset,
        /// The declared length.
        length: u32,
        /// The bytes that remain after its header.
        available: u64,
    },
    /// An element or item goes beyond the end of the defined-length item or sequence that
    /// holds it.
    #[error("{tag} at {offset} extends beyond the end of its container (at byte {container_end})")]
    BeyondContainer {
        /// The element, item or container tag.
        tag: ElementTag,
        /// Where its header starts.
        offset: Offset,
        /// Where the container ends (same base as `offset`).
        container_end: u64,
    },
    /// An explicit VR that is not one of PS3.5 Table 6.2-1.
    #[error("{tag} at {offset} has an unknown VR {:?}", .vr.escape_ascii().to_string())]
    UnknownVr {
        /// The element tag.
        tag: ElementTag,
        /// Where its header starts.
        offset: Offset,
        /// The two VR bytes.
        vr: [u8; 2],
    },
    /// An undefined length where none is allowed.
    #[error("{tag} at {offset} has an undefined length, which {what} cannot have")]
    UndefinedLength {
        /// The element or item tag.
        tag: ElementTag,
        /// Where its header starts.
        offset: Offset,
        /// What the element is (e.g. "VR UT").
        what: String,
    },
    /// An item or delimiter where a data element belongs, or the reverse.
    #[error("unexpected {tag} at {offset} {context}")]
    UnexpectedTag {
        /// The tag found.
        tag: ElementTag,
        /// Where it starts.
        offset: Offset,
        /// Where it was found.
        context: &'static str,
    },
    /// A delimitation item with a non-zero length.
    #[error("delimitation item {tag} at {offset} has length {length}, not 0")]
    DelimiterLength {
        /// The delimiter tag.
        tag: ElementTag,
        /// Where it starts.
        offset: Offset,
        /// The length found.
        length: u32,
    },
    /// Sequences nest deeper than [`MAX_NESTING`].
    #[error("sequence {tag} at {offset} nests deeper than {limit} levels")]
    NestingTooDeep {
        /// The sequence that is one level too deep.
        tag: ElementTag,
        /// Where its header starts.
        offset: Offset,
        /// The limit.
        limit: usize,
    },
    /// Top-level tags do not ascend strictly.
    #[error("{tag} at {offset} follows {previous}: top-level tags must ascend strictly")]
    OutOfOrder {
        /// The element found.
        tag: ElementTag,
        /// The element before it.
        previous: ElementTag,
        /// Where it starts.
        offset: Offset,
    },
    /// Bytes after the end of a deflated data set's deflate stream (other than one pad NUL).
    #[error("{length} unexpected bytes after the deflate stream at {offset}")]
    TrailingData {
        /// Where they start.
        offset: Offset,
        /// How many (at least).
        length: u64,
    },
    /// More than one seal block at the top level.
    #[error("{} seal blocks at the top level ({}); a file carries at most one",
        .blocks.len(), list_blocks(.blocks))]
    MultipleSealBlocks {
        /// The (group, block number) of each.
        blocks: Vec<(u16, u8)>,
    },
    /// A seal block has a chain element of the wrong form, or elements besides its creator
    /// and chain element where a write would keep them.
    #[error("seal block {block:02X} of group {group:04X} at {offset}: {reason}")]
    MalformedSealBlock {
        /// The group.
        group: u16,
        /// The block number.
        block: u8,
        /// Where the offending element starts.
        offset: Offset,
        /// What is wrong.
        reason: String,
    },
    /// Every block number of the seal group is taken.
    #[error("no free private block in group {group:04X}: 0x10..=0xFF are all in use")]
    NoFreeBlock {
        /// The group.
        group: u16,
    },
    /// The group to change has a group length element, which the change would make wrong.
    #[error("group {group:04X} has a group length element at {offset}; a seal block cannot be added to or removed from it without rewriting it")]
    GroupLengthPresent {
        /// The group.
        group: u16,
        /// Where the group length element starts.
        offset: Offset,
    },
    /// An empty chain cannot be stored.
    #[error("the chain to store is empty")]
    EmptyChain,
    /// A chain longer than [`MAX_CHAIN_LEN`].
    #[error("a chain of {length} bytes is longer than the limit of {max} bytes")]
    ChainTooLong {
        /// Its length.
        length: u64,
        /// The limit.
        max: u64,
    },
    /// The source is not what it was when it was scanned (it changed between the passes).
    #[error("the file changed while it was being copied: {reason}")]
    SourceChanged {
        /// What differed.
        reason: &'static str,
    },
}

fn list_blocks(blocks: &[(u16, u8)]) -> String {
    blocks
        .iter()
        .map(|(group, block)| format!("group {group:04X} block {block:02X}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// Public operations
// ---------------------------------------------------------------------------------------------

/// Finds every top-level seal block (creator `SCANSEAL 1`, in any odd group), with its chain.
///
/// A block without a chain element is returned with an empty `chain` and `chain_element:
/// None`; a block with other elements lists them in `extra_elements` (see
/// [`SealBlock::is_well_formed`]). Blocks inside sequence items are not seals and are not
/// returned ([`scan_seal_blocks`] counts them). The source is read from its start.
///
/// # Errors
/// Any [`EmbedError`] for a file that is not DICOM or whose data set cannot be walked; a chain
/// element with an undefined length or (explicit VR) a VR other than OB or UN is
/// `MalformedSealBlock`; a chain longer than [`MAX_CHAIN_LEN`] is `ChainTooLong`.
pub fn find_seal_blocks<R: Read + Seek + ?Sized>(
    source: &mut R,
) -> Result<Vec<SealBlock>, EmbedError> {
    Ok(scan_seal_blocks(source)?.blocks)
}

/// Like [`find_seal_blocks`], with what else the walk learnt: transfer syntax, where the data
/// set is, and how many seal creators sit inside sequences.
///
/// # Errors
/// As [`find_seal_blocks`].
pub fn scan_seal_blocks<R: Read + Seek + ?Sized>(source: &mut R) -> Result<SealScan, EmbedError> {
    let scanned = scan(source, true)?;
    let base = scanned.meta.encoding.offset_base();
    Ok(SealScan {
        transfer_syntax: scanned.meta.transfer_syntax,
        encoding: scanned.meta.encoding,
        data_set_start: scanned.meta.data_start,
        data_set_len: match base {
            OffsetBase::File => scanned.found.end.saturating_sub(scanned.meta.data_start),
            OffsetBase::InflatedDataSet => scanned.found.end,
        },
        blocks: scanned.found.blocks.into_iter().map(|b| b.block).collect(),
        nested_creators: scanned.found.nested_creators,
        first_nested_creator: scanned
            .found
            .first_nested_creator
            .map(|value| Offset { base, value }),
    })
}

/// Copies `source` to `sink` with `chain` stored in the file's seal block.
///
/// * No seal block: the creator `(7FF1,00bb)` LO `SCANSEAL 1` and the chain element
///   `(7FF1,bb01)` OB are inserted at their sorted positions, `bb` being the lowest block
///   number of group 7FF1 with neither a creator nor any element.
/// * One seal block (in any odd group): its chain element is replaced (or inserted if it
///   has none); its creator stays as it is.
///
/// Everything else is copied unchanged, byte for byte (for a deflated data set: the inflated
/// bytes; the stream is deflated again and padded to even length). The chain is padded with
/// one `0x00` byte when its length is odd. The source is read from its start, twice (a scan,
/// then the copy); `sink` is flushed but not synced.
///
/// # Errors
/// `EmptyChain`, `ChainTooLong`; `MultipleSealBlocks` for two or more blocks;
/// `MalformedSealBlock` for a block with elements besides creator and chain;
/// `GroupLengthPresent` when the group to change has a group length element; `NoFreeBlock`;
/// any walk error ([`find_seal_blocks`]); `Read`, `Write`, `Inflate`, `SourceChanged` while
/// copying. On error, `sink` may hold a partial copy.
pub fn write_with_chain<R, W>(
    source: &mut R,
    sink: &mut W,
    chain: &[u8],
) -> Result<EmbedSummary, EmbedError>
where
    R: Read + Seek + ?Sized,
    W: Write + ?Sized,
{
    if chain.is_empty() {
        return Err(EmbedError::EmptyChain);
    }
    let length = u64::try_from(chain.len()).unwrap_or(u64::MAX);
    if length > MAX_CHAIN_LEN {
        return Err(EmbedError::ChainTooLong {
            length,
            max: MAX_CHAIN_LEN,
        });
    }
    let scanned = scan(source, false)?;
    let encoding = scanned.meta.encoding;
    let mode = encoding.mode();
    let base = encoding.offset_base();
    let found = &scanned.found;

    let (group, block, action, edits) = match found.blocks.as_slice() {
        [] => {
            let block = free_block(&found.seal_group)
                .ok_or(EmbedError::NoFreeBlock { group: SEAL_GROUP })?;
            found.check_no_group_length(SEAL_GROUP, base)?;
            let creator_at = found.insert_position(ElementTag::creator(SEAL_GROUP, block));
            let chain_at = found.insert_position(ElementTag::chain(SEAL_GROUP, block));
            let edits = vec![
                Edit::insert(creator_at, creator_element(mode, SEAL_GROUP, block)?),
                Edit::insert(chain_at, chain_element(mode, SEAL_GROUP, block, chain)?),
            ];
            (SEAL_GROUP, block, EmbedAction::InsertedBlock, edits)
        }
        [existing] => {
            let b = &existing.block;
            if let Some(extra) = b.extra_elements.first() {
                return Err(EmbedError::MalformedSealBlock {
                    group: b.group,
                    block: b.block,
                    offset: Offset {
                        base,
                        value: extra.range.start,
                    },
                    reason: format!(
                        "{} is neither the creator nor the chain element; refusing to seal into it",
                        extra.tag
                    ),
                });
            }
            found.check_no_group_length(b.group, base)?;
            let element = chain_element(mode, b.group, b.block, chain)?;
            match &b.chain_element {
                Some(span) => (
                    b.group,
                    b.block,
                    EmbedAction::ReplacedChain,
                    vec![Edit {
                        start: span.range.start,
                        end: span.range.end,
                        bytes: element,
                    }],
                ),
                None => {
                    let at = existing.chain_insert_at.unwrap_or(found.end);
                    (
                        b.group,
                        b.block,
                        EmbedAction::InsertedChain,
                        vec![Edit::insert(at, element)],
                    )
                }
            }
        }
        several => {
            return Err(EmbedError::MultipleSealBlocks {
                blocks: several
                    .iter()
                    .map(|b| (b.block.group, b.block.block))
                    .collect(),
            })
        }
    };
    let edits = merge(edits)?;
    let splices = splices_of(&edits)?;
    apply(source, sink, &scanned, &edits)?;
    Ok(EmbedSummary {
        encoding,
        offset_base: base,
        group,
        block,
        action,
        inserted: splices.iter().map(|s| s.inserted).sum(),
        removed: splices.iter().map(|s| s.removed).sum(),
        splices,
    })
}

/// Copies `source` to `sink` with every top-level seal block removed: its creator, chain
/// element and any other element of the block. The inverse of [`write_with_chain`] on a file
/// that had no block: for a non-deflated file the output is the original, byte for byte. A
/// file without seal blocks is copied unchanged (deflated ones too, without re-deflating).
///
/// # Errors
/// `GroupLengthPresent` when a block's group has a group length element; any walk error
/// ([`find_seal_blocks`]); `Read`, `Write`, `Inflate`, `SourceChanged` while copying.
pub fn write_without_seal_blocks<R, W>(
    source: &mut R,
    sink: &mut W,
) -> Result<RemovalSummary, EmbedError>
where
    R: Read + Seek + ?Sized,
    W: Write + ?Sized,
{
    let scanned = scan(source, false)?;
    let encoding = scanned.meta.encoding;
    let base = encoding.offset_base();
    let mut edits = Vec::new();
    let mut blocks = Vec::new();
    for found in &scanned.found.blocks {
        let b = &found.block;
        scanned.found.check_no_group_length(b.group, base)?;
        blocks.push((b.group, b.block));
        for span in std::iter::once(&b.creator)
            .chain(b.chain_element.iter())
            .chain(b.extra_elements.iter())
        {
            edits.push(Edit {
                start: span.range.start,
                end: span.range.end,
                bytes: Vec::new(),
            });
        }
    }
    let edits = merge(edits)?;
    let splices = splices_of(&edits)?;
    if edits.is_empty() {
        copy_verbatim(source, sink, scanned.file_len)?;
    } else {
        apply(source, sink, &scanned, &edits)?;
    }
    Ok(RemovalSummary {
        encoding,
        offset_base: base,
        blocks,
        removed: splices.iter().map(|s| s.removed).sum(),
        splices,
    })
}

// ---------------------------------------------------------------------------------------------
// File Meta Information
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Meta {
    /// File offset of the first data set byte.
    data_start: u64,
    transfer_syntax: String,
    encoding: DataSetEncoding,
}

/// Reads the preamble, magic and File Meta group (always Explicit VR Little Endian). The data
/// set starts after the last consecutive group-0002 element; (0002,0000) is not relied on.
fn read_meta<R: Read + Seek + ?Sized>(r: &mut R, file_len: u64) -> Result<Meta, EmbedError> {
    let mut head = [0u8; 132];
    let head_len = usize::try_from(file_len.min(132)).unwrap_or(0);
    let prefix = head.get_mut(..head_len).unwrap_or_default();
    read_at(r, 0, prefix)?;
    let mut pos = if head_len >= 132 && head.get(128..132) == Some(MAGIC.as_slice()) {
        PREAMBLE_LEN + 4
    } else if head_len >= 4 && head.get(..4) == Some(MAGIC.as_slice()) {
        4
    } else {
        return Err(EmbedError::NotDicom {
            reason: "no \"DICM\" magic at byte 128 or byte 0".into(),
        });
    };
    let invalid = |offset: u64, reason: String| EmbedError::InvalidFileMeta { offset, reason };
    let mut transfer_syntax = None;
    let mut group_end = None;
    let mut previous: Option<u16> = None;
    loop {
        let remaining = file_len.saturating_sub(pos);
        if remaining < 4 {
            break;
        }
        let mut tag = [0u8; 4];
        read_at(r, pos, &mut tag)?;
        let [g0, g1, e0, e1] = tag;
        if u16::from_le_bytes([g0, g1]) != META_GROUP {
            break;
        }
        let element = u16::from_le_bytes([e0, e1]);
        if previous.is_some_and(|p| element <= p) {
            return Err(invalid(
                pos,
                format!("(0002,{element:04X}) is out of order"),
            ));
        }
        previous = Some(element);
        if remaining < 8 {
            return Err(invalid(pos, "truncated element header".into()));
        }
        let mut rest = [0u8; 4];
        read_at(r, pos.saturating_add(4), &mut rest)?;
        let [v0, v1, l0, l1] = rest;
        let vr = [v0, v1];
        if !is_known_vr(vr) {
            return Err(invalid(
                pos,
                format!(
                    "(0002,{element:04X}) has an unknown VR {:?} (the File Meta Information must be Explicit VR Little Endian)",
                    vr.escape_ascii().to_string()
                ),
            ));
        }
        let (length, value_start) = if has_long_length(vr) {
            if remaining < 12 {
                return Err(invalid(pos, "truncated element header".into()));
            }
            let mut l = [0u8; 4];
            read_at(r, pos.saturating_add(8), &mut l)?;
            (u32::from_le_bytes(l), pos.saturating_add(12))
        } else {
            (
                u32::from(u16::from_le_bytes([l0, l1])),
                pos.saturating_add(8),
            )
        };
        if length == UNDEFINED_LENGTH {
            return Err(invalid(
                pos,
                format!("(0002,{element:04X}) has an undefined length"),
            ));
        }
        let value_end = value_start.saturating_add(u64::from(length));
        if value_end > file_len {
            return Err(invalid(
                pos,
                format!("(0002,{element:04X}) declares {length} bytes beyond the end of the file"),
            ));
        }
        if element == 0x0000 && vr == *b"UL" && length == 4 {
            let mut value = [0u8; 4];
            read_at(r, value_start, &mut value)?;
            group_end = value_end.checked_add(u64::from(u32::from_le_bytes(value)));
        }
        if element == TRANSFER_SYNTAX_ELEMENT {
            if length > MAX_UID_VALUE_LEN {
                return Err(invalid(
                    pos,
                    format!("Transfer Syntax UID of {length} bytes"),
                ));
            }
            let mut value = vec![0u8; usize::try_from(length).unwrap_or(0)];
            read_at(r, value_start, &mut value)?;
            let text = std::str::from_utf8(&value)
                .ok()
                .filter(|t| t.is_ascii())
                .ok_or_else(|| invalid(pos, "Transfer Syntax UID is not ASCII".into()))?;
            transfer_syntax = Some(text.trim_end_matches(['\0', ' ']).trim_start().to_string());
        }
        pos = value_end;
    }
    // The group length does not locate the data set (the walk does), but one pointing past
    // the end of the file means the file was cut inside its File Meta Information.
    if let Some(group_end) = group_end.filter(|&end| end > file_len) {
        return Err(invalid(
            pos,
            format!(
                "the File Meta group length says it ends at byte {group_end}, beyond the end of the file ({file_len} bytes)"
            ),
        ));
    }
    let transfer_syntax = transfer_syntax.ok_or(EmbedError::MissingTransferSyntax)?;
    let encoding = DataSetEncoding::from_uid(&transfer_syntax).ok_or_else(|| {
        EmbedError::UnsupportedTransferSyntax {
            uid: transfer_syntax.clone(),
        }
    })?;
    Ok(Meta {
        data_start: pos,
        transfer_syntax,
        encoding,
    })
}

fn read_at<R: Read + Seek + ?Sized>(
    r: &mut R,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), EmbedError> {
    r.seek(SeekFrom::Start(offset))
        .and_then(|_| r.read_exact(buf))
        .map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                EmbedError::SourceChanged {
                    reason: "the file is shorter than it was",
                }
            } else {
                EmbedError::Read { source: e }
            }
        })
}

// ---------------------------------------------------------------------------------------------
// VRs and encoding modes
// ---------------------------------------------------------------------------------------------

/// VRs of PS3.5 Table 6.2-1.
fn is_known_vr(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FD"
            | b"FL"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SQ"
            | b"SS"
            | b"ST"
            | b"SV"
            | b"TM"
            | b"UC"
            | b"UI"
            | b"UL"
            | b"UN"
            | b"UR"
            | b"US"
            | b"UT"
            | b"UV"
    )
}

/// VRs whose explicit header has 2 reserved bytes and a 32-bit length (PS3.5 Table 7.1-1).
fn has_long_length(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

/// Byte order and VR mode of a data set (or of the content of an undefined-length UN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mode {
    big: bool,
    explicit: bool,
}

impl Mode {
    const EXPLICIT_LE: Mode = Mode {
        big: false,
        explicit: true,
    };
    const IMPLICIT_LE: Mode = Mode {
        big: false,
        explicit: false,
    };
    const EXPLICIT_BE: Mode = Mode {
        big: true,
        explicit: true,
    };

    fn u16(self, bytes: [u8; 2]) -> u16 {
        if self.big {
            u16::from_be_bytes(bytes)
        } else {
            u16::from_le_bytes(bytes)
        }
    }

    fn u32(self, bytes: [u8; 4]) -> u32 {
        if self.big {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        }
    }

    fn put_u16(self, out: &mut Vec<u8>, value: u16) {
        if self.big {
            out.extend_from_slice(&value.to_be_bytes());
        } else {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn put_u32(self, out: &mut Vec<u8>, value: u32) {
        if self.big {
            out.extend_from_slice(&value.to_be_bytes());
        } else {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
}

/// One element encoded in `mode`: header, then `value` as given.
fn encode_element(
    mode: Mode,
    tag: ElementTag,
    vr: [u8; 2],
    value: &[u8],
) -> Result<Vec<u8>, EmbedError> {
    let too_long = || EmbedError::ChainTooLong {
        length: u64::try_from(value.len()).unwrap_or(u64::MAX),
        max: MAX_CHAIN_LEN,
    };
    let length = u32::try_from(value.len())
        .ok()
        .filter(|&l| l != UNDEFINED_LENGTH)
        .ok_or_else(too_long)?;
    let mut out = Vec::with_capacity(value.len().saturating_add(12));
    mode.put_u16(&mut out, tag.group);
    mode.put_u16(&mut out, tag.element);
    if mode.explicit {
        out.extend_from_slice(&vr);
        if has_long_length(vr) {
            out.extend_from_slice(&[0, 0]);
            mode.put_u32(&mut out, length);
        } else {
            mode.put_u16(&mut out, u16::try_from(length).map_err(|_| too_long())?);
        }
    } else {
        mode.put_u32(&mut out, length);
    }
    out.extend_from_slice(value);
    Ok(out)
}

/// `(gggg,00bb)` LO `SCANSEAL 1`.
fn creator_element(mode: Mode, group: u16, block: u8) -> Result<Vec<u8>, EmbedError> {
    let mut value = SEAL_PRIVATE_CREATOR.as_bytes().to_vec();
    if value.len() % 2 == 1 {
        value.push(b' ');
    }
    encode_element(mode, ElementTag::creator(group, block), *b"LO", &value)
}

/// `(gggg,bb01)` OB chain, padded with one 0x00 to even length. OB is never byte-swapped.
fn chain_element(mode: Mode, group: u16, block: u8, chain: &[u8]) -> Result<Vec<u8>, EmbedError> {
    let mut value = Vec::with_capacity(chain.len().saturating_add(1));
    value.extend_from_slice(chain);
    if value.len() % 2 == 1 {
        value.push(0);
    }
    encode_element(mode, ElementTag::chain(group, block), *b"OB", &value)
}

// ---------------------------------------------------------------------------------------------
// Byte sources for the walker
// ---------------------------------------------------------------------------------------------

/// What the walker reads from: a seekable file (skips seek) or an inflating stream (skips
/// read and discard).
trait Source {
    fn read_exact_into(&mut self, buf: &mut [u8]) -> io::Result<()>;
    fn skip(&mut self, n: u64) -> io::Result<u64>;
    fn at_eof(&mut self) -> io::Result<bool>;
}

struct SeekSource<R>(BufReader<R>);

impl<R: Read + Seek> Source for SeekSource<R> {
    fn read_exact_into(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(buf)
    }

    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let mut left = n;
        while left > 0 {
            let step = left.min(i64::MAX as u64);
            self.0
                .seek_relative(i64::try_from(step).unwrap_or(i64::MAX))?;
            left -= step;
        }
        Ok(n)
    }

    fn at_eof(&mut self) -> io::Result<bool> {
        Ok(self.0.fill_buf()?.is_empty())
    }
}

struct StreamSource<R>(R);

impl<R: BufRead> Source for StreamSource<R> {
    fn read_exact_into(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(buf)
    }

    fn skip(&mut self, n: u64) -> io::Result<u64> {
        io::copy(&mut (&mut self.0).take(n), &mut io::sink())
    }

    fn at_eof(&mut self) -> io::Result<bool> {
        Ok(self.0.fill_buf()?.is_empty())
    }
}

/// A [`Source`] with a position and, when known, the end of the data.
struct Input<S> {
    src: S,
    pos: u64,
    end: Option<u64>,
    base: OffsetBase,
}

impl<S: Source> Input<S> {
    fn at(&self, value: u64) -> Offset {
        Offset {
            base: self.base,
            value,
        }
    }

    fn fail(&self, e: io::Error, what: &'static str) -> EmbedError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            EmbedError::Truncated {
                offset: self.at(self.pos),
                what,
            }
        } else if self.base == OffsetBase::InflatedDataSet {
            EmbedError::Inflate { source: e }
        } else {
            EmbedError::Read { source: e }
        }
    }

    fn advance(&mut self, n: u64, what: &'static str) -> Result<(), EmbedError> {
        self.pos = self.pos.checked_add(n).ok_or(EmbedError::Truncated {
            offset: self.at(u64::MAX),
            what,
        })?;
        Ok(())
    }

    /// Fails with `Truncated` unless `n` more bytes exist (when the end is known).
    fn require(&self, n: u64, what: &'static str) -> Result<(), EmbedError> {
        match self.end {
            Some(end) if end.saturating_sub(self.pos) < n => Err(EmbedError::Truncated {
                offset: self.at(end.max(self.pos)),
                what,
            }),
            _ => Ok(()),
        }
    }

    fn fill(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), EmbedError> {
        let n = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        self.require(n, what)?;
        self.src
            .read_exact_into(buf)
            .map_err(|e| self.fail(e, what))?;
        self.advance(n, what)
    }

    fn bytes<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], EmbedError> {
        let mut buf = [0u8; N];
        self.fill(&mut buf, what)?;
        Ok(buf)
    }

    fn skip(&mut self, n: u64, what: &'static str) -> Result<(), EmbedError> {
        self.require(n, what)?;
        let done = self.src.skip(n).map_err(|e| self.fail(e, what))?;
        self.advance(done, what)?;
        if done < n {
            return Err(EmbedError::Truncated {
                offset: self.at(self.pos),
                what,
            });
        }
        Ok(())
    }

    fn at_eof(&mut self) -> Result<bool, EmbedError> {
        match self.end {
            Some(end) => Ok(self.pos >= end),
            None => self.src.at_eof().map_err(|e| self.fail(e, "an element")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The walker
// ---------------------------------------------------------------------------------------------

/// An element (or item) header as read.
#[derive(Debug, Clone, Copy)]
struct Header {
    tag: ElementTag,
    /// `None` in implicit VR.
    vr: Option<[u8; 2]>,
    length: u32,
    /// Offset of the header's first byte.
    start: u64,
    /// Offset of the value's first byte.
    value_start: u64,
}

impl Header {
    fn is_sequence(&self) -> bool {
        self.vr == Some(*b"SQ")
    }
}

/// How an undefined-length value is delimited.
enum Undefined {
    /// Items holding data sets, encoded in this mode.
    Sequence(Mode),
    /// Encapsulated fragments (defined-length items, then a sequence delimiter).
    Fragments,
}

/// A seal block found by the walk, plus where its chain element would go.
#[derive(Debug)]
struct FoundBlock {
    block: SealBlock,
    /// Start of the first top-level element after `(gggg,bb01)`; `None` = end of data set.
    chain_insert_at: Option<u64>,
}

/// What one walk of the top level finds.
#[derive(Debug, Default)]
struct Findings {
    blocks: Vec<FoundBlock>,
    /// (group, block) → index in `blocks`.
    block_index: BTreeMap<(u16, u8), usize>,
    /// Blocks whose `chain_insert_at` is still open, by chain tag.
    pending_chain_positions: BTreeMap<ElementTag, usize>,
    /// Every top-level element of [`SEAL_GROUP`] and where it starts.
    seal_group: Vec<(ElementTag, u64)>,
    /// Start of the first top-level element of a group above [`SEAL_GROUP`].
    after_seal_group: Option<u64>,
    /// Group length elements (gggg,0000) of odd groups: group → start.
    group_lengths: BTreeMap<u16, u64>,
    nested_creators: u64,
    first_nested_creator: Option<u64>,
    /// Where the data set ends.
    end: u64,
}

impl Findings {
    /// Where an element with `tag` would go: before the first element with a greater tag.
    /// Only for tags of [`SEAL_GROUP`].
    fn insert_position(&self, tag: ElementTag) -> u64 {
        self.seal_group
            .iter()
            .find(|(t, _)| *t > tag)
            .map(|&(_, start)| start)
            .or(self.after_seal_group)
            .unwrap_or(self.end)
    }

    fn check_no_group_length(&self, group: u16, base: OffsetBase) -> Result<(), EmbedError> {
        match self.group_lengths.get(&group) {
            Some(&value) => Err(EmbedError::GroupLengthPresent {
                group,
                offset: Offset { base, value },
            }),
            None => Ok(()),
        }
    }
}

/// The lowest block number of [`SEAL_GROUP`] with neither a creator nor any element.
fn free_block(seal_group: &[(ElementTag, u64)]) -> Option<u8> {
    let mut used = [false; 256];
    for (tag, _) in seal_group {
        let block = tag.creator_block().or_else(|| tag.private_block());
        if let Some(slot) = block.and_then(|b| used.get_mut(usize::from(b))) {
            *slot = true;
        }
    }
    (FIRST_BLOCK..=u8::MAX).find(|&b| !used.get(usize::from(b)).copied().unwrap_or(true))
}

/// Matches `' '* SCANSEAL 1 [' ' | NUL]*`: the creator value that, once its LO padding is
/// removed as the canonical form does (C5.2.1), reads `SCANSEAL 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CreatorMatch {
    Leading,
    Prefix(usize),
    Trailing,
    Failed,
}

impl CreatorMatch {
    fn feed(self, byte: u8) -> CreatorMatch {
        let pattern = SEAL_PRIVATE_CREATOR.as_bytes();
        let next = |i: usize| match pattern.get(i) {
            Some(&expected) if expected == byte => {
                if i + 1 == pattern.len() {
                    CreatorMatch::Trailing
                } else {
                    CreatorMatch::Prefix(i + 1)
                }
            }
            _ => CreatorMatch::Failed,
        };
        match self {
            CreatorMatch::Leading if byte == b' ' => CreatorMatch::Leading,
            CreatorMatch::Leading => next(0),
            CreatorMatch::Prefix(i) => next(i),
            CreatorMatch::Trailing if byte == b' ' || byte == 0 => CreatorMatch::Trailing,
            CreatorMatch::Trailing | CreatorMatch::Failed => CreatorMatch::Failed,
        }
    }
}

struct Walker<S> {
    input: Input<S>,
    read_chains: bool,
    found: Findings,
}

impl<S: Source> Walker<S> {
    fn new(input: Input<S>, read_chains: bool) -> Walker<S> {
        Walker {
            input,
            read_chains,
            found: Findings::default(),
        }
    }

    fn at(&self, value: u64) -> Offset {
        self.input.at(value)
    }

    fn tag(&mut self, mode: Mode, what: &'static str) -> Result<ElementTag, EmbedError> {
        let [g0, g1, e0, e1] = self.input.bytes::<4>(what)?;
        Ok(ElementTag::new(mode.u16([g0, g1]), mode.u16([e0, e1])))
    }

    fn u32(&mut self, mode: Mode, what: &'static str) -> Result<u32, EmbedError> {
        Ok(mode.u32(self.input.bytes::<4>(what)?))
    }

    /// The rest of a data element header after its tag.
    fn header(&mut self, mode: Mode, tag: ElementTag, start: u64) -> Result<Header, EmbedError> {
        const WHAT: &str = "an element header";
        let (vr, length) = if mode.explicit {
            let vr = self.input.bytes::<2>(WHAT)?;
            if !is_known_vr(vr) {
                return Err(EmbedError::UnknownVr {
                    tag,
                    offset: self.at(start),
                    vr,
                });
            }
            if has_long_length(vr) {
                let _reserved = self.input.bytes::<2>(WHAT)?;
                (Some(vr), self.u32(mode, WHAT)?)
            } else {
                (Some(vr), u32::from(mode.u16(self.input.bytes::<2>(WHAT)?)))
            }
        } else {
            (None, self.u32(mode, WHAT)?)
        };
        Ok(Header {
            tag,
            vr,
            length,
            start,
            value_start: self.input.pos,
        })
    }

    /// Where a defined-length value (or item) ends, after checking it against the end of the
    /// data and the end of its container.
    fn value_end(&self, h: &Header, container_end: Option<u64>) -> Result<u64, EmbedError> {
        let end = h.value_start.saturating_add(u64::from(h.length));
        if let Some(data_end) = self.input.end {
            if end > data_end {
                return Err(EmbedError::ValueBeyondEnd {
                    tag: h.tag,
                    offset: self.at(h.start),
                    length: h.length,
                    available: data_end.saturating_sub(h.value_start),
                });
            }
        }
        self.within(container_end, h.tag, h.start)?;
        match container_end {
            Some(limit) if end > limit => Err(EmbedError::BeyondContainer {
                tag: h.tag,
                offset: self.at(h.start),
                container_end: limit,
            }),
            _ => Ok(end),
        }
    }

    /// Fails if the position has passed the end of the container.
    fn within(
        &self,
        container_end: Option<u64>,
        tag: ElementTag,
        start: u64,
    ) -> Result<(), EmbedError> {
        match container_end {
            Some(limit) if self.input.pos > limit => Err(EmbedError::BeyondContainer {
                tag,
                offset: self.at(start),
                container_end: limit,
            }),
            _ => Ok(()),
        }
    }

    /// Walks the top level: the whole data set, to its end.
    fn top_level(&mut self, mode: Mode) -> Result<(), EmbedError> {
        let mut previous: Option<ElementTag> = None;
        while !self.input.at_eof()? {
            let start = self.input.pos;
            let tag = self.tag(mode, "an element tag")?;
            if tag.group == 0xFFFE {
                return Err(EmbedError::UnexpectedTag {
                    tag,
                    offset: self.at(start),
                    context: "at the top level of the data set",
                });
            }
            if let Some(previous) = previous.filter(|&p| tag <= p) {
                return Err(EmbedError::OutOfOrder {
                    tag,
                    previous,
                    offset: self.at(start),
                });
            }
            previous = Some(tag);
            self.note_top_level(tag, start);
            let h = self.header(mode, tag, start)?;
            if let Some(block) = tag.creator_block() {
                if h.length != UNDEFINED_LENGTH && !h.is_sequence() {
                    if self.creator_value(&h, None)? {
                        self.add_block(tag.group, block, &h);
                    }
                    continue;
                }
            }
            let index = tag
                .private_block()
                .and_then(|block| self.found.block_index.get(&(tag.group, block)).copied());
            match index {
                Some(index) => self.block_element(index, mode, &h)?,
                None => self.value(mode, &h, 0, None)?,
            }
        }
        self.found.end = self.input.pos;
        Ok(())
    }

    /// Bookkeeping for insert positions, before the element's value is walked.
    fn note_top_level(&mut self, tag: ElementTag, start: u64) {
        let found = &mut self.found;
        while let Some(entry) = found.pending_chain_positions.first_entry() {
            if *entry.key() >= tag {
                break;
            }
            let index = entry.remove();
            if let Some(b) = found.blocks.get_mut(index) {
                b.chain_insert_at = Some(start);
            }
        }
        if tag.group == SEAL_GROUP {
            found.seal_group.push((tag, start));
        } else if tag.group > SEAL_GROUP && found.after_seal_group.is_none() {
            found.after_seal_group = Some(start);
        }
        if tag.element == 0 && tag.group % 2 == 1 {
            found.group_lengths.insert(tag.group, start);
        }
    }

    fn add_block(&mut self, group: u16, block: u8, h: &Header) {
        let index = self.found.blocks.len();
        self.found.blocks.push(FoundBlock {
            block: SealBlock {
                group,
                block,
                chain: Vec::new(),
                creator: ElementSpan {
                    tag: h.tag,
                    range: h.start..self.input.pos,
                },
                chain_element: None,
                extra_elements: Vec::new(),
                offset_base: self.input.base,
            },
            chain_insert_at: None,
        });
        self.found.block_index.insert((group, block), index);
        self.found
            .pending_chain_positions
            .insert(ElementTag::chain(group, block), index);
    }

    /// A top-level element of a seal block (other than its creator).
    fn block_element(&mut self, index: usize, mode: Mode, h: &Header) -> Result<(), EmbedError> {
        let Some(found) = self.found.blocks.get(index) else {
            return Ok(());
        };
        let (group, block) = (found.block.group, found.block.block);
        if h.tag != ElementTag::chain(group, block) {
            self.value(mode, h, 0, None)?;
            let span = ElementSpan {
                tag: h.tag,
                range: h.start..self.input.pos,
            };
            if let Some(found) = self.found.blocks.get_mut(index) {
                found.block.extra_elements.push(span);
            }
            return Ok(());
        }
        let malformed = |reason: String| EmbedError::MalformedSealBlock {
            group,
            block,
            offset: self.at(h.start),
            reason,
        };
        if h.length == UNDEFINED_LENGTH {
            return Err(malformed(format!(
                "chain element {} has an undefined length",
                h.tag
            )));
        }
        if let Some(vr) = h.vr.filter(|vr| vr != b"OB" && vr != b"UN") {
            return Err(malformed(format!(
                "chain element {} has VR {}, not OB",
                h.tag,
                vr.escape_ascii()
            )));
        }
        self.value_end(h, None)?;
        let length = u64::from(h.length);
        let chain = if self.read_chains {
            if length > MAX_CHAIN_LEN {
                return Err(EmbedError::ChainTooLong {
                    length,
                    max: MAX_CHAIN_LEN,
                });
            }
            self.read_value(length)?
        } else {
            self.input.skip(length, "the chain element's value")?;
            Vec::new()
        };
        let span = ElementSpan {
            tag: h.tag,
            range: h.start..self.input.pos,
        };
        if let Some(found) = self.found.blocks.get_mut(index) {
            found.block.chain = chain;
            found.block.chain_element = Some(span);
        }
        Ok(())
    }

    /// Reads a value of `length` bytes (already checked against the data's end) into memory,
    /// growing the buffer only as bytes arrive.
    fn read_value(&mut self, length: u64) -> Result<Vec<u8>, EmbedError> {
        const WHAT: &str = "the chain element's value";
        let mut out = Vec::new();
        if self.input.end.is_some() {
            out.reserve_exact(usize::try_from(length).unwrap_or(0));
        }
        let mut buf = vec![0u8; BUFFER_LEN];
        let mut left = length;
        while left > 0 {
            let n = usize::try_from(left.min(BUFFER_LEN as u64)).unwrap_or(BUFFER_LEN);
            let chunk = buf.get_mut(..n).unwrap_or_default();
            self.input.fill(chunk, WHAT)?;
            out.extend_from_slice(chunk);
            left = left.saturating_sub(n as u64);
        }
        Ok(out)
    }

    /// Reads a defined-length private creator value and tells whether it is `SCANSEAL 1`
    /// (compared in chunks: nothing is allocated for it).
    fn creator_value(
        &mut self,
        h: &Header,
        container_end: Option<u64>,
    ) -> Result<bool, EmbedError> {
        const WHAT: &str = "a private creator value";
        self.value_end(h, container_end)?;
        let mut state = CreatorMatch::Leading;
        let mut buf = [0u8; 256];
        let mut left = u64::from(h.length);
        while left > 0 {
            let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            let chunk = buf.get_mut(..n).unwrap_or_default();
            self.input.fill(chunk, WHAT)?;
            left = left.saturating_sub(n as u64);
            state = chunk.iter().fold(state, |s, &b| s.feed(b));
            if state == CreatorMatch::Failed {
                self.input.skip(left, WHAT)?;
                return Ok(false);
            }
        }
        Ok(state == CreatorMatch::Trailing)
    }

    /// Walks or skips one element's value. `depth` is the number of sequences around it.
    fn value(
        &mut self,
        mode: Mode,
        h: &Header,
        depth: usize,
        container_end: Option<u64>,
    ) -> Result<(), EmbedError> {
        if h.length == UNDEFINED_LENGTH {
            match self.undefined_kind(mode, h)? {
                Undefined::Sequence(inner) => self.sequence(inner, h, None, depth + 1)?,
                Undefined::Fragments => self.fragments(mode, h)?,
            }
            return self.within(container_end, h.tag, h.start);
        }
        let end = self.value_end(h, container_end)?;
        if mode.explicit && h.is_sequence() {
            self.sequence(mode, h, Some(end), depth + 1)
        } else {
            self.input.skip(u64::from(h.length), "a value")
        }
    }

    fn undefined_kind(&self, mode: Mode, h: &Header) -> Result<Undefined, EmbedError> {
        match h.vr {
            None if h.tag == PIXEL_DATA => Ok(Undefined::Fragments),
            None => Ok(Undefined::Sequence(mode)),
            Some(vr) => match &vr {
                b"SQ" => Ok(Undefined::Sequence(mode)),
                // CP-246: the content of an undefined-length UN is Implicit VR Little Endian.
                b"UN" => Ok(Undefined::Sequence(Mode::IMPLICIT_LE)),
                b"OB" | b"OW" => Ok(Undefined::Fragments),
                _ => Err(EmbedError::UndefinedLength {
                    tag: h.tag,
                    offset: self.at(h.start),
                    what: format!("an element of VR {}", vr.escape_ascii()),
                }),
            },
        }
    }

    /// The items of a sequence, to its delimiter (`end` = `None`) or its declared end.
    fn sequence(
        &mut self,
        mode: Mode,
        seq: &Header,
        end: Option<u64>,
        depth: usize,
    ) -> Result<(), EmbedError> {
        if depth > MAX_NESTING {
            return Err(EmbedError::NestingTooDeep {
                tag: seq.tag,
                offset: self.at(seq.start),
                limit: MAX_NESTING,
            });
        }
        const WHAT: &str = "an item header";
        loop {
            if end.is_some_and(|end| self.input.pos >= end) {
                break;
            }
            let start = self.input.pos;
            let tag = self.tag(mode, WHAT)?;
            let length = self.u32(mode, WHAT)?;
            self.within(end, tag, start)?;
            match tag {
                ITEM if length == UNDEFINED_LENGTH => self.item(mode, None, depth)?,
                ITEM => {
                    let h = Header {
                        tag,
                        vr: None,
                        length,
                        start,
                        value_start: self.input.pos,
                    };
                    let item_end = self.value_end(&h, end)?;
                    self.item(mode, Some(item_end), depth)?;
                }
                SEQUENCE_DELIMITER if end.is_none() => {
                    return self.delimiter_length(tag, start, length);
                }
                _ => {
                    return Err(EmbedError::UnexpectedTag {
                        tag,
                        offset: self.at(start),
                        context: "in a sequence, where an item was expected",
                    })
                }
            }
            self.within(end, seq.tag, seq.start)?;
        }
        Ok(())
    }

    fn delimiter_length(&self, tag: ElementTag, start: u64, length: u32) -> Result<(), EmbedError> {
        if length == 0 {
            Ok(())
        } else {
            Err(EmbedError::DelimiterLength {
                tag,
                offset: self.at(start),
                length,
            })
        }
    }

    /// The elements of one item, to its delimiter (`end` = `None`) or its declared end.
    fn item(&mut self, mode: Mode, end: Option<u64>, depth: usize) -> Result<(), EmbedError> {
        loop {
            if end.is_some_and(|end| self.input.pos >= end) {
                break;
            }
            let start = self.input.pos;
            let tag = self.tag(mode, "an element tag")?;
            if tag == ITEM_DELIMITER && end.is_none() {
                let length = self.u32(mode, "an item delimitation item")?;
                return self.delimiter_length(tag, start, length);
            }
            if tag.group == 0xFFFE {
                return Err(EmbedError::UnexpectedTag {
                    tag,
                    offset: self.at(start),
                    context: "in an item, where a data element was expected",
                });
            }
            let h = self.header(mode, tag, start)?;
            self.within(end, tag, start)?;
            if tag.creator_block().is_some() && h.length != UNDEFINED_LENGTH && !h.is_sequence() {
                if self.creator_value(&h, end)? {
                    self.found.nested_creators = self.found.nested_creators.saturating_add(1);
                    self.found.first_nested_creator.get_or_insert(start);
                }
            } else {
                self.value(mode, &h, depth, end)?;
            }
        }
        Ok(())
    }

    /// Encapsulated fragments: defined-length items up to a sequence delimiter.
    fn fragments(&mut self, mode: Mode, pixels: &Header) -> Result<(), EmbedError> {
        const WHAT: &str = "a fragment header";
        loop {
            let start = self.input.pos;
            let tag = self.tag(mode, WHAT)?;
            let length = self.u32(mode, WHAT)?;
            match tag {
                ITEM if length == UNDEFINED_LENGTH => {
                    return Err(EmbedError::UndefinedLength {
                        tag,
                        offset: self.at(start),
                        what: format!("a fragment of {}", pixels.tag),
                    })
                }
                ITEM => {
                    let h = Header {
                        tag,
                        vr: None,
                        length,
                        start,
                        value_start: self.input.pos,
                    };
                    self.value_end(&h, None)?;
                    self.input.skip(u64::from(length), "a fragment")?;
                }
                SEQUENCE_DELIMITER => return self.delimiter_length(tag, start, length),
                _ => {
                    return Err(EmbedError::UnexpectedTag {
                        tag,
                        offset: self.at(start),
                        context: "in encapsulated pixel data, where a fragment was expected",
                    })
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scanning and copying
// ---------------------------------------------------------------------------------------------

struct Scanned {
    file_len: u64,
    meta: Meta,
    found: Findings,
}

fn read_error(source: io::Error) -> EmbedError {
    EmbedError::Read { source }
}

fn write_error(source: io::Error) -> EmbedError {
    EmbedError::Write { source }
}

/// Reads the File Meta Information and walks the data set's top level.
fn scan<R: Read + Seek + ?Sized>(source: &mut R, read_chains: bool) -> Result<Scanned, EmbedError> {
    let file_len = source.seek(SeekFrom::End(0)).map_err(read_error)?;
    let meta = read_meta(source, file_len)?;
    source
        .seek(SeekFrom::Start(meta.data_start))
        .map_err(read_error)?;
    let found = if meta.encoding.is_deflated() {
        let decoder = DeflateDecoder::new(BufReader::with_capacity(BUFFER_LEN, &mut *source));
        // The CRC lets a gzip-style trailer after the stream (GDCM writes one) be recognised.
        let input = Input {
            src: StreamSource(BufReader::with_capacity(
                BUFFER_LEN,
                flate2::CrcReader::new(decoder),
            )),
            pos: 0,
            end: None,
            base: OffsetBase::InflatedDataSet,
        };
        let mut walker = Walker::new(input, read_chains);
        walker.top_level(meta.encoding.mode())?;
        let crc_reader = walker.input.src.0.into_inner();
        let inflated = (crc_reader.crc().sum(), crc_reader.crc().amount());
        let decoder = crc_reader.into_inner();
        let trailer_start = meta.data_start.saturating_add(decoder.total_in());
        check_deflate_trailer(decoder.into_inner(), trailer_start, inflated)?;
        walker.found
    } else {
        let input = Input {
            src: SeekSource(BufReader::with_capacity(WALK_BUFFER_LEN, &mut *source)),
            pos: meta.data_start,
            end: Some(file_len),
            base: OffsetBase::File,
        };
        let mut walker = Walker::new(input, read_chains);
        walker.top_level(meta.encoding.mode())?;
        walker.found
    };
    Ok(Scanned {
        file_len,
        meta,
        found,
    })
}

/// After the deflate stream, at most one NUL pad byte may follow (PS3.5 A.5) — or the 8-byte
/// gzip-style trailer (CRC-32 and length of the inflated data, both little endian) that GDCM
/// writes, optionally padded, accepted only when both match what was inflated.
fn check_deflate_trailer<R: Read>(
    mut rest: R,
    start: u64,
    (crc, inflated_len): (u32, u32),
) -> Result<(), EmbedError> {
    let mut buf = [0u8; 16];
    let mut got = 0usize;
    while got < buf.len() {
        let slot = buf.get_mut(got..).unwrap_or_default();
        match rest.read(slot) {
            Ok(0) => break,
            Ok(n) => got = got.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(e)),
        }
    }
    let mut gzip_trailer = [0u8; 8];
    gzip_trailer[..4].copy_from_slice(&crc.to_le_bytes());
    gzip_trailer[4..].copy_from_slice(&inflated_len.to_le_bytes());
    let trailer = buf.get(..got).unwrap_or_default();
    let accepted = match trailer {
        [] | [0] => true,
        [t @ .., 0] | t if t.len() == 8 => *t == gzip_trailer,
        _ => false,
    };
    if accepted {
        Ok(())
    } else {
        Err(EmbedError::TrailingData {
            offset: Offset::file(start),
            length: u64::try_from(got).unwrap_or(0),
        })
    }
}

/// One change to the data: bytes `start..end` replaced by `bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    start: u64,
    end: u64,
    bytes: Vec<u8>,
}

impl Edit {
    fn insert(at: u64, bytes: Vec<u8>) -> Edit {
        Edit {
            start: at,
            end: at,
            bytes,
        }
    }
}

/// Sorts edits (stably: equal starts keep their order) and merges touching ones.
fn merge(mut edits: Vec<Edit>) -> Result<Vec<Edit>, EmbedError> {
    edits.sort_by_key(|e| e.start);
    let mut merged: Vec<Edit> = Vec::with_capacity(edits.len());
    for edit in edits {
        match merged.last_mut() {
            Some(last) if last.end == edit.start => {
                last.end = edit.end;
                last.bytes.extend_from_slice(&edit.bytes);
            }
            Some(last) if last.end > edit.start => {
                return Err(EmbedError::SourceChanged {
                    reason: "overlapping element ranges",
                })
            }
            _ => merged.push(edit),
        }
    }
    Ok(merged)
}

fn splices_of(edits: &[Edit]) -> Result<Vec<Splice>, EmbedError> {
    let mut inserted_before = 0u64;
    let mut removed_before = 0u64;
    let mut splices = Vec::with_capacity(edits.len());
    let overflow = || EmbedError::SourceChanged {
        reason: "element ranges out of bounds",
    };
    for edit in edits {
        let removed = edit.end.checked_sub(edit.start).ok_or_else(overflow)?;
        let inserted = u64::try_from(edit.bytes.len()).map_err(|_| overflow())?;
        let output_offset = edit
            .start
            .checked_add(inserted_before)
            .and_then(|o| o.checked_sub(removed_before))
            .ok_or_else(overflow)?;
        splices.push(Splice {
            input_offset: edit.start,
            removed,
            output_offset,
            inserted,
        });
        inserted_before = inserted_before.checked_add(inserted).ok_or_else(overflow)?;
        removed_before = removed_before.checked_add(removed).ok_or_else(overflow)?;
    }
    Ok(splices)
}

/// Copies the source with `edits` applied (second pass).
fn apply<R, W>(
    source: &mut R,
    sink: &mut W,
    scanned: &Scanned,
    edits: &[Edit],
) -> Result<(), EmbedError>
where
    R: Read + Seek + ?Sized,
    W: Write + ?Sized,
{
    source.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut buf = vec![0u8; BUFFER_LEN];
    if scanned.meta.encoding.is_deflated() {
        copy_n(source, sink, scanned.meta.data_start, &mut buf, read_error)?;
        let mut decoder = DeflateDecoder::new(BufReader::with_capacity(BUFFER_LEN, &mut *source));
        let mut encoder = DeflateEncoder::new(
            CountingWriter {
                inner: &mut *sink,
                count: 0,
            },
            Compression::default(),
        );
        copy_with_edits(
            &mut decoder,
            &mut encoder,
            edits,
            scanned.found.end,
            &mut buf,
            |source| EmbedError::Inflate { source },
        )?;
        let counting = encoder.finish().map_err(write_error)?;
        if counting.count % 2 == 1 {
            counting.inner.write_all(&[0]).map_err(write_error)?;
        }
    } else {
        copy_with_edits(source, sink, edits, scanned.file_len, &mut buf, read_error)?;
    }
    sink.flush().map_err(write_error)
}

/// Copies `input_len` bytes from `input` to `output`, applying `edits` (sorted, disjoint,
/// within `0..input_len`), then checks that the input ends there.
fn copy_with_edits<R, W>(
    input: &mut R,
    output: &mut W,
    edits: &[Edit],
    input_len: u64,
    buf: &mut [u8],
    read_failed: fn(io::Error) -> EmbedError,
) -> Result<(), EmbedError>
where
    R: Read + ?Sized,
    W: Write + ?Sized,
{
    let mut pos = 0u64;
    let bad_range = || EmbedError::SourceChanged {
        reason: "element ranges out of bounds",
    };
    for edit in edits {
        let gap = edit.start.checked_sub(pos).ok_or_else(bad_range)?;
        copy_n(input, output, gap, buf, read_failed)?;
        output.write_all(&edit.bytes).map_err(write_error)?;
        let removed = edit.end.checked_sub(edit.start).ok_or_else(bad_range)?;
        copy_n(input, &mut io::sink(), removed, buf, read_failed)?;
        pos = edit.end;
    }
    let rest = input_len.checked_sub(pos).ok_or_else(bad_range)?;
    copy_n(input, output, rest, buf, read_failed)?;
    if read_some(input, buf, read_failed)? != 0 {
        return Err(EmbedError::SourceChanged {
            reason: "the file is longer than it was",
        });
    }
    Ok(())
}

fn read_some<R: Read + ?Sized>(
    input: &mut R,
    buf: &mut [u8],
    read_failed: fn(io::Error) -> EmbedError,
) -> Result<usize, EmbedError> {
    loop {
        match input.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_failed(e)),
        }
    }
}

/// Copies exactly `n` bytes.
fn copy_n<R, W>(
    input: &mut R,
    output: &mut W,
    n: u64,
    buf: &mut [u8],
    read_failed: fn(io::Error) -> EmbedError,
) -> Result<(), EmbedError>
where
    R: Read + ?Sized,
    W: Write + ?Sized,
{
    let mut left = n;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let got = read_some(input, chunk, read_failed)?;
        if got == 0 {
            return Err(EmbedError::SourceChanged {
                reason: "the file is shorter than it was",
            });
        }
        output
            .write_all(chunk.get(..got).unwrap_or_default())
            .map_err(write_error)?;
        left = left.saturating_sub(u64::try_from(got).unwrap_or(u64::MAX));
    }
    Ok(())
}

/// Copies the whole source unchanged.
fn copy_verbatim<R, W>(source: &mut R, sink: &mut W, file_len: u64) -> Result<(), EmbedError>
where
    R: Read + Seek + ?Sized,
    W: Write + ?Sized,
{
    source.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut buf = vec![0u8; BUFFER_LEN];
    copy_with_edits(source, sink, &[], file_len, &mut buf, read_error)?;
    sink.flush().map_err(write_error)
}

struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count = self
            .count
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
    const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

    fn el(mode: Mode, group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        encode_element(mode, ElementTag::new(group, element), *vr, value).unwrap()
    }

    /// Raw header (tag + 4-byte length, no VR): items, delimiters, undefined lengths.
    fn raw(mode: Mode, group: u16, element: u16, length: u32) -> Vec<u8> {
        let mut out = Vec::new();
        mode.put_u16(&mut out, group);
        mode.put_u16(&mut out, element);
        mode.put_u32(&mut out, length);
        out
    }

    /// Explicit VR header with a long length field.
    fn long_header(group: u16, element: u16, vr: &[u8; 2], length: u32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&group.to_le_bytes());
        out.extend_from_slice(&element.to_le_bytes());
        out.extend_from_slice(vr);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&length.to_le_bytes());
        out
    }

    fn meta(ts: &str) -> Vec<u8> {
        let mut uid = ts.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        let body = [
            el(Mode::EXPLICIT_LE, 2, 0x0001, b"OB", &[0, 1]),
            el(Mode::EXPLICIT_LE, 2, 0x0010, b"UI", &uid),
        ]
        .concat();
        let length = u32::try_from(body.len()).unwrap().to_le_bytes();
        [el(Mode::EXPLICIT_LE, 2, 0, b"UL", &length), body].concat()
    }

    fn part10(ts: &str, data: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 128];
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&meta(ts));
        out.extend_from_slice(data);
        out
    }

    fn scan_bytes(bytes: &[u8]) -> Result<SealScan, EmbedError> {
        scan_seal_blocks(&mut Cursor::new(bytes))
    }

    fn patient_name() -> Vec<u8> {
        el(Mode::EXPLICIT_LE, 0x0010, 0x0010, b"PN", b"DOE^J ")
    }

    #[test]
    fn creator_matcher() {
        let matches = |v: &[u8]| {
            v.iter().fold(CreatorMatch::Leading, |s, &b| s.feed(b)) == CreatorMatch::Trailing
        };
        assert!(matches(b"SCANSEAL 1"));
        assert!(matches(b"   SCANSEAL 1 \0 "));
        assert!(!matches(b"SCANSEAL 1x"));
        assert!(!matches(b"SCANSEAL"));
        assert!(!matches(b""));
        assert!(!matches(b"\tSCANSEAL 1"));
    }

    #[test]
    fn tags_and_blocks() {
        assert_eq!(
            ElementTag::chain(SEAL_GROUP, 0x11),
            ElementTag::new(0x7FF1, 0x1101)
        );
        assert_eq!(
            ElementTag::creator(SEAL_GROUP, 0x11).to_string(),
            "(7FF1,0011)"
        );
        assert_eq!(ElementTag::new(0x0009, 0x0010).creator_block(), Some(0x10));
        assert_eq!(ElementTag::new(0x0008, 0x0010).creator_block(), None);
        assert_eq!(ElementTag::new(0x0009, 0x000F).creator_block(), None);
        assert_eq!(ElementTag::new(0x0009, 0x10FF).private_block(), Some(0x10));
        assert_eq!(ElementTag::new(0x0009, 0x0FFF).private_block(), None);
        let taken: Vec<(ElementTag, u64)> = (0x10..=0xFFu16)
            .map(|b| (ElementTag::new(SEAL_GROUP, b), 0))
            .collect();
        assert_eq!(free_block(&taken), None);
        assert_eq!(free_block(&taken[1..]), Some(0x10));
        assert_eq!(
            free_block(&[(ElementTag::new(SEAL_GROUP, 0x1234), 0)]),
            Some(0x10)
        );
        assert_eq!(
            free_block(&[(ElementTag::new(SEAL_GROUP, 0x1034), 0)]),
            Some(0x11)
        );
    }

    #[test]
    fn transfer_syntaxes() {
        use DataSetEncoding::*;
        assert_eq!(
            DataSetEncoding::from_uid(IMPLICIT_LE),
            Some(ImplicitVrLittleEndian)
        );
        assert_eq!(
            DataSetEncoding::from_uid(EXPLICIT_LE),
            Some(ExplicitVrLittleEndian)
        );
        assert_eq!(
            DataSetEncoding::from_uid("1.2.840.10008.1.2.2"),
            Some(ExplicitVrBigEndian)
        );
        assert_eq!(
            DataSetEncoding::from_uid("1.2.840.10008.1.2.4.95"),
            Some(DeflatedExplicitVrLittleEndian)
        );
        assert_eq!(
            DataSetEncoding::from_uid("1.2.840.10008.1.2.4.201"),
            Some(ExplicitVrLittleEndian)
        );
        assert_eq!(DataSetEncoding::from_uid("1.2.840.10008.1.20"), None);
        assert_eq!(DataSetEncoding::from_uid("1.3.6.1.4.1.5962.300.1"), None);
    }

    #[test]
    fn merge_and_splices() {
        let edits = merge(vec![
            Edit::insert(10, vec![1; 4]),
            Edit {
                start: 2,
                end: 4,
                bytes: vec![],
            },
            Edit::insert(10, vec![2; 2]),
            Edit {
                start: 10,
                end: 12,
                bytes: vec![3],
            },
        ])
        .unwrap();
        assert_eq!(edits.len(), 2);
        assert_eq!(edits[1].bytes, vec![1, 1, 1, 1, 2, 2, 3]);
        assert_eq!((edits[1].start, edits[1].end), (10, 12));
        let splices = splices_of(&edits).unwrap();
        assert_eq!(splices[1].output_offset, 8);
        assert_eq!((splices[1].removed, splices[1].inserted), (2, 7));
        assert!(merge(vec![
            Edit {
                start: 0,
                end: 5,
                bytes: vec![]
            },
            Edit::insert(3, vec![1])
        ])
        .is_err());
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        copy_with_edits(
            &mut Cursor::new(b"abcdefghijklmn"),
            &mut out,
            &edits,
            14,
            &mut buf,
            read_error,
        )
        .unwrap();
        let mut expected = b"abefghij".to_vec();
        expected.extend([1, 1, 1, 1, 2, 2, 3]);
        expected.extend(b"mn");
        assert_eq!(out, expected);
    }

    #[test]
    fn empty_data_set_gets_the_block_right_after_the_meta() {
        let file = part10(EXPLICIT_LE, &[]);
        let mut out = Vec::new();
        let summary = write_with_chain(&mut Cursor::new(&file), &mut out, b"ab").unwrap();
        assert_eq!(summary.splices[0].input_offset, file.len() as u64);
        let scan = scan_bytes(&out).unwrap();
        assert_eq!(scan.blocks.len(), 1);
        assert_eq!(scan.data_set_start, file.len() as u64);
        assert_eq!(scan.data_set_len, out.len() as u64 - file.len() as u64);
        // Without preamble.
        let bare = file.get(128..).unwrap().to_vec();
        assert_eq!(scan_bytes(&bare).unwrap().data_set_start, bare.len() as u64);
    }

    #[test]
    fn cp246_undefined_length_un_is_walked_as_implicit_vr() {
        let creator = el(Mode::IMPLICIT_LE, 0x0029, 0x0010, b"LO", b"SCANSEAL 1");
        let mut data = patient_name();
        data.extend(long_header(0x0029, 0x1001, b"UN", UNDEFINED_LENGTH));
        data.extend(raw(Mode::IMPLICIT_LE, 0xFFFE, 0xE000, UNDEFINED_LENGTH));
        data.extend(&creator);
        data.extend(raw(Mode::IMPLICIT_LE, 0xFFFE, 0xE00D, 0));
        data.extend(raw(Mode::IMPLICIT_LE, 0xFFFE, 0xE0DD, 0));
        let file = part10(EXPLICIT_LE, &data);
        let scan = scan_bytes(&file).unwrap();
        assert!(scan.blocks.is_empty());
        assert_eq!(scan.nested_creators, 1);
        let first = scan.first_nested_creator.unwrap();
        assert_eq!(first.base, OffsetBase::File);
        let at = usize::try_from(first.value).unwrap();
        assert_eq!(file.get(at..at + creator.len()), Some(creator.as_slice()));
    }

    #[test]
    fn encapsulated_pixel_data() {
        let mut data = patient_name();
        data.extend(long_header(0x7FE0, 0x0010, b"OB", UNDEFINED_LENGTH));
        data.extend(raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE000, 0));
        data.extend(raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE000, 4));
        data.extend([1, 2, 3, 4]);
        let mut good = data.clone();
        good.extend(raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE0DD, 0));
        let file = part10("1.2.840.10008.1.2.4.50", &good);
        let mut out = Vec::new();
        write_with_chain(&mut Cursor::new(&file), &mut out, b"xyz").unwrap();
        assert_eq!(scan_bytes(&out).unwrap().blocks[0].chain, b"xyz\0");

        let mut bad = data.clone();
        bad.extend(raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE000, UNDEFINED_LENGTH));
        assert!(matches!(
            scan_bytes(&part10(EXPLICIT_LE, &bad)),
            Err(EmbedError::UndefinedLength { .. })
        ));
        let mut bad = data.clone();
        bad.extend(raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE0DD, 2));
        assert!(matches!(
            scan_bytes(&part10(EXPLICIT_LE, &bad)),
            Err(EmbedError::DelimiterLength { length: 2, .. })
        ));
        let mut bad = data;
        bad.extend(raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE000, 400));
        assert!(matches!(
            scan_bytes(&part10(EXPLICIT_LE, &bad)),
            Err(EmbedError::ValueBeyondEnd { length: 400, .. })
        ));
    }

    #[test]
    fn implicit_vr_undefined_pixel_data_is_fragments() {
        let mut data = raw(Mode::IMPLICIT_LE, 0x0010, 0x0010, 2);
        data.extend(b"AB");
        data.extend(raw(Mode::IMPLICIT_LE, 0x7FE0, 0x0010, UNDEFINED_LENGTH));
        data.extend(raw(Mode::IMPLICIT_LE, 0xFFFE, 0xE000, 2));
        data.extend([0x12, 0x34]);
        data.extend(raw(Mode::IMPLICIT_LE, 0xFFFE, 0xE0DD, 0));
        assert!(scan_bytes(&part10(IMPLICIT_LE, &data)).is_ok());
    }

    #[test]
    fn structural_errors_name_tag_and_offset() {
        let file_of = |extra: Vec<u8>| part10(EXPLICIT_LE, &[patient_name(), extra].concat());
        let start = u64::try_from(part10(EXPLICIT_LE, &patient_name()).len()).unwrap();

        let err = scan_bytes(&file_of(el(
            Mode::EXPLICIT_LE,
            0x0010,
            0x0020,
            b"LO",
            b"ID",
        )))
        .map(|_| ());
        assert!(err.is_ok());

        let mut unknown = el(Mode::EXPLICIT_LE, 0x0010, 0x0020, b"LO", b"ID");
        unknown[4..6].copy_from_slice(b"ZZ");
        match scan_bytes(&file_of(unknown)) {
            Err(EmbedError::UnknownVr { tag, offset, vr }) => {
                assert_eq!(tag, ElementTag::new(0x0010, 0x0020));
                assert_eq!(offset, Offset::file(start));
                assert_eq!(&vr, b"ZZ");
            }
            other => panic!("{other:?}"),
        }

        let ut = long_header(0x0010, 0x4000, b"UT", UNDEFINED_LENGTH);
        assert!(matches!(
            scan_bytes(&file_of(ut)),
            Err(EmbedError::UndefinedLength { .. })
        ));

        let item = raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE000, 0);
        assert!(matches!(
            scan_bytes(&file_of(item)),
            Err(EmbedError::UnexpectedTag { .. })
        ));

        // A defined-length sequence whose item claims more than the sequence holds.
        let mut seq = long_header(0x0008, 0x1140, b"SQ", 8);
        seq.extend(raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE000, 10));
        seq.extend([0u8; 10]);
        let mut ordered = el(Mode::EXPLICIT_LE, 0x0008, 0x0016, b"UI", b"12");
        ordered.extend(seq);
        let file = part10(EXPLICIT_LE, &ordered);
        assert!(matches!(
            scan_bytes(&file),
            Err(EmbedError::BeyondContainer { .. })
        ));

        // A sequence delimiter inside a defined-length sequence.
        let mut seq = long_header(0x0008, 0x1140, b"SQ", 8);
        seq.extend(raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE0DD, 0));
        assert!(matches!(
            scan_bytes(&part10(EXPLICIT_LE, &seq)),
            Err(EmbedError::UnexpectedTag { .. })
        ));

        // An item delimiter inside a defined-length item.
        let mut seq = long_header(0x0008, 0x1140, b"SQ", 16);
        seq.extend(raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE000, 8));
        seq.extend(raw(Mode::EXPLICIT_LE, 0xFFFE, 0xE00D, 0));
        assert!(matches!(
            scan_bytes(&part10(EXPLICIT_LE, &seq)),
            Err(EmbedError::UnexpectedTag { .. })
        ));

        // Duplicate top-level tag.
        let twice = [patient_name(), patient_name()].concat();
        assert!(matches!(
            scan_bytes(&part10(EXPLICIT_LE, &twice)),
            Err(EmbedError::OutOfOrder { .. })
        ));
    }

    #[test]
    fn chain_element_must_be_ob_with_defined_length() {
        let creator = el(Mode::EXPLICIT_LE, SEAL_GROUP, 0x0010, b"LO", b"SCANSEAL 1");
        let lo = el(Mode::EXPLICIT_LE, SEAL_GROUP, 0x1001, b"LO", b"ab");
        let file = part10(EXPLICIT_LE, &[patient_name(), creator.clone(), lo].concat());
        assert!(matches!(
            scan_bytes(&file),
            Err(EmbedError::MalformedSealBlock { .. })
        ));
        let un = el(Mode::EXPLICIT_LE, SEAL_GROUP, 0x1001, b"UN", b"ab");
        let file = part10(EXPLICIT_LE, &[patient_name(), creator.clone(), un].concat());
        assert_eq!(scan_bytes(&file).unwrap().blocks[0].chain, b"ab");
        let sq = long_header(SEAL_GROUP, 0x1001, b"SQ", UNDEFINED_LENGTH);
        let file = part10(EXPLICIT_LE, &[patient_name(), creator, sq].concat());
        assert!(matches!(
            scan_bytes(&file),
            Err(EmbedError::MalformedSealBlock { .. })
        ));
    }

    #[test]
    fn file_meta_problems() {
        // Out of order meta elements.
        let mut file = vec![0u8; 128];
        file.extend_from_slice(MAGIC);
        file.extend(el(
            Mode::EXPLICIT_LE,
            2,
            0x0010,
            b"UI",
            b"1.2.840.10008.1.2\0",
        ));
        file.extend(el(Mode::EXPLICIT_LE, 2, 0x0001, b"OB", &[0, 1]));
        assert!(matches!(
            scan_bytes(&file),
            Err(EmbedError::InvalidFileMeta { offset, .. }) if offset > 132
        ));
        // No transfer syntax.
        let mut file = vec![0u8; 128];
        file.extend_from_slice(MAGIC);
        file.extend(el(Mode::EXPLICIT_LE, 2, 0x0001, b"OB", &[0, 1]));
        assert!(matches!(
            scan_bytes(&file),
            Err(EmbedError::MissingTransferSyntax)
        ));
        // Implicit VR meta (not allowed).
        let mut file = vec![0u8; 128];
        file.extend_from_slice(MAGIC);
        file.extend(raw(Mode::IMPLICIT_LE, 2, 0x0010, 18));
        file.extend(b"1.2.840.10008.1.2\0");
        assert!(matches!(
            scan_bytes(&file),
            Err(EmbedError::InvalidFileMeta { .. })
        ));
        // A Transfer Syntax UID longer than any UID.
        let mut file = vec![0u8; 128];
        file.extend_from_slice(MAGIC);
        file.extend(el(Mode::EXPLICIT_LE, 2, 0x0010, b"UI", &[b'1'; 200]));
        assert!(matches!(
            scan_bytes(&file),
            Err(EmbedError::InvalidFileMeta { .. })
        ));
        // Padded UID with spaces is trimmed.
        let file = part10("1.2.840.10008.1.2 ", &[]);
        assert_eq!(scan_bytes(&file).unwrap().transfer_syntax, IMPLICIT_LE);
    }

    #[test]
    fn big_endian_items_are_big_endian() {
        let be = Mode::EXPLICIT_BE;
        let mut data = el(be, 0x0008, 0x0016, b"UI", b"12");
        let mut seq = Vec::new();
        be.put_u16(&mut seq, 0x0008);
        be.put_u16(&mut seq, 0x1140);
        seq.extend(b"SQ\0\0");
        be.put_u32(&mut seq, UNDEFINED_LENGTH);
        seq.extend(raw(be, 0xFFFE, 0xE000, UNDEFINED_LENGTH));
        seq.extend(el(be, 0x0009, 0x0010, b"LO", b"SCANSEAL 1"));
        seq.extend(raw(be, 0xFFFE, 0xE00D, 0));
        seq.extend(raw(be, 0xFFFE, 0xE0DD, 0));
        data.extend(seq);
        let file = part10("1.2.840.10008.1.2.2", &data);
        let scan = scan_bytes(&file).unwrap();
        assert_eq!(scan.nested_creators, 1);
        let mut out = Vec::new();
        write_with_chain(&mut Cursor::new(&file), &mut out, b"q").unwrap();
        assert_eq!(out.get(..file.len()), Some(file.as_slice()));
        assert_eq!(
            out.get(file.len()..file.len() + 4),
            Some(&b"\x7F\xF1\x00\x10"[..])
        );
    }

    #[test]
    fn offsets_display() {
        assert_eq!(Offset::file(7).to_string(), "byte 7");
        let inflated = Offset {
            base: OffsetBase::InflatedDataSet,
            value: 9,
        };
        assert_eq!(inflated.to_string(), "byte 9 of the inflated data set");
        let err = EmbedError::MultipleSealBlocks {
            blocks: vec![(0x7FF1, 0x10), (0x0009, 0x11)],
        };
        assert_eq!(
            err.to_string(),
            "2 seal blocks at the top level (group 7FF1 block 10, group 0009 block 11); a file carries at most one"
        );
    }
}
