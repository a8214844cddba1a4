//! The scanseal forensic picture: one frame of a DICOM instance rendered as an 8-bit gray
//! image with chosen tiles (typically the ones whose digests no longer match the seal) marked
//! in red, written as PNG with a sentence that says how it was made.
//!
//! It renders exactly the samples the tile digests hash ([`DicomInstance::frame_samples`]), so
//! a marked tile is the region whose pixels changed. It does **not** verify anything (callers
//! pass the tiles to mark), render overlays, presentation states, VOI LUT tables, Modality LUT
//! tables or palettes, or decode lossy frames (canon hashes those as stored; they are refused
//! with [`RenderError::Canon`]). It never panics on input and holds only the frame's samples
//! and the RGB picture in memory.
//!
//! # Rendering rules
//!
//! 1. **Grayscale** (Samples per Pixel 1, not PALETTE COLOR, more than 1 bit): each stored
//!    sample (two's complement sign-extended from Bits Stored when Pixel Representation is 1;
//!    Float and Double Float Pixel Data as floats) goes through
//!    - the **Modality rescale** `slope × value + intercept` with Rescale Slope (0028,1053) and
//!      Rescale Intercept (0028,1052) from the first place that has either (the other then
//!      defaults to 1 or 0): the top level, else the frame's item of the Per-frame Functional
//!      Groups Sequence (5200,9230) → Pixel Value Transformation Sequence (0028,9145) item 0,
//!      else the Shared Functional Groups Sequence (5200,9229) item 0 → the same; without
//!      either, the identity;
//!    - the **VOI window**: the first values of Window Center (0028,1050) and Window Width
//!      (0028,1051) from the first place that has both — the top level, else the frame's item
//!      → Frame VOI LUT Sequence (0028,9132) item 0, else the shared item → the same — with
//!      the VOI LUT Function (0028,1056) found beside them: `LINEAR` (PS3.3 C.11.2.1.2.1; the
//!      default, also for an unknown term), `LINEAR_EXACT` (C.11.2.1.3.2) or `SIGMOID`
//!      (C.11.2.1.3.1), with output range 0..255, rounded to the nearest level. The window is
//!      ignored when its width is below 1 for `LINEAR` or not positive for the others;
//!    - **without a usable window**, the frame's smallest..largest finite rescaled value is
//!      stretched linearly to 0..255; a flat frame (every value equal) is mid-gray 128.
//!
//!    Not-a-number renders black; infinities render as the ends of the range. MONOCHROME1 is
//!    inverted (`255 − level`) after windowing (a flat MONOCHROME1 frame is therefore 127).
//! 2. **1-bit** samples: 0 is black (0), 1 is white (255); MONOCHROME1 inverted.
//! 3. **Colour** (Samples per Pixel 3, integer) is converted to gray so that the marks are the
//!    only coloured pixels: RGB (and YBR_RCT/YBR_ICT, which canon decodes to RGB) by BT.601
//!    luma `0.299 R + 0.587 G + 0.114 B`, the YBR_* interpretations by their Y sample; each
//!    sample is first scaled from Bits Stored to 8 bits (`value × 255 / (2^BitsStored − 1)`).
//! 4. **PALETTE COLOR** (a known limitation): the palette is not applied; the stored index is
//!    rendered as gray by the frame's data range (rule 1 without rescale and window). Other
//!    layouts (Samples per Pixel other than 1 and 3, or float colour) render their first
//!    sample of each pixel the same way.
//! 5. The picture is therefore **gray** everywhere (R = G = B). Each **mark** is clipped to the
//!    frame (marks may touch or overlap; one entirely outside is dropped); every pixel of
//!    their union is tinted once to `(128 + g/2, g/2, g/2)` from its gray level `g` (R exceeds
//!    G by 128, whatever `g` is), then each mark's 1-pixel border inside the rectangle is
//!    drawn pure red `(255, 0, 0)`. A pixel is marked if and only if it is not gray.
//! 6. The PNG is 8-bit RGB, non-interlaced, with text chunks `Software` =
//!    `scanseal <version>` and `Description` = [`Picture::description`], then any the caller
//!    adds — `tEXt` when the text is Latin-1, `iTXt` (UTF-8) otherwise.
//!
//! ```no_run
//! use scanseal_canon::DicomInstance;
//! use scanseal_render::{render_frame, Rect};
//!
//! let instance = DicomInstance::open(std::path::Path::new("ct-slice.dcm"))?;
//! let changed = [Rect { x: 128, y: 64, width: 64, height: 64 }];
//! let picture = render_frame(&instance, 0, &changed)?;
//! println!("{}", picture.description());
//! let png = picture.to_png(&[("Source", "ct-slice.dcm")])?;
//! # let _ = png;
//! Ok::<_, Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod marks;
mod sample;
mod text;
mod window;

pub use error::RenderError;
pub use window::{VoiFunction, Windowing};

use scanseal_canon::{DicomInstance, FrameSamples, PixelDescriptor, SampleFormat};

use sample::SampleReader;

/// A rectangle of a frame, in pixels (a tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// One rendered frame: gray, with marked tiles in red.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// 3 bytes (R, G, B) per pixel, row-major, `width × height × 3` bytes.
    pub rgb: Vec<u8>,
    /// How sample values were mapped to 8 bits.
    pub windowing: Windowing,
    /// The frame index, 0-based.
    pub frame: u32,
    /// The marks as drawn: clipped to the frame, those entirely outside it dropped.
    pub marks: Vec<Rect>,
}

const PALETTE_COLOR: &str = "PALETTE COLOR";
const MONOCHROME1: &str = "MONOCHROME1";

/// Renders frame `frame` (0-based) of `instance` by the rules of the crate documentation,
/// with `marks` (clipped to the frame) marked in red.
///
/// # Errors
/// [`RenderError::Canon`] with the frame when canon cannot give the frame's samples (no pixel
/// data, frame out of range, lossy transfer syntax, undecodable or malformed pixel data);
/// [`RenderError::TooLarge`] when the RGB picture cannot be addressed.
pub fn render_frame(
    instance: &DicomInstance,
    frame: u32,
    marks: &[Rect],
) -> Result<Picture, RenderError> {
    let FrameSamples {
        descriptor,
        samples,
        ..
    } = instance
        .frame_samples(frame)
        .map_err(|source| RenderError::Canon { frame, source })?;
    let (width, height) = (descriptor.columns, descriptor.rows);
    let too_large = || RenderError::TooLarge {
        rows: height,
        columns: width,
    };
    let pixels = usize::try_from(u64::from(width) * u64::from(height)).map_err(|_| too_large())?;
    let mut rgb = Vec::new();
    rgb.try_reserve_exact(pixels.checked_mul(3).ok_or_else(too_large)?)
        .map_err(|_| too_large())?;
    let gray = gray_levels(instance, frame, &descriptor, &samples, pixels);
    let windowing = gray.windowing;
    // Map each pixel straight into the RGB buffer: no intermediate per-pixel array.
    rgb.extend((0..pixels).flat_map(|pixel| {
        let level = gray.level(&samples, pixel);
        [level, level, level]
    }));
    let marks: Vec<Rect> = marks
        .iter()
        .filter_map(|mark| mark.clipped(width, height))
        .collect();
    marks::draw(&mut rgb, width, &marks);
    Ok(Picture {
        width,
        height,
        rgb,
        windowing,
        frame,
        marks,
    })
}

/// How each pixel's gray level is computed from the frame's samples.
struct GrayLevels {
    windowing: Windowing,
    rule: Rule,
    invert: bool,
}

enum Rule {
    /// Sample `pixel × step`, rescaled, through `windowing`.
    Windowed {
        reader: SampleReader,
        step: usize,
        slope: f64,
        intercept: f64,
    },
    /// 1-bit: 0 black, anything else white.
    Bit,
    /// Three samples scaled from `max` to 255, then luma (`luma`) or the first (Y).
    Colour {
        reader: SampleReader,
        max: f64,
        luma: bool,
    },
}

impl GrayLevels {
    fn level(&self, samples: &[u8], pixel: usize) -> u8 {
        let level = match &self.rule {
            Rule::Windowed {
                reader,
                step,
                slope,
                intercept,
            } => self
                .windowing
                .gray(reader.value(samples, pixel * step) * slope + intercept),
            Rule::Bit => {
                if samples.get(pixel).copied().unwrap_or(0) != 0 {
                    255
                } else {
                    0
                }
            }
            Rule::Colour { reader, max, luma } => {
                let scaled =
                    |sample: usize| reader.value(samples, pixel * 3 + sample) * 255.0 / max;
                let value = if *luma {
                    0.299 * scaled(0) + 0.587 * scaled(1) + 0.114 * scaled(2)
                } else {
                    scaled(0)
                };
                value.round().clamp(0.0, 255.0) as u8
            }
        };
        if self.invert {
            255 - level
        } else {
            level
        }
    }
}

/// Chooses the rule for the frame (crate documentation, rules 1–4).
fn gray_levels(
    instance: &DicomInstance,
    frame: u32,
    descriptor: &PixelDescriptor,
    samples: &[u8],
    pixels: usize,
) -> GrayLevels {
    let photometric = descriptor.photometric_interpretation.as_str();
    let invert = photometric == MONOCHROME1;
    let spp = descriptor.samples_per_pixel as usize;
    let reader = SampleReader::new(descriptor);
    if descriptor.bits_allocated == 1 && spp == 1 {
        return GrayLevels {
            windowing: Windowing::Bits { bits: 1 },
            rule: Rule::Bit,
            invert,
        };
    }
    if spp == 3 && descriptor.sample_format == SampleFormat::Integer {
        let bits = descriptor.bits_stored.min(64);
        let max = (2f64.powi(bits as i32) - 1.0).max(1.0);
        return GrayLevels {
            windowing: Windowing::Bits {
                bits: u16::try_from(bits).unwrap_or(u16::MAX),
            },
            rule: Rule::Colour {
                reader: reader.unsigned(),
                max,
                luma: !photometric.starts_with("YBR"),
            },
            invert: false,
        };
    }
    let modality = spp == 1 && photometric != PALETTE_COLOR;
    let (slope, intercept) = if modality {
        window::rescale(instance, frame)
    } else {
        (1.0, 0.0)
    };
    let rule = Rule::Windowed {
        reader,
        step: spp.max(1),
        slope,
        intercept,
    };
    let windowing = modality
        .then(|| window::voi_window(instance, frame))
        .flatten()
        .unwrap_or_else(|| data_range(&rule, samples, pixels));
    GrayLevels {
        windowing,
        rule,
        invert: modality && invert,
    }
}

/// The smallest and largest finite value of the frame under `rule` (0..0 when none is finite).
fn data_range(rule: &Rule, samples: &[u8], pixels: usize) -> Windowing {
    let Rule::Windowed {
        reader,
        step,
        slope,
        intercept,
    } = rule
    else {
        return Windowing::DataRange { min: 0.0, max: 0.0 };
    };
    let (min, max) = (0..pixels)
        .map(|pixel| reader.value(samples, pixel * step) * slope + intercept)
        .filter(|value| value.is_finite())
        .fold(None, |range: Option<(f64, f64)>, value| {
            Some(range.map_or((value, value), |(min, max)| {
                (min.min(value), max.max(value))
            }))
        })
        .unwrap_or((0.0, 0.0));
    Windowing::DataRange { min, max }
}

impl Picture {
    /// The picture as PNG: 8-bit RGB, with text chunks `Software` = `scanseal <version>`,
    /// `Description` = [`Picture::description`], then `extra_text`'s (keyword, text) pairs —
    /// `tEXt` for Latin-1 text, `iTXt` (UTF-8) for text beyond it.
    ///
    /// # Errors
    /// [`RenderError::BadTextChunk`] for a keyword that is not 1–79 printable Latin-1
    /// characters without leading, trailing or double spaces, or a text holding a NUL; [`RenderError::InconsistentPicture`] when `rgb` does not hold
    /// `width × height × 3` bytes or the picture is empty; [`RenderError::Png`] when encoding
    /// fails.
    pub fn to_png(&self, extra_text: &[(&str, &str)]) -> Result<Vec<u8>, RenderError> {
        let expected = u64::from(self.width) * u64::from(self.height) * 3;
        if expected == 0 || self.rgb.len() as u64 != expected {
            return Err(RenderError::InconsistentPicture {
                reason: format!(
                    "{} x {} pixels need {expected} RGB bytes, the picture has {}",
                    self.width,
                    self.height,
                    self.rgb.len()
                ),
            });
        }
        let software = format!("scanseal {}", env!("CARGO_PKG_VERSION"));
        let description = self.description();
        let mut chunks = vec![
            ("Software", software.as_str()),
            ("Description", &description),
        ];
        chunks.extend_from_slice(extra_text);
        let kinds = chunks
            .iter()
            .map(|(keyword, text)| text::check_text_chunk(keyword, text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        for ((keyword, text), kind) in chunks.into_iter().zip(kinds) {
            match kind {
                text::TextChunk::Latin1 => {
                    encoder.add_text_chunk(keyword.to_string(), text.to_string())?
                }
                text::TextChunk::Utf8 => {
                    encoder.add_itxt_chunk(keyword.to_string(), text.to_string())?
                }
            }
        }
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.rgb)?;
        writer.finish()?;
        Ok(out)
    }

    /// One sentence saying what the picture shows: size, frame (numbered from 1, as in DICOM
    /// and in verification reports), the windowing used, how many tiles are marked and their
    /// share of the area, and how they are marked. ASCII only (it goes into a PNG `tEXt`).
    pub fn description(&self) -> String {
        let area = u64::from(self.width) * u64::from(self.height);
        let marked = marks::union_area(&self.marks);
        let marks = match self.marks.len() {
            0 => "no tiles marked, every pixel gray".to_string(),
            count => format!(
                "{count} tile{} marked ({} of the area), tinted red and outlined in pure red, \
                 every other pixel gray",
                if count == 1 { "" } else { "s" },
                percent(marked, area),
            ),
        };
        format!(
            "Frame {} of a DICOM instance, {} x {} pixels, rendered in gray by {}; {}.",
            u64::from(self.frame) + 1,
            self.width,
            self.height,
            self.windowing,
            marks
        )
    }
}

/// `part` of `whole` as a percentage read at a glance: never "0%" for a non-zero share.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let value = part as f64 * 100.0 / whole as f64;
    if value > 0.0 && value < 0.1 {
        "<0.1%".to_string()
    } else if value < 10.0 {
        format!("{value:.1}%")
    } else {
        format!("{value:.0}%")
    }
}
