//! The pixel half of the canonical form (spec §3–§4).

mod descriptor;
mod encapsulated;
mod rle;
mod samples;
mod source;
mod tiles;

pub use descriptor::{PixelDescriptor, SampleFormat};
pub use samples::{mask_samples, native_frame, native_required_len, NativeLayout};
pub use tiles::{tile_digests, tile_rects, TileRect};

pub(crate) use source::has_pixels;

use std::ops::Range;

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::digest::PIXEL_PREFIX;
use crate::merkle::merkle_root;
use crate::read::DataSet;
use crate::transfer::PixelMode;
use crate::{CanonError, DicomInstance, Digest};
use source::{PixelSource, Stored};

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
    let source = PixelSource::native(descriptor.clone(), layout, data)?;
    digest_decoded(&source, tile_size)
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
    let source = PixelSource::native(descriptor.clone(), layout, data)?;
    (0..descriptor.number_of_frames)
        .map(|frame| {
            let mut out = Vec::new();
            source.frame(frame, &mut out)?;
            Ok(out)
        })
        .collect()
}

fn check_tile_size(tile_size: u32) -> Result<(), CanonError> {
    if tile_size == 0 || tile_size > 65535 {
        return Err(CanonError::InvalidOption {
            reason: format!("tile size {tile_size} is not in 1..=65535"),
        });
    }
    Ok(())
}

/// `decoded-samples` mode (C4.3): every frame's canonical samples, tiled and hashed. Frames
/// are read (or decoded) and hashed in parallel on the current rayon pool, each worker holding
/// one frame in memory at a time; the tiles of each frame are hashed in parallel too.
fn digest_decoded(source: &PixelSource, tile_size: u32) -> Result<CanonicalPixels, CanonError> {
    let descriptor = &source.descriptor;
    let results: Vec<Result<FrameDigest, CanonError>> = (0..descriptor.number_of_frames)
        .into_par_iter()
        .map_init(FrameBuffer::take, |canonical, frame| {
            source.frame(frame, &mut canonical.0)?;
            let tiles = tile_digests(frame, &canonical.0, descriptor, tile_size);
            Ok(FrameDigest {
                digest: merkle_root(&tiles),
                tiles,
            })
        })
        .collect();
    // The first failing frame in frame order is the one reported, whatever finished first.
    let frames = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    CanonicalPixels::assemble(
        descriptor.clone(),
        PixelMode::DecodedSamples,
        tile_size,
        frames,
    )
}

/// Frame buffers up to this size are kept for the next frame or file on the same thread.
const SPARE_FRAME_MAX: usize = 64 << 20;

thread_local! {
    static SPARE_FRAME: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A frame buffer taken from the thread's spare and given back when dropped: verifying an
/// archive then reuses one buffer per worker instead of allocating (and having the kernel
/// zero) a fresh one for every file. Every use overwrites the whole frame, so what a reused
/// buffer held before is never read.
struct FrameBuffer(Vec<u8>);

impl FrameBuffer {
    fn take() -> FrameBuffer {
        FrameBuffer(
            SPARE_FRAME
                .try_with(|spare| std::mem::take(&mut *spare.borrow_mut()))
                .unwrap_or_default(),
        )
    }
}

impl Drop for FrameBuffer {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.0);
        if buffer.capacity() <= SPARE_FRAME_MAX {
            let _ = SPARE_FRAME.try_with(|spare| {
                let mut spare = spare.borrow_mut();
                if spare.capacity() < buffer.capacity() {
                    *spare = buffer;
                }
            });
        }
    }
}

/// `encoded-frames` mode (§4.5): each stored unit hashed as it is.
fn digest_encoded(
    descriptor: &PixelDescriptor,
    fragments: &[Vec<u8>],
    units: &[Range<usize>],
) -> Result<CanonicalPixels, CanonError> {
    let frames = units
        .iter()
        .enumerate()
        .map(|(unit, range)| {
            // assign_fragments gives in-bounds ranges; an empty slice would only hide a bug
            // in it, so say so.
            let unit_fragments =
                fragments
                    .get(range.clone())
                    .ok_or_else(|| CanonError::FramesNotDelimited {
                        fragments: fragments.len(),
                        frames: descriptor.number_of_frames,
                        reason: format!("unit {unit} has no fragment range"),
                    })?;
            Ok(FrameDigest {
                digest: encapsulated::encoded_unit_digest(unit as u32, unit_fragments),
                tiles: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, CanonError>>()?;
    CanonicalPixels::assemble(descriptor.clone(), PixelMode::EncodedFrames, 0, frames)
}

/// The canonical pixels of a data set, or `None` when it has no pixel data (mode `none`).
pub(crate) fn canonical_pixels(
    transfer_syntax: &str,
    dataset: &DataSet,
    tile_size: u32,
) -> Result<Option<CanonicalPixels>, CanonError> {
    check_tile_size(tile_size)?;
    let Some(source) = PixelSource::from_dataset(transfer_syntax, dataset)? else {
        return Ok(None);
    };
    match &source.stored {
        Stored::Native { .. } | Stored::NativeInFile { .. } | Stored::Lossless { .. } => {
            digest_decoded(&source, tile_size)
        }
        Stored::Encoded {
            fragments, units, ..
        } => digest_encoded(&source.descriptor, fragments, units),
    }
    .map(Some)
}

/// Canonical samples of one frame (spec §4.2): exactly the bytes the tile digests hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameSamples {
    /// The normalized descriptor (§4.1) the samples follow: `rows × columns ×
    /// samples_per_pixel` samples of `sample_width()` bytes each.
    pub descriptor: PixelDescriptor,
    /// The frame index, 0-based.
    pub frame: u32,
    /// Little-endian, interleaved, masked to Bits Stored (C4.2.1–C4.2.3); one byte (0 or 1)
    /// per sample for 1-bit data.
    pub samples: Vec<u8>,
}

impl DicomInstance {
    /// Frame `frame` (0-based) decoded to canonical samples (spec §4.2), exactly as the tile
    /// digests of [`crate::canonicalize`] see them. Only that frame is decoded.
    ///
    /// # Errors
    /// `NoPixelData` when the instance has no pixel element, `FrameOutOfRange` for a frame it
    /// does not have, `NotDecoded` for a lossy transfer syntax (`encoded-frames` mode, whose
    /// frames canon-v1 does not decode), and the errors [`crate::canonicalize`] reports for
    /// the pixel data (`BadPixelAttribute`, `PixelDataTooShort`, `Decode`, ...).
    pub fn frame_samples(&self, frame: u32) -> Result<FrameSamples, CanonError> {
        let source = PixelSource::from_dataset(self.transfer_syntax(), &self.dataset)?
            .ok_or(CanonError::NoPixelData)?;
        let mut samples = Vec::new();
        source.frame(frame, &mut samples)?;
        Ok(FrameSamples {
            descriptor: source.descriptor,
            frame,
            samples,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap is a failed test
mod tests {
    use scanseal_fixtures::{EncodeOptions, Encoding, Fixture, ImageSpec, PlanarConfiguration};

    use super::*;
    use crate::{canonicalize, CanonOptions};

    const TILE: u32 = 16;

    /// The fixture's samples of `frame` as C4.2 bytes, computed independently of canon:
    /// shifted down to the high bit, masked to Bits Stored, little endian, interleaved.
    fn expected_samples(fixture: &Fixture, frame: u32) -> Vec<u8> {
        let spec = fixture.spec().unwrap();
        let width = if spec.bits_allocated == 1 {
            1
        } else {
            spec.bytes_per_sample()
        };
        let shift = spec.high_bit + 1 - spec.bits_stored;
        let mask = if spec.bits_stored >= 64 {
            u64::MAX
        } else {
            (1u64 << spec.bits_stored) - 1
        };
        let mut out = Vec::new();
        for y in 0..spec.rows {
            for x in 0..spec.columns {
                for s in 0..spec.samples_per_pixel {
                    let value = (fixture.sample(frame, x, y, s).unwrap() >> shift) & mask;
                    out.extend_from_slice(&value.to_le_bytes()[..width]);
                }
            }
        }
        out
    }

    fn check_every_frame(fixture: &Fixture, encoding: Encoding, options: &EncodeOptions) {
        let bytes = fixture.encode(encoding, options).unwrap();
        let instance = DicomInstance::from_bytes(&bytes).unwrap();
        let canonical = canonicalize(&instance, &CanonOptions::new().tile_size(TILE)).unwrap();
        let pixels = canonical.pixels.unwrap();
        let frames = fixture.spec().unwrap().number_of_frames;
        assert_eq!(pixels.frames.len(), frames as usize);
        for frame in 0..frames {
            let got = instance.frame_samples(frame).unwrap();
            assert_eq!(got.frame, frame);
            assert_eq!(
                got.descriptor, pixels.descriptor,
                "{encoding:?} frame {frame}"
            );
            assert_eq!(
                got.samples,
                expected_samples(fixture, frame),
                "{encoding:?} frame {frame}: samples"
            );
            assert_eq!(
                tile_digests(frame, &got.samples, &got.descriptor, TILE),
                pixels.frames[frame as usize].tiles,
                "{encoding:?} frame {frame}: tile digests"
            );
        }
        let err = instance.frame_samples(frames).unwrap_err();
        assert!(
            matches!(err, CanonError::FrameOutOfRange { frame, frames: n } if frame == frames && n == frames),
            "{err}"
        );
        assert_eq!(err.kind(), "FrameOutOfRange");
    }

    #[test]
    fn frame_samples_of_every_frame_match_the_fixture_and_the_tile_digests() {
        // Odd sizes so that the last tile column and row are partial.
        let ct = Fixture::new(ImageSpec::ct(37, 45).frames(3), 11);
        for encoding in [
            Encoding::ExplicitVrLittleEndian,
            Encoding::ImplicitVrLittleEndian,
            Encoding::ExplicitVrBigEndian,
            Encoding::DeflatedExplicitVrLittleEndian,
            Encoding::RleLossless,
        ] {
            check_every_frame(&ct, encoding, &EncodeOptions::default());
        }
    }

    #[test]
    fn frame_samples_interleave_planar_colour_and_unpack_bits() {
        let rgb = Fixture::new(ImageSpec::rgb8(19, 23).frames(2), 5);
        let planar = EncodeOptions {
            planar_configuration: PlanarConfiguration::Planar,
            ..EncodeOptions::default()
        };
        for encoding in [
            Encoding::ExplicitVrLittleEndian,
            Encoding::ExplicitVrBigEndian,
        ] {
            check_every_frame(&rgb, encoding, &planar);
        }
        check_every_frame(&rgb, Encoding::RleLossless, &EncodeOptions::default());
        let bits = Fixture::new(ImageSpec::bits1(9, 13).frames(3), 2);
        check_every_frame(
            &bits,
            Encoding::ExplicitVrBigEndian,
            &EncodeOptions::default(),
        );
        let float = Fixture::new(ImageSpec::float32(8, 8).frames(2), 3);
        check_every_frame(
            &float,
            Encoding::ExplicitVrLittleEndian,
            &EncodeOptions::default(),
        );
    }

    #[test]
    fn frame_samples_without_pixel_data_is_no_pixel_data() {
        let bytes = Fixture::structured_report()
            .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
            .unwrap();
        let instance = DicomInstance::from_bytes(&bytes).unwrap();
        let err = instance.frame_samples(0).unwrap_err();
        assert!(matches!(err, CanonError::NoPixelData), "{err}");
        assert_eq!(err.kind(), "NoPixelData");
    }

    #[test]
    fn frame_samples_of_lossy_frames_is_not_decoded() {
        let bytes = Fixture::new(ImageSpec::mono8(8, 8).frames(2), 1)
            .encode(Encoding::RleLossless, &EncodeOptions::default())
            .unwrap();
        let mut instance = DicomInstance::from_bytes(&bytes).unwrap();
        // The fixture builder writes no lossy transfer syntax; an encapsulated data set read
        // as JPEG Baseline stands in for one (canon never looks inside lossy frames).
        instance.transfer_syntax = "1.2.840.10008.1.2.4.50".into();
        let canonical = canonicalize(&instance, &CanonOptions::new()).unwrap();
        assert_eq!(canonical.pixel_mode(), PixelMode::EncodedFrames);
        let err = instance.frame_samples(0).unwrap_err();
        assert!(
            matches!(&err, CanonError::NotDecoded { transfer_syntax } if transfer_syntax == "1.2.840.10008.1.2.4.50"),
            "{err}"
        );
        assert_eq!(err.kind(), "NotDecoded");
        assert_eq!(
            instance.frame_samples(2).unwrap_err().kind(),
            "FrameOutOfRange"
        );
    }
}
