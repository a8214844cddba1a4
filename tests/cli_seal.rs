//! End-to-end tests of `scanseal sign`, `verify` and `inspect` through the binary, on
//! synthetic files in every encoding the fixture writer knows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Output;

use ciborium::value::Value as Cbor;
use scanseal_fixtures::{tags, EncodeOptions, Encoding, Fixture, Tag, VR};
use serde_json::Value;

mod common;
use common::{ok, run, scanseal};

/// A temporary directory with a modality key, a trust store trusting it, and helpers.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        lab.keygen("ct-01");
        lab.trust("ct-01", &["--not-before", "2020-01-01"]);
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn keygen(&self, name: &str) {
        ok(&run(&["keygen", "--out", &self.s("keys"), "--name", name]));
    }

    fn trust(&self, name: &str, extra: &[&str]) {
        let public = self.s(&format!("keys/{name}.pub"));
        let store = self.s("trust.toml");
        let mut args = vec!["trust", "add", "--store", &store, "--role", "acquisition"];
        args.extend_from_slice(extra);
        args.push(&public);
        ok(&run(&args));
    }

    fn key(&self, name: &str) -> String {
        self.s(&format!("keys/{name}.key"))
    }

    fn write(&self, name: &str, fixture: &Fixture, encoding: Encoding) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(
            &path,
            fixture.encode(encoding, &EncodeOptions::default()).unwrap(),
        )
        .unwrap();
        path
    }

    fn sign(&self, key: &str, extra: &[&str], paths: &[&Path]) -> Output {
        let key = self.key(key);
        let mut command = scanseal();
        command
            .args(["sign", "--key", &key])
            .args(extra)
            .args(paths);
        command.output().unwrap()
    }

    fn verify(&self, paths: &[&Path], extra: &[&str]) -> (Vec<Value>, i32) {
        let output = scanseal()
            .args(["verify", "--json", "--trust", &self.s("trust.toml")])
            .args(extra)
            .args(paths)
            .output()
            .unwrap();
        let (reports, summary) = common::verify_records(&output.stdout);
        let status = output.status.code().unwrap();
        assert_eq!(summary["exit_status"], status, "{summary}");
        (reports, status)
    }

    fn verify_one(&self, path: &Path) -> Value {
        let (mut reports, _) = self.verify(&[path], &[]);
        assert_eq!(reports.len(), 1);
        reports.remove(0)
    }
}

fn verdict(report: &Value) -> &str {
    report["verdict"].as_str().unwrap()
}

fn findings(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["keyword"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn sealed_files_verify_intact_embedded_and_sidecar_in_every_encoding() {
    let lab = Lab::new();
    let fixtures = [
        ("ct", Fixture::ct_slice(3)),
        ("mr", Fixture::mr_multiframe(4, 5)),
        ("rgb", Fixture::rgb(6)),
        ("sr", Fixture::structured_report()),
    ];
    let mut inputs = Vec::new();
    for (name, fixture) in &fixtures {
        for (i, encoding) in Encoding::ALL.iter().enumerate() {
            if fixture.spec().is_none() && *encoding == Encoding::RleLossless {
                continue;
            }
            inputs.push(lab.write(&format!("in/{name}-{i}.dcm"), fixture, *encoding));
        }
    }
    let input_dir = lab.path("in");
    let out_dir = lab.path("out");
    let signed = lab.sign(
        "ct-01",
        &["--out", out_dir.to_str().unwrap(), "--device-id", "CT-7"],
        &[&input_dir],
    );
    let stdout = ok(&signed);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("SEALED ")).count(),
        inputs.len()
    );
    let (reports, status) = lab.verify(&[&out_dir], &[]);
    assert_eq!(status, 0, "{reports:#?}");
    assert_eq!(reports.len(), inputs.len());
    for report in &reports {
        assert_eq!(verdict(report), "INTACT", "{report:#}");
        assert_eq!(report["seal_source"], "embedded");
        assert_eq!(report["signer"]["name"], "ct-01");
        assert!(report["sealed_at"].as_str().unwrap().ends_with('Z'));
        assert!(report["findings"].as_array().unwrap().is_empty());
        assert_eq!(report["chain"][0]["claims_device_id"], "CT-7");
    }
    // Sealing changed nothing but the inserted block: every original byte is still there,
    // in order (for the non-deflated encodings the original is a subsequence).
    let original = std::fs::read(&inputs[0]).unwrap();
    let sealed = std::fs::read(out_dir.join(inputs[0].file_name().unwrap())).unwrap();
    assert!(sealed.len() > original.len());
    assert_eq!(
        &sealed[..original.len()],
        &original[..],
        "sealing must be an append here"
    );

    // Sidecars leave the files untouched.
    let before: Vec<Vec<u8>> = inputs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    ok(&lab.sign("ct-01", &["--sidecar"], &[&input_dir]));
    for (path, bytes) in inputs.iter().zip(&before) {
        assert_eq!(&std::fs::read(path).unwrap(), bytes);
        assert!(scanseal_seal::sidecar_path(path, None).exists());
    }
    let (reports, status) = lab.verify(&[&input_dir], &[]);
    assert_eq!(status, 0);
    assert_eq!(
        reports.len(),
        inputs.len(),
        "sidecars are not verified as files"
    );
    for report in &reports {
        assert_eq!(verdict(report), "INTACT", "{report:#}");
        assert_eq!(report["seal_source"], "sidecar");
    }
}

/// Seals `fixture` into a sidecar, then replaces the file by `altered` (keeping the sidecar),
/// and returns the verification report.
fn seal_then_alter(
    lab: &Lab,
    name: &str,
    fixture: &Fixture,
    altered: &Fixture,
    tile: &str,
) -> Value {
    let path = lab.write(name, fixture, Encoding::ExplicitVrLittleEndian);
    ok(&lab.sign("ct-01", &["--sidecar", "--tile-size", tile], &[&path]));
    assert_eq!(verdict(&lab.verify_one(&path)), "INTACT");
    lab.write(name, altered, Encoding::ImplicitVrLittleEndian);
    lab.verify_one(&path)
}

#[test]
fn each_alteration_gives_altered_with_the_right_finding() {
    let lab = Lab::new();
    let mut original = Fixture::ct_slice(11);
    original.remove_attribute(tags::IMAGE_COMMENTS);

    // One pixel.
    let mut altered = original.clone();
    let value = altered.sample(0, 40, 30, 0).unwrap();
    altered.set_sample(0, 40, 30, 0, value ^ 1).unwrap();
    let report = seal_then_alter(&lab, "pixel.dcm", &original, &altered, "16");
    assert_eq!(verdict(&report), "ALTERED", "{report:#}");
    let frames = report["findings"][0]["frames"].as_array().unwrap();
    assert_eq!(report["findings"][0]["kind"], "pixels_changed");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["frame"], 1);
    assert_eq!(
        frames[0]["tiles"],
        serde_json::json!([{"x": 32, "y": 16, "width": 16, "height": 16}])
    );
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);

    // A 20x20 region at (10,10): tiles of 16 → the four tiles it touches.
    let mut altered = original.clone();
    for y in 10..30 {
        for x in 10..30 {
            altered.set_sample(0, x, y, 0, 1234).unwrap();
        }
    }
    let report = seal_then_alter(&lab, "region.dcm", &original, &altered, "16");
    assert_eq!(verdict(&report), "ALTERED");
    let tiles: Vec<(u64, u64)> = report["findings"][0]["frames"][0]["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["x"].as_u64().unwrap(), t["y"].as_u64().unwrap()))
        .collect();
    assert_eq!(tiles, vec![(0, 0), (16, 0), (0, 16), (16, 16)]);

    type Edit = Box<dyn Fn(&mut Fixture)>;
    let cases: Vec<(&str, Edit, &str, &str)> = vec![
        (
            "name.dcm",
            Box::new(|f| f.set_attribute(tags::PATIENT_NAME, VR::PN, "Other^Person")),
            "attribute_changed",
            "PatientName",
        ),
        (
            "comments.dcm",
            Box::new(|f| f.set_attribute(tags::IMAGE_COMMENTS, VR::LT, "no finding")),
            "attribute_added",
            "ImageComments",
        ),
        (
            "date.dcm",
            Box::new(|f| {
                f.remove_attribute(tags::STUDY_DATE);
            }),
            "attribute_removed",
            "StudyDate",
        ),
        (
            "orientation.dcm",
            Box::new(|f| {
                f.set_attribute(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "0\\1\\0\\0\\0\\-1")
            }),
            "attribute_changed",
            "ImageOrientationPatient",
        ),
    ];
    for (name, change, kind, keyword) in cases {
        let mut altered = original.clone();
        change(&mut altered);
        let report = seal_then_alter(&lab, name, &original, &altered, "64");
        assert_eq!(verdict(&report), "ALTERED", "{name}: {report:#}");
        assert_eq!(
            findings(&report),
            vec![(kind.to_string(), keyword.to_string())],
            "{name}"
        );
        assert_eq!(report["findings"][0]["key"], true);
        assert!(report["reason"].as_str().unwrap().contains(keyword));
    }

    // Non-key attributes → MODIFIED, naming them; exit 0, or 1 with --strict.
    let mut altered = original.clone();
    altered.set_attribute(Tag(0x0008, 0x2111), VR::ST, "Lossless transcoding");
    altered.set_attribute(tags::WINDOW_CENTER, VR::DS, "50");
    let report = seal_then_alter(&lab, "modified.dcm", &original, &altered, "64");
    assert_eq!(verdict(&report), "MODIFIED", "{report:#}");
    let mut found = findings(&report);
    found.sort();
    assert_eq!(
        found,
        vec![
            (
                "attribute_added".to_string(),
                "DerivationDescription".to_string()
            ),
            ("attribute_changed".to_string(), "WindowCenter".to_string()),
        ]
    );
    let path = lab.path("modified.dcm");
    assert_eq!(lab.verify(&[&path], &[]).1, 0);
    assert_eq!(lab.verify(&[&path], &["--strict"]).1, 1);
}

#[test]
fn embedded_pixel_edit_in_a_sealed_file_is_altered() {
    let lab = Lab::new();
    let input = lab.write(
        "mr.dcm",
        &Fixture::mr_multiframe(3, 2),
        Encoding::ExplicitVrLittleEndian,
    );
    let original_len = std::fs::metadata(&input).unwrap().len() as usize;
    let out = lab.path("out");
    ok(&lab.sign("ct-01", &["--out", out.to_str().unwrap()], &[&input]));
    let sealed_path = out.join("mr.dcm");
    let mut bytes = std::fs::read(&sealed_path).unwrap();
    // The pixel data ends where the original file ended: change the last sample's low byte
    // (last frame, bottom-right tile).
    bytes[original_len - 2] ^= 0x01;
    std::fs::write(&sealed_path, &bytes).unwrap();
    let report = lab.verify_one(&sealed_path);
    assert_eq!(verdict(&report), "ALTERED", "{report:#}");
    let frames = report["findings"][0]["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["frame"], 3);
    assert_eq!(frames[0]["tiles"].as_array().unwrap().len(), 1);
}

#[test]
fn copied_and_damaged_seals_never_verify() {
    let lab = Lab::new();
    let a = lab.write(
        "a.dcm",
        &Fixture::ct_slice(1),
        Encoding::ExplicitVrLittleEndian,
    );
    let b = lab.write(
        "b.dcm",
        &Fixture::ct_slice(2),
        Encoding::ExplicitVrLittleEndian,
    );
    ok(&lab.sign("ct-01", &["--sidecar"], &[&a]));
    let sidecar = scanseal_seal::sidecar_path(&a, None);
    let chain_bytes = std::fs::read(&sidecar).unwrap();

    // A seal copied onto another file.
    std::fs::write(scanseal_seal::sidecar_path(&b, None), &chain_bytes).unwrap();
    let report = lab.verify_one(&b);
    assert_eq!(verdict(&report), "ALTERED", "{report:#}");

    let with_chain = |bytes: &[u8]| {
        std::fs::write(&sidecar, bytes).unwrap();
        lab.verify_one(&a)
    };
    // Flipped signature bit: the last byte of the envelope is the signature's.
    let mut chain: Cbor = ciborium::de::from_reader(&chain_bytes[..]).unwrap();
    let envelope = envelope_mut(&mut chain);
    let last = envelope.len() - 1;
    envelope[last] ^= 0x01;
    let report = with_chain(&encode(&chain));
    assert_eq!(verdict(&report), "INVALID", "{report:#}");
    assert!(report["reason"]
        .as_str()
        .unwrap()
        .contains("does not verify"));

    // Truncated seal.
    let report = with_chain(&chain_bytes[..chain_bytes.len() - 7]);
    assert_eq!(verdict(&report), "INVALID");

    // Wrong alg: ES256 (-7 = 0x26) instead of EdDSA (-8 = 0x27) in the protected header.
    let mut chain: Cbor = ciborium::de::from_reader(&chain_bytes[..]).unwrap();
    let envelope = envelope_mut(&mut chain);
    let at = envelope
        .windows(3)
        .position(|w| w == [0xa2, 0x01, 0x27])
        .unwrap();
    envelope[at + 2] = 0x26;
    let report = with_chain(&encode(&chain));
    assert_eq!(verdict(&report), "INVALID");
    assert!(
        report["reason"].as_str().unwrap().contains("algorithm"),
        "{report:#}"
    );

    // Garbage.
    assert_eq!(verdict(&with_chain(b"not cbor at all")), "INVALID");
    // Back to the real seal: intact again (the tests above did not touch the file).
    assert_eq!(verdict(&with_chain(&chain_bytes)), "INTACT");
}

fn envelope_mut(chain: &mut Cbor) -> &mut Vec<u8> {
    let Cbor::Map(entries) = chain else { panic!() };
    let seals = entries
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some("seals"))
        .unwrap();
    let Cbor::Array(records) = &mut seals.1 else {
        panic!()
    };
    let Cbor::Map(record) = &mut records[0] else {
        panic!()
    };
    let envelope = record
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some("envelope"))
        .unwrap();
    let Cbor::Bytes(bytes) = &mut envelope.1 else {
        panic!()
    };
    bytes
}

fn encode(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

#[test]
fn untrusted_keys_unknown_revoked_and_outside_their_window() {
    let lab = Lab::new();
    lab.keygen("stranger");
    lab.keygen("revoked");
    lab.trust("revoked", &[]);
    lab.keygen("future");
    lab.trust("future", &["--not-before", "2999-01-01"]);
    lab.keygen("expired");
    lab.trust(
        "expired",
        &["--not-before", "2000-01-01", "--not-after", "2001-01-01"],
    );
    ok(&run(&[
        "trust",
        "revoke",
        "--store",
        &lab.s("trust.toml"),
        "--at",
        "2001-01-01",
        "revoked",
    ]));

    for (key, expected) in [
        ("stranger", "not in the trust store"),
        ("revoked", "revoked"),
        ("future", "not valid before"),
        ("expired", "expired"),
    ] {
        let path = lab.write(
            &format!("{key}.dcm"),
            &Fixture::ct_slice(9),
            Encoding::ExplicitVrLittleEndian,
        );
        ok(&lab.sign(key, &["--in-place"], &[&path]));
        let (reports, status) = lab.verify(&[&path], &[]);
        assert_eq!(status, 1);
        assert_eq!(verdict(&reports[0]), "UNTRUSTED", "{key}: {:#}", reports[0]);
        assert!(
            reports[0]["reason"].as_str().unwrap().contains(expected),
            "{key}: {:#}",
            reports[0]
        );
    }
}

#[test]
fn sealing_twice_is_refused_unless_appending_and_chains_verify() {
    let lab = Lab::new();
    lab.keygen("ct-02");
    lab.trust("ct-02", &[]);
    let path = lab.write(
        "a.dcm",
        &Fixture::ct_slice(4),
        Encoding::ExplicitVrBigEndian,
    );
    ok(&lab.sign("ct-01", &["--in-place"], &[&path]));
    let sealed_once = std::fs::read(&path).unwrap();
    let again = lab.sign("ct-01", &["--in-place"], &[&path]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already sealed"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        sealed_once,
        "a refused seal writes nothing"
    );

    ok(&lab.sign("ct-02", &["--in-place", "--append"], &[&path]));
    let report = lab.verify_one(&path);
    assert_eq!(verdict(&report), "INTACT", "{report:#}");
    assert_eq!(report["chain"].as_array().unwrap().len(), 2);
    assert_eq!(report["chain"][1]["action"], "countersigned");
    assert_eq!(report["signer"]["name"], "ct-02");

    let shown = ok(&run(&[
        "inspect",
        "--trust",
        &lab.s("trust.toml"),
        path.to_str().unwrap(),
    ]));
    assert!(shown.contains("2 seals in embedded block"), "{shown}");
    assert!(shown.contains("seal 2: countersigned"));
    assert!(shown.contains("valid, by ct-02"));

    // --out never overwrites.
    let out = lab.path("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("b.dcm"), b"keep me").unwrap();
    let other = lab.write(
        "b.dcm",
        &Fixture::ct_slice(5),
        Encoding::ExplicitVrLittleEndian,
    );
    let refused = lab.sign("ct-01", &["--out", out.to_str().unwrap()], &[&other]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(std::fs::read(out.join("b.dcm")).unwrap(), b"keep me");
    assert!(
        std::fs::read_dir(&out).unwrap().count() == 1,
        "no temporary file left behind"
    );
}

#[test]
fn exit_statuses_and_unsigned_and_error_verdicts() {
    let lab = Lab::new();
    let unsigned = lab.write(
        "u.dcm",
        &Fixture::ct_slice(1),
        Encoding::ExplicitVrLittleEndian,
    );
    let garbage = lab.path("g.dcm");
    std::fs::write(&garbage, b"this is not DICOM").unwrap();
    let (reports, status) = lab.verify(&[&unsigned, &garbage], &[]);
    assert_eq!(status, 1);
    assert_eq!(verdict(&reports[0]), "UNSIGNED");
    assert_eq!(verdict(&reports[1]), "ERROR");

    // The command cannot run: exit 2.
    let missing_store = run(&[
        "verify",
        "--trust",
        &lab.s("nope.toml"),
        unsigned.to_str().unwrap(),
    ]);
    assert_eq!(missing_store.status.code(), Some(2));
    let no_destination = lab.sign("ct-01", &[], &[&unsigned]);
    assert_eq!(no_destination.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_destination.stderr).contains("--out"));

    // Text mode: one line per file, verdict first.
    let text = run(&[
        "verify",
        "--trust",
        &lab.s("trust.toml"),
        unsigned.to_str().unwrap(),
    ]);
    let line = String::from_utf8(text.stdout).unwrap();
    assert!(line.starts_with("UNSIGNED "), "{line}");
    assert_eq!(line.lines().count(), 1);
}

#[cfg(unix)]
#[test]
fn group_readable_private_keys_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new();
    let key = lab.path("keys/ct-01.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = lab.write(
        "a.dcm",
        &Fixture::ct_slice(1),
        Encoding::ExplicitVrLittleEndian,
    );
    let output = lab.sign("ct-01", &["--in-place"], &[&path]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("chmod 600"));
}

#[test]
fn seal_blocks_with_smuggled_elements_or_twice_are_invalid() {
    let lab = Lab::new();
    let fixture = Fixture::ct_slice(8);
    let path = lab.write("a.dcm", &fixture, Encoding::ExplicitVrLittleEndian);
    ok(&lab.sign("ct-01", &["--sidecar"], &[&path]));
    let sidecar = scanseal_seal::sidecar_path(&path, None);
    let mut chain = std::fs::read(&sidecar).unwrap();
    std::fs::remove_file(&sidecar).unwrap();
    if chain.len() % 2 == 1 {
        chain.push(0);
    }
    let with_blocks = |name: &str, edit: &dyn Fn(&mut Fixture)| {
        let mut sealed = fixture.clone();
        sealed
            .add_private(0x7FF1, "SCANSEAL 1", 0x01, VR::OB, chain.clone())
            .unwrap();
        edit(&mut sealed);
        let path = lab.write(name, &sealed, Encoding::ExplicitVrLittleEndian);
        lab.verify_one(&path)
    };
    // Control: the block built by hand verifies.
    assert_eq!(verdict(&with_blocks("control.dcm", &|_| {})), "INTACT");
    // An element smuggled into the seal block (the canonical form skips the block).
    let report = with_blocks("smuggled.dcm", &|f| {
        f.add_private(0x7FF1, "SCANSEAL 1", 0x02, VR::LO, "smuggled")
            .unwrap();
    });
    assert_eq!(verdict(&report), "INVALID", "{report:#}");
    assert!(report["reason"].as_str().unwrap().contains("other element"));
    // Two seal blocks.
    let report = with_blocks("twice.dcm", &|f| {
        f.add_private(0x7FF3, "SCANSEAL 1", 0x01, VR::OB, chain.clone())
            .unwrap();
    });
    assert_eq!(verdict(&report), "INVALID", "{report:#}");
}

/// Puts a `SCANSEAL 1` block (creator and one OB element holding `chain`) into the second
/// item of Referenced Image Sequence.
fn with_block_in_item(fixture: &Fixture, chain: &[u8]) -> Fixture {
    let mut edited = fixture.clone();
    let sequence = edited.get_mut(tags::REFERENCED_IMAGE_SEQUENCE).unwrap();
    let scanseal_fixtures::Value::Sequence(items) = &mut sequence.value else {
        panic!("Referenced Image Sequence is not a sequence");
    };
    items[1].push(scanseal_fixtures::Element::text(
        Tag(0x7FF1, 0x0010),
        VR::LO,
        "SCANSEAL 1",
    ));
    items[1].push(scanseal_fixtures::Element::new(
        Tag(0x7FF1, 0x1001),
        VR::OB,
        chain.to_vec(),
    ));
    edited
}

#[test]
fn a_seal_block_hidden_in_an_item_is_reported_and_never_sealed() {
    let lab = Lab::new();
    let fixture = Fixture::ct_slice(9);
    let path = lab.write("a.dcm", &fixture, Encoding::ExplicitVrLittleEndian);
    ok(&lab.sign("ct-01", &["--sidecar"], &[&path]));
    let chain = std::fs::read(scanseal_seal::sidecar_path(&path, None)).unwrap();
    assert_eq!(verdict(&lab.verify_one(&path)), "INTACT");

    // Data hidden after sealing in a block inside an item: outside every seal, so reported.
    lab.write(
        "a.dcm",
        &with_block_in_item(&fixture, b"hidden payload"),
        Encoding::ExplicitVrLittleEndian,
    );
    let report = lab.verify_one(&path);
    assert_eq!(verdict(&report), "MODIFIED", "{report:#}");
    assert_eq!(
        findings(&report),
        [(
            "seal_block_in_item".to_string(),
            "ReferencedImageSequence".to_string()
        )]
    );
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.contains("an item of ReferencedImageSequence (0008,1140) holds a seal block"),
        "{reason}"
    );

    // A real chain moved into an item is not a seal either: the file with only that block
    // is unsigned, and a file holding one is refused by sign, which writes nothing.
    let moved = lab.write(
        "moved.dcm",
        &with_block_in_item(&fixture, &chain),
        Encoding::ExplicitVrLittleEndian,
    );
    assert_eq!(verdict(&lab.verify_one(&moved)), "UNSIGNED");
    let output = lab.sign("ct-01", &["--out", &lab.s("out")], &[&moved]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("an item of ReferencedImageSequence (0008,1140) holds a SCANSEAL 1 block"),
        "{text}"
    );
    assert!(!lab.path("out/moved.dcm").exists());
}

#[test]
fn a_sidecar_is_refused_for_a_file_with_an_embedded_seal() {
    let lab = Lab::new();
    let path = lab.write(
        "a.dcm",
        &Fixture::ct_slice(2),
        Encoding::ExplicitVrLittleEndian,
    );
    ok(&lab.sign("ct-01", &["--in-place"], &[&path]));
    for extra in [&["--sidecar"][..], &["--sidecar", "--append"][..]] {
        let output = lab.sign("ct-01", extra, &[&path]);
        assert_eq!(output.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&output.stdout).contains("embedded seal"));
        assert!(!scanseal_seal::sidecar_path(&path, None).exists());
    }
}

#[test]
fn signing_on_several_threads_reports_in_input_order_and_seals_each_file_once() {
    let lab = Lab::new();
    // More files than one batch of two threads, one of them not DICOM.
    let mut names = Vec::new();
    for i in 0..40u64 {
        let name = format!("series/{i:03}.dcm");
        if i == 17 {
            std::fs::write(lab.path(&name), b"not DICOM at all").unwrap();
        } else {
            lab.write(
                &name,
                &Fixture::ct_slice(i),
                Encoding::ExplicitVrLittleEndian,
            );
        }
        names.push(name);
    }
    let series = lab.path("series");
    let first = lab.path("series/000.dcm");
    let out = lab.s("out");
    // The directory, then one of its files again: that one is sealed once.
    let output = lab.sign(
        "ct-01",
        &["--threads", "2", "--out", &out],
        &[&series, &first],
    );
    assert_eq!(output.status.code(), Some(1), "one file is not DICOM");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 41, "{stdout}");
    for (i, line) in lines.iter().take(40).enumerate() {
        let input = format!("series/{i:03}.dcm");
        assert!(
            line.contains(&input),
            "line {i} is not about {input}: {line}"
        );
        let expected = if i == 17 { "ERROR " } else { "SEALED " };
        assert!(line.starts_with(expected), "{line}");
    }
    assert!(
        lines[40].starts_with("ERROR ") && lines[40].contains("given more than once"),
        "{}",
        lines[40]
    );
    let (reports, status) = lab.verify(&[&lab.path("out")], &[]);
    assert_eq!(status, 0);
    assert_eq!(reports.len(), 39);
    assert!(reports.iter().all(|r| verdict(r) == "INTACT"));
    // Nothing is left behind: no temporary file, no output for the file that failed.
    let left: Vec<_> = std::fs::read_dir(lab.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".dcm") || name == "017.dcm")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
