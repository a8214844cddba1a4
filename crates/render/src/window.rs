//! Sample values to 8-bit gray: Modality rescale and VOI windowing (PS3.3 C.11.1, C.11.2).

use std::fmt;

use dicom_core::Tag;
use scanseal_canon::DicomInstance;

const RESCALE_INTERCEPT: Tag = Tag(0x0028, 0x1052);
const RESCALE_SLOPE: Tag = Tag(0x0028, 0x1053);
const WINDOW_CENTER: Tag = Tag(0x0028, 0x1050);
const WINDOW_WIDTH: Tag = Tag(0x0028, 0x1051);
const VOI_LUT_FUNCTION: Tag = Tag(0x0028, 0x1056);
const SHARED_FUNCTIONAL_GROUPS: Tag = Tag(0x5200, 0x9229);
const PER_FRAME_FUNCTIONAL_GROUPS: Tag = Tag(0x5200, 0x9230);
const PIXEL_VALUE_TRANSFORMATION: Tag = Tag(0x0028, 0x9145);
const FRAME_VOI_LUT: Tag = Tag(0x0028, 0x9132);

/// The VOI LUT Function (0028,1056) a window is applied with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiFunction {
    /// `LINEAR`, the default (PS3.3 C.11.2.1.2.1).
    Linear,
    /// `LINEAR_EXACT` (PS3.3 C.11.2.1.3.2).
    LinearExact,
    /// `SIGMOID` (PS3.3 C.11.2.1.3.1).
    Sigmoid,
}

impl VoiFunction {
    /// The defined term (`LINEAR`, `LINEAR_EXACT`, `SIGMOID`).
    pub fn name(self) -> &'static str {
        match self {
            VoiFunction::Linear => "LINEAR",
            VoiFunction::LinearExact => "LINEAR_EXACT",
            VoiFunction::Sigmoid => "SIGMOID",
        }
    }

    /// The function named by a VOI LUT Function value; anything else (absent, unknown) is
    /// `LINEAR`, the standard's default.
    fn from_term(term: Option<&str>) -> VoiFunction {
        match term {
            Some("LINEAR_EXACT") => VoiFunction::LinearExact,
            Some("SIGMOID") => VoiFunction::Sigmoid,
            _ => VoiFunction::Linear,
        }
    }

    /// Whether a window of this width may be applied: LINEAR needs a width of at least 1,
    /// the others a positive width (their formulas divide by it).
    fn accepts(self, width: f64) -> bool {
        match self {
            VoiFunction::Linear => width >= 1.0,
            VoiFunction::LinearExact | VoiFunction::Sigmoid => width > 0.0,
        }
    }

    /// The output of the window for input `x`, in 0.0..=255.0 (`ymin` = 0, `ymax` = 255).
    pub(crate) fn apply(self, x: f64, center: f64, width: f64) -> f64 {
        const Y_MAX: f64 = 255.0;
        match self {
            VoiFunction::Linear => {
                let low = center - 0.5 - (width - 1.0) / 2.0;
                let high = center - 0.5 + (width - 1.0) / 2.0;
                if x <= low {
                    0.0
                } else if x > high {
                    Y_MAX
                } else {
                    // Reached only when high > low, that is width > 1: no division by zero.
                    ((x - (center - 0.5)) / (width - 1.0) + 0.5) * Y_MAX
                }
            }
            VoiFunction::LinearExact => {
                if x <= center - width / 2.0 {
                    0.0
                } else if x > center + width / 2.0 {
                    Y_MAX
                } else {
                    ((x - center) / width + 0.5) * Y_MAX
                }
            }
            VoiFunction::Sigmoid => Y_MAX / (1.0 + (-4.0 * (x - center) / width).exp()),
        }
    }
}

/// How sample values were mapped to 8 bits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Windowing {
    /// A VOI window from the header, in rescaled (modality) units.
    Voi {
        /// Window Center (0028,1050), first value.
        center: f64,
        /// Window Width (0028,1051), first value.
        width: f64,
        /// VOI LUT Function (0028,1056).
        function: VoiFunction,
    },
    /// No usable window: the frame's smallest..largest finite rescaled value stretched to
    /// 0..255 (`min == max` for a flat frame, shown mid-gray; 0..0 when no value is finite).
    /// Also used for PALETTE COLOR indices.
    DataRange {
        /// Smallest finite value in the frame.
        min: f64,
        /// Largest finite value in the frame.
        max: f64,
    },
    /// Stored samples scaled from `bits` bits to 8: colour converted to gray, or 1-bit data.
    Bits {
        /// Bits Stored.
        bits: u16,
    },
}

impl Windowing {
    /// The 8-bit gray level of value `x` under a VOI window or a data range (NaN is black;
    /// `Bits` is not a function of one value and gives 0).
    pub(crate) fn gray(&self, x: f64) -> u8 {
        let level = match *self {
            Windowing::Voi {
                center,
                width,
                function,
            } => function.apply(x, center, width),
            Windowing::DataRange { min, max } => {
                if max > min {
                    (x - min) / (max - min) * 255.0
                } else {
                    128.0
                }
            }
            Windowing::Bits { .. } => 0.0,
        };
        // `as` saturates and maps NaN to 0: never out of range, never a panic.
        level.round().clamp(0.0, 255.0) as u8
    }
}

impl fmt::Display for Windowing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Windowing::Voi {
                center,
                width,
                function,
            } => write!(
                f,
                "VOI window center {center}, width {width} ({})",
                function.name()
            ),
            Windowing::DataRange { min, max } if max > min => write!(
                f,
                "no usable VOI window, so the frame's value range {min}..{max} stretched to 0..255"
            ),
            Windowing::DataRange { min, .. } => {
                write!(f, "a flat frame (every value {min}) shown mid-gray")
            }
            Windowing::Bits { bits: 1 } => write!(f, "1-bit samples shown black and white"),
            Windowing::Bits { bits } => {
                write!(f, "colour shown as gray from {bits}-bit samples")
            }
        }
    }
}

/// The paths where a frame's functional group `sequence` item may be: the frame's own item
/// of the Per-frame Functional Groups, then the Shared Functional Groups.
fn functional_group_paths(frame: u32, sequence: Tag) -> [[(Tag, usize); 2]; 2] {
    [
        [(PER_FRAME_FUNCTIONAL_GROUPS, frame as usize), (sequence, 0)],
        [(SHARED_FUNCTIONAL_GROUPS, 0), (sequence, 0)],
    ]
}

/// The first value of `tag` at `path`.
fn first(instance: &DicomInstance, path: &[(Tag, usize)], tag: Tag) -> Option<f64> {
    instance
        .numeric_values(path, tag)
        .and_then(|values| values.first().copied())
}

/// The Modality rescale of `frame` as (slope, intercept): from the first place, in order the
/// top level, the frame's Pixel Value Transformation, the shared one, that has either
/// attribute (the missing one defaults to slope 1 or intercept 0); else the identity.
pub(crate) fn rescale(instance: &DicomInstance, frame: u32) -> (f64, f64) {
    let nested = functional_group_paths(frame, PIXEL_VALUE_TRANSFORMATION);
    let paths: [&[(Tag, usize)]; 3] = [&[], &nested[0], &nested[1]];
    for path in paths {
        let slope = first(instance, path, RESCALE_SLOPE);
        let intercept = first(instance, path, RESCALE_INTERCEPT);
        if slope.is_some() || intercept.is_some() {
            return (slope.unwrap_or(1.0), intercept.unwrap_or(0.0));
        }
    }
    (1.0, 0.0)
}

/// The VOI window of `frame`: the first place, in order the top level, the frame's Frame VOI
/// LUT, the shared one, with both a Window Center and a Window Width (first values), with the
/// VOI LUT Function found beside them. `None` when there is none or its width is not usable
/// by its function.
pub(crate) fn voi_window(instance: &DicomInstance, frame: u32) -> Option<Windowing> {
    let nested = functional_group_paths(frame, FRAME_VOI_LUT);
    let paths: [&[(Tag, usize)]; 3] = [&[], &nested[0], &nested[1]];
    let (path, center, width) = paths.into_iter().find_map(|path| {
        Some((
            path,
            first(instance, path, WINDOW_CENTER)?,
            first(instance, path, WINDOW_WIDTH)?,
        ))
    })?;
    let function = VoiFunction::from_term(instance.text_value(path, VOI_LUT_FUNCTION).as_deref());
    function.accepts(width).then_some(Windowing::Voi {
        center,
        width,
        function,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    /// PS3.3 C.11.2.1.2.1, written out for the test: the expected value, not the code's.
    fn standard_linear(x: f64, c: f64, w: f64) -> f64 {
        if x <= c - 0.5 - (w - 1.0) / 2.0 {
            0.0
        } else if x > c - 0.5 + (w - 1.0) / 2.0 {
            255.0
        } else {
            ((x - (c - 0.5)) / (w - 1.0) + 0.5) * 255.0
        }
    }

    #[test]
    fn linear_window_follows_c_11_2_1_2_1() {
        let (c, w) = (40.0, 400.0);
        // Known points: the bottom edge (-160.5 → 0, just above → ~0), the center, the top.
        assert_eq!(VoiFunction::Linear.apply(-160.5, c, w), 0.0);
        assert_eq!(VoiFunction::Linear.apply(-500.0, c, w), 0.0);
        assert_eq!(VoiFunction::Linear.apply(239.5, c, w), 255.0);
        assert_eq!(VoiFunction::Linear.apply(1000.0, c, w), 255.0);
        // x = c - 0.5 is the middle of the ramp: exactly half of 255.
        assert_eq!(VoiFunction::Linear.apply(39.5, c, w), 127.5);
        for x in [-160.0, -100.0, 0.0, 40.0, 100.0, 239.0] {
            let want = standard_linear(x, c, w);
            assert!(
                (VoiFunction::Linear.apply(x, c, w) - want).abs() < 1e-9,
                "x={x}"
            );
        }
        // Width 1: a threshold at c - 0.5, no division by zero.
        assert_eq!(VoiFunction::Linear.apply(9.5, 10.0, 1.0), 0.0);
        assert_eq!(VoiFunction::Linear.apply(9.6, 10.0, 1.0), 255.0);
        let window = Windowing::Voi {
            center: c,
            width: w,
            function: VoiFunction::Linear,
        };
        // (0 - 39.5) / 399 + 0.5 = 0.40100…; × 255 = 102.26 → 102.
        assert_eq!(window.gray(0.0), 102);
        assert_eq!(window.gray(f64::NAN), 0);
    }

    #[test]
    fn linear_exact_window_follows_c_11_2_1_3_2() {
        let (c, w) = (100.0, 50.0);
        let f = VoiFunction::LinearExact;
        assert_eq!(f.apply(75.0, c, w), 0.0, "x = c - w/2 is ymin");
        assert_eq!(
            f.apply(125.0, c, w),
            255.0,
            "x = c + w/2 is on the ramp's top"
        );
        assert_eq!(f.apply(125.1, c, w), 255.0);
        assert_eq!(f.apply(100.0, c, w), 127.5);
        for x in [76.0, 90.0, 110.0, 124.0] {
            let want = ((x - c) / w + 0.5) * 255.0;
            assert!((f.apply(x, c, w) - want).abs() < 1e-9, "x={x}");
        }
        // A width below 1 is fine for LINEAR_EXACT, not for LINEAR.
        assert!(VoiFunction::LinearExact.accepts(0.25));
        assert!(!VoiFunction::Linear.accepts(0.25));
        assert!(!VoiFunction::Sigmoid.accepts(0.0));
    }

    #[test]
    fn sigmoid_window_follows_c_11_2_1_3_1() {
        let (c, w) = (40.0, 400.0);
        let f = VoiFunction::Sigmoid;
        assert_eq!(f.apply(c, c, w), 127.5, "the center is half way");
        for x in [-1000.0, -160.0, 0.0, 240.0, 3000.0] {
            let want = 255.0 / (1.0 + (-4.0 * (x - c) / w).exp());
            assert!((f.apply(x, c, w) - want).abs() < 1e-9, "x={x}");
        }
        // x = c + w/4: 255 / (1 + e^-1) = 186.40…
        let window = Windowing::Voi {
            center: c,
            width: w,
            function: f,
        };
        assert_eq!(window.gray(140.0), 186);
    }

    #[test]
    fn data_range_stretches_and_a_flat_range_is_mid_gray() {
        let range = Windowing::DataRange {
            min: -100.0,
            max: 155.0,
        };
        assert_eq!(range.gray(-100.0), 0);
        assert_eq!(range.gray(155.0), 255);
        assert_eq!(range.gray(0.0), 100);
        assert_eq!(range.gray(f64::INFINITY), 255);
        let flat = Windowing::DataRange { min: 7.0, max: 7.0 };
        assert_eq!(flat.gray(7.0), 128);
    }

    #[test]
    fn voi_lut_function_terms() {
        assert_eq!(VoiFunction::from_term(None), VoiFunction::Linear);
        assert_eq!(
            VoiFunction::from_term(Some("LINEAR_EXACT")),
            VoiFunction::LinearExact
        );
        assert_eq!(
            VoiFunction::from_term(Some("SIGMOID")),
            VoiFunction::Sigmoid
        );
        assert_eq!(VoiFunction::from_term(Some("CUBIC")), VoiFunction::Linear);
    }
}
