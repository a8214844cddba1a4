//! RLE Lossless (PS3.5 Annex G) frame decoding for every sample width.
//!
//! Written here because dicom-rs's RLE adapter decodes only 8- and 16-bit samples, and RLE
//! Lossless with 32-bit samples (RT dose grids, for one) must canonicalize like any other
//! lossless encoding.

use super::descriptor::PixelDescriptor;
use crate::CanonError;

/// Decodes one RLE frame to interleaved little-endian samples of the allocated width.
pub(crate) fn decode_rle_frame(
    frame: u32,
    data: &[u8],
    descriptor: &PixelDescriptor,
    out: &mut Vec<u8>,
) -> Result<(), CanonError> {
    let fail = |reason: String| CanonError::Decode {
        frame,
        transfer_syntax: "1.2.840.10008.1.2.5".into(),
        reason,
    };
    if descriptor.bits_allocated == 1 {
        return Err(fail(
            "RLE Lossless with 1-bit samples is not defined".into(),
        ));
    }
    let width = descriptor.sample_width();
    let spp = descriptor.samples_per_pixel as usize;
    let pixels = descriptor.rows as usize * descriptor.columns as usize;
    let segments_expected = spp * width;
    let header = data.get(..64).ok_or_else(|| {
        fail(format!(
            "fragment of {} bytes has no 64-byte RLE header",
            data.len()
        ))
    })?;
    let word = |i: usize| {
        u32::from_le_bytes([
            header[4 * i],
            header[4 * i + 1],
            header[4 * i + 2],
            header[4 * i + 3],
        ]) as usize
    };
    let segment_count = word(0);
    if segment_count != segments_expected {
        return Err(fail(format!(
            "RLE header lists {segment_count} segments, the descriptor needs {segments_expected}"
        )));
    }
    let offsets: Vec<usize> = (1..=segment_count).map(word).collect();
    out.clear();
    out.resize(pixels * spp * width, 0);
    let mut plane = Vec::with_capacity(pixels);
    for (segment, &start) in offsets.iter().enumerate() {
        let end = offsets.get(segment + 1).copied().unwrap_or(data.len());
        let bytes = data
            .get(start..end)
            .filter(|_| start >= 64)
            .ok_or_else(|| {
                fail(format!(
                    "segment {segment} offsets {start}..{end} are outside the fragment"
                ))
            })?;
        unpack_bits(bytes, pixels, &mut plane)
            .map_err(|reason| fail(format!("segment {segment}: {reason}")))?;
        // Segments come sample by sample, most significant byte first (PS3.5 G.2).
        let (sample, byte_from_top) = (segment / width, segment % width);
        let byte = width - 1 - byte_from_top;
        for (pixel, value) in plane.iter().enumerate() {
            out[(pixel * spp + sample) * width + byte] = *value;
        }
    }
    Ok(())
}

/// PackBits (PS3.5 G.3.1) into exactly `wanted` bytes; extra input after that is padding.
fn unpack_bits(input: &[u8], wanted: usize, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let mut at = 0;
    while out.len() < wanted {
        let Some(&control) = input.get(at) else {
            return Err(format!("ends after {} of {wanted} bytes", out.len()));
        };
        at += 1;
        let control = control as i8;
        if control >= 0 {
            let count = control as usize + 1;
            let literal = input
                .get(at..at + count)
                .ok_or_else(|| "a literal run overruns the segment".to_string())?;
            out.extend_from_slice(literal);
            at += count;
        } else if control != -128 {
            let count = 1 - control as isize;
            let &value = input
                .get(at)
                .ok_or_else(|| "a replicate run overruns the segment".to_string())?;
            out.extend(std::iter::repeat_n(value, count as usize));
            at += 1;
        }
    }
    if out.len() != wanted {
        return Err(format!("decodes to {} bytes, expected {wanted}", out.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_literal_replicate_and_noop() {
        let mut out = Vec::new();
        // literal 2 bytes, no-op, replicate 'z' 3 times
        unpack_bits(&[1, b'a', b'b', 0x80, (-2i8) as u8, b'z'], 5, &mut out).unwrap();
        assert_eq!(out, b"abzzz");
        assert!(unpack_bits(&[5, b'a'], 6, &mut out).is_err());
        assert!(unpack_bits(&[1, b'a', b'b', 1, b'c', b'd'], 3, &mut out).is_err());
    }
}
