//! Where the canonical samples of a frame come from: the one place that turns stored pixel
//! data — native, lossless encapsulated or RLE — into the samples of C4.2, used both by the
//! digests and by [`crate::DicomInstance::frame_samples`].

use std::borrow::Cow;
use std::ops::Range;

use dicom_core::Tag;

use super::descriptor::{self, PixelDescriptor, SampleFormat};
use super::encapsulated;
use super::samples::{mask_samples, native_frame, native_required_len, NativeLayout};
use crate::read::{DataSet, ElementValue, FileSpan};
use crate::transfer::{classify, PixelEncoding};
use crate::CanonError;

const PIXEL_TAGS: [(Tag, SampleFormat); 3] = [
    (Tag(0x7FE0, 0x0010), SampleFormat::Integer),
    (Tag(0x7FE0, 0x0008), SampleFormat::Float32),
    (Tag(0x7FE0, 0x0009), SampleFormat::Float64),
];

/// Whether the top-level data set has any pixel element (7FE0,0008/0009/0010).
pub(crate) fn has_pixels(dataset: &DataSet) -> bool {
    PIXEL_TAGS
        .iter()
        .any(|(tag, _)| dataset.get(*tag).is_some())
}

/// The pixel data of an instance, read once: its descriptor and how to reach each frame.
pub(crate) struct PixelSource<'a> {
    pub(crate) descriptor: PixelDescriptor,
    pub(crate) stored: Stored<'a>,
}

/// How the frames are stored.
pub(crate) enum Stored<'a> {
    /// Native samples (C4.2.4); `data` holds every frame, already checked to be long enough.
    Native {
        data: Cow<'a, [u8]>,
        layout: NativeLayout,
    },
    /// Native samples left in the file (C4.2.4), read a frame at a time; the value is already
    /// checked to be long enough, and is neither bit-packed nor byte-swapped in words.
    NativeInFile {
        span: &'a FileSpan,
        layout: NativeLayout,
    },
    /// Lossless encapsulated frames (C4.2.5), decoded on request.
    Lossless {
        transfer_syntax: &'a str,
        photometric_as_stored: String,
        fragments: &'a [Vec<u8>],
        ranges: Vec<Range<usize>>,
    },
    /// Lossy encapsulated units (§4.5): hashed as stored, never decoded.
    Encoded {
        transfer_syntax: &'a str,
        fragments: &'a [Vec<u8>],
        units: Vec<Range<usize>>,
    },
}

impl<'a> PixelSource<'a> {
    /// Native pixel data given directly: checks C4.1.1 and the length rule of C4.2.4.
    pub(crate) fn native(
        descriptor: PixelDescriptor,
        layout: NativeLayout,
        data: &'a [u8],
    ) -> Result<PixelSource<'a>, CanonError> {
        descriptor.validate()?;
        let required = native_required_len(&descriptor)?;
        if (data.len() as u64) < required {
            return Err(CanonError::PixelDataTooShort {
                required,
                actual: data.len() as u64,
            });
        }
        let (data, layout) = layout.unswap_words(data, &descriptor);
        Ok(PixelSource {
            descriptor,
            stored: Stored::Native { data, layout },
        })
    }

    /// Native pixel data left in the file: checks C4.1.1 and the length rule of C4.2.4.
    fn native_in_file(
        descriptor: PixelDescriptor,
        layout: NativeLayout,
        span: &'a FileSpan,
    ) -> Result<PixelSource<'a>, CanonError> {
        descriptor.validate()?;
        let required = native_required_len(&descriptor)?;
        if span.len() < required {
            return Err(CanonError::PixelDataTooShort {
                required,
                actual: span.len(),
            });
        }
        let swapped_words = layout.big_endian && layout.words && descriptor.sample_width() == 1;
        if descriptor.bits_allocated == 1 || swapped_words {
            // Bit-packed frames and pairwise-swapped bytes do not start on a frame's first
            // byte; such data is small, so it is read whole.
            let data = span.read_all()?;
            let (unswapped, layout) = {
                let (data, layout) = layout.unswap_words(&data, &descriptor);
                let unswapped = match data {
                    Cow::Owned(unswapped) => Some(unswapped),
                    Cow::Borrowed(_) => None,
                };
                (unswapped, layout)
            };
            return Ok(PixelSource {
                descriptor,
                stored: Stored::Native {
                    data: Cow::Owned(unswapped.unwrap_or(data)),
                    layout,
                },
            });
        }
        Ok(PixelSource {
            descriptor,
            stored: Stored::NativeInFile { span, layout },
        })
    }

    /// The pixel data of a top-level data set read in `transfer_syntax`, or `None` when it has
    /// no pixel element (mode `none`).
    pub(crate) fn from_dataset(
        transfer_syntax: &'a str,
        dataset: &'a DataSet,
    ) -> Result<Option<PixelSource<'a>>, CanonError> {
        let present: Vec<_> = PIXEL_TAGS
            .iter()
            .filter_map(|(tag, format)| dataset.get(*tag).map(|e| (e, *format)))
            .collect();
        let (element, sample_format) = match present.as_slice() {
            [] => return Ok(None),
            [one] => *one,
            _ => return Err(CanonError::MultiplePixelElements),
        };
        let encoding =
            classify(transfer_syntax).ok_or_else(|| CanonError::UnsupportedTransferSyntax {
                uid: transfer_syntax.to_string(),
            })?;
        let source = match (&element.value, encoding) {
            (ElementValue::Primitive(data), PixelEncoding::Native { big_endian }) => {
                let (descriptor, layout) =
                    native_descriptor(dataset, element, sample_format, big_endian)?;
                PixelSource::native(descriptor, layout, data)?
            }
            (ElementValue::InFile(span), PixelEncoding::Native { big_endian }) => {
                let (descriptor, layout) =
                    native_descriptor(dataset, element, sample_format, big_endian)?;
                PixelSource::native_in_file(descriptor, layout, span)?
            }
            (ElementValue::Encapsulated(pixels), PixelEncoding::Lossless) => {
                let descriptor =
                    PixelDescriptor::from_dataset(dataset, sample_format, false, true)?;
                let photometric_as_stored =
                    descriptor::stored_photometric(dataset).unwrap_or_default();
                let extended = extended_offset_table(dataset)?;
                let ranges = encapsulated::assign_fragments(
                    pixels,
                    extended.as_deref(),
                    descriptor.number_of_frames,
                )?;
                PixelSource {
                    descriptor,
                    stored: Stored::Lossless {
                        transfer_syntax,
                        photometric_as_stored,
                        fragments: &pixels.fragments,
                        ranges,
                    },
                }
            }
            (
                ElementValue::Encapsulated(pixels),
                PixelEncoding::LossyFrames | PixelEncoding::LossyStream,
            ) => {
                let descriptor =
                    PixelDescriptor::from_dataset(dataset, sample_format, false, false)?;
                let units = if encoding == PixelEncoding::LossyStream {
                    // Video: the whole stream is one unit (C4.5.1).
                    std::iter::once(0..pixels.fragments.len()).collect()
                } else {
                    let extended = extended_offset_table(dataset)?;
                    encapsulated::assign_fragments(
                        pixels,
                        extended.as_deref(),
                        descriptor.number_of_frames,
                    )?
                };
                PixelSource {
                    descriptor,
                    stored: Stored::Encoded {
                        transfer_syntax,
                        fragments: &pixels.fragments,
                        units,
                    },
                }
            }
            (ElementValue::Primitive(_) | ElementValue::InFile(_), _) => {
                return Err(CanonError::Parse {
                    offset: None,
                    reason: format!(
                    "transfer syntax {transfer_syntax} is encapsulated but the pixel data is native"
                ),
                })
            }
            (ElementValue::Encapsulated(_), PixelEncoding::Native { .. }) => {
                return Err(CanonError::Parse {
                    offset: None,
                    reason: format!(
                    "transfer syntax {transfer_syntax} is native but the pixel data is encapsulated"
                ),
                })
            }
            (ElementValue::Sequence(_), _) => {
                return Err(CanonError::Parse {
                    offset: None,
                    reason: "the pixel data element is a sequence".into(),
                })
            }
        };
        Ok(Some(source))
    }

    /// Writes frame `frame`'s canonical samples (C4.2) into `out`, replacing its contents.
    ///
    /// # Errors
    /// `FrameOutOfRange` for a frame the descriptor does not have, `NotDecoded` for lossy
    /// frames, and the errors of decoding (`Decode`, `DecodedFrameSize`, `PixelDataTooShort`).
    pub(crate) fn frame(&self, frame: u32, out: &mut Vec<u8>) -> Result<(), CanonError> {
        let frames = self.descriptor.number_of_frames;
        if frame >= frames {
            return Err(CanonError::FrameOutOfRange { frame, frames });
        }
        match &self.stored {
            Stored::Native { data, layout } => {
                native_frame(data, &self.descriptor, *layout, frame, out)
            }
            Stored::NativeInFile { span, layout } => {
                let descriptor = &self.descriptor;
                let frame_len = descriptor.samples_per_frame()? * descriptor.sample_width();
                let start = (frame_len as u64).checked_mul(u64::from(frame)).ok_or(
                    CanonError::TooLarge {
                        what: "frame offset",
                    },
                )?;
                let planar = layout.planar && descriptor.samples_per_pixel > 1;
                if !(layout.big_endian || planar) {
                    // Stored as canonical: read straight into `out` (C4.2.4), then mask.
                    out.resize(frame_len, 0);
                    span.read_at(start, out)?;
                    mask_samples(out, descriptor);
                    Ok(())
                } else {
                    let mut stored = vec![0; frame_len];
                    span.read_at(start, &mut stored)?;
                    native_frame(&stored, descriptor, *layout, 0, out)
                }
            }
            Stored::Lossless {
                transfer_syntax,
                photometric_as_stored,
                fragments,
                ranges,
            } => {
                // assign_fragments gives one in-bounds range per frame, so this only fails if
                // that invariant is broken; report it rather than index blindly.
                let frame_fragments = ranges
                    .get(frame as usize)
                    .and_then(|range| fragments.get(range.clone()))
                    .ok_or_else(|| CanonError::FramesNotDelimited {
                        fragments: fragments.len(),
                        frames,
                        reason: format!("frame {frame} has no fragment range"),
                    })?;
                encapsulated::decode_frame(
                    transfer_syntax,
                    &self.descriptor,
                    photometric_as_stored,
                    frame,
                    frame_fragments,
                    out,
                )?;
                mask_samples(out, &self.descriptor);
                Ok(())
            }
            Stored::Encoded {
                transfer_syntax, ..
            } => Err(CanonError::NotDecoded {
                transfer_syntax: transfer_syntax.to_string(),
            }),
        }
    }
}

/// The descriptor and layout of native pixel data in `element`.
fn native_descriptor(
    dataset: &DataSet,
    element: &crate::read::Element,
    sample_format: SampleFormat,
    big_endian: bool,
) -> Result<(PixelDescriptor, NativeLayout), CanonError> {
    let descriptor = PixelDescriptor::from_dataset(dataset, sample_format, big_endian, false)?;
    let layout = NativeLayout {
        big_endian,
        planar: read_planar(dataset, big_endian)?,
        words: element.vr == dicom_core::VR::OW,
    };
    Ok((descriptor, layout))
}

fn read_planar(dataset: &DataSet, big_endian: bool) -> Result<bool, CanonError> {
    let tag = Tag(0x0028, 0x0006);
    match descriptor::read_us(dataset, tag, "PlanarConfiguration", big_endian)? {
        None | Some(0) => Ok(false),
        Some(1) => Ok(true),
        Some(other) => Err(CanonError::BadPixelAttribute {
            tag,
            keyword: "PlanarConfiguration",
            reason: format!("{other} is not 0 or 1"),
        }),
    }
}

/// The Extended Offset Table (7FE0,0001), OV: 64-bit little-endian offsets (encapsulated
/// transfer syntaxes are all little endian).
fn extended_offset_table(dataset: &DataSet) -> Result<Option<Vec<u64>>, CanonError> {
    let tag = Tag(0x7FE0, 0x0001);
    let Some(element) = dataset.get(tag) else {
        return Ok(None);
    };
    match &element.value {
        ElementValue::Primitive(octets) if octets.len() % 8 == 0 => Ok(Some(
            octets
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        )),
        ElementValue::Primitive(octets) => Err(CanonError::BadValueLength {
            tag,
            vr: "OV",
            length: octets.len(),
            unit: 8,
        }),
        _ => Err(CanonError::Parse {
            offset: None,
            reason: "the Extended Offset Table is not a primitive value".into(),
        }),
    }
}
