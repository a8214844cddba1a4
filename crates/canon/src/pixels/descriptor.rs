//! The image descriptor (spec §4.1).

use dicom_core::Tag;

use crate::charset::latin1;
use crate::digest::{put_bytes, put_u32};
use crate::read::{DataSet, ElementValue};
use crate::CanonError;

const PHOTOMETRIC_INTERPRETATION: Tag = Tag(0x0028, 0x0004);

/// How samples are stored (spec C4.1.1, `sample_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// Integer samples in Pixel Data (7FE0,0010).
    Integer,
    /// 32-bit IEEE floats in Float Pixel Data (7FE0,0008).
    Float32,
    /// 64-bit IEEE floats in Double Float Pixel Data (7FE0,0009).
    Float64,
}

impl SampleFormat {
    /// The name used in reports (`integer`, `float32`, `float64`).
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::Integer => "integer",
            SampleFormat::Float32 => "float32",
            SampleFormat::Float64 => "float64",
        }
    }

    /// The format named `name` (the inverse of [`SampleFormat::name`]).
    pub fn from_name(name: &str) -> Option<SampleFormat> {
        [
            SampleFormat::Integer,
            SampleFormat::Float32,
            SampleFormat::Float64,
        ]
        .into_iter()
        .find(|format| format.name() == name)
    }

    fn code(self) -> u8 {
        match self {
            SampleFormat::Integer => 0,
            SampleFormat::Float32 => 1,
            SampleFormat::Float64 => 2,
        }
    }

    /// The pixel element that holds samples of this format.
    pub fn tag(self) -> Tag {
        match self {
            SampleFormat::Integer => Tag(0x7FE0, 0x0010),
            SampleFormat::Float32 => Tag(0x7FE0, 0x0008),
            SampleFormat::Float64 => Tag(0x7FE0, 0x0009),
        }
    }
}

/// The normalized image descriptor bound into the pixel digest (spec C4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelDescriptor {
    /// Rows (0028,0010).
    pub rows: u32,
    /// Columns (0028,0011).
    pub columns: u32,
    /// Samples per Pixel (0028,0002).
    pub samples_per_pixel: u32,
    /// Bits Allocated (0028,0100): 1, 8, 16, 32 (integer) or 32/64 (float).
    pub bits_allocated: u32,
    /// Bits Stored (0028,0101); equals `bits_allocated` for floats.
    pub bits_stored: u32,
    /// High Bit (0028,0102); `bits_allocated - 1` for floats.
    pub high_bit: u32,
    /// Pixel Representation (0028,0103): 0 unsigned, 1 signed; 0 for floats.
    pub pixel_representation: u32,
    /// Photometric Interpretation as decoded (C4.1.2).
    pub photometric_interpretation: String,
    /// Number of Frames (0028,0008), 1 when absent.
    pub number_of_frames: u32,
    /// Which pixel element holds the samples.
    pub sample_format: SampleFormat,
}

impl PixelDescriptor {
    /// Checks the rules of C4.1.1 on an already-built descriptor.
    ///
    /// # Errors
    /// `BadPixelAttribute` naming the first attribute that breaks a rule.
    pub fn validate(&self) -> Result<(), CanonError> {
        let bad = |tag: Tag, keyword: &'static str, reason: String| {
            Err(CanonError::BadPixelAttribute {
                tag,
                keyword,
                reason,
            })
        };
        if self.rows == 0 {
            return bad(Tag(0x0028, 0x0010), "Rows", "must be at least 1".into());
        }
        if self.columns == 0 {
            return bad(Tag(0x0028, 0x0011), "Columns", "must be at least 1".into());
        }
        if self.samples_per_pixel == 0 {
            return bad(
                Tag(0x0028, 0x0002),
                "SamplesPerPixel",
                "must be at least 1".into(),
            );
        }
        if self.number_of_frames == 0 {
            return bad(
                Tag(0x0028, 0x0008),
                "NumberOfFrames",
                "must be at least 1".into(),
            );
        }
        let (ba, bs, hb) = (self.bits_allocated, self.bits_stored, self.high_bit);
        match self.sample_format {
            SampleFormat::Integer => {
                if ![1, 8, 16, 32].contains(&ba) {
                    return bad(
                        Tag(0x0028, 0x0100),
                        "BitsAllocated",
                        format!("{ba} is not one of 1, 8, 16, 32"),
                    );
                }
                if bs == 0 || bs > ba {
                    return bad(
                        Tag(0x0028, 0x0101),
                        "BitsStored",
                        format!("{bs} is not in 1..={ba} (Bits Allocated)"),
                    );
                }
                if hb + 1 < bs || hb >= ba {
                    return bad(
                        Tag(0x0028, 0x0102),
                        "HighBit",
                        format!("{hb} is not in {}..={} ", bs - 1, ba - 1),
                    );
                }
                if self.pixel_representation > 1 {
                    return bad(
                        Tag(0x0028, 0x0103),
                        "PixelRepresentation",
                        format!("{} is not 0 or 1", self.pixel_representation),
                    );
                }
            }
            SampleFormat::Float32 | SampleFormat::Float64 => {
                let want = if self.sample_format == SampleFormat::Float32 {
                    32
                } else {
                    64
                };
                if ba != want || bs != want || hb != want - 1 || self.pixel_representation != 0 {
                    return bad(
                        Tag(0x0028, 0x0100),
                        "BitsAllocated",
                        format!("float samples need {want} bits"),
                    );
                }
            }
        }
        Ok(())
    }

    /// Bytes per canonical sample, `w` of C4.2.2.
    pub fn sample_width(&self) -> usize {
        match self.bits_allocated {
            1 | 8 => 1,
            16 => 2,
            32 => 4,
            _ => 8,
        }
    }

    /// Samples in one frame (`rows × columns × samples_per_pixel`).
    pub fn samples_per_frame(&self) -> Result<usize, CanonError> {
        (self.rows as usize)
            .checked_mul(self.columns as usize)
            .and_then(|n| n.checked_mul(self.samples_per_pixel as usize))
            .ok_or(CanonError::TooLarge { what: "frame" })
    }

    /// Bytes of one canonical frame.
    pub fn canonical_frame_len(&self) -> Result<usize, CanonError> {
        self.samples_per_frame()?
            .checked_mul(self.sample_width())
            .ok_or(CanonError::TooLarge { what: "frame" })
    }

    /// `DESC` of C4.1.3.
    ///
    /// # Errors
    /// `TooLarge` only if the photometric interpretation is absurdly long.
    pub fn encode(&self) -> Result<Vec<u8>, CanonError> {
        let mut out = Vec::with_capacity(64);
        for field in [
            self.rows,
            self.columns,
            self.samples_per_pixel,
            self.bits_allocated,
            self.bits_stored,
            self.high_bit,
            self.pixel_representation,
        ] {
            put_u32(&mut out, field);
        }
        put_bytes(
            &mut out,
            self.photometric_interpretation.as_bytes(),
            "photometric interpretation",
        )?;
        put_u32(&mut out, self.number_of_frames);
        out.push(self.sample_format.code());
        Ok(out)
    }

    /// Reads the descriptor from the top-level data set (C4.1.1). `decoded_from_encapsulated`
    /// applies C4.1.2.
    pub(crate) fn from_dataset(
        dataset: &DataSet,
        sample_format: SampleFormat,
        big_endian: bool,
        decoded_from_encapsulated: bool,
    ) -> Result<PixelDescriptor, CanonError> {
        let us = |tag: Tag, keyword: &'static str| read_us(dataset, tag, keyword, big_endian);
        let required = |tag: Tag, keyword: &'static str| -> Result<u32, CanonError> {
            us(tag, keyword)?.ok_or(CanonError::MissingPixelAttribute { tag, keyword })
        };
        let rows = required(Tag(0x0028, 0x0010), "Rows")?;
        let columns = required(Tag(0x0028, 0x0011), "Columns")?;
        let samples_per_pixel = required(Tag(0x0028, 0x0002), "SamplesPerPixel")?;
        let mut photometric_interpretation =
            stored_photometric(dataset).ok_or(CanonError::MissingPixelAttribute {
                tag: PHOTOMETRIC_INTERPRETATION,
                keyword: "PhotometricInterpretation",
            })?;
        if decoded_from_encapsulated
            && (photometric_interpretation == "YBR_RCT" || photometric_interpretation == "YBR_ICT")
        {
            photometric_interpretation = "RGB".into();
        }
        let number_of_frames = match read_text(dataset, Tag(0x0028, 0x0008)) {
            None => 1,
            Some(text) => {
                let text = text.trim_matches([' ', '\0']);
                if text.is_empty() {
                    1
                } else {
                    text.parse::<u32>()
                        .map_err(|_| CanonError::BadPixelAttribute {
                            tag: Tag(0x0028, 0x0008),
                            keyword: "NumberOfFrames",
                            reason: format!("{text:?} is not a whole number"),
                        })?
                }
            }
        };
        let (bits_allocated, bits_stored, high_bit, pixel_representation) = match sample_format {
            SampleFormat::Integer => (
                required(Tag(0x0028, 0x0100), "BitsAllocated")?,
                required(Tag(0x0028, 0x0101), "BitsStored")?,
                required(Tag(0x0028, 0x0102), "HighBit")?,
                required(Tag(0x0028, 0x0103), "PixelRepresentation")?,
            ),
            SampleFormat::Float32 | SampleFormat::Float64 => {
                let width = if sample_format == SampleFormat::Float32 {
                    32
                } else {
                    64
                };
                let ba = us(Tag(0x0028, 0x0100), "BitsAllocated")?.unwrap_or(width);
                (ba, ba, ba.saturating_sub(1), 0)
            }
        };
        let descriptor = PixelDescriptor {
            rows,
            columns,
            samples_per_pixel,
            bits_allocated,
            bits_stored,
            high_bit,
            pixel_representation,
            photometric_interpretation,
            number_of_frames,
            sample_format,
        };
        descriptor.validate()?;
        Ok(descriptor)
    }
}

/// Reads a single US value from the raw octets (`None` when absent or empty).
pub(super) fn read_us(
    dataset: &DataSet,
    tag: Tag,
    keyword: &'static str,
    big_endian: bool,
) -> Result<Option<u32>, CanonError> {
    let Some(element) = dataset.get(tag) else {
        return Ok(None);
    };
    let ElementValue::Primitive(octets) = &element.value else {
        return Err(CanonError::BadPixelAttribute {
            tag,
            keyword,
            reason: "is not a primitive value".into(),
        });
    };
    match octets.as_slice() {
        [] => Ok(None),
        [a, b] => Ok(Some(u32::from(if big_endian {
            u16::from_be_bytes([*a, *b])
        } else {
            u16::from_le_bytes([*a, *b])
        }))),
        other => Err(CanonError::BadPixelAttribute {
            tag,
            keyword,
            reason: format!("has {} bytes, expected one US value (2 bytes)", other.len()),
        }),
    }
}

/// The octets of a text attribute as ISO-8859-1 text (pixel-module text is plain ASCII).
fn read_text(dataset: &DataSet, tag: Tag) -> Option<String> {
    match &dataset.get(tag)?.value {
        ElementValue::Primitive(octets) => Some(latin1(octets)),
        _ => None,
    }
}

/// Photometric Interpretation as written in the file, trailing padding removed.
pub(super) fn stored_photometric(dataset: &DataSet) -> Option<String> {
    read_text(dataset, PHOTOMETRIC_INTERPRETATION)
        .map(|text| text.trim_end_matches([' ', '\0']).to_string())
}
