//! End-to-end tests of the ledger through the binary: concurrent writers, a writer killed
//! mid-batch, and `verify --ledger` on a file whose seal was removed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use scanseal_fixtures::{tags, EncodeOptions, Encoding, Fixture, ImageSpec, VR};
use serde_json::Value;

mod common;
use common::{ok, run, scanseal};

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    /// Keys `ct` (acquisition) and `log` (ledger), a trust store with both, an empty ledger.
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        for (name, role) in [("ct", "acquisition"), ("log", "ledger")] {
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
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// `scanseal sign` of `input` with the acquisition key into the ledger, output under `out`.
    fn sign(&self, out: &str, input: &Path) -> Command {
        let mut command = scanseal();
        command.args([
            "sign",
            "--key",
            &self.s("keys/ct.key"),
            "--ledger",
            &self.s("ledger.db"),
            "--out",
            &self.s(out),
            &input.display().to_string(),
        ]);
        command
    }

    /// `verify --json --ledger` of one file under the lab: exit status and its report.
    fn verify_one(&self, name: &str) -> (i32, Value) {
        let output = run(&[
            "verify",
            "--json",
            "--trust",
            &self.s("trust.toml"),
            "--ledger",
            &self.s("ledger.db"),
            &self.s(name),
        ]);
        (
            output.status.code().unwrap(),
            common::verify_records(&output.stdout).0.remove(0),
        )
    }

    /// `count` small distinct images (own SOP Instance UIDs) under `dir`.
    fn series(&self, dir: &str, count: u64, seed: u64) -> PathBuf {
        let dir = self.path(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..count {
            let fixture = Fixture::new(ImageSpec::mono8(8, 8), seed + i);
            let bytes = fixture
                .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
                .unwrap();
            std::fs::write(dir.join(format!("img{i:05}.dcm")), bytes).unwrap();
        }
        dir
    }
}

/// `SEALED src -> dst (key K, ledger entry #N)` lines: destination → sequence number.
fn sealed_entries(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .filter(|line| line.starts_with("SEALED "))
        .map(|line| {
            let (_, rest) = line.split_once(" -> ").unwrap();
            let (destination, tail) = rest.split_once(" (key ").unwrap();
            let seq = tail
                .split_once("ledger entry #")
                .unwrap_or_else(|| panic!("no ledger entry in {line:?}"))
                .1
                .trim_end_matches(')');
            (destination.to_string(), seq.parse().unwrap())
        })
        .collect()
}

fn ledger_verify_json(lab: &Lab, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["ledger", "verify", "--json"];
    args.extend_from_slice(extra);
    let db = lab.s("ledger.db");
    args.push(&db);
    let output = run(&args);
    let code = output.status.code().unwrap();
    let value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (code, value)
}

/// Every file under `dir` verified with the ledger: path → the report.
fn verify_with_ledger(lab: &Lab, dir: &Path) -> Vec<Value> {
    let output = run(&[
        "verify",
        "--json",
        "--trust",
        &lab.s("trust.toml"),
        "--ledger",
        &lab.s("ledger.db"),
        &dir.display().to_string(),
    ]);
    common::verify_records(&output.stdout).0
}

#[test]
fn four_processes_appending_at_once_give_one_consistent_tree() {
    let lab = Lab::new();
    let per_process = 1000;
    let mut children = Vec::new();
    for p in 0..4u64 {
        let input = lab.series(&format!("in{p}"), per_process, 10_000 * (p + 1));
        children.push(
            lab.sign(&format!("out{p}"), &input)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    let mut all = BTreeMap::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stdout = ok(&output);
        let entries = sealed_entries(&stdout);
        assert_eq!(entries.len(), per_process as usize);
        all.extend(entries);
    }
    let seqs: BTreeSet<u64> = all.values().copied().collect();
    assert_eq!(seqs.len(), 4000, "every seal got its own entry");
    assert_eq!(
        seqs,
        (0..4000).collect(),
        "sequence numbers 0..4000 without gaps"
    );

    ok(&run(&[
        "ledger",
        "checkpoint",
        "--key",
        &lab.s("keys/log.key"),
        &lab.s("ledger.db"),
    ]));
    let (code, report) = ledger_verify_json(&lab, &["--trust", &lab.s("trust.toml")]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verdict"], "INTACT");
    assert_eq!(report["size"], 4000);
    assert_eq!(report["checkpoints_verified"], 1);

    // Each output's seal is recorded under the number its writer reported.
    let reports = verify_with_ledger(&lab, &lab.path("out2"));
    assert_eq!(reports.len(), per_process as usize);
    for report in reports {
        let path = report["path"].as_str().unwrap();
        assert_eq!(report["verdict"], "INTACT", "{report}");
        assert_eq!(report["ledger"]["status"], "recorded");
        assert_eq!(report["ledger"]["entry"]["seq"], all[path]);
    }
}

#[test]
fn a_writer_killed_mid_batch_loses_no_reported_entry() {
    let lab = Lab::new();
    let input = lab.series("in", 3000, 1);
    let mut child = lab
        .sign("out", &input)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut reported = String::new();
    let mut lines = 0;
    while lines < 400 {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the writer ended early"
        );
        reported.push_str(&line);
        lines += 1;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Lines already in the pipe were reported too.
    for line in reader.lines() {
        reported.push_str(&line.unwrap());
        reported.push('\n');
    }
    let reported = sealed_entries(&reported);
    assert!(reported.len() >= 400 && reported.len() < 3000);

    let (code, report) = ledger_verify_json(&lab, &[]);
    assert_eq!(code, 0, "{report}");
    let size = report["size"].as_u64().unwrap();
    assert!(
        size >= reported.len() as u64,
        "{size} entries, {} reported",
        reported.len()
    );
    let max_reported = *reported.values().max().unwrap();
    assert!(max_reported < size);

    // Every reported seal is in the ledger under its number, and every file in place is whole.
    let reports = verify_with_ledger(&lab, &lab.path("out"));
    let mut seen = 0;
    for report in &reports {
        let path = report["path"].as_str().unwrap();
        assert_eq!(report["verdict"], "INTACT", "{report}");
        assert_eq!(report["ledger"]["status"], "recorded", "{report}");
        if let Some(seq) = reported.get(path) {
            assert_eq!(report["ledger"]["entry"]["seq"], *seq);
            seen += 1;
        }
    }
    assert_eq!(seen, reported.len(), "every reported file is in place");

    // The ledger takes appends again after the crash.
    let more = lab.series("more", 3, 900_000);
    let output = lab.sign("out-more", &more).output().unwrap();
    let entries = sealed_entries(&ok(&output));
    let seqs: BTreeSet<u64> = entries.values().copied().collect();
    assert_eq!(seqs, (size..size + 3).collect());
    let (code, report) = ledger_verify_json(&lab, &[]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_removed_seal_over_altered_pixels_is_altered_and_over_equal_pixels_is_found() {
    let lab = Lab::new();
    let mut fixture = Fixture::new(ImageSpec::ct(64, 64), 7);
    let original = fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    std::fs::write(lab.path("scan.dcm"), &original).unwrap();
    let stdout = ok(&lab.sign("sealed", &lab.path("scan.dcm")).output().unwrap());
    assert!(stdout.contains("ledger entry #0"), "{stdout}");

    // The original bytes are the sealed file with its seal block removed.
    let check = |name: &str| lab.verify_one(name);
    let (code, report) = check("scan.dcm");
    assert_eq!(code, 1);
    assert_eq!(report["verdict"], "UNSIGNED");
    assert_eq!(report["ledger"]["status"], "pixels-match");
    assert_eq!(report["ledger"]["matched_by"], "instance");
    assert_eq!(report["ledger"]["entry"]["seq"], 0);
    let recorded = report["ledger"]["entry"]["recorded"].as_str().unwrap();
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("no seal; pixels match acquisition entry #0 sealed by ct (")
            && reason.ends_with(&format!(" at {recorded}; header not covered by a seal")),
        "{reason}"
    );

    // A de-identifier replaced the UID: found by the pixels alone.
    let mut renamed = fixture.clone();
    renamed.set_attribute(tags::SOP_INSTANCE_UID, VR::UI, "2.25.4242");
    let renamed = renamed
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    std::fs::write(lab.path("renamed.dcm"), renamed).unwrap();
    let (code, report) = check("renamed.dcm");
    assert_eq!(code, 1);
    assert_eq!(report["verdict"], "UNSIGNED");
    assert_eq!(report["ledger"]["status"], "pixels-match");
    assert_eq!(report["ledger"]["matched_by"], "pixels");
    assert_eq!(report["ledger"]["entry"]["seq"], 0);
    assert_eq!(report["ledger"]["entry"]["kind"], "acquired");
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("no seal; pixels match acquisition entry #0 sealed by ct (")
            && reason.contains(&format!(" at {recorded}; header not covered by a seal ("))
            && reason.contains("SOP Instance UID is not in the ledger"),
        "{reason}"
    );

    let value = fixture.sample(0, 10, 10, 0).unwrap();
    fixture.set_sample(0, 10, 10, 0, value ^ 0x55).unwrap();
    let altered = fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    std::fs::write(lab.path("altered.dcm"), altered).unwrap();
    let (code, report) = check("altered.dcm");
    assert_eq!(code, 1);
    assert_eq!(report["verdict"], "ALTERED", "{report}");
    assert_eq!(report["ledger"]["status"], "pixels-differ");
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("seal removed: ledger entry #0 records this instance as acquired at ")
            && reason.contains(" by ct (")
            && reason.ends_with("and its pixels now differ"),
        "{reason}"
    );

    let (code, report) = check("sealed/scan.dcm");
    assert_eq!(code, 0);
    assert_eq!(report["verdict"], "INTACT");
    assert_eq!(report["ledger"]["status"], "recorded");
    assert!(report["reason"]
        .as_str()
        .unwrap()
        .ends_with("; recorded in the ledger as entry #0"));

    // A sealed file whose seal is not in this ledger says so.
    ok(&run(&[
        "ledger",
        "init",
        "--origin",
        "other.example/ledger",
        &lab.s("other.db"),
    ]));
    let output = run(&[
        "verify",
        "--json",
        "--trust",
        &lab.s("trust.toml"),
        "--ledger",
        &lab.s("other.db"),
        &lab.s("sealed/scan.dcm"),
    ]);
    let report = common::verify_records(&output.stdout).0.remove(0);
    assert_eq!(report["verdict"], "INTACT");
    assert_eq!(report["ledger"]["status"], "not-recorded");
}

/// Someone who can write the database can append rows (here with `sign --ledger` under a key
/// of their own that the trust store does not know, as the thief of a revoked key would), but
/// cannot sign a checkpoint: reports say which entries a trusted checkpoint covers. A seal by
/// a key revoked since is trusted only when the ledger recorded it before the revocation.
#[test]
fn checkpoints_show_which_rows_are_covered_and_the_ledger_bounds_a_revoked_key() {
    let lab = Lab::new();
    let write = |name: &str, seed: u64| {
        let bytes = Fixture::new(ImageSpec::mono8(8, 8), seed)
            .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
            .unwrap();
        std::fs::write(lab.path(name), bytes).unwrap();
        lab.path(name)
    };
    let verify = |name: &str| lab.verify_one(name).1;
    ok(&lab.sign("sealed", &write("a.dcm", 1)).output().unwrap());
    assert_eq!(
        verify("sealed/a.dcm")["ledger"]["entry"]["checkpoint"],
        Value::Null
    );
    ok(&run(&[
        "ledger",
        "checkpoint",
        "--key",
        &lab.s("keys/log.key"),
        &lab.s("ledger.db"),
    ]));
    let report = verify("sealed/a.dcm");
    assert_eq!(report["verdict"], "INTACT");
    assert_eq!(report["ledger"]["entry"]["checkpoint"], 1, "{report}");

    // A row appended after the checkpoint is not covered until the ledger key signs again.
    ok(&lab.sign("sealed", &write("b.dcm", 2)).output().unwrap());
    assert_eq!(
        verify("sealed/b.dcm")["ledger"]["entry"]["checkpoint"],
        Value::Null
    );
    assert_eq!(verify("sealed/a.dcm")["ledger"]["entry"]["checkpoint"], 1);

    // The acquisition key is revoked an hour from now: both seals claim a time before that.
    // `a` was recorded before the revocation; a thief's seal made without the ledger was not.
    let revoked_at = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let revoked_at = revoked_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    ok(&run(&[
        "trust",
        "revoke",
        "--store",
        &lab.s("trust.toml"),
        "--at",
        &revoked_at,
        "ct",
    ]));
    ok(&run(&[
        "sign",
        "--key",
        &lab.s("keys/ct.key"),
        "--out",
        &lab.s("thief"),
        &write("c.dcm", 3).display().to_string(),
    ]));
    let report = verify("sealed/a.dcm");
    assert_eq!(report["verdict"], "INTACT", "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.contains("; ct (seal 1) was revoked at ")
            && reason.ends_with(", before ct's revocation"),
        "{reason}"
    );
    let report = verify("thief/c.dcm");
    assert_eq!(report["verdict"], "UNTRUSTED", "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("seal 1 is signed by ct, revoked at ")
            && reason.contains("but ledger test.scanseal.example/ledger does not record it"),
        "{reason}"
    );
    // Without the ledger the claim cannot be checked, and the reason says so.
    let output = run(&[
        "verify",
        "--trust",
        &lab.s("trust.toml"),
        &lab.s("thief/c.dcm"),
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("INTACT ") && text.contains("only a ledger shows the seal is older"),
        "{text}"
    );
}

#[test]
fn ledger_commands_refuse_bad_input_with_exit_2() {
    let lab = Lab::new();
    std::fs::write(
        lab.path("garbage.db"),
        b"this is not a database at all, not even close......",
    )
    .unwrap();
    for args in [
        vec!["ledger", "verify", &*lab.s("garbage.db")],
        vec!["ledger", "verify", &*lab.s("missing.db")],
        vec!["ledger", "init", &*lab.s("ledger.db")],
        vec!["ledger", "init", "--origin", "has space", &*lab.s("new.db")],
        vec!["ledger", "prove", "--seq", "0", &*lab.s("ledger.db")],
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty());
    }
    assert!(!lab.path("new.db").exists());
    let output = run(&["ledger", "verify", &lab.s("garbage.db")]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a scanseal ledger"));
}
