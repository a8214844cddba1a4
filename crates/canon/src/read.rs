//! Reads a DICOM Part 10 stream into a tree of raw element values.
//!
//! Values are kept as the octets found in the file (dicom-parser's `Raw` read strategy): the
//! canonical form defines its own decoding of text, byte order and private elements (spec §5),
//! so it must not inherit a parser's interpretation.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use dicom_core::header::{HasLength, Header};
use dicom_core::value::PrimitiveValue;
use dicom_core::{Tag, VR};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_encoding::Codec;
use dicom_object::meta::FileMetaTable;
use dicom_parser::dataset::read::{DataSetReader, DataSetReaderOptions, ValueReadStrategy};
use dicom_parser::dataset::DataToken;
use dicom_parser::StatefulDecode;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::write::has_long_length;
use crate::CanonError;

/// How deep sequences may nest before the input is refused (C5.3 recursion is bounded by it).
pub const MAX_NESTING: usize = 128;

/// Native pixel data at least this long is left in the file by [`DicomInstance::open`] and
/// [`DicomInstance::from_file`] ([`ElementValue::InFile`]) and read one frame at a time when
/// it is hashed: verifying a 500 MB multi-frame file then holds a frame or two in memory, not
/// the file, and never copies the samples into a buffer of the file's size.
pub const IN_FILE_MIN_LEN: u64 = 64 * 1024;

/// Read-ahead of the reader when values are left in the file.
const IN_FILE_READ_AHEAD: usize = 4 * 1024;

/// The pixel elements whose native values may be left in the file.
const IN_FILE_TAGS: [Tag; 3] = [
    Tag(0x7FE0, 0x0008),
    Tag(0x7FE0, 0x0009),
    Tag(0x7FE0, 0x0010),
];

/// A DICOM instance read from a Part 10 file: its transfer syntax and its data set, with
/// every primitive value kept as the octets stored in the file.
#[derive(Debug, Clone)]
pub struct DicomInstance {
    pub(crate) transfer_syntax: String,
    pub(crate) dataset: DataSet,
}

/// A data set (the top level, or one sequence item): its elements in the order read, which
/// in a well-formed file is ascending tag order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataSet {
    pub(crate) elements: Vec<Element>,
}

/// One element as read: tag, VR as known to the reader, and value.
///
/// The VR is the one in the file for explicit-VR transfer syntaxes; for Implicit VR Little
/// Endian it is the data dictionary's (`UN` for an unknown tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The tag.
    pub tag: Tag,
    /// The VR.
    pub vr: VR,
    /// The value.
    pub value: ElementValue,
}

/// The value of an [`Element`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementValue {
    /// Octets as stored (file byte order, padding included).
    Primitive(Vec<u8>),
    /// A sequence of items (or an undefined-length element read as one, PS3.5 §6.2.2).
    Sequence(Vec<DataSet>),
    /// Encapsulated pixel data.
    Encapsulated(Encapsulated),
    /// A primitive value left in the file it was read from (native pixel data of a file
    /// opened with [`DicomInstance::open`] or [`DicomInstance::from_file`]): the same octets
    /// as `Primitive` would hold, read when needed.
    InFile(FileSpan),
}

/// Where a value left in its file lies: an open handle on the file, and the value's offset
/// and length in it. Reads are positioned (`pread`), so they neither move nor depend on any
/// file cursor and may run from several threads at once.
#[derive(Debug, Clone)]
pub struct FileSpan {
    file: Arc<File>,
    tag: Tag,
    offset: u64,
    len: u64,
}

impl FileSpan {
    /// The value's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the value starts in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Fills `buf` with the value's bytes from `position` (counted from the value's start).
    ///
    /// # Errors
    /// `ValueUnreadable` when the range is outside the value or the file cannot be read
    /// (e.g. it was truncated since it was opened).
    pub fn read_at(&self, position: u64, buf: &mut [u8]) -> Result<(), CanonError> {
        let unreadable = |source| CanonError::ValueUnreadable {
            tag: self.tag,
            offset: self.offset,
            len: self.len,
            source,
        };
        let end = position.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.len) {
            return Err(unreadable(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} bytes from byte {position} of the value are beyond its end",
                    buf.len()
                ),
            )));
        }
        read_exact_at(&self.file, buf, self.offset + position).map_err(unreadable)
    }

    /// The whole value.
    ///
    /// # Errors
    /// As [`FileSpan::read_at`]; `TooLarge` when it does not fit in memory's address space.
    pub fn read_all(&self) -> Result<Vec<u8>, CanonError> {
        let len = usize::try_from(self.len).map_err(|_| CanonError::TooLarge { what: "value" })?;
        let mut octets = vec![0; len];
        self.read_at(0, &mut octets)?;
        Ok(octets)
    }
}

/// Two spans are equal when they are the same bytes of the same open file; the contents are
/// not compared (that would mean reading them).
impl PartialEq for FileSpan {
    fn eq(&self, other: &FileSpan) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
            && self.tag == other.tag
            && self.offset == other.offset
            && self.len == other.len
    }
}

impl Eq for FileSpan {}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Encapsulated pixel data: the Basic Offset Table and the fragments after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encapsulated {
    /// The Basic Offset Table (empty when the first item is empty).
    pub offset_table: Vec<u32>,
    /// The fragments, each as stored.
    pub fragments: Vec<Vec<u8>>,
}

impl DataSet {
    /// A data set holding `elements`, sorted into ascending tag order.
    pub fn from_elements(mut elements: Vec<Element>) -> DataSet {
        elements.sort_by_key(|e| e.tag);
        DataSet { elements }
    }

    /// The elements, in order.
    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// The elements, for editing in place (values, not the order: use [`DataSet::put`] and
    /// [`DataSet::remove`] to add or remove).
    pub fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.elements.iter_mut()
    }

    /// The element with `tag`.
    pub fn get(&self, tag: Tag) -> Option<&Element> {
        self.elements.iter().find(|e| e.tag == tag)
    }

    /// The element with `tag`, for editing.
    pub fn get_mut(&mut self, tag: Tag) -> Option<&mut Element> {
        self.elements.iter_mut().find(|e| e.tag == tag)
    }

    /// Removes and returns the element with `tag`.
    pub fn remove(&mut self, tag: Tag) -> Option<Element> {
        let index = self.elements.iter().position(|e| e.tag == tag)?;
        Some(self.elements.remove(index))
    }

    /// Keeps only the elements for which `keep` is true.
    pub fn retain(&mut self, keep: impl FnMut(&Element) -> bool) {
        self.elements.retain(keep);
    }

    /// Replaces the element with the same tag, or inserts `element` before the first element
    /// with a greater tag (so a data set read in ascending order stays so).
    pub fn put(&mut self, element: Element) {
        if let Some(existing) = self.get_mut(element.tag) {
            *existing = element;
            return;
        }
        let index = self
            .elements
            .iter()
            .position(|e| e.tag > element.tag)
            .unwrap_or(self.elements.len());
        self.elements.insert(index, element);
    }
}

impl DicomInstance {
    /// Reads the file at `path`.
    ///
    /// # Errors
    /// `Io` when the file cannot be read; otherwise as [`DicomInstance::from_reader`].
    /// Native pixel data is left in the file ([`ElementValue::InFile`], see
    /// [`DicomInstance::from_file`]).
    pub fn open(path: &Path) -> Result<DicomInstance, CanonError> {
        let file = File::open(path).map_err(|source| CanonError::Io {
            path: path.display().to_string(),
            source,
        })?;
        DicomInstance::from_file(&file).map_err(|error| match error {
            CanonError::Io { source, .. } => CanonError::Io {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Reads the file open as `file`, from its start. Native pixel data of at least
    /// [`IN_FILE_MIN_LEN`] bytes at the top level is not read into memory but left in the file
    /// ([`ElementValue::InFile`], on a duplicate of the handle) and read a frame at a time when
    /// it is canonicalized. The file must then stay unchanged while the instance is used.
    ///
    /// # Errors
    /// `Io` when the file cannot be read; otherwise as [`DicomInstance::from_reader`].
    pub fn from_file(file: &File) -> Result<DicomInstance, CanonError> {
        let io = |source| CanonError::Io {
            path: "the open file".into(),
            source,
        };
        let file = Arc::new(file.try_clone().map_err(io)?);
        let len = file.metadata().map_err(io)?.len();
        (&*file).seek(SeekFrom::Start(0)).map_err(io)?;
        read_instance(&*file, Some(len), Some(&file))
    }

    /// Reads an instance held in memory.
    ///
    /// # Errors
    /// As [`DicomInstance::from_reader`].
    pub fn from_bytes(bytes: &[u8]) -> Result<DicomInstance, CanonError> {
        DicomInstance::from_reader(bytes, Some(bytes.len() as u64))
    }

    /// Reads an instance from `source`. When `total_len` (the stream's length in bytes) is
    /// given, an element that declares a value longer than what remains is refused before
    /// anything is allocated for it.
    ///
    /// # Errors
    /// `NotDicom` without `DICM` and File Meta Information; `UnsupportedTransferSyntax` for a
    /// transfer syntax the parser does not know; `Parse`, `ValueBeyondEnd` or `NestingTooDeep`
    /// for a malformed data set.
    pub fn from_reader<R: Read>(
        source: R,
        total_len: Option<u64>,
    ) -> Result<DicomInstance, CanonError> {
        read_instance(source, total_len, None)
    }

    /// The Transfer Syntax UID from the File Meta Information.
    pub fn transfer_syntax(&self) -> &str {
        &self.transfer_syntax
    }

    /// The top-level data set (File Meta Information excluded).
    pub fn data_set(&self) -> &DataSet {
        &self.dataset
    }

    /// The top-level data set, for editing. The canonical form of the edited instance is
    /// [`crate::canonicalize`] of it, as for one read from a file.
    pub fn data_set_mut(&mut self) -> &mut DataSet {
        &mut self.dataset
    }

    /// Whether binary values are big endian: Explicit VR Big Endian is the one transfer
    /// syntax that stores them so.
    pub(crate) fn is_big_endian(&self) -> bool {
        self.transfer_syntax == "1.2.840.10008.1.2.2"
    }
}

/// [`DicomInstance::from_reader`]; with `in_file`, the handle `source` reads from (at its
/// start), large native pixel data is left in the file.
fn read_instance<R: Read>(
    source: R,
    total_len: Option<u64>,
    in_file: Option<&Arc<File>>,
) -> Result<DicomInstance, CanonError> {
    // When large values are left in the file, the read-ahead before one of them is wasted:
    // keep it small (headers are a few kilobytes; a CT slice's pixel data is 512 KiB).
    let capacity = if in_file.is_some() {
        IN_FILE_READ_AHEAD
    } else {
        64 * 1024
    };
    let mut buffered = BufReader::with_capacity(capacity, source);
    let head = buffered.fill_buf().map_err(|e| CanonError::NotDicom {
        reason: format!("cannot read the first bytes: {e}"),
    })?;
    let preamble = if head.len() >= 132 && &head[128..132] == b"DICM" {
        128
    } else if head.len() >= 4 && &head[..4] == b"DICM" {
        0
    } else {
        return Err(CanonError::NotDicom {
            reason: "no \"DICM\" magic at byte 128 or byte 0".into(),
        });
    };
    buffered.consume(preamble);
    let consumed = Rc::new(Cell::new(preamble as u64));
    let state = Rc::new(RefCell::new(SourceState::default()));
    let mut source = SourceReader {
        inner: buffered,
        consumed: Rc::clone(&consumed),
        state: Rc::clone(&state),
    };
    // From `DICM` on: the input less its preamble.
    let from_magic = total_len.map(|total| total.saturating_sub(preamble as u64));
    let meta_bytes = read_file_meta(&mut source, from_magic)?;
    let meta =
        FileMetaTable::from_reader(meta_bytes.as_slice()).map_err(|e| CanonError::NotDicom {
            reason: format!("invalid File Meta Information: {}", error_chain(&e)),
        })?;
    let transfer_syntax = meta
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        .to_string();
    let ts = TransferSyntaxRegistry
        .get(&transfer_syntax)
        .ok_or_else(|| CanonError::UnsupportedTransferSyntax {
            uid: transfer_syntax.clone(),
        })?;
    let options = DataSetReaderOptions::default().value_read(ValueReadStrategy::Raw);
    // CP-246 applies to every Explicit VR Little Endian data set encoding (native,
    // deflated and all encapsulated transfer syntaxes).
    // (Implicit VR Little Endian is the one implicit-VR transfer syntax.)
    let cp246 = transfer_syntax != "1.2.840.10008.1.2"
        && ts.endianness() == dicom_encoding::transfer_syntax::Endianness::Little;
    let dataset = match ts.codec() {
        Codec::Dataset(Some(adapter)) => {
            // Deflated: declared lengths refer to inflated bytes. The data set is inflated
            // first, so that they are checked against the bytes that really are there, as
            // for any other input: the parser reserves a declared length before reading,
            // and the compressed size only bounds the inflated one 1032-fold.
            // An empty data set may be written as no bytes at all.
            let mut inner = source.inner;
            let mut first = [0u8; 1];
            let inflated = match inner.read(&mut first) {
                Ok(0) => Vec::new(),
                Ok(_) => {
                    let mut inflated = Vec::new();
                    adapter
                        .adapt_reader(Box::new(first.as_slice().chain(inner)))
                        .read_to_end(&mut inflated)
                        .map_err(|e| CanonError::Parse {
                            offset: None,
                            reason: format!("cannot inflate the deflated data set: {e}"),
                        })?;
                    inflated
                }
                Err(e) => {
                    return Err(CanonError::Parse {
                        offset: None,
                        reason: format!("cannot read the deflated data set: {e}"),
                    })
                }
            };
            let inflated_consumed = Rc::new(Cell::new(0));
            let limit = Some(Limit {
                total: inflated.len() as u64,
                consumed: Rc::clone(&inflated_consumed),
            });
            let source = SourceReader {
                inner: inflated.as_slice(),
                consumed: inflated_consumed,
                state: Rc::clone(&state),
            };
            let reader = DataSetReader::new_with_ts_options(source, ts, options)
                .map_err(|e| parse_error(&e, None))?;
            let vrs = VrCheck {
                state: &state,
                big_endian: false,
            };
            match build_tree(
                reader,
                limit,
                cp246.then_some(&state),
                Some(vrs),
                Vec::new(),
                false,
            )? {
                Built::Done(dataset) => dataset,
                Built::LeftInFile { tag, .. } => {
                    return Err(CanonError::Parse {
                        offset: None,
                        reason: format!("internal: {tag} was left in a deflated stream"),
                    })
                }
            }
        }
        Codec::Dataset(None) => {
            return Err(CanonError::UnsupportedTransferSyntax {
                uid: transfer_syntax,
            })
        }
        _ => {
            let implicit = transfer_syntax == "1.2.840.10008.1.2";
            let big_endian = ts.endianness() == dicom_encoding::transfer_syntax::Endianness::Big;
            let vrs = || {
                (!implicit).then_some(VrCheck {
                    state: &state,
                    big_endian,
                })
            };
            let limit = || {
                total_len.map(|total| Limit {
                    total,
                    consumed: Rc::clone(&consumed),
                })
            };
            let reader = DataSetReader::new_with_ts_options(source, ts, options)
                .map_err(|e| parse_error(&e, None))?;
            let left_in_file = in_file.is_some();
            let mut built = build_tree(
                reader,
                limit(),
                cp246.then_some(&state),
                vrs(),
                Vec::new(),
                left_in_file,
            )?;
            loop {
                let (mut elements, tag, vr, len) = match built {
                    Built::Done(dataset) => break dataset,
                    Built::LeftInFile {
                        elements,
                        tag,
                        vr,
                        len,
                    } => (elements, tag, vr, u64::from(len)),
                };
                let Some(file) = in_file else {
                    return Err(CanonError::Parse {
                        offset: Some(consumed.get()),
                        reason: "internal: a value was left in a stream that is not a file".into(),
                    });
                };
                // The value starts where the parser stopped, right after its header; the
                // data set goes on after it, read by a new reader from there.
                let offset = consumed.get();
                elements.push(Element {
                    tag,
                    vr,
                    value: ElementValue::InFile(FileSpan {
                        file: Arc::clone(file),
                        tag,
                        offset,
                        len,
                    }),
                });
                let resume = offset + len;
                let mut handle: &File = file;
                handle
                    .seek(SeekFrom::Start(resume))
                    .map_err(|source| CanonError::Io {
                        path: "the open file".into(),
                        source,
                    })?;
                consumed.set(resume);
                state.borrow_mut().recent.clear();
                let source = SourceReader {
                    inner: BufReader::with_capacity(IN_FILE_READ_AHEAD, handle),
                    consumed: Rc::clone(&consumed),
                    state: Rc::clone(&state),
                };
                let reader = DataSetReader::new_with_ts_options(source, ts, options)
                    .map_err(|e| parse_error(&e, Some(resume)))?;
                built = build_tree(
                    reader,
                    limit(),
                    cp246.then_some(&state),
                    vrs(),
                    elements,
                    left_in_file,
                )?;
            }
        }
    };
    Ok(DicomInstance {
        transfer_syntax,
        dataset,
    })
}

/// Reads `DICM` and the File Meta Information group into memory, for `FileMetaTable` to parse:
/// the group length (0002,0000), which must come first, says where the group ends (as
/// `FileMetaTable` reads it). Every declared length is checked before it is used — the group
/// length against the bytes that remain in the input, each element's length against the rest
/// of the group — because `FileMetaTable` reserves a value's declared length before reading it
/// (a UID declared 4 GiB long would be allocated).
///
/// `len`, when known, is the length of the input from `DICM` on.
fn read_file_meta<R: Read>(source: &mut R, len: Option<u64>) -> Result<Vec<u8>, CanonError> {
    let invalid = |reason: String| CanonError::NotDicom {
        reason: format!("invalid File Meta Information: {reason}"),
    };
    let cut = |e: std::io::Error| invalid(format!("cannot read it: {e}"));
    // `DICM`, then (0002,0000) UL with its 4-byte value.
    let mut head = [0u8; 16];
    source.read_exact(&mut head).map_err(cut)?;
    let [_, _, _, _, g0, g1, e0, e1, v0, v1, l0, l1, x0, x1, x2, x3] = head;
    if [g0, g1, e0, e1] != [0x02, 0x00, 0x00, 0x00] || [v0, v1] != *b"UL" || [l0, l1] != [4, 0] {
        return Err(invalid(
            "it does not start with its group length (0002,0000) UL".into(),
        ));
    }
    let group_len = u64::from(u32::from_le_bytes([x0, x1, x2, x3]));
    if let Some(len) = len {
        let remaining = len.saturating_sub(16);
        if group_len > remaining {
            return Err(invalid(format!(
                "the group length (0002,0000) declares {group_len} bytes but at most {remaining} remain in the input"
            )));
        }
    }
    let mut meta = head.to_vec();
    let read = source.take(group_len).read_to_end(&mut meta).map_err(cut)?;
    if (read as u64) < group_len {
        return Err(invalid(format!(
            "the group length (0002,0000) declares {group_len} bytes but only {read} follow"
        )));
    }
    let group = meta.get(head.len()..).unwrap_or_default();
    let mut pos = 0usize;
    while pos < group.len() {
        let header = group.get(pos..).unwrap_or_default();
        let tag = match header {
            [g0, g1, e0, e1, ..] => Tag(
                u16::from_le_bytes([*g0, *g1]),
                u16::from_le_bytes([*e0, *e1]),
            ),
            _ => return Err(invalid("the group ends inside an element header".into())),
        };
        let vr = match header {
            [_, _, _, _, v0, v1, ..] => VR::from_binary([*v0, *v1]).ok_or_else(|| {
                invalid(format!(
                    "{tag} has an unknown VR {:?} (the File Meta Information is Explicit VR Little Endian)",
                    [*v0, *v1].escape_ascii().to_string()
                ))
            })?,
            _ => return Err(invalid(format!("the group ends inside the header of {tag}"))),
        };
        let (length, header_len) = match header {
            [_, _, _, _, _, _, _, _, l0, l1, l2, l3, ..] if has_long_length(vr) => {
                (u32::from_le_bytes([*l0, *l1, *l2, *l3]), 12)
            }
            [_, _, _, _, _, _, l0, l1, ..] if !has_long_length(vr) => {
                (u32::from(u16::from_le_bytes([*l0, *l1])), 8)
            }
            _ => {
                return Err(invalid(format!(
                    "the group ends inside the header of {tag}"
                )))
            }
        };
        let remaining = group.len().saturating_sub(pos + header_len);
        if u64::from(length) > remaining as u64 {
            return Err(invalid(format!(
                "{tag} declares {length} bytes but only {remaining} remain in the group"
            )));
        }
        pos += header_len + length as usize;
    }
    Ok(meta)
}

/// The byte source under the data set reader: counts the bytes taken (so declared lengths can
/// be checked against what remains), remembers the last element header's bytes, and — for
/// CP-246 — rewrites the Implicit VR content of an undefined-length explicit `UN` element.
struct SourceReader<R> {
    inner: R,
    consumed: Rc<Cell<u64>>,
    state: Rc<RefCell<SourceState>>,
}

#[derive(Default)]
struct SourceState {
    /// The last bytes taken from the source, to recognise an undefined-length `UN` header.
    recent: Vec<u8>,
    /// Active while inside an undefined-length `UN` value.
    transcoder: Option<ImplicitToExplicit>,
}

impl SourceState {
    /// Whether the last 12 source bytes are an Explicit VR Little Endian header of `tag` with
    /// VR `UN` and undefined length.
    fn just_read_undefined_un(&self, tag: Tag) -> bool {
        let mut header = Vec::with_capacity(12);
        header.extend_from_slice(&tag.0.to_le_bytes());
        header.extend_from_slice(&tag.1.to_le_bytes());
        header.extend_from_slice(b"UN\0\0\xFF\xFF\xFF\xFF");
        self.transcoder.is_none() && self.recent.ends_with(&header)
    }
}

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut state = self.state.borrow_mut();
        if let Some(transcoder) = state.transcoder.as_mut() {
            let n = transcoder.read(&mut self.inner, &self.consumed, buf)?;
            if transcoder.finished() {
                state.transcoder = None;
            }
            return Ok(n);
        }
        let n = self.inner.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        // Keep only the last 16 bytes: enough for one element header, and a pixel data read of
        // hundreds of megabytes must not be copied.
        const KEEP: usize = 16;
        let recent = &mut state.recent;
        let tail = &buf[n.saturating_sub(KEEP)..n];
        if recent.len() + tail.len() > KEEP {
            let drop = (recent.len() + tail.len() - KEEP).min(recent.len());
            recent.drain(..drop);
        }
        recent.extend_from_slice(tail);
        Ok(n)
    }
}

/// Rewrites the Implicit VR Little Endian items of an undefined-length `UN` value (PS3.5
/// §6.2.2, CP-246) as Explicit VR Little Endian the data set reader can follow: every element
/// header becomes a `UN` header with a 4-byte length (the canonicalizer resolves standard VRs
/// from the dictionary, C2.3), and every defined-length item becomes an undefined-length item
/// closed by an inserted delimiter, so that no length has to be rewritten.
struct ImplicitToExplicit {
    pending: Vec<u8>,
    position: usize,
    open: Vec<Open246>,
    value_left: u64,
}

enum Open246 {
    Sequence,
    Item { left: Option<u64> },
}

const UNDEFINED: u32 = 0xFFFF_FFFF;

impl ImplicitToExplicit {
    fn new() -> ImplicitToExplicit {
        ImplicitToExplicit {
            pending: Vec::new(),
            position: 0,
            open: vec![Open246::Sequence],
            value_left: 0,
        }
    }

    fn finished(&self) -> bool {
        self.open.is_empty() && self.position >= self.pending.len()
    }

    fn read<R: Read>(
        &mut self,
        inner: &mut R,
        consumed: &Cell<u64>,
        buf: &mut [u8],
    ) -> std::io::Result<usize> {
        while self.position >= self.pending.len() {
            self.pending.clear();
            self.position = 0;
            if self.open.is_empty() {
                return Ok(0);
            }
            self.step(inner, consumed)?;
        }
        let n = buf.len().min(self.pending.len() - self.position);
        buf[..n].copy_from_slice(&self.pending[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }

    /// Takes `n` source bytes: they count against every defined-length item they are in.
    fn take<R: Read>(
        &mut self,
        inner: &mut R,
        consumed: &Cell<u64>,
        n: usize,
    ) -> std::io::Result<Vec<u8>> {
        let mut bytes = vec![0; n];
        inner.read_exact(&mut bytes)?;
        consumed.set(consumed.get() + n as u64);
        for open in &mut self.open {
            if let Open246::Item { left: Some(left) } = open {
                *left = left.checked_sub(n as u64).ok_or_else(|| {
                    malformed_246("content runs past the end of a defined-length item")
                })?;
            }
        }
        Ok(bytes)
    }

    /// Produces the next piece of output into `pending`.
    fn step<R: Read>(&mut self, inner: &mut R, consumed: &Cell<u64>) -> std::io::Result<()> {
        if self.value_left > 0 {
            let n = self.value_left.min(64 * 1024) as usize;
            let bytes = self.take(inner, consumed, n)?;
            self.value_left -= n as u64;
            self.pending = bytes;
            return Ok(());
        }
        if let Some(Open246::Item { left: Some(0) }) = self.open.last() {
            self.open.pop();
            self.pending = item_header(0xE00D, 0);
            return Ok(());
        }
        let header = self.take(inner, consumed, 8)?;
        let group = u16::from_le_bytes([header[0], header[1]]);
        let element = u16::from_le_bytes([header[2], header[3]]);
        let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let in_sequence = matches!(self.open.last(), Some(Open246::Sequence));
        match (group, element, in_sequence) {
            (0xFFFE, 0xE000, true) => {
                let left = (length != UNDEFINED).then_some(u64::from(length));
                self.open.push(Open246::Item { left });
                self.pending = item_header(0xE000, UNDEFINED);
            }
            (0xFFFE, 0xE0DD, true) => {
                self.open.pop();
                self.pending = item_header(0xE0DD, 0);
            }
            (0xFFFE, 0xE00D, false) => {
                self.open.pop();
                self.pending = item_header(0xE00D, 0);
            }
            (0xFFFE, _, _) | (_, _, true) => {
                return Err(malformed_246(&format!(
                    "unexpected ({group:04X},{element:04X}) in an undefined-length UN value"
                )))
            }
            _ => {
                let mut out = Vec::with_capacity(12);
                out.extend_from_slice(&header[..4]);
                out.extend_from_slice(b"UN\0\0");
                out.extend_from_slice(&length.to_le_bytes());
                if length == UNDEFINED {
                    self.open.push(Open246::Sequence);
                } else {
                    self.value_left = u64::from(length);
                }
                self.pending = out;
            }
        }
        Ok(())
    }
}

fn item_header(element: u16, length: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    out.extend_from_slice(&0xFFFEu16.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out
}

fn malformed_246(reason: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, reason.to_string())
}

/// Checks of an explicit VR element header that the reader does not make: it reads an unknown
/// VR as `UN` (a 4-byte length), which misreads the length of an element whose VR was damaged,
/// and it takes any element with an undefined length for a sequence, so a `UT` or `OF` declaring
/// one is misread as items. Either would fail later with a message about something else, or
/// not at all.
struct VrCheck<'a> {
    state: &'a Rc<RefCell<SourceState>>,
    big_endian: bool,
}

impl VrCheck<'_> {
    /// Fails when the header just read for `tag` has an unknown VR, or an undefined length
    /// (`undefined`) with a VR that cannot have one: only SQ, UN (CP-246), OB and OW
    /// (encapsulated fragments) can.
    fn check(&self, tag: Tag, undefined: bool, offset: Option<u64>) -> Result<(), CanonError> {
        let state = self.state.borrow();
        let (group, element) = if self.big_endian {
            (tag.0.to_be_bytes(), tag.1.to_be_bytes())
        } else {
            (tag.0.to_le_bytes(), tag.1.to_le_bytes())
        };
        let tag_bytes = [group[0], group[1], element[0], element[1]];
        // An 8-byte header with a known VR: a VR with a 2-byte length, nothing to check.
        let short = state
            .recent
            .len()
            .checked_sub(8)
            .and_then(|at| state.recent.get(at..));
        if let Some([g0, g1, e0, e1, v0, v1, _, _]) = short {
            if [*g0, *g1, *e0, *e1] == tag_bytes && VR::from_binary([*v0, *v1]).is_some() {
                return Ok(());
            }
        }
        // A header with a 4-byte length is 12 bytes: an unknown VR is read as one, and so is
        // every VR that can have an undefined length.
        let Some(header) = state
            .recent
            .len()
            .checked_sub(12)
            .and_then(|at| state.recent.get(at..))
        else {
            return Ok(());
        };
        let [g0, g1, e0, e1, v0, v1, _, _, l0, l1, l2, l3] = *header else {
            return Ok(());
        };
        if [g0, g1, e0, e1] != tag_bytes {
            return Ok(());
        }
        let malformed = |reason: String| CanonError::Parse { offset, reason };
        match VR::from_binary([v0, v1]) {
            None => Err(malformed(format!(
                "element {tag} has an unknown VR {:?} (PS3.5 Table 6.2-1)",
                [v0, v1].escape_ascii().to_string()
            ))),
            Some(VR::SQ | VR::UN | VR::OB | VR::OW) => Ok(()),
            Some(vr) if undefined && [l0, l1, l2, l3] == [0xFF; 4] => Err(malformed(format!(
                "element {tag} has an undefined length, which VR {} cannot have",
                vr.to_string()
            ))),
            Some(_) => Ok(()),
        }
    }
}

/// The end of the data: declared lengths are checked against it before anything is read or
/// allocated for them.
struct Limit {
    /// The input's length (for a deflated data set, the inflated length).
    total: u64,
    consumed: Rc<Cell<u64>>,
}

impl Limit {
    fn check(&self, tag: Tag, declared: Option<u32>) -> Result<(), CanonError> {
        let Some(declared) = declared else {
            return Ok(());
        };
        let remaining = self.total.saturating_sub(self.consumed.get());
        if u64::from(declared) > remaining {
            return Err(CanonError::ValueBeyondEnd {
                tag,
                declared: declared.into(),
                remaining,
            });
        }
        Ok(())
    }

    fn offset(&self) -> u64 {
        self.consumed.get()
    }
}

/// A container being filled while tokens arrive.
enum Open {
    Sequence { tag: Tag, items: Vec<DataSet> },
    Item { elements: Vec<Element> },
    Pixel { tag: Tag, pixels: Encapsulated },
}

/// What [`build_tree`] stopped at.
enum Built {
    /// The end of the data set.
    Done(DataSet),
    /// The header of a top-level value to leave in the file (its value not read yet); the
    /// elements read before it.
    LeftInFile {
        elements: Vec<Element>,
        tag: Tag,
        vr: VR,
        len: u32,
    },
}

/// Reads tokens into a tree, appending top-level elements to `root`. With `left_in_file`, it
/// stops at the header of a native pixel value of at least [`IN_FILE_MIN_LEN`] bytes.
fn build_tree<S: StatefulDecode>(
    reader: DataSetReader<S>,
    limit: Option<Limit>,
    cp246: Option<&Rc<RefCell<SourceState>>>,
    vrs: Option<VrCheck<'_>>,
    mut root: Vec<Element>,
    left_in_file: bool,
) -> Result<Built, CanonError> {
    let offset = || limit.as_ref().map(Limit::offset);
    let malformed = |reason: &str| CanonError::Parse {
        offset: offset(),
        reason: reason.to_string(),
    };
    let mut stack: Vec<Open> = Vec::new();
    let mut pending: Option<(Tag, VR)> = None;

    for token in reader {
        let token = token.map_err(|e| parse_error(&e, offset()))?;
        match token {
            DataToken::ElementHeader(header) => {
                if let Some(vrs) = &vrs {
                    vrs.check(header.tag(), false, offset())?;
                }
                if let Some(limit) = &limit {
                    limit.check(header.tag(), header.length().get())?;
                }
                if left_in_file && stack.is_empty() && IN_FILE_TAGS.contains(&header.tag()) {
                    if let Some(len) = header.length().get() {
                        if u64::from(len) >= IN_FILE_MIN_LEN {
                            return Ok(Built::LeftInFile {
                                elements: root,
                                tag: header.tag(),
                                vr: header.vr(),
                                len,
                            });
                        }
                    }
                }
                pending = Some((header.tag(), header.vr()));
            }
            DataToken::PrimitiveValue(value) => {
                let (tag, vr) = pending
                    .take()
                    .ok_or_else(|| malformed("a value without an element header"))?;
                let octets = match value {
                    PrimitiveValue::U8(bytes) => bytes.into_vec(),
                    PrimitiveValue::Empty => Vec::new(),
                    other => other.to_bytes().into_owned(),
                };
                container(&mut root, &mut stack)
                    .ok_or_else(|| malformed("an element directly inside a sequence"))?
                    .push(Element {
                        tag,
                        vr,
                        value: ElementValue::Primitive(octets),
                    });
            }
            DataToken::SequenceStart { tag, len } => {
                if let Some(vrs) = &vrs {
                    vrs.check(tag, len.is_undefined(), offset())?;
                }
                if let Some(limit) = &limit {
                    limit.check(tag, len.get())?;
                }
                if let Some(state) = cp246 {
                    let mut state = state.borrow_mut();
                    if len.is_undefined() && state.just_read_undefined_un(tag) {
                        state.transcoder = Some(ImplicitToExplicit::new());
                    }
                }
                push_open(
                    &mut stack,
                    Open::Sequence {
                        tag,
                        items: Vec::new(),
                    },
                )?;
            }
            DataToken::PixelSequenceStart => {
                push_open(
                    &mut stack,
                    Open::Pixel {
                        tag: Tag(0x7FE0, 0x0010),
                        pixels: Encapsulated::default(),
                    },
                )?;
            }
            DataToken::ItemStart { len } => match stack.last() {
                Some(Open::Pixel { tag, .. }) => {
                    if let Some(limit) = &limit {
                        limit.check(*tag, len.get())?;
                    }
                }
                Some(Open::Sequence { tag, .. }) => {
                    if let Some(limit) = &limit {
                        limit.check(*tag, len.get())?;
                    }
                    push_open(
                        &mut stack,
                        Open::Item {
                            elements: Vec::new(),
                        },
                    )?;
                }
                _ => return Err(malformed("an item outside a sequence")),
            },
            DataToken::ItemEnd => match stack.last() {
                Some(Open::Pixel { .. }) => {}
                Some(Open::Item { .. }) => {
                    if let Some(Open::Item { elements }) = stack.pop() {
                        match stack.last_mut() {
                            Some(Open::Sequence { items, .. }) => {
                                items.push(DataSet { elements });
                            }
                            _ => return Err(malformed("an item ended outside a sequence")),
                        }
                    }
                }
                _ => return Err(malformed("an item delimiter without an open item")),
            },
            DataToken::OffsetTable(table) => match stack.last_mut() {
                Some(Open::Pixel { pixels, .. }) => pixels.offset_table = table,
                _ => return Err(malformed("an offset table outside encapsulated pixel data")),
            },
            DataToken::ItemValue(fragment) => match stack.last_mut() {
                Some(Open::Pixel { pixels, .. }) => pixels.fragments.push(fragment),
                _ => return Err(malformed("a fragment outside encapsulated pixel data")),
            },
            DataToken::SequenceEnd => {
                let element = match stack.pop() {
                    Some(Open::Sequence { tag, items }) => Element {
                        tag,
                        vr: VR::SQ,
                        value: ElementValue::Sequence(items),
                    },
                    Some(Open::Pixel { tag, pixels }) => Element {
                        tag,
                        vr: VR::OB,
                        value: ElementValue::Encapsulated(pixels),
                    },
                    _ => return Err(malformed("a sequence delimiter without an open sequence")),
                };
                container(&mut root, &mut stack)
                    .ok_or_else(|| malformed("a sequence directly inside a sequence"))?
                    .push(element);
            }
        }
    }
    if pending.is_some() {
        return Err(malformed("the data set ends after an element header"));
    }
    if !stack.is_empty() {
        return Err(malformed("the data set ends inside a sequence"));
    }
    Ok(Built::Done(DataSet { elements: root }))
}

fn push_open(stack: &mut Vec<Open>, open: Open) -> Result<(), CanonError> {
    if stack.len() >= 2 * MAX_NESTING {
        return Err(CanonError::NestingTooDeep { limit: MAX_NESTING });
    }
    stack.push(open);
    Ok(())
}

/// The element list that the next element belongs to: the open item, or the top level.
fn container<'a>(
    root: &'a mut Vec<Element>,
    stack: &'a mut [Open],
) -> Option<&'a mut Vec<Element>> {
    match stack.last_mut() {
        None => Some(root),
        Some(Open::Item { elements }) => Some(elements),
        Some(_) => None,
    }
}

fn parse_error(error: &dyn std::error::Error, offset: Option<u64>) -> CanonError {
    CanonError::Parse {
        offset,
        reason: error_chain(error),
    }
}

/// The error and all its sources, joined, so the message says what the parser found.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    message
}

/// Parses the octets of a defined-length private `UN` as a list of items in Implicit VR
/// Little Endian (C5.3.4). `None` unless they parse completely.
pub(crate) fn parse_implicit_items(octets: &[u8]) -> Option<Vec<DataSet>> {
    let length = u32::try_from(octets.len()).ok()?;
    // Frame the octets as the value of a dictionary SQ element so that the data set reader
    // parses them as items; which SQ tag is used does not matter.
    let mut framed = Vec::with_capacity(octets.len() + 8);
    framed.extend_from_slice(&[0x08, 0x00, 0x40, 0x11]); // (0008,1140), an SQ
    framed.extend_from_slice(&length.to_le_bytes());
    framed.extend_from_slice(octets);
    let ts = TransferSyntaxRegistry.get("1.2.840.10008.1.2")?;
    let options = DataSetReaderOptions::default().value_read(ValueReadStrategy::Raw);
    let consumed = Rc::new(Cell::new(0));
    let reader = SourceReader {
        inner: framed.as_slice(),
        consumed: Rc::clone(&consumed),
        state: Rc::new(RefCell::new(SourceState::default())),
    };
    let reader = DataSetReader::new_with_ts_options(reader, ts, options).ok()?;
    let limit = Limit {
        total: framed.len() as u64,
        consumed: Rc::clone(&consumed),
    };
    let Built::Done(dataset) =
        build_tree(reader, Some(limit), None, None, Vec::new(), false).ok()?
    else {
        return None;
    };
    if consumed.get() != framed.len() as u64 {
        return None;
    }
    match dataset.elements.as_slice() {
        [Element {
            value: ElementValue::Sequence(items),
            ..
        }] if !items.is_empty() => Some(items.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the header window once kept a copy of every read, doubling peak memory on a
    /// large pixel data value.
    #[test]
    fn header_window_does_not_copy_large_reads() {
        let data = vec![7u8; 1 << 20];
        let state = Rc::new(RefCell::new(SourceState::default()));
        let mut source = SourceReader {
            inner: data.as_slice(),
            consumed: Rc::new(Cell::new(0)),
            state: Rc::clone(&state),
        };
        let mut buf = vec![0u8; data.len()];
        source.read_exact(&mut buf).unwrap();
        assert!(state.borrow().recent.len() <= 16);
        assert_eq!(source.consumed.get(), data.len() as u64);
        // Small reads still assemble a whole header.
        let header = [
            0x53u8, 0x44, 0x0C, 0x10, b'U', b'N', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        let mut source = SourceReader {
            inner: &header[..],
            consumed: Rc::new(Cell::new(0)),
            state: Rc::new(RefCell::new(SourceState::default())),
        };
        let mut one = [0u8; 4];
        for _ in 0..3 {
            source.read_exact(&mut one).unwrap();
        }
        assert!(source
            .state
            .borrow()
            .just_read_undefined_un(Tag(0x4453, 0x100C)));
    }
}
