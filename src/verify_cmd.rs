//! `scanseal verify`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use scanseal_trust::TrustStore;
use scanseal_verify::{verify_file, Report, Verdict, VerifyOptions};

use crate::walk;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The trust store (see `scanseal trust`).
    #[arg(long, value_name = "STORE")]
    trust: PathBuf,
    /// One JSON object per file per line instead of text.
    #[arg(long)]
    json: bool,
    /// Fail (exit 1) on MODIFIED too, not only on ALTERED and worse.
    #[arg(long)]
    strict: bool,
    /// Look for sidecars (FILE.seal) in DIR instead of next to each file.
    #[arg(long, value_name = "DIR")]
    sidecar_dir: Option<PathBuf>,
    /// Also look each file up in this ledger: a sealed file's seal must be recorded; a file
    /// without a seal is matched by SOP Instance UID or pixels (ALTERED if its pixels differ
    /// from what was sealed).
    #[arg(long, value_name = "DB")]
    ledger: Option<PathBuf>,
    /// DICOM files or directories (recursed).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(args: &VerifyArgs) -> Result<ExitCode> {
    let trust = TrustStore::load(&args.trust)
        .with_context(|| format!("cannot use trust store {}", args.trust.display()))?;
    let ledger = match &args.ledger {
        Some(path) => Some(scanseal_ledger::Ledger::open_read_only(path)?),
        None => None,
    };
    let options = VerifyOptions {
        sidecar_dir: args.sidecar_dir.clone(),
        ledger: ledger.as_ref(),
    };
    let mut stdout = std::io::stdout().lock();
    let mut all_pass = true;
    for input in walk::expand(&args.paths) {
        let report = match input {
            Ok(input) => verify_file(&input.path, &trust, &options),
            Err((path, error)) => {
                let mut report = Report::new(&path);
                report.verdict = Verdict::Error;
                report.reason = error;
                report
            }
        };
        all_pass &= report.verdict.passes(args.strict);
        if args.json {
            serde_json::to_writer(&mut stdout, &report)?;
            writeln!(stdout)?;
        } else {
            writeln!(
                stdout,
                "{} {}: {}",
                report.verdict, report.path, report.reason
            )?;
        }
    }
    stdout.flush()?;
    Ok(if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
