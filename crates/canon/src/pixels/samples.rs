//! Canonical samples of one frame (spec §4.2).

use super::descriptor::{PixelDescriptor, SampleFormat};
use crate::CanonError;

/// How native pixel data is laid out in the pixel element's value (C4.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeLayout {
    /// Explicit VR Big Endian: each sample big-endian in its allocated width.
    pub big_endian: bool,
    /// Planar Configuration 1: each frame holds one plane per sample.
    pub planar: bool,
    /// The pixel element's VR is OW: in big endian its value is 16-bit words, so 8-bit samples
    /// and 1-bit data arrive byte-swapped in pairs (C4.2.4).
    pub words: bool,
}

impl NativeLayout {
    /// Undoes the pairwise byte swap of 8-bit and 1-bit data held in a big-endian OW value
    /// (C4.2.4), giving data and layout that read as plain bytes.
    pub fn unswap_words<'a>(
        self,
        data: &'a [u8],
        descriptor: &PixelDescriptor,
    ) -> (std::borrow::Cow<'a, [u8]>, NativeLayout) {
        if !(self.big_endian && self.words && descriptor.sample_width() == 1) {
            return (std::borrow::Cow::Borrowed(data), self);
        }
        let mut swapped = data.to_vec();
        for pair in swapped.chunks_exact_mut(2) {
            pair.swap(0, 1);
        }
        let layout = NativeLayout {
            big_endian: false,
            ..self
        };
        (std::borrow::Cow::Owned(swapped), layout)
    }
}

/// Bytes the native value must hold for all frames (C4.2.4).
pub fn native_required_len(descriptor: &PixelDescriptor) -> Result<u64, CanonError> {
    let samples = descriptor.samples_per_frame()? as u64;
    let total = samples
        .checked_mul(u64::from(descriptor.number_of_frames))
        .ok_or(CanonError::TooLarge { what: "pixel data" })?;
    Ok(if descriptor.bits_allocated == 1 {
        total.div_ceil(8)
    } else {
        total
            .checked_mul(descriptor.sample_width() as u64)
            .ok_or(CanonError::TooLarge { what: "pixel data" })?
    })
}

/// Writes frame `frame`'s canonical samples (C4.2.1–C4.2.4) from native pixel data into `out`
/// (cleared first). The caller has checked `data.len() >= native_required_len(..)`.
pub fn native_frame(
    data: &[u8],
    descriptor: &PixelDescriptor,
    layout: NativeLayout,
    frame: u32,
    out: &mut Vec<u8>,
) -> Result<(), CanonError> {
    out.clear();
    let samples = descriptor.samples_per_frame()?;
    if descriptor.bits_allocated == 1 {
        // Frames follow each other bit by bit, least significant bit first (C4.2.4).
        let start = samples as u64 * u64::from(frame);
        out.reserve(samples);
        for index in 0..samples as u64 {
            let bit = start + index;
            let byte = data
                .get((bit / 8) as usize)
                .ok_or(CanonError::PixelDataTooShort {
                    required: bit / 8 + 1,
                    actual: data.len() as u64,
                })?;
            out.push((byte >> (bit % 8)) & 1);
        }
        return Ok(());
    }
    let width = descriptor.sample_width();
    let frame_len = samples * width;
    let start = frame_len
        .checked_mul(frame as usize)
        .ok_or(CanonError::TooLarge {
            what: "frame offset",
        })?;
    let source = data
        .get(start..start + frame_len)
        .ok_or(CanonError::PixelDataTooShort {
            required: (start + frame_len) as u64,
            actual: data.len() as u64,
        })?;
    let spp = descriptor.samples_per_pixel as usize;
    let planar = layout.planar && spp > 1;
    if !layout.big_endian && !planar {
        out.extend_from_slice(source);
    } else {
        out.resize(frame_len, 0);
        let pixels = samples / spp;
        for (canonical_index, target) in out.chunks_exact_mut(width).enumerate() {
            // Interleaved index p*spp+s comes from plane s, pixel p when planar (C4.2.1).
            let source_index = if planar {
                let (pixel, sample) = (canonical_index / spp, canonical_index % spp);
                sample * pixels + pixel
            } else {
                canonical_index
            };
            let bytes = &source[source_index * width..(source_index + 1) * width];
            target.copy_from_slice(bytes);
            if layout.big_endian {
                target.reverse();
            }
        }
    }
    mask_samples(out, descriptor);
    Ok(())
}

/// Applies C4.2.3 in place to little-endian samples of `w` bytes.
pub fn mask_samples(samples: &mut [u8], descriptor: &PixelDescriptor) {
    if descriptor.sample_format != SampleFormat::Integer || descriptor.bits_allocated == 1 {
        return;
    }
    let shift = descriptor.high_bit + 1 - descriptor.bits_stored;
    if shift == 0 && descriptor.bits_stored == descriptor.bits_allocated {
        return;
    }
    let mask: u64 = (1u64 << descriptor.bits_stored) - 1;
    // Each width works in its own integer type so that the loop compiles to vector shifts
    // and masks: on a CT frame this runs at memory speed instead of costing a tenth of the
    // time spent hashing it.
    match descriptor.sample_width() {
        1 if shift >= 8 => samples.fill(0),
        2 if shift >= 16 => samples.fill(0),
        1 => {
            let mask = mask as u8;
            for byte in samples.iter_mut() {
                *byte = (*byte >> shift) & mask;
            }
        }
        2 => {
            let mask = mask as u16;
            for pair in samples.chunks_exact_mut(2) {
                let raw = u16::from_le_bytes([pair[0], pair[1]]);
                pair.copy_from_slice(&((raw >> shift) & mask).to_le_bytes());
            }
        }
        _ => {
            for quad in samples.chunks_exact_mut(4) {
                let raw = u64::from(u32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]));
                quad.copy_from_slice(&(((raw >> shift) & mask) as u32).to_le_bytes());
            }
        }
    }
}
