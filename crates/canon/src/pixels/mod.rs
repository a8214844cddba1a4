//! The pixel half of the canonical form (spec §3–§4).

mod descriptor;
mod encapsulated;
mod rle;
mod samples;
mod tiles;

pub use descriptor::{PixelDescriptor, SampleFormat};
pub use samples::{mask_samples, native_frame, native_required_len, NativeLayout};
pub use tiles::{tile_digests, tile_rects, TileRect};

use dicom_core::Tag;
use sha2::{Digest as _, Sha256};

use crate::digest::PIXEL_PREFIX;
use crate::merkle::merkle_root;
use crate::read::{DataSet, Value};
use crate::transfer::{classify, PixelEncoding, PixelMode};
use crate::{CanonError, Digest};

/// The digests of one frame (or, in `encoded-frames` mode, one encoded unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameDigest {
    /// `FRAME(f)` (C4.3.3) or `ENCODED(u)` (C4.5.2).
    pub digest: Digest,
    /// The frame's tile digests in row-major order; empty in `encoded-frames` mode.
    pub tiles: Vec<Digest>,
}

/// The canonical pixels of an instance: descriptor, mode, per-frame digests and the pixel
/// digest that binds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPixels {
    /// The normalized descriptor (§4.1).
    pub descriptor: PixelDescriptor,
    /// `decoded-samples` or `encoded-frames`.
    pub mode: PixelMode,
    /// The tile size, 0 in `encoded-frames` mode.
    pub tile_size: u32,
    /// One entry per frame (per unit in `encoded-frames` mode).
    pub frames: Vec<FrameDigest>,
    /// `PIXEL_DIGEST` (C4.6.1).
    pub digest: Digest,
}

impl CanonicalPixels {
    /// Total number of tiles over all frames.
    pub fn tile_count(&self) -> usize {
        self.frames.iter().map(|f| f.tiles.len()).sum()
    }

    fn assemble(
        descriptor: PixelDescriptor,
        mode: PixelMode,
        tile_size: u32,
        frames: Vec<FrameDigest>,
    ) -> Result<CanonicalPixels, CanonError> {
        let frame_digests: Vec<Digest> = frames.iter().map(|f| f.digest).collect();
        let digest = pixel_digest(&descriptor, mode, tile_size, &frame_digests)?;
        Ok(CanonicalPixels {
            descriptor,
            mode,
            tile_size,
            frames,
            digest,
        })
    }
}

/// `PIXEL_DIGEST` (C4.6.1) from its parts: what a verifier recomputes from a seal's manifest
/// to check that the signed digest and the signed frame digests agree.
///
/// # Errors
/// `TooLarge` for more than 2^32 - 1 frames or an absurd photometric interpretation.
pub fn pixel_digest(
    descriptor: &PixelDescriptor,
    mode: PixelMode,
    tile_size: u32,
    frame_digests: &[Digest],
) -> Result<Digest, CanonError> {
    let count = u32::try_from(frame_digests.len()).map_err(|_| CanonError::TooLarge {
        what: "frame count",
    })?;
    let mut hasher = Sha256::new();
    hasher.update(PIXEL_PREFIX);
    hasher.update(descriptor.encode()?);
    hasher.update([mode.code()]);
    hasher.update(tile_size.to_le_bytes());
    hasher.update(count.to_le_bytes());
    hasher.update(merkle_root(frame_digests).0);
    Ok(Digest(hasher.finalize().into()))
}

/// Digests native pixel data given directly (the `pixels` vectors of spec §9 use this; files
/// go through [`crate::canonicalize`]).
///
/// # Errors
/// `BadPixelAttribute` for a descriptor that breaks C4.1.1, `PixelDataTooShort` (C4.2.4),
/// `InvalidOption` for a tile size of 0.
pub fn digest_native(
    descriptor: &PixelDescriptor,
    layout: NativeLayout,
    data: &[u8],
    tile_size: u32,
) -> Result<CanonicalPixels, CanonError> {
    check_tile_size(tile_size)?;
    check_native(descriptor, data)?;
    let (data, layout) = layout.unswap_words(data, descriptor);
    let mut canonical = Vec::new();
    let mut frames = Vec::with_capacity(descriptor.number_of_frames as usize);
    for frame in 0..descriptor.number_of_frames {
        native_frame(&data, descriptor, layout, frame, &mut canonical)?;
        frames.push(decoded_frame_digest(
            frame, &canonical, descriptor, tile_size,
        ));
    }
    CanonicalPixels::assemble(
        descriptor.clone(),
        PixelMode::DecodedSamples,
        tile_size,
        frames,
    )
}

/// Canonical samples of every frame of native pixel data, in order (used by vectors and tools
/// that show what is hashed).
///
/// # Errors
/// As [`digest_native`].
pub fn native_canonical_frames(
    descriptor: &PixelDescriptor,
    layout: NativeLayout,
    data: &[u8],
) -> Result<Vec<Vec<u8>>, CanonError> {
    check_native(descriptor, data)?;
    let (data, layout) = layout.unswap_words(data, descriptor);
    (0..descriptor.number_of_frames)
        .map(|frame| {
            let mut out = Vec::new();
            native_frame(&data, descriptor, layout, frame, &mut out)?;
            Ok(out)
        })
        .collect()
}

/// C4.1.1 and the length rule of C4.2.4.
fn check_native(descriptor: &PixelDescriptor, data: &[u8]) -> Result<(), CanonError> {
    descriptor.validate()?;
    let required = native_required_len(descriptor)?;
    if (data.len() as u64) < required {
        return Err(CanonError::PixelDataTooShort {
            required,
            actual: data.len() as u64,
        });
    }
    Ok(())
}

fn check_tile_size(tile_size: u32) -> Result<(), CanonError> {
    if tile_size == 0 || tile_size > 65535 {
        return Err(CanonError::InvalidOption {
            reason: format!("tile size {tile_size} is not in 1..=65535"),
        });
    }
    Ok(())
}

fn decoded_frame_digest(
    frame: u32,
    canonical: &[u8],
    descriptor: &PixelDescriptor,
    tile_size: u32,
) -> FrameDigest {
    let tiles = tile_digests(frame, canonical, descriptor, tile_size);
    FrameDigest {
        digest: merkle_root(&tiles),
        tiles,
    }
}

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

/// The canonical pixels of a data set, or `None` when it has no pixel data (mode `none`).
pub(crate) fn canonical_pixels(
    transfer_syntax: &str,
    dataset: &DataSet,
    tile_size: u32,
) -> Result<Option<CanonicalPixels>, CanonError> {
    check_tile_size(tile_size)?;
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
    match (&element.value, encoding) {
        (Value::Primitive(data), PixelEncoding::Native { big_endian }) => {
            let descriptor =
                PixelDescriptor::from_dataset(dataset, sample_format, big_endian, false)?;
            let layout = NativeLayout {
                big_endian,
                planar: read_planar(dataset, big_endian)?,
                words: element.vr == dicom_core::VR::OW,
            };
            digest_native(&descriptor, layout, data, tile_size).map(Some)
        }
        (Value::Encapsulated(pixels), PixelEncoding::Lossless) => {
            let descriptor = PixelDescriptor::from_dataset(dataset, sample_format, false, true)?;
            let photometric_as_stored = descriptor::stored_photometric(dataset).unwrap_or_default();
            let extended = extended_offset_table(dataset)?;
            let ranges = encapsulated::assign_fragments(
                pixels,
                extended.as_deref(),
                descriptor.number_of_frames,
            )?;
            let mut canonical = Vec::new();
            let mut frames = Vec::with_capacity(ranges.len());
            for (frame, range) in ranges.into_iter().enumerate() {
                let frame = frame as u32;
                encapsulated::decode_frame(
                    transfer_syntax,
                    &descriptor,
                    &photometric_as_stored,
                    frame,
                    &pixels.fragments[range],
                    &mut canonical,
                )?;
                mask_samples(&mut canonical, &descriptor);
                frames.push(decoded_frame_digest(
                    frame,
                    &canonical,
                    &descriptor,
                    tile_size,
                ));
            }
            CanonicalPixels::assemble(descriptor, PixelMode::DecodedSamples, tile_size, frames)
                .map(Some)
        }
        (Value::Encapsulated(pixels), PixelEncoding::LossyFrames | PixelEncoding::LossyStream) => {
            let descriptor = PixelDescriptor::from_dataset(dataset, sample_format, false, false)?;
            let ranges = if encoding == PixelEncoding::LossyStream {
                std::iter::once(0..pixels.fragments.len()).collect()
            } else {
                let extended = extended_offset_table(dataset)?;
                encapsulated::assign_fragments(
                    pixels,
                    extended.as_deref(),
                    descriptor.number_of_frames,
                )?
            };
            let frames = ranges
                .into_iter()
                .enumerate()
                .map(|(unit, range)| FrameDigest {
                    digest: encapsulated::encoded_unit_digest(
                        unit as u32,
                        &pixels.fragments[range],
                    ),
                    tiles: Vec::new(),
                })
                .collect();
            CanonicalPixels::assemble(descriptor, PixelMode::EncodedFrames, 0, frames).map(Some)
        }
        (Value::Primitive(_), _) => Err(CanonError::Parse {
            offset: None,
            reason: format!(
                "transfer syntax {transfer_syntax} is encapsulated but the pixel data is native"
            ),
        }),
        (Value::Encapsulated(_), PixelEncoding::Native { .. }) => Err(CanonError::Parse {
            offset: None,
            reason: format!(
                "transfer syntax {transfer_syntax} is native but the pixel data is encapsulated"
            ),
        }),
        (Value::Sequence(_), _) => Err(CanonError::Parse {
            offset: None,
            reason: "the pixel data element is a sequence".into(),
        }),
    }
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
        Value::Primitive(octets) if octets.len() % 8 == 0 => Ok(Some(
            octets
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        )),
        Value::Primitive(octets) => Err(CanonError::BadValueLength {
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
