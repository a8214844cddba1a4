//! The one error type of this crate.

use dicom_core::Tag;

/// Why an instance could not be canonicalized.
///
/// Every variant names what is wrong and, where it is known, where (`tag`, byte `offset`,
/// `frame`). Spec reference: `spec/canonical-form.md` §8.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanonError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that was being read.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A value left in its file (see [`crate::FileSpan`]) could not be read when it was needed,
    /// e.g. because the file was truncated after it was opened.
    #[error("cannot read the value of {tag} ({len} bytes at byte {offset} of the file): {source}")]
    ValueUnreadable {
        /// The element.
        tag: Tag,
        /// Where its value starts in the file.
        offset: u64,
        /// Its length.
        len: u64,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not a DICOM Part 10 stream (no `DICM` / File Meta Information).
    #[error("not a DICOM Part 10 file: {reason}")]
    NotDicom {
        /// What was found instead.
        reason: String,
    },
    /// The data set is malformed.
    #[error("malformed data set{}: {reason}", offset.map(|o| format!(" at byte {o}")).unwrap_or_default())]
    Parse {
        /// Byte offset into the data set, when known.
        offset: Option<u64>,
        /// What the parser found.
        reason: String,
    },
    /// An element declares a value longer than the bytes that remain in the input.
    #[error("element {tag} declares {declared} bytes but only {remaining} remain in the input")]
    ValueBeyondEnd {
        /// The element.
        tag: Tag,
        /// Declared value length.
        declared: u64,
        /// Bytes left in the input after the element header.
        remaining: u64,
    },
    /// Sequences are nested deeper than the canonicalizer accepts.
    #[error("sequences nested deeper than {limit} levels")]
    NestingTooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// The transfer syntax has no defined canonical pixel mode (C3.2).
    #[error("transfer syntax {uid} is not supported by canon-v1")]
    UnsupportedTransferSyntax {
        /// The Transfer Syntax UID.
        uid: String,
    },
    /// A pixel module attribute the descriptor needs is missing (C4.1.1).
    #[error("pixel data present but {keyword} {tag} is missing")]
    MissingPixelAttribute {
        /// The missing attribute.
        tag: Tag,
        /// Its keyword.
        keyword: &'static str,
    },
    /// A pixel module attribute has a value canon-v1 does not accept (C4.1.1).
    #[error("{keyword} {tag}: {reason}")]
    BadPixelAttribute {
        /// The attribute.
        tag: Tag,
        /// Its keyword.
        keyword: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// More than one of Pixel Data, Float Pixel Data, Double Float Pixel Data (C3.3).
    #[error("more than one pixel data element (7FE0,0008/0009/0010) in one data set")]
    MultiplePixelElements,
    /// Native pixel data holds fewer bytes than the descriptor requires (C4.2.4).
    #[error("pixel data holds {actual} bytes but the descriptor requires {required}")]
    PixelDataTooShort {
        /// Bytes required for all frames.
        required: u64,
        /// Bytes present.
        actual: u64,
    },
    /// Encapsulated fragments cannot be assigned to frames (C4.4.1).
    #[error("cannot assign {fragments} fragments to {frames} frames: {reason}")]
    FramesNotDelimited {
        /// Number of fragments.
        fragments: usize,
        /// Number of frames.
        frames: u32,
        /// Why the assignment failed.
        reason: String,
    },
    /// A lossless frame could not be decoded (C3.2, C4.2.5).
    #[error("cannot decode frame {frame} ({transfer_syntax}): {reason}")]
    Decode {
        /// The frame index.
        frame: u32,
        /// The Transfer Syntax UID.
        transfer_syntax: String,
        /// The decoder's message.
        reason: String,
    },
    /// A decoded frame does not have the size the descriptor implies (C4.2.5).
    #[error("decoded frame {frame} has {actual} bytes, expected {expected}")]
    DecodedFrameSize {
        /// The frame index.
        frame: u32,
        /// Expected size.
        expected: u64,
        /// Decoded size.
        actual: u64,
    },
    /// A binary value's length is not a multiple of its unit size (§5.3).
    #[error("element {tag} ({vr}) has length {length}, not a multiple of {unit}")]
    BadValueLength {
        /// The element.
        tag: Tag,
        /// Its VR.
        vr: &'static str,
        /// The value length.
        length: usize,
        /// The unit size of the VR.
        unit: usize,
    },
    /// Two elements of one data set have the same canonical identity (C5.2.2).
    #[error("two elements share the canonical identity {identity}")]
    DuplicateAttribute {
        /// The identity, as text.
        identity: String,
    },
    /// A size exceeds what canon-v1 can encode (a length ≥ 2³² or a frame too large to address).
    #[error("{what} is too large for canon-v1")]
    TooLarge {
        /// What is too large.
        what: &'static str,
    },
    /// An option given to the canonicalizer is out of range.
    #[error("invalid option: {reason}")]
    InvalidOption {
        /// What is wrong.
        reason: String,
    },
    /// Pixels were asked for, but the instance has no pixel data element.
    #[error("the instance has no pixel data (7FE0,0008/0009/0010)")]
    NoPixelData,
    /// A frame index beyond the instance's Number of Frames.
    #[error("frame index {frame} (0-based) is out of range: the instance has {frames} frame(s)")]
    FrameOutOfRange {
        /// The frame index asked for, 0-based.
        frame: u32,
        /// Number of Frames.
        frames: u32,
    },
    /// Samples were asked for in a lossy transfer syntax: canon-v1 hashes those frames as
    /// stored (`encoded-frames` mode, C3.1) and does not decode them.
    #[error(
        "frames in lossy transfer syntax {transfer_syntax} are not decoded (encoded-frames mode)"
    )]
    NotDecoded {
        /// The Transfer Syntax UID.
        transfer_syntax: String,
    },
    /// A value is longer than its element header's length field can declare, in the transfer
    /// syntax being written (65535 bytes for a VR with a 2-byte length in explicit VR).
    #[error(
        "element {tag} ({vr}) has {length} bytes, more than the {max} its length field can hold"
    )]
    ValueTooLong {
        /// The element.
        tag: Tag,
        /// Its VR.
        vr: &'static str,
        /// The value length.
        length: usize,
        /// The largest length the header can declare.
        max: u32,
    },
    /// The elements of a data set being written are not in strictly ascending tag order.
    #[error("element {tag} follows {previous}: tags must ascend strictly")]
    TagsNotAscending {
        /// The element before.
        previous: Tag,
        /// The element out of order (or repeated).
        tag: Tag,
    },
    /// A File Meta Information element (group 0002) in the data set being written.
    #[error("element {tag} belongs to the File Meta Information, not the data set")]
    FileMetaInDataSet {
        /// The element.
        tag: Tag,
    },
    /// An element that cannot be written so that it reads back as the same element.
    #[error("element {tag} cannot be written: {reason}")]
    NotEncodable {
        /// The element.
        tag: Tag,
        /// Why.
        reason: String,
    },
    /// A File Meta Information field given to the writer is invalid.
    #[error("File Meta Information {field}: {reason}")]
    BadFileMeta {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing the output failed.
    #[error("cannot write the output: {source}")]
    Write {
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl CanonError {
    /// The spec's name for this kind of error (`spec/canonical-form.md` §8), as used in the
    /// test vectors' `want_err`.
    pub fn kind(&self) -> &'static str {
        match self {
            CanonError::Io { .. } | CanonError::ValueUnreadable { .. } => "Io",
            CanonError::NotDicom { .. } => "NotDicom",
            CanonError::Parse { .. } | CanonError::ValueBeyondEnd { .. } => "Parse",
            CanonError::NestingTooDeep { .. } => "NestingTooDeep",
            CanonError::UnsupportedTransferSyntax { .. } => "UnsupportedTransferSyntax",
            CanonError::MissingPixelAttribute { .. } => "MissingPixelAttribute",
            CanonError::BadPixelAttribute { .. } => "BadPixelAttribute",
            CanonError::MultiplePixelElements => "MultiplePixelElements",
            CanonError::PixelDataTooShort { .. } => "PixelDataTooShort",
            CanonError::FramesNotDelimited { .. } => "FramesNotDelimited",
            CanonError::Decode { .. } => "Decode",
            CanonError::DecodedFrameSize { .. } => "DecodedFrameSize",
            CanonError::BadValueLength { .. } => "BadValueLength",
            CanonError::DuplicateAttribute { .. } => "DuplicateAttribute",
            CanonError::TooLarge { .. } => "TooLarge",
            CanonError::InvalidOption { .. } => "InvalidOption",
            CanonError::NoPixelData => "NoPixelData",
            CanonError::FrameOutOfRange { .. } => "FrameOutOfRange",
            CanonError::NotDecoded { .. } => "NotDecoded",
            CanonError::ValueTooLong { .. } => "ValueTooLong",
            CanonError::TagsNotAscending { .. } => "TagsNotAscending",
            CanonError::FileMetaInDataSet { .. } => "FileMetaInDataSet",
            CanonError::NotEncodable { .. } => "NotEncodable",
            CanonError::BadFileMeta { .. } => "BadFileMeta",
            CanonError::Write { .. } => "Write",
        }
    }
}
