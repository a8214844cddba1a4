//! `spec/threat-model.md` promises that each claim names the test that shows it. This checks
//! that every test it names exists, so a renamed or deleted test cannot leave a claim without
//! its evidence.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

/// Where a reference `file::function` (or a bare `file`) points, and how a test is declared
/// there.
fn resolve(root: &Path, file: &str) -> (PathBuf, &'static str) {
    if let Some(rest) = file.strip_prefix("interop/") {
        (root.join("tests/interop").join(rest), "def ")
    } else if file.starts_with("crates/") {
        (root.join(file), "fn ")
    } else {
        (root.join("tests").join(format!("{file}.rs")), "fn ")
    }
}

#[test]
fn every_test_the_threat_model_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("spec/threat-model.md")).unwrap();
    let mut checked = 0;
    let mut missing = Vec::new();
    for (index, span) in text.split('`').enumerate() {
        // Odd pieces are inside backticks.
        if index % 2 == 0 {
            continue;
        }
        let (file, function) = match span.split_once("::") {
            Some((file, function)) => (file, Some(function)),
            None => (span, None),
        };
        let is_test_file = file.starts_with("cli_")
            || file.starts_with("interop/test_")
            || (file.starts_with("crates/") && (file.ends_with(".rs") || file.ends_with(".py")));
        if !is_test_file {
            continue;
        }
        let (path, declaration) = resolve(root, file);
        let Ok(source) = std::fs::read_to_string(&path) else {
            missing.push(format!("{span}: no file {}", path.display()));
            continue;
        };
        if let Some(function) = function {
            let declared = format!("{declaration}{function}(");
            if !source.contains(&declared) {
                missing.push(format!("{span}: no `{declared}` in {}", path.display()));
            }
        }
        checked += 1;
    }
    assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
    assert!(checked >= 40, "only {checked} test references found");
}
