//! End-to-end tests of `scanseal digest` on synthetic files in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use scanseal_fixtures::{EncodeOptions, Encoding, Fixture};
use serde_json::Value;

const SEED: &str = "00112233445566778899aabbccddeeff";

fn scanseal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scanseal"))
}

fn write(dir: &Path, name: &str, fixture: &Fixture, encoding: Encoding) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        fixture.encode(encoding, &EncodeOptions::default()).unwrap(),
    )
    .unwrap();
    path
}

fn digest_json(paths: &[PathBuf]) -> (Vec<Value>, i32) {
    let output = scanseal()
        .args(["digest", "--json", "--salt-seed", SEED])
        .args(paths)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, output.status.code().unwrap_or(-1))
}

#[test]
fn json_is_the_same_for_every_encoding_and_has_the_contract_keys() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::mr_multiframe(3, 21);
    let paths: Vec<PathBuf> = Encoding::ALL
        .iter()
        .enumerate()
        .map(|(i, &e)| write(dir.path(), &format!("mr-{i}.dcm"), &fixture, e))
        .collect();
    let (reports, status) = digest_json(&paths);
    assert_eq!(status, 0);
    assert_eq!(reports.len(), paths.len());
    for key in [
        "path",
        "pixel_digest",
        "pixel_mode",
        "frames",
        "tiles",
        "attributes",
    ] {
        assert!(reports[0].get(key).is_some(), "missing key {key}");
    }
    assert_eq!(reports[0]["pixel_mode"], "decoded-samples");
    assert_eq!(reports[0]["frames"], 3);
    assert_eq!(reports[0]["pixel_digest"].as_str().unwrap().len(), 64);
    for report in &reports[1..] {
        assert_eq!(
            report["pixel_digest"], reports[0]["pixel_digest"],
            "{}",
            report["path"]
        );
        assert_eq!(report["frame_digests"], reports[0]["frame_digests"]);
        // The written VR may differ (implicit VR reads private elements as UN); identity,
        // canonical length and commitment may not.
        assert_eq!(
            projection(report),
            projection(&reports[0]),
            "{}",
            report["path"]
        );
    }
    let attribute = &reports[0]["attributes"][0];
    for key in [
        "id",
        "tag",
        "keyword",
        "vr",
        "canonical_length",
        "commitment",
    ] {
        assert!(attribute.get(key).is_some(), "attribute lacks {key}");
    }
}

fn projection(report: &Value) -> Vec<(String, u64, String)> {
    report["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["canonical_length"].as_u64().unwrap(),
                a["commitment"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn one_pixel_changed_prints_a_different_digest() {
    let dir = tempfile::tempdir().unwrap();
    let mut fixture = Fixture::ct_slice(22);
    let a = write(
        dir.path(),
        "a.dcm",
        &fixture,
        Encoding::ExplicitVrLittleEndian,
    );
    let old = fixture.sample(0, 10, 10, 0).unwrap();
    fixture.set_sample(0, 10, 10, 0, old ^ 1).unwrap();
    let b = write(dir.path(), "b.dcm", &fixture, Encoding::RleLossless);
    let (reports, status) = digest_json(&[a, b]);
    assert_eq!(status, 0);
    assert_ne!(reports[0]["pixel_digest"], reports[1]["pixel_digest"]);
    assert_eq!(projection(&reports[0]), projection(&reports[1]));
}

#[test]
fn unreadable_file_is_an_error_line_and_exit_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.dcm",
        &Fixture::ct_slice(23),
        Encoding::ExplicitVrLittleEndian,
    );
    let bad = dir.path().join("bad.dcm");
    std::fs::write(&bad, b"not dicom").unwrap();
    let missing = dir.path().join("missing.dcm");
    let (reports, status) = digest_json(&[bad.clone(), good, missing]);
    assert_eq!(status, 2);
    assert_eq!(reports.len(), 3, "every file gets a line");
    assert_eq!(reports[0]["error_kind"], "NotDicom");
    assert!(reports[0]["error"].as_str().unwrap().contains("DICM"));
    assert!(reports[1].get("error").is_none());
    assert_eq!(reports[2]["error_kind"], "Io");
}

#[test]
fn structured_report_has_no_pixel_digest() {
    let dir = tempfile::tempdir().unwrap();
    let sr = write(
        dir.path(),
        "sr.dcm",
        &Fixture::structured_report(),
        Encoding::ImplicitVrLittleEndian,
    );
    let (reports, status) = digest_json(&[sr]);
    assert_eq!(status, 0);
    assert_eq!(reports[0]["pixel_mode"], "none");
    assert!(reports[0]["pixel_digest"].is_null());
    assert_eq!(reports[0]["tiles"], 0);
}

#[test]
fn text_output_names_digest_mode_and_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "ct.dcm",
        &Fixture::ct_slice(24),
        Encoding::ExplicitVrBigEndian,
    );
    let output = scanseal().arg("digest").arg(&path).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("pixel digest"));
    assert!(text.contains("decoded-samples"));
    assert!(text.contains("PatientName"));
    assert!(text.contains("(0009,\"ACME 1.0\",01)"));
}

#[test]
fn bad_salt_seed_is_refused_with_a_message() {
    let output = scanseal()
        .args(["digest", "--salt-seed", "zz", "x.dcm"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--salt-seed"));
}

/// `examples/ct-slice.dcm` is what the fixture builder makes; regenerate it with
/// `SCANSEAL_REGENERATE_EXAMPLES=1 cargo test --test cli_digest`.
#[test]
fn example_file_is_reproducible() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/ct-slice.dcm");
    let bytes = Fixture::ct_slice(2026)
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    if std::env::var_os("SCANSEAL_REGENERATE_EXAMPLES").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "examples/ct-slice.dcm is stale"
    );
}
