//! End-to-end tests of `scanseal deidentify`: what leaves the building (privacy), the seal
//! chain that survives it, and UID replacement across a run (spec/deidentification.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::fs::File;
use std::path::{Path, PathBuf};

use scanseal_fixtures::{tags, EncodeOptions, Encoding, Fixture, Tag, VR};
use scanseal_seal::{read_chain, AttributeAction, Envelope, SealChain};
use serde_json::Value;

mod common;
use common::{ok, run, verify_records};

/// Known PHI, planted in the fixtures: (tag, VR, value).
const PHI: &[(Tag, VR, &str)] = &[
    (tags::PATIENT_NAME, VR::PN, "Doe^Jane^Quincy"),
    (tags::PATIENT_ID, VR::LO, "MRN-98765432"),
    (tags::PATIENT_BIRTH_DATE, VR::DA, "19510712"),
    (tags::STUDY_DATE, VR::DA, "20250301"),
    (tags::SERIES_DATE, VR::DA, "20250302"),
    (tags::ACCESSION_NUMBER, VR::SH, "ACC-55501"),
    (tags::INSTITUTION_NAME, VR::LO, "Saint Elsewhere Hospital"),
    (tags::STATION_NAME, VR::SH, "ELSEWHERE-CT7"),
    (
        Tag(0x0020, 0x4000),
        VR::LT,
        "Jane Doe fell from her horse on Tuesday",
    ),
    (tags::STUDY_DESCRIPTION, VR::LO, "Knee for Quincy"),
];

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    /// Keys `ct` (acquisition), `deid` (deidentification), `log` (ledger), a trust store with
    /// all three, an empty ledger.
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        for (name, role) in [
            ("ct", "acquisition"),
            ("deid", "deidentification"),
            ("log", "ledger"),
        ] {
            ok(&run(&["keygen", "--out", &lab.s("keys"), "--name", name]));
            ok(&run(&[
                "trust",
                "add",
                "--store",
                &lab.s("trust.toml"),
                "--role",
                role,
                "--not-before",
                "2020-01-01",
                &lab.s(&format!("keys/{name}.pub")),
            ]));
        }
        ok(&run(&[
            "ledger",
            "init",
            "--origin",
            "test.scanseal.example/ledger",
            &lab.s("ledger.db"),
        ]));
        std::fs::write(lab.path("uid.secret"), b"0123456789abcdef0123456789abcdef").unwrap();
        set_owner_only(&lab.path("uid.secret"));
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// A study of `count` CT slices with the PHI planted, study UID shared, written under
    /// `dir`, then sealed with the acquisition key into the ledger under `sealed`.
    fn sealed_study(&self, dir: &str, sealed: &str, count: u64) -> Vec<PathBuf> {
        let raw = self.path(dir);
        std::fs::create_dir_all(&raw).unwrap();
        for i in 0..count {
            let mut fixture = Fixture::ct_slice(40 + i);
            for (tag, vr, value) in PHI {
                fixture.set_attribute(*tag, *vr, *value);
            }
            fixture.set_attribute(tags::STUDY_INSTANCE_UID, VR::UI, study_uid());
            fixture.set_attribute(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                "1.2.826.0.1.3680043.10.543.2.77",
            );
            fixture.set_attribute(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                format!("1.2.826.0.1.3680043.10.543.3.{}", 1000 + i),
            );
            let bytes = fixture
                .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
                .unwrap();
            std::fs::write(raw.join(format!("slice{i}.dcm")), bytes).unwrap();
        }
        ok(&run(&[
            "sign",
            "--key",
            &self.s("keys/ct.key"),
            "--ledger",
            &self.s("ledger.db"),
            "--out",
            &self.s(sealed),
            &raw.display().to_string(),
        ]));
        (0..count)
            .map(|i| self.path(sealed).join(format!("slice{i}.dcm")))
            .collect()
    }

    fn deidentify(&self, out: &str, extra: &[&str], inputs: &[&Path]) -> String {
        let mut args = vec![
            "deidentify".to_string(),
            "--key".into(),
            self.s("keys/deid.key"),
            "--out".into(),
            self.s(out),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args.extend(inputs.iter().map(|p| p.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&run(&args))
    }

    fn verify(&self, path: &Path, extra: &[&str]) -> Value {
        let path = path.display().to_string();
        let trust = self.s("trust.toml");
        let mut args = vec!["verify", "--json", "--trust", &trust];
        args.extend_from_slice(extra);
        args.push(&path);
        let output = run(&args);
        let (mut files, _) = verify_records(&output.stdout);
        assert_eq!(files.len(), 1);
        files.remove(0)
    }
}

fn study_uid() -> &'static str {
    "1.2.826.0.1.3680043.10.543.1.42"
}

#[cfg(unix)]
fn set_owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[cfg(not(unix))]
fn set_owner_only(_: &Path) {}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn chain_of(path: &Path) -> SealChain {
    let mut file = File::open(path).unwrap();
    read_chain(&mut file, None).unwrap().unwrap().chain.unwrap()
}

/// The ledger database and its WAL, as bytes.
fn ledger_bytes(lab: &Lab) -> Vec<u8> {
    let mut bytes = std::fs::read(lab.path("ledger.db")).unwrap();
    if let Ok(wal) = std::fs::read(lab.path("ledger.db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

#[test]
fn removed_and_replaced_values_and_their_salts_leave_neither_the_file_nor_the_ledger() {
    let lab = Lab::new();
    let sealed = lab.sealed_study("raw", "sealed", 1);
    let input_bytes = std::fs::read(&sealed[0]).unwrap();
    // The search works: every planted value is in the sealed input.
    for (_, _, value) in PHI {
        assert!(
            contains(&input_bytes, value.as_bytes()),
            "{value} not planted"
        );
    }
    let stdout = lab.deidentify(
        "shared",
        &[
            "--ledger",
            &lab.s("ledger.db"),
            "--uid-secret",
            &lab.s("uid.secret"),
        ],
        &[&sealed[0]],
    );
    assert!(stdout.starts_with("DEIDENTIFIED "), "{stdout}");
    assert!(stdout.contains("ledger entry #1"), "{stdout}");
    let output = lab.path("shared/slice0.dcm");
    let output_bytes = std::fs::read(&output).unwrap();
    let ledger = ledger_bytes(&lab);

    let mut secrets: Vec<(String, Vec<u8>)> = PHI
        .iter()
        .map(|(_, _, v)| (v.to_string(), v.as_bytes().to_vec()))
        .collect();
    for uid in [
        study_uid(),
        "1.2.826.0.1.3680043.10.543.2.77",
        "1.2.826.0.1.3680043.10.543.3.1000",
    ] {
        secrets.push((uid.into(), uid.as_bytes().to_vec()));
    }
    // Every salt of an attribute that was not kept, taken from the input's acquisition seal.
    let before = chain_of(&sealed[0]);
    let after = chain_of(&output);
    assert_eq!(after.seals.len(), 2);
    let deid_manifest = Envelope::parse(&after.seals[1].envelope)
        .unwrap()
        .unverified_manifest()
        .unwrap();
    let account = deid_manifest.deidentification.unwrap();
    let mut kept_salts = 0;
    for (id, salt) in &before.seals[0].salts {
        match account.action(id) {
            Some(AttributeAction::Kept) => {
                // The search works for salts too: a kept attribute's salt is still there.
                assert!(contains(&output_bytes, &salt.0));
                kept_salts += 1;
            }
            Some(_) => secrets.push((format!("salt of {}", hex::encode(id)), salt.0.to_vec())),
            None => panic!("attribute {} has no action", hex::encode(id)),
        }
    }
    assert!(kept_salts > 10, "{kept_salts}");
    for (name, bytes) in &secrets {
        assert!(!contains(&output_bytes, bytes), "{name} is in the output");
        assert!(!contains(&ledger, bytes), "{name} is in the ledger");
    }
    // The acquisition envelope is kept byte for byte; its salts only for kept attributes.
    assert_eq!(after.seals[0].envelope, before.seals[0].envelope);
    assert_eq!(after.seals[0].salts.len(), kept_salts);
}

#[test]
fn the_chain_verifies_intact_and_a_later_change_is_altered() {
    let lab = Lab::new();
    let sealed = lab.sealed_study("raw", "sealed", 1);
    lab.deidentify("shared", &["--ledger", &lab.s("ledger.db")], &[&sealed[0]]);
    let output = lab.path("shared/slice0.dcm");

    let record = lab.verify(&output, &["--ledger", &lab.s("ledger.db")]);
    assert_eq!(record["verdict"], "INTACT", "{record}");
    let reason = record["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("pixels intact since acquisition (sealed by ct at "),
        "{reason}"
    );
    assert!(reason.contains("; de-identified by deid at "), "{reason}");
    assert!(reason.contains(" under the Basic Profile; "), "{reason}");
    let deid = &record["deidentification"];
    let withheld = deid["withheld"].as_array().unwrap();
    let replaced = deid["replaced"].as_array().unwrap();
    assert!(reason.contains(&format!(
        "; {} attributes withheld, {} replaced; no other change",
        withheld.len(),
        replaced.len()
    )));
    assert!(reason.contains("recorded in the ledger"), "{reason}");
    // Withheld by keyword only; replaced with how.
    for keyword in ["ImageComments", "StudyDescription", "PatientAge"] {
        assert!(withheld.iter().any(|w| w == keyword), "{keyword}: {deid}");
    }
    let action_of = |keyword: &str| {
        replaced
            .iter()
            .find(|r| r["attribute"] == keyword)
            .map(|r| r["action"].as_str().unwrap().to_string())
    };
    assert_eq!(action_of("PatientName").as_deref(), Some("emptied"));
    assert_eq!(
        action_of("StudyInstanceUID").as_deref(),
        Some("uid-replaced")
    );
    assert_eq!(action_of("InstitutionName").as_deref(), Some("dummy"));
    assert!(deid["added"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "PatientIdentityRemoved"));
    assert!(deid["kept"].as_u64().unwrap() > 10);
    let chain = record["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0]["action"], "acquired");
    assert_eq!(chain[1]["action"], "deidentified");
    assert_eq!(chain[1]["signer"]["role"], "deidentification");
    assert!(chain.iter().all(|link| link["trust"] == "trusted"));
    assert_eq!(record["ledger"]["status"], "recorded");
    assert_eq!(record["ledger"]["entry"]["kind"], "deidentified");
    // No value in the report.
    let text = record.to_string();
    for (_, _, value) in PHI {
        assert!(!text.contains(value), "{value} in the report");
    }

    // --explain lists the attributes by keyword.
    let explained = ok(&run(&[
        "verify",
        "--explain",
        "--trust",
        &lab.s("trust.toml"),
        &output.display().to_string(),
    ]));
    assert!(explained.contains("    - withheld: "), "{explained}");
    assert!(explained.contains("PatientName (emptied)"), "{explained}");

    // One pixel changed after de-identification.
    let bytes = std::fs::read(&output).unwrap();
    let pixel = bytes
        .windows(8)
        .position(|w| w == [0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0])
        .expect("pixel data element")
        + 12
        + 1000;
    let mut altered = bytes.clone();
    altered[pixel] ^= 0x01;
    std::fs::write(lab.path("pixel.dcm"), &altered).unwrap();
    let record = lab.verify(&lab.path("pixel.dcm"), &[]);
    assert_eq!(record["verdict"], "ALTERED", "{record}");
    let reason = record["reason"].as_str().unwrap();
    assert!(reason.starts_with("pixels changed in frame 1"), "{reason}");
    assert!(reason.contains("de-identified by deid at "), "{reason}");

    // One kept key attribute changed (Pixel Spacing, same length).
    let spacing = b"0.488281\\0.488281";
    let at = bytes
        .windows(spacing.len())
        .position(|w| w == spacing)
        .expect("pixel spacing kept");
    let mut altered = bytes.clone();
    altered[at] = b'1';
    std::fs::write(lab.path("spacing.dcm"), &altered).unwrap();
    let record = lab.verify(&lab.path("spacing.dcm"), &[]);
    assert_eq!(record["verdict"], "ALTERED", "{record}");
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .contains("PixelSpacing (0028,0030) changed"),
        "{record}"
    );
}

#[test]
fn the_deidentification_key_must_be_trusted_for_its_role() {
    let lab = Lab::new();
    let sealed = lab.sealed_study("raw", "sealed", 1);
    // Sign the de-identification with the acquisition key: wrong role.
    let args = [
        "deidentify",
        "--key",
        &lab.s("keys/ct.key"),
        "--out",
        &lab.s("shared"),
        &sealed[0].display().to_string(),
    ];
    ok(&run(&args));
    let record = lab.verify(&lab.path("shared/slice0.dcm"), &[]);
    assert_eq!(record["verdict"], "UNTRUSTED", "{record}");
    assert!(
        record["reason"].as_str().unwrap().contains("seal 2"),
        "{record}"
    );
}

#[test]
fn uids_are_replaced_consistently_in_a_run_and_reproducibly_with_a_secret() {
    let lab = Lab::new();
    let sealed = lab.sealed_study("raw", "sealed", 3);
    let inputs: Vec<&Path> = sealed.iter().map(PathBuf::as_path).collect();
    let secret = ["--uid-secret", &lab.s("uid.secret")];
    lab.deidentify("first", &secret, &inputs);
    lab.deidentify("second", &secret, &inputs);
    lab.deidentify("unkeyed", &[], &inputs);
    let uids = |dir: &str, index: usize| -> (String, String, String) {
        let path = lab.path(dir).join(format!("slice{index}.dcm"));
        let instance = scanseal_canon::DicomInstance::open(&path).unwrap();
        let get = |tag| match &instance.data_set().get(tag).unwrap().value {
            scanseal_canon::ElementValue::Primitive(octets) => String::from_utf8(octets.clone())
                .unwrap()
                .trim_end_matches('\0')
                .to_string(),
            other => panic!("{other:?}"),
        };
        (
            get(tags::STUDY_INSTANCE_UID),
            get(tags::SERIES_INSTANCE_UID),
            get(tags::SOP_INSTANCE_UID),
        )
    };
    let first: Vec<_> = (0..3).map(|i| uids("first", i)).collect();
    // One study and one series in, one study and one series out; instances stay distinct.
    assert!(first.iter().all(|u| u.0 == first[0].0 && u.1 == first[0].1));
    assert_ne!(first[0].2, first[1].2);
    assert_ne!(first[1].2, first[2].2);
    for (study, series, instance) in &first {
        for uid in [study, series, instance] {
            assert!(uid.starts_with("2.25."), "{uid}");
            assert!(uid.len() <= 64);
            assert!(!uid.contains("3680043.10.543"), "{uid}");
        }
    }
    // The same secret reproduces the UIDs; another run without it does not.
    let second: Vec<_> = (0..3).map(|i| uids("second", i)).collect();
    assert_eq!(first, second);
    let unkeyed: Vec<_> = (0..3).map(|i| uids("unkeyed", i)).collect();
    assert_ne!(first[0].0, unkeyed[0].0);
    // Every output verifies, and its File Meta Information names its new SOP Instance UID.
    for (i, (_, _, instance)) in first.iter().enumerate() {
        let path = lab.path("first").join(format!("slice{i}.dcm"));
        assert_eq!(lab.verify(&path, &[])["verdict"], "INTACT");
        let bytes = std::fs::read(&path).unwrap();
        let meta_end = 132 + 12 + u32::from_le_bytes(bytes[140..144].try_into().unwrap()) as usize;
        assert!(contains(&bytes[..meta_end], instance.as_bytes()));
    }
}

#[test]
fn unsealed_altered_and_missing_inputs_are_refused_and_nothing_is_written() {
    let lab = Lab::new();
    let sealed = lab.sealed_study("raw", "sealed", 1);
    let raw = lab.path("raw/slice0.dcm");
    // An input altered after sealing: a value of the same length changed.
    let mut bytes = std::fs::read(&sealed[0]).unwrap();
    let at = bytes.windows(8).position(|w| w == b"19510712").unwrap();
    bytes[at + 7] = b'3';
    std::fs::write(lab.path("altered.dcm"), &bytes).unwrap();
    for (input, expect) in [
        (raw.clone(), "not sealed"),
        (lab.path("altered.dcm"), "does not match its seal"),
        (lab.path("missing.dcm"), "missing.dcm"),
    ] {
        let output = run(&[
            "deidentify",
            "--key",
            &lab.s("keys/deid.key"),
            "--out",
            &lab.s("out"),
            &input.display().to_string(),
        ]);
        assert_eq!(output.status.code(), Some(1), "{input:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with("ERROR "), "{stdout}");
        assert!(stdout.contains(expect), "{expect}: {stdout}");
    }
    assert!(!lab.path("out/slice0.dcm").exists());
    assert!(!lab.path("out/altered.dcm").exists());
    // Bad arguments: exit 2.
    let output = run(&[
        "deidentify",
        "--key",
        &lab.s("keys/deid.key"),
        "--option",
        "retain-everything",
        "--out",
        &lab.s("out"),
        &sealed[0].display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("retain-uids"));
    let output = run(&[
        "deidentify",
        "--key",
        &lab.s("keys/deid.key"),
        &sealed[0].display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn in_place_replaces_the_file_and_options_change_what_is_kept() {
    let lab = Lab::new();
    let sealed = lab.sealed_study("raw", "sealed", 1);
    let stdout = ok(&run(&[
        "deidentify",
        "--key",
        &lab.s("keys/deid.key"),
        "--option",
        "retain-uids",
        "--option",
        "retain-patient-characteristics",
        "--in-place",
        &sealed[0].display().to_string(),
    ]));
    assert!(stdout.starts_with("DEIDENTIFIED "), "{stdout}");
    let record = lab.verify(&sealed[0], &[]);
    assert_eq!(record["verdict"], "INTACT", "{record}");
    let deid = &record["deidentification"];
    assert_eq!(
        deid["options"],
        serde_json::json!(["retain-patient-characteristics", "retain-uids"])
    );
    assert!(record["reason"].as_str().unwrap().contains(
        "under the Basic Profile with options retain-patient-characteristics, retain-uids;"
    ));
    let bytes = std::fs::read(&sealed[0]).unwrap();
    // retain-uids: the study UID stays; patient characteristics: the sex stays.
    assert!(contains(&bytes, study_uid().as_bytes()));
    assert!(!deid["replaced"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["attribute"] == "StudyInstanceUID" || r["attribute"] == "PatientSex"));
    assert!(!contains(&bytes, b"Doe^Jane"));
}
