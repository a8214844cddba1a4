//! End-to-end tests of the forensic report (spec/report.md): where a change is reported, the
//! picture that shows it, and archive runs with their summary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use scanseal_fixtures::{EncodeOptions, Encoding, Fixture, ImageSpec};
use serde_json::Value;

mod common;
use common::{ok, scanseal};

/// A temporary directory with a modality key and a trust store trusting it.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        ok(&scanseal()
            .args(["keygen", "--out", &lab.s("keys"), "--name", "ct-01"])
            .output()
            .unwrap());
        ok(&scanseal()
            .args(["trust", "add", "--store", &lab.s("trust.toml")])
            .args(["--role", "acquisition", "--not-before", "2020-01-01"])
            .arg(lab.path("keys/ct-01.pub"))
            .output()
            .unwrap());
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn sign(&self, extra: &[&str], paths: &[&Path]) -> String {
        ok(&scanseal()
            .args(["sign", "--key", &self.s("keys/ct-01.key")])
            .args(extra)
            .args(paths)
            .output()
            .unwrap())
    }

    fn verify(&self, extra: &[&str], paths: &[&Path]) -> Output {
        scanseal()
            .args(["verify", "--trust", &self.s("trust.toml")])
            .args(extra)
            .args(paths)
            .output()
            .unwrap()
    }
}

fn encode(fixture: &Fixture) -> Vec<u8> {
    fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap()
}

/// Makes in `sealed` the byte changes that turn `original` into `altered`: an edit of the
/// pixel data in place, after sealing. The seal block follows the pixel data, so the bytes
/// before it sit at the same offsets as in the original.
fn patch_like(sealed: &mut [u8], original: &[u8], altered: &[u8]) {
    assert_eq!(original.len(), altered.len());
    let mut changed = 0;
    for (offset, (before, after)) in original.iter().zip(altered).enumerate() {
        if before != after {
            assert_eq!(sealed[offset], *before, "sealed file differs at {offset}");
            sealed[offset] = *after;
            changed += 1;
        }
    }
    assert!(changed > 0, "the alteration changed no byte");
}

/// A CT sample as its signed value (12 bits stored, two's complement).
fn signed12(raw: u64) -> i64 {
    let value = (raw & 0xFFF) as i64;
    if value >= 0x800 {
        value - 0x1000
    } else {
        value
    }
}

fn tile_set(frame: &Value) -> BTreeSet<(u64, u64, u64, u64)> {
    frame["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["x"].as_u64().unwrap(),
                t["y"].as_u64().unwrap(),
                t["width"].as_u64().unwrap(),
                t["height"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A PNG decoded to 8-bit RGB: (width, height, pixels).
fn read_png(path: &Path) -> (u32, u32, Vec<u8>, Vec<(String, String)>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buffer.truncate(info.buffer_size());
    let info = reader.info();
    let text = info
        .uncompressed_latin1_text
        .iter()
        .map(|chunk| (chunk.keyword.clone(), chunk.text.clone()))
        .chain(
            info.utf8_text
                .iter()
                .map(|chunk| (chunk.keyword.clone(), chunk.get_text().unwrap())),
        )
        .collect();
    (info.width, info.height, buffer, text)
}

#[test]
fn a_region_altered_in_one_frame_is_located_exactly_and_the_picture_agrees() {
    let lab = Lab::new();
    let (rows, columns, frames) = (160u16, 200u16, 4u32);
    let original = Fixture::new(ImageSpec::ct(rows, columns).frames(frames), 7);
    let original_bytes = encode(&original);
    std::fs::write(lab.path("series.dcm"), &original_bytes).unwrap();
    lab.sign(
        &["--tile-size", "32", "--out", &lab.s("sealed")],
        &[&lab.path("series.dcm")],
    );

    // Frame 3: a block of 30 x 35 pixels, and the bottom-right corner pixel, whose tile is
    // clipped to 8 x 32 by the frame's edge.
    let mut altered = original.clone();
    let mut changed: Vec<(u16, u16)> = Vec::new();
    for y in 40..75u16 {
        for x in 70..100u16 {
            changed.push((x, y));
        }
    }
    changed.push((columns - 1, rows - 1));
    for &(x, y) in &changed {
        let before = altered.sample(2, x, y, 0).unwrap();
        altered.set_sample(2, x, y, 0, before ^ 0x155).unwrap();
    }
    let sealed_path = lab.path("sealed/series.dcm");
    let mut sealed = std::fs::read(&sealed_path).unwrap();
    patch_like(&mut sealed, &original_bytes, &encode(&altered));
    std::fs::write(&sealed_path, &sealed).unwrap();

    let expected: BTreeSet<(u64, u64, u64, u64)> = [
        (64, 32, 32, 32),
        (96, 32, 32, 32),
        (64, 64, 32, 32),
        (96, 64, 32, 32),
        (192, 128, 8, 32),
    ]
    .into_iter()
    .collect();

    let output = lab.verify(&["--json", "--png", &lab.s("pictures")], &[&sealed_path]);
    assert_eq!(output.status.code(), Some(1));
    let (records, summary) = common::verify_records(&output.stdout);
    assert_eq!(summary["verdicts"]["ALTERED"], 1);
    let report = &records[0];
    assert_eq!(report["verdict"], "ALTERED", "{report}");
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "only the pixels changed: {report}");
    assert_eq!(findings[0]["kind"], "pixels_changed");
    let changed_frames = findings[0]["frames"].as_array().unwrap();
    assert_eq!(changed_frames.len(), 1, "{report}");
    assert_eq!(changed_frames[0]["frame"], 3);
    assert_eq!(tile_set(&changed_frames[0]), expected);
    let area = changed_frames[0]["area_fraction"].as_f64().unwrap();
    assert!(
        (area - (4.0 * 1024.0 + 256.0) / 32000.0).abs() < 1e-12,
        "{area}"
    );
    assert!(
        report["reason"].as_str().unwrap().starts_with(
            "pixels changed in frame 3 (5 tiles, 14% of its area, within x 64-199, y 32-159)"
        ),
        "{report}"
    );

    // The picture: the frame's size; marked (non-gray) exactly on the reported tiles.
    let pictures = report["pictures"].as_array().unwrap();
    assert_eq!(pictures.len(), 1, "{report}");
    assert_eq!(pictures[0]["frame"], 3);
    let png_path = PathBuf::from(
        pictures[0]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{report}")),
    );
    assert_eq!(png_path, lab.path("pictures/series.dcm.frame-0003.png"));
    let (width, height, pixels, text) = read_png(&png_path);
    assert_eq!((width, height), (u32::from(columns), u32::from(rows)));
    let in_reported_tile = |x: u32, y: u32| {
        tile_set(&changed_frames[0])
            .iter()
            .any(|&(tx, ty, tw, th)| {
                u64::from(x) >= tx
                    && u64::from(x) < tx + tw
                    && u64::from(y) >= ty
                    && u64::from(y) < ty + th
            })
    };
    let mut marked = 0;
    let mut gray_by_value: Vec<(i64, u8)> = Vec::new();
    for y in 0..height {
        for x in 0..width {
            let offset = ((y * width + x) * 3) as usize;
            let (r, g, b) = (pixels[offset], pixels[offset + 1], pixels[offset + 2]);
            let is_marked = !(r == g && g == b);
            assert_eq!(
                is_marked,
                in_reported_tile(x, y),
                "pixel ({x}, {y}) = ({r}, {g}, {b})"
            );
            if is_marked {
                marked += 1;
                assert!(
                    r > g && g == b,
                    "a mark is red: ({x}, {y}) = ({r}, {g}, {b})"
                );
            } else {
                let raw = altered.sample(2, x as u16, y as u16, 0).unwrap();
                gray_by_value.push((signed12(raw), g));
            }
        }
    }
    assert_eq!(marked, 4 * 1024 + 256);
    // The gray rendering is a monotone function of the sample value (the VOI window), and
    // uses more than one level.
    gray_by_value.sort();
    assert!(gray_by_value.windows(2).all(|w| w[0].1 <= w[1].1));
    let levels: BTreeSet<u8> = gray_by_value.iter().map(|(_, g)| *g).collect();
    assert!(levels.len() > 16, "{} gray levels", levels.len());
    let keywords: Vec<&str> = text.iter().map(|(k, _)| k.as_str()).collect();
    for keyword in ["Software", "Description", "Title", "Comment"] {
        assert!(keywords.contains(&keyword), "{keywords:?}");
    }

    // Text with --explain: the same frame and region, in words.
    let output = lab.verify(&["--explain"], &[&sealed_path]);
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("ALTERED "), "{text}");
    assert_eq!(
        lines[1],
        "    - pixels changed in frame 3 (5 tiles, 14% of its area, within x 64-199, y 32-159)"
    );
}

#[test]
fn an_archive_of_2000_files_is_summarized_exactly_whatever_the_thread_count() {
    let lab = Lab::new();
    let spec = ImageSpec::mono8(16, 16);
    let mut originals = Vec::new();
    for index in 0..1998u64 {
        let name = format!("in/{}/img{index:04}.dcm", index % 7);
        let path = lab.path(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let fixture = Fixture::new(spec.clone(), index);
        let bytes = encode(&fixture);
        std::fs::write(&path, &bytes).unwrap();
        originals.push((name, fixture, bytes));
    }
    lab.sign(&["--out", &lab.s("archive")], &[&lab.path("in")]);

    // Three sealed files edited in their pixels, one truncated, two unsigned copies.
    for index in [5usize, 999, 1500] {
        let (name, fixture, bytes) = &originals[index];
        let mut altered = fixture.clone();
        let before = altered.sample(0, 3, 4, 0).unwrap();
        altered.set_sample(0, 3, 4, 0, before ^ 0x80).unwrap();
        let path = lab.path(&name.replacen("in/", "archive/", 1));
        let mut sealed = std::fs::read(&path).unwrap();
        patch_like(&mut sealed, bytes, &encode(&altered));
        std::fs::write(&path, sealed).unwrap();
    }
    let truncated = lab.path(&originals[700].0.replacen("in/", "archive/", 1));
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(lab.path("archive/3/unsigned-a.dcm"), &originals[10].2).unwrap();
    std::fs::write(lab.path("archive/6/unsigned-b.dcm"), &originals[20].2).unwrap();

    let total_bytes: u64 = walk_sizes(&lab.path("archive"));
    let archive = lab.path("archive");
    let mut file_lines: Option<Vec<String>> = None;
    for threads in ["1", "2"] {
        let output = lab.verify(&["--json", "--threads", threads], &[&archive]);
        assert_eq!(output.status.code(), Some(1));
        assert!(
            output.stderr.is_empty(),
            "not a terminal: nothing on stderr"
        );
        let (records, summary) = common::verify_records(&output.stdout);
        assert_eq!(records.len(), 2000);
        let verdicts = &summary["verdicts"];
        assert_eq!(verdicts["INTACT"], 1994, "{summary}");
        assert_eq!(verdicts["ALTERED"], 3, "{summary}");
        assert_eq!(verdicts["UNSIGNED"], 2, "{summary}");
        assert_eq!(verdicts["ERROR"], 1, "{summary}");
        assert_eq!(summary["files"], 2000);
        assert_eq!(summary["failed"], 6);
        assert_eq!(summary["exit_status"], 1);
        assert_eq!(summary["bytes"], total_bytes);
        assert_eq!(summary["threads"], threads.parse::<u64>().unwrap());
        let altered: BTreeSet<String> = records
            .iter()
            .filter(|r| r["verdict"] == "ALTERED")
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect();
        let expected: BTreeSet<String> = [5usize, 999, 1500]
            .iter()
            .map(|&i| lab.s(&originals[i].0.replacen("in/", "archive/", 1)))
            .collect();
        assert_eq!(altered, expected);
        let error = records.iter().find(|r| r["verdict"] == "ERROR").unwrap();
        assert_eq!(error["path"], truncated.display().to_string());

        // Text: the same files in the same (input) order, then the summary line.
        let text = lab.verify(&["--threads", threads], &[&archive]);
        assert_eq!(text.status.code(), Some(1));
        let stdout = String::from_utf8(text.stdout).unwrap();
        let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 2001, "{stdout}");
        let summary_line = lines.last().unwrap();
        assert!(
            summary_line
                .starts_with("SUMMARY 2000 files: 1994 INTACT, 3 ALTERED, 2 UNSIGNED, 1 ERROR; "),
            "{summary_line}"
        );
        let paths_in_order: Vec<String> = records
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect();
        let text_paths: Vec<String> = lines[..2000]
            .iter()
            .map(|line| {
                let (_, rest) = line.split_once(' ').unwrap();
                rest.split_once(": ").unwrap().0.to_string()
            })
            .collect();
        assert_eq!(text_paths, paths_in_order);
        let files_only = lines[..2000].to_vec();
        match &file_lines {
            None => file_lines = Some(files_only),
            Some(first) => assert_eq!(first, &files_only, "output depends on thread count"),
        }
    }

    // --strict changes nothing here (no MODIFIED), and without the archive's problems it passes.
    let clean = lab.verify(&[], &[&lab.path("archive/0")]);
    assert_eq!(
        clean.status.code(),
        Some(1),
        "archive/0 holds img0700, truncated"
    );
    let clean = lab.verify(&["--json"], &[&lab.path("archive/1")]);
    let (records, summary) = common::verify_records(&clean.stdout);
    assert!(records.iter().all(|r| r["verdict"] == "INTACT"));
    assert_eq!(summary["exit_status"], 0);
    assert_eq!(clean.status.code(), Some(0));
}

fn walk_sizes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            total += walk_sizes(&entry.path());
        } else {
            total += entry.metadata().unwrap().len();
        }
    }
    total
}
