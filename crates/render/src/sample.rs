//! Stored sample values from canonical samples (canon spec §4.2: little endian, `w` bytes
//! each, masked to Bits Stored and shifted down to bit 0).

use scanseal_canon::{PixelDescriptor, SampleFormat};

/// How to read the value of one canonical sample.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SampleReader {
    /// An unsigned integer of `width` bytes.
    Unsigned { width: usize },
    /// A two's complement integer of `bits` bits (Bits Stored) in `width` bytes.
    Signed { width: usize, bits: u32 },
    /// An IEEE binary32.
    Float32,
    /// An IEEE binary64.
    Float64,
}

impl SampleReader {
    pub(crate) fn new(descriptor: &PixelDescriptor) -> SampleReader {
        let width = descriptor.sample_width();
        match descriptor.sample_format {
            SampleFormat::Float32 => SampleReader::Float32,
            SampleFormat::Float64 => SampleReader::Float64,
            SampleFormat::Integer if descriptor.pixel_representation == 1 => SampleReader::Signed {
                width,
                bits: descriptor.bits_stored.clamp(1, 64),
            },
            SampleFormat::Integer => SampleReader::Unsigned { width },
        }
    }

    /// The same reader with integer samples taken as unsigned (colour samples).
    pub(crate) fn unsigned(self) -> SampleReader {
        match self {
            SampleReader::Signed { width, .. } => SampleReader::Unsigned { width },
            other => other,
        }
    }

    fn width(self) -> usize {
        match self {
            SampleReader::Unsigned { width } | SampleReader::Signed { width, .. } => width,
            SampleReader::Float32 => 4,
            SampleReader::Float64 => 8,
        }
    }

    /// The value of sample `index` of `samples`; 0 past the end (canon guarantees a frame
    /// holds every sample, so this only keeps a broken invariant from panicking).
    pub(crate) fn value(self, samples: &[u8], index: usize) -> f64 {
        let width = self.width().clamp(1, 8);
        let Some(bytes) = index
            .checked_mul(width)
            .and_then(|start| samples.get(start..start.checked_add(width)?))
        else {
            return 0.0;
        };
        let mut raw = [0u8; 8];
        raw[..width].copy_from_slice(bytes);
        let raw = u64::from_le_bytes(raw);
        match self {
            SampleReader::Unsigned { .. } => raw as f64,
            SampleReader::Signed { bits, .. } => {
                // Shift the sign bit (bit `bits - 1`) to bit 63, then back arithmetically.
                let shift = 64 - bits;
                (((raw << shift) as i64) >> shift) as f64
            }
            SampleReader::Float32 => f64::from(f32::from_bits(raw as u32)),
            SampleReader::Float64 => f64::from_bits(raw),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn signed_samples_are_sign_extended_from_bits_stored() {
        let reader = SampleReader::Signed { width: 2, bits: 12 };
        // 12-bit two's complement: 0x800 is -2048, 0xFFF is -1, 0x7FF is 2047.
        let samples = [0x00, 0x08, 0xFF, 0x0F, 0xFF, 0x07];
        assert_eq!(reader.value(&samples, 0), -2048.0);
        assert_eq!(reader.value(&samples, 1), -1.0);
        assert_eq!(reader.value(&samples, 2), 2047.0);
        assert_eq!(reader.value(&samples, 3), 0.0, "past the end");
        assert_eq!(reader.unsigned().value(&samples, 1), 4095.0);
        let wide = SampleReader::Signed { width: 4, bits: 32 };
        assert_eq!(wide.value(&(-5i32).to_le_bytes(), 0), -5.0);
    }

    #[test]
    fn float_samples_are_read_as_floats() {
        let mut samples = Vec::new();
        samples.extend_from_slice(&1.5f32.to_le_bytes());
        samples.extend_from_slice(&(-0.25f32).to_le_bytes());
        assert_eq!(SampleReader::Float32.value(&samples, 1), -0.25);
        assert_eq!(
            SampleReader::Float64.value(&(-3.75f64).to_le_bytes(), 0),
            -3.75
        );
    }
}
