//! Encapsulated pixel data: fragments to frames (spec §4.4), lossless decoding (C4.2.5) and
//! encoded-frame digests (§4.5).

use std::borrow::Cow;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};

use dicom_encoding::adapters::{PixelDataObject, RawPixelData};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_encoding::Codec;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use sha2::{Digest as _, Sha256};

use super::descriptor::PixelDescriptor;
use super::rle::decode_rle_frame;
use crate::digest::ENCODED_FRAME_PREFIX;
use crate::read::{error_chain, Encapsulated};
use crate::{CanonError, Digest};

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Assigns fragments to frames by the first rule of C4.4.1 that applies. `extended_offsets`
/// is the Extended Offset Table, when present.
pub(crate) fn assign_fragments(
    pixels: &Encapsulated,
    extended_offsets: Option<&[u64]>,
    frames: u32,
) -> Result<Vec<Range<usize>>, CanonError> {
    let fragment_count = pixels.fragments.len();
    let fail = |reason: String| CanonError::FramesNotDelimited {
        fragments: fragment_count,
        frames,
        reason,
    };
    if fragment_count == 0 {
        return Err(fail("there are no fragments".into()));
    }
    let by_offsets = |offsets: Vec<u64>, table: &str| -> Result<Vec<Range<usize>>, CanonError> {
        if offsets.len() != frames as usize {
            return Err(fail(format!(
                "the {table} has {} entries, not one per frame",
                offsets.len()
            )));
        }
        if offsets.first() != Some(&0) || offsets.windows(2).any(|w| w[0] >= w[1]) {
            return Err(fail(format!(
                "the {table} does not start at 0 and increase strictly"
            )));
        }
        // Item-tag offset of each fragment, relative to the first fragment's item tag.
        let mut starts = Vec::with_capacity(fragment_count);
        let mut position = 0u64;
        for fragment in &pixels.fragments {
            starts.push(position);
            position += 8 + fragment.len() as u64;
        }
        let mut ranges = Vec::with_capacity(offsets.len());
        for (index, &offset) in offsets.iter().enumerate() {
            let end_offset = offsets.get(index + 1).copied().unwrap_or(u64::MAX);
            let first = starts.partition_point(|&s| s < offset);
            let end = starts.partition_point(|&s| s < end_offset);
            if first >= end {
                return Err(fail(format!("frame {index} has no fragment")));
            }
            ranges.push(first..end);
        }
        Ok(ranges)
    };
    if let Some(offsets) = extended_offsets {
        return by_offsets(offsets.to_vec(), "Extended Offset Table");
    }
    if frames == 1 {
        return Ok(std::iter::once(0..fragment_count).collect());
    }
    if !pixels.offset_table.is_empty() {
        let offsets = pixels.offset_table.iter().map(|&o| u64::from(o)).collect();
        return by_offsets(offsets, "Basic Offset Table");
    }
    if fragment_count == frames as usize {
        return Ok((0..fragment_count).map(|k| k..k + 1).collect());
    }
    Err(fail(
        "no offset table and fragment count differs from frame count".into(),
    ))
}

/// `ENCODED(u)` of C4.5.2.
pub(crate) fn encoded_unit_digest(unit: u32, fragments: &[Vec<u8>]) -> Digest {
    let total: u64 = fragments.iter().map(|f| f.len() as u64).sum();
    let mut hasher = Sha256::new();
    hasher.update(ENCODED_FRAME_PREFIX);
    hasher.update(unit.to_le_bytes());
    hasher.update(total.to_le_bytes());
    for fragment in fragments {
        hasher.update(fragment);
    }
    Digest(hasher.finalize().into())
}

/// One frame's encoded bytes, presented to a dicom-rs decoder as a single-frame,
/// single-fragment object so that C4.4.1, not the decoder, decides which bytes form the frame.
struct FrameForDecoder<'a> {
    transfer_syntax: &'a str,
    descriptor: &'a PixelDescriptor,
    photometric_as_stored: &'a str,
    data: Vec<u8>,
}

impl PixelDataObject for FrameForDecoder<'_> {
    fn transfer_syntax_uid(&self) -> &str {
        self.transfer_syntax
    }
    fn rows(&self) -> Option<u16> {
        u16::try_from(self.descriptor.rows).ok()
    }
    fn cols(&self) -> Option<u16> {
        u16::try_from(self.descriptor.columns).ok()
    }
    fn samples_per_pixel(&self) -> Option<u16> {
        u16::try_from(self.descriptor.samples_per_pixel).ok()
    }
    fn bits_allocated(&self) -> Option<u16> {
        u16::try_from(self.descriptor.bits_allocated).ok()
    }
    fn bits_stored(&self) -> Option<u16> {
        u16::try_from(self.descriptor.bits_stored).ok()
    }
    fn photometric_interpretation(&self) -> Option<&str> {
        Some(self.photometric_as_stored)
    }
    fn number_of_frames(&self) -> Option<u32> {
        Some(1)
    }
    fn number_of_fragments(&self) -> Option<u32> {
        Some(1)
    }
    fn fragment(&self, fragment: usize) -> Option<Cow<'_, [u8]>> {
        (fragment == 0).then_some(Cow::Borrowed(self.data.as_slice()))
    }
    fn offset_table(&self) -> Option<Cow<'_, [u32]>> {
        None
    }
    fn raw_pixel_data(&self) -> Option<RawPixelData> {
        Some(RawPixelData {
            fragments: std::iter::once(self.data.clone()).collect(),
            offset_table: Default::default(),
        })
    }
}

/// Decodes one lossless frame to little-endian samples of the allocated width (C4.2.5),
/// before masking.
pub(crate) fn decode_frame(
    transfer_syntax: &str,
    descriptor: &PixelDescriptor,
    photometric_as_stored: &str,
    frame: u32,
    fragments: &[Vec<u8>],
    out: &mut Vec<u8>,
) -> Result<(), CanonError> {
    let decode_error = |reason: String| CanonError::Decode {
        frame,
        transfer_syntax: transfer_syntax.to_string(),
        reason,
    };
    if transfer_syntax == RLE_LOSSLESS {
        // Our own Annex G decoder: the registry's refuses samples wider than 16 bits.
        decode_rle_frame(frame, &fragments.concat(), descriptor, out)?;
        return check_decoded_size(frame, descriptor, out);
    }
    let ts = TransferSyntaxRegistry
        .get(transfer_syntax)
        .ok_or_else(|| decode_error("unknown transfer syntax".into()))?;
    let Codec::EncapsulatedPixelData(Some(reader), _) = ts.codec() else {
        return Err(decode_error(
            "this build has no decoder for the transfer syntax".into(),
        ));
    };
    let source = FrameForDecoder {
        transfer_syntax,
        descriptor,
        photometric_as_stored,
        data: fragments.concat(),
    };
    out.clear();
    // A decoder bug must not take the process down with it: a panic is reported as a
    // decode error naming the frame.
    let outcome = catch_unwind(AssertUnwindSafe(|| reader.decode_frame(&source, 0, out)));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(decode_error(error_chain(&error))),
        Err(_) => return Err(decode_error("the decoder panicked".into())),
    }
    check_decoded_size(frame, descriptor, out)
}

/// C4.2.5: a decoded frame has exactly the descriptor's size.
fn check_decoded_size(
    frame: u32,
    descriptor: &PixelDescriptor,
    out: &[u8],
) -> Result<(), CanonError> {
    let expected = descriptor.canonical_frame_len()? as u64;
    if out.len() as u64 != expected {
        return Err(CanonError::DecodedFrameSize {
            frame,
            expected,
            actual: out.len() as u64,
        });
    }
    Ok(())
}
