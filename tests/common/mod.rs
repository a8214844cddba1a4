//! Shared by the end-to-end tests: reading `scanseal verify --json` output under its contract
//! (spec/report.md §3).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use serde_json::Value;

/// The `scanseal` binary under test.
pub fn scanseal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scanseal"))
}

/// Runs `scanseal ARGS...` to completion.
pub fn run(args: &[&str]) -> Output {
    scanseal().args(args).output().unwrap()
}

/// The stdout of a run that must have succeeded (otherwise the test fails showing both
/// streams).
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

const VERDICTS: [&str; 7] = [
    "INTACT",
    "MODIFIED",
    "ALTERED",
    "UNSIGNED",
    "UNTRUSTED",
    "INVALID",
    "ERROR",
];

/// Splits `verify --json` output into its file records and its summary record, checking the
/// contract on the way: every line a `scanseal-report-v1` record, file records first, exactly
/// one summary last, and the summary's counts equal to what the file records say.
pub fn verify_records(stdout: &[u8]) -> (Vec<Value>, Value) {
    let text = String::from_utf8(stdout.to_vec()).unwrap();
    let mut records: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for record in &records {
        assert_eq!(record["schema"], "scanseal-report-v1", "{record}");
    }
    let summary = records.pop().unwrap_or_else(|| panic!("no output at all"));
    assert_eq!(
        summary["type"], "summary",
        "the last record must be the summary"
    );
    for record in &records {
        assert_eq!(record["type"], "file", "{record}");
    }
    assert_eq!(summary["files"], records.len() as u64, "{summary}");
    let mut failed = 0;
    for verdict in VERDICTS {
        let count = records.iter().filter(|r| r["verdict"] == verdict).count() as u64;
        assert_eq!(summary["verdicts"][verdict], count, "{verdict}: {summary}");
        let passes = verdict == "INTACT" || (verdict == "MODIFIED" && summary["strict"] == false);
        if !passes {
            failed += count;
        }
    }
    assert_eq!(summary["failed"], failed, "{summary}");
    assert_eq!(summary["exit_status"], u64::from(failed > 0), "{summary}");
    (records, summary)
}
