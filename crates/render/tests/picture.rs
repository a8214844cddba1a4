//! Rendering fixtures end to end: the gray levels follow the rules of the crate documentation,
//! and in the PNG a pixel is marked if and only if it is not gray.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::io::Cursor;

use scanseal_canon::{CanonError, DicomInstance};
use scanseal_fixtures::{
    tags, Element, EncodeOptions, Encoding, Fixture, ImageSpec, Item, Tag, VR,
};
use scanseal_render::{render_frame, Picture, Rect, RenderError, VoiFunction, Windowing};

fn instance(fixture: &Fixture, encoding: Encoding) -> DicomInstance {
    let bytes = fixture.encode(encoding, &EncodeOptions::default()).unwrap();
    DicomInstance::from_bytes(&bytes).unwrap()
}

fn render(fixture: &Fixture, frame: u32, marks: &[Rect]) -> Picture {
    render_frame(
        &instance(fixture, Encoding::ExplicitVrLittleEndian),
        frame,
        marks,
    )
    .unwrap()
}

/// The gray level of pixel (x, y); panics if the pixel is not gray.
fn gray_at(picture: &Picture, x: u32, y: u32) -> u8 {
    let at = ((y * picture.width + x) * 3) as usize;
    let pixel = &picture.rgb[at..at + 3];
    assert!(
        pixel[0] == pixel[1] && pixel[1] == pixel[2],
        "({x}, {y}) is not gray: {pixel:?}"
    );
    pixel[0]
}

/// Every pixel of `picture` against `expected(x, y)`.
fn assert_levels(picture: &Picture, expected: impl Fn(u16, u16) -> u8) {
    for y in 0..picture.height {
        for x in 0..picture.width {
            let want = expected(x as u16, y as u16);
            assert_eq!(gray_at(picture, x, y), want, "pixel ({x}, {y})");
        }
    }
}

/// PS3.3 C.11.2.1.2.1 with output 0..255, rounded: the test's own copy of the formula.
fn linear(x: f64, c: f64, w: f64) -> u8 {
    let y = if x <= c - 0.5 - (w - 1.0) / 2.0 {
        0.0
    } else if x > c - 0.5 + (w - 1.0) / 2.0 {
        255.0
    } else {
        ((x - (c - 0.5)) / (w - 1.0) + 0.5) * 255.0
    };
    y.round() as u8
}

/// A stored sample sign-extended from 16 bits (the fixture keeps negative CT values as 16-bit
/// two's complement).
fn signed16(value: u64) -> f64 {
    f64::from(value as u16 as i16)
}

fn set_text(fixture: &mut Fixture, tag: Tag, vr: VR, value: &str) {
    fixture.set_attribute(tag, vr, value);
}

#[test]
fn png_marks_exactly_the_clipped_rects_and_carries_its_text() {
    let fixture = Fixture::new(ImageSpec::ct(40, 50), 7);
    // One mark inside, one crossing the bottom-right corner (clipped to 10 × 8), one outside.
    let marks = [
        Rect {
            x: 16,
            y: 0,
            width: 16,
            height: 16,
        },
        Rect {
            x: 40,
            y: 32,
            width: 16,
            height: 16,
        },
        Rect {
            x: 50,
            y: 0,
            width: 16,
            height: 16,
        },
    ];
    let picture = render(&fixture, 0, &marks);
    assert_eq!(
        picture.marks,
        vec![
            Rect {
                x: 16,
                y: 0,
                width: 16,
                height: 16
            },
            Rect {
                x: 40,
                y: 32,
                width: 10,
                height: 8
            },
        ]
    );
    let png = picture.to_png(&[("Source", "fixture 7")]).unwrap();

    let mut reader = png::Decoder::new(Cursor::new(&png)).read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!((info.width, info.height), (50, 40));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert_eq!(rgb, picture.rgb);

    let inside = |x: u32, y: u32| {
        picture
            .marks
            .iter()
            .any(|m| x >= m.x && x < m.x + m.width && y >= m.y && y < m.y + m.height)
    };
    let mut marked = 0;
    for y in 0..40u32 {
        for x in 0..50u32 {
            let at = ((y * 50 + x) * 3) as usize;
            let pixel = &rgb[at..at + 3];
            let gray = pixel[0] == pixel[1] && pixel[1] == pixel[2];
            assert_eq!(!gray, inside(x, y), "pixel ({x}, {y}) = {pixel:?}");
            marked += usize::from(!gray);
        }
    }
    assert_eq!(marked, 16 * 16 + 10 * 8);
    // The clipped mark's border is drawn inside the frame: its corner at the frame's corner.
    assert_eq!(&rgb[((39 * 50 + 49) * 3) as usize..][..3], &[255, 0, 0]);
    assert_eq!(&rgb[((32 * 50 + 40) * 3) as usize..][..3], &[255, 0, 0]);

    let texts: Vec<(String, String)> = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .map(|chunk| (chunk.keyword.clone(), chunk.text.clone()))
        .collect();
    assert_eq!(
        texts,
        vec![
            (
                "Software".to_string(),
                format!("scanseal {}", env!("CARGO_PKG_VERSION"))
            ),
            ("Description".to_string(), picture.description()),
            ("Source".to_string(), "fixture 7".to_string()),
        ]
    );
    let description = picture.description();
    assert!(description.contains("50 x 40 pixels"), "{description}");
    assert!(description.contains("Frame 1 "), "{description}");
    assert!(
        description.contains("2 tiles marked (17% of the area)"),
        "{description}"
    );
    assert!(
        description.contains("VOI window center 40, width 400 (LINEAR)"),
        "{description}"
    );
}

#[test]
fn bad_text_chunks_and_inconsistent_pictures_are_errors() {
    let picture = render(&Fixture::new(ImageSpec::mono8(4, 4), 1), 0, &[]);
    assert!(matches!(
        picture.to_png(&[("", "x")]),
        Err(RenderError::BadTextChunk { .. })
    ));
    let mut broken = picture.clone();
    broken.rgb.pop();
    assert!(matches!(
        broken.to_png(&[]),
        Err(RenderError::InconsistentPicture { .. })
    ));
    assert!(picture.description().contains("no tiles marked"));
}

#[test]
fn signed_samples_are_rescaled_then_windowed() {
    let mut fixture = Fixture::new(ImageSpec::ct(40, 50), 3);
    set_text(&mut fixture, tags::RESCALE_SLOPE, VR::DS, "2");
    set_text(&mut fixture, tags::RESCALE_INTERCEPT, VR::DS, "100");
    set_text(&mut fixture, tags::WINDOW_CENTER, VR::DS, "-3000\\0");
    set_text(&mut fixture, tags::WINDOW_WIDTH, VR::DS, "3000\\1");
    for encoding in [
        Encoding::ExplicitVrLittleEndian,
        Encoding::ExplicitVrBigEndian,
    ] {
        let picture = render_frame(&instance(&fixture, encoding), 0, &[]).unwrap();
        assert_eq!(
            picture.windowing,
            Windowing::Voi {
                center: -3000.0,
                width: 3000.0,
                function: VoiFunction::Linear
            }
        );
        let expected = |x, y| {
            let stored = signed16(fixture.sample(0, x, y, 0).unwrap());
            linear(stored * 2.0 + 100.0, -3000.0, 3000.0)
        };
        assert_levels(&picture, expected);
        // The test means something only if the ramp and the saturation are both exercised.
        let levels: Vec<u8> = picture.rgb.iter().step_by(3).copied().collect();
        assert!(levels.contains(&255), "{encoding:?}");
        assert!(levels.iter().any(|&l| l > 0 && l < 255), "{encoding:?}");
    }
}

#[test]
fn monochrome1_is_inverted_after_windowing() {
    let mut fixture = Fixture::new(ImageSpec::mono8(16, 16), 4);
    set_text(&mut fixture, tags::WINDOW_CENTER, VR::DS, "128");
    set_text(&mut fixture, tags::WINDOW_WIDTH, VR::DS, "200");
    let normal = render(&fixture, 0, &[]);
    set_text(
        &mut fixture,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME1",
    );
    let inverted = render(&fixture, 0, &[]);
    assert_levels(&normal, |x, y| {
        linear(fixture.sample(0, x, y, 0).unwrap() as f64, 128.0, 200.0)
    });
    assert_levels(&inverted, |x, y| 255 - gray_at(&normal, x.into(), y.into()));
    assert_ne!(normal.rgb, inverted.rgb);
}

#[test]
fn float_samples_use_the_window_and_its_function() {
    let mut fixture = Fixture::new(ImageSpec::float32(12, 20), 9);
    set_text(&mut fixture, tags::WINDOW_CENTER, VR::DS, "0");
    set_text(&mut fixture, tags::WINDOW_WIDTH, VR::DS, "20.5");
    set_text(&mut fixture, tags::VOILUT_FUNCTION, VR::CS, "LINEAR_EXACT");
    set_text(&mut fixture, tags::RESCALE_SLOPE, VR::DS, "0.5");
    set_text(&mut fixture, tags::RESCALE_INTERCEPT, VR::DS, "-10");
    let picture = render(&fixture, 0, &[]);
    assert_eq!(
        picture.windowing,
        Windowing::Voi {
            center: 0.0,
            width: 20.5,
            function: VoiFunction::LinearExact
        }
    );
    assert_levels(&picture, |x, y| {
        let stored = f64::from(f32::from_bits(fixture.sample(0, x, y, 0).unwrap() as u32));
        let value = stored * 0.5 - 10.0;
        // C.11.2.1.3.2, the test's own copy.
        let (c, w) = (0.0, 20.5);
        let level = if value <= c - w / 2.0 {
            0.0
        } else if value > c + w / 2.0 {
            255.0
        } else {
            ((value - c) / w + 0.5) * 255.0
        };
        level.round() as u8
    });
}

#[test]
fn without_a_usable_window_the_data_range_is_stretched() {
    let mut fixture = Fixture::new(ImageSpec::ct(20, 30), 5);
    fixture.remove_attribute(tags::WINDOW_CENTER);
    fixture.remove_attribute(tags::WINDOW_WIDTH);
    let values: Vec<f64> = fixture.samples().iter().map(|&v| signed16(v)).collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(max > min);
    for window_width in [None, Some("0.5")] {
        // A LINEAR width below 1 is ignored like an absent window.
        if let Some(width) = window_width {
            set_text(&mut fixture, tags::WINDOW_CENTER, VR::DS, "40");
            set_text(&mut fixture, tags::WINDOW_WIDTH, VR::DS, width);
        }
        let picture = render(&fixture, 0, &[]);
        assert_eq!(picture.windowing, Windowing::DataRange { min, max });
        assert_levels(&picture, |x, y| {
            let value = signed16(fixture.sample(0, x, y, 0).unwrap());
            ((value - min) / (max - min) * 255.0).round() as u8
        });
        let levels: Vec<u8> = picture.rgb.iter().step_by(3).copied().collect();
        assert!(levels.contains(&0) && levels.contains(&255));
    }
}

#[test]
fn a_flat_frame_is_mid_gray() {
    let mut fixture = Fixture::new(ImageSpec::mr(8, 8), 1);
    fixture.remove_attribute(tags::WINDOW_CENTER);
    fixture.remove_attribute(tags::WINDOW_WIDTH);
    let count = fixture.samples().len();
    fixture.set_samples(vec![300; count]).unwrap();
    let picture = render(&fixture, 0, &[]);
    assert_eq!(
        picture.windowing,
        Windowing::DataRange {
            min: 300.0,
            max: 300.0
        }
    );
    assert_levels(&picture, |_, _| 128);
    assert!(picture.description().contains("flat frame"));
}

#[test]
fn colour_becomes_gray_luma_or_the_y_sample() {
    let mut fixture = Fixture::new(ImageSpec::rgb8(10, 12), 2);
    let picture = render(&fixture, 0, &[]);
    assert_eq!(picture.windowing, Windowing::Bits { bits: 8 });
    let sample = |x, y, s| fixture.sample(0, x, y, s).unwrap() as f64;
    assert_levels(&picture, |x, y| {
        (0.299 * sample(x, y, 0) + 0.587 * sample(x, y, 1) + 0.114 * sample(x, y, 2)).round() as u8
    });
    // The samples differ per channel, so luma is not just one of them.
    assert!((0..10u16).any(|x| sample(x, 0, 0) != sample(x, 0, 1)));

    set_text(
        &mut fixture,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "YBR_FULL",
    );
    let ybr = render(&fixture, 0, &[]);
    assert_levels(&ybr, |x, y| fixture.sample(0, x, y, 0).unwrap() as u8);
}

#[test]
fn one_bit_samples_are_black_and_white() {
    let fixture = Fixture::new(ImageSpec::bits1(9, 11), 6);
    let picture = render(&fixture, 0, &[]);
    assert_eq!(picture.windowing, Windowing::Bits { bits: 1 });
    assert_levels(&picture, |x, y| {
        if fixture.sample(0, x, y, 0).unwrap() & 1 == 1 {
            255
        } else {
            0
        }
    });
    let levels: Vec<u8> = picture.rgb.iter().step_by(3).copied().collect();
    assert!(levels.contains(&0) && levels.contains(&255));
}

/// A Pixel Value Transformation item with `slope`.
fn rescale_item(slope: &str) -> Item {
    vec![Element::sequence(
        tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
        vec![vec![
            Element::text(tags::RESCALE_INTERCEPT, VR::DS, "0"),
            Element::text(tags::RESCALE_SLOPE, VR::DS, slope),
        ]],
    )]
}

#[test]
fn frame_two_uses_its_own_samples_and_functional_groups() {
    let mut fixture = Fixture::new(ImageSpec::mr(16, 16).frames(3), 8);
    for tag in [
        tags::WINDOW_CENTER,
        tags::WINDOW_WIDTH,
        tags::RESCALE_SLOPE,
        tags::RESCALE_INTERCEPT,
    ] {
        fixture.remove_attribute(tag);
    }
    fixture.insert_attribute(Element::sequence(
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![vec![Element::sequence(
            tags::FRAME_VOILUT_SEQUENCE,
            vec![vec![
                Element::text(tags::WINDOW_CENTER, VR::DS, "3000"),
                Element::text(tags::WINDOW_WIDTH, VR::DS, "4000"),
                Element::text(tags::VOILUT_FUNCTION, VR::CS, "SIGMOID"),
            ]],
        )]],
    ));
    fixture.insert_attribute(Element::sequence(
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![rescale_item("1"), rescale_item("1.5"), rescale_item("2")],
    ));
    let instance = instance(&fixture, Encoding::RleLossless);
    let expected = |frame: u32, slope: f64, x: u16, y: u16| {
        let value = fixture.sample(frame, x, y, 0).unwrap() as f64 * slope;
        (255.0 / (1.0 + (-4.0 * (value - 3000.0) / 4000.0).exp())).round() as u8
    };
    let picture = render_frame(&instance, 2, &[]).unwrap();
    assert_eq!(picture.frame, 2);
    assert_eq!(
        picture.windowing,
        Windowing::Voi {
            center: 3000.0,
            width: 4000.0,
            function: VoiFunction::Sigmoid
        }
    );
    assert_levels(&picture, |x, y| expected(2, 2.0, x, y));
    // Frame 0's samples with frame 0's slope would give another picture.
    let first = render_frame(&instance, 0, &[]).unwrap();
    assert_levels(&first, |x, y| expected(0, 1.0, x, y));
    assert_ne!(first.rgb, picture.rgb);
    assert!(picture.description().contains("Frame 3 "));
}

#[test]
fn canon_errors_name_the_frame() {
    let fixture = Fixture::new(ImageSpec::mr(4, 4).frames(2), 1);
    let error = render_frame(
        &instance(&fixture, Encoding::ExplicitVrLittleEndian),
        2,
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            RenderError::Canon {
                frame: 2,
                source: CanonError::FrameOutOfRange {
                    frame: 2,
                    frames: 2
                }
            }
        ),
        "{error}"
    );
    let report = instance(
        &Fixture::structured_report(),
        Encoding::ExplicitVrLittleEndian,
    );
    assert!(matches!(
        render_frame(&report, 0, &[]),
        Err(RenderError::Canon {
            frame: 0,
            source: CanonError::NoPixelData
        })
    ));
}
