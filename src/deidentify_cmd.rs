//! `scanseal deidentify`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use scanseal_deid::{deidentify_file, Deidentifier, Profile, ProfileOption, Secret};
use scanseal_keys::SigningKey;
use scanseal_ledger::Ledger;
use scanseal_seal::SealOptions;

use crate::sign_cmd::{record_in_ledger, unwritten_note};
use crate::walk;

#[derive(clap::Args)]
pub struct DeidentifyArgs {
    /// The de-identification service's signing key (PKCS#8 PEM, readable only by its owner);
    /// verifiers trust it for the role `deidentification`.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// A PS3.15 Table E.1-1 option on top of the Basic Profile (repeatable): retain-uids,
    /// retain-device-identity, retain-institution-identity, retain-patient-characteristics,
    /// retain-longitudinal-full-dates, retain-longitudinal-modified-dates, clean-descriptors,
    /// clean-structured-content, clean-graphics, retain-safe-private.
    #[arg(long = "option", value_name = "NAME")]
    options: Vec<String>,
    /// Write de-identified files under DIR, mirroring directory arguments.
    #[arg(long, value_name = "DIR", conflicts_with = "in_place")]
    out: Option<PathBuf>,
    /// Replace each file by its de-identified version (atomically); a sidecar seal it had is
    /// removed, since it holds the salts of the identified values.
    #[arg(long)]
    in_place: bool,
    /// A file holding the secret (at least 16 bytes, readable only by its owner) from which
    /// replacement UIDs and date shifts are derived, so another run with the same secret
    /// gives the same UIDs. Without it, a secret is drawn for this run only.
    #[arg(long, value_name = "FILE")]
    uid_secret: Option<PathBuf>,
    /// Record each de-identification seal in this ledger; a file is reported done only once
    /// its entry is committed.
    #[arg(long, value_name = "DB")]
    ledger: Option<PathBuf>,
    /// Look for input sidecars (FILE.seal) in this directory instead of next to each file.
    #[arg(long, value_name = "DIR")]
    sidecar_dir: Option<PathBuf>,
    /// Sealed DICOM files or directories (recursed).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(args: &DeidentifyArgs) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    if args.out.is_none() && !args.in_place {
        bail!("say where de-identified files go: --out DIR or --in-place");
    }
    let mut profile = Profile::basic();
    for name in &args.options {
        let option = ProfileOption::from_name(name).with_context(|| {
            let known: Vec<&str> = ProfileOption::ALL.iter().map(|o| o.name()).collect();
            format!(
                "unknown option {name:?}; the PS3.15 Table E.1-1 options are: {}",
                known.join(", ")
            )
        })?;
        profile = profile.with_option(option)?;
    }
    let secret = match &args.uid_secret {
        Some(path) => Secret::load(path)?,
        None => {
            eprintln!(
                "scanseal: replacement UIDs come from a secret drawn for this run; pass \
                 --uid-secret FILE to make them reproducible"
            );
            Secret::random()?
        }
    };
    let key = SigningKey::load(&args.key)?;
    let deidentifier = Deidentifier::new(profile, secret);
    let mut ledger = match &args.ledger {
        Some(path) => Some(Ledger::open(path)?),
        None => None,
    };
    let options = SealOptions::new();
    let mut failed = 0usize;
    let mut done = 0usize;
    for input in walk::expand(&args.paths) {
        let input = match input {
            Ok(input) => input,
            Err((path, error)) => {
                failed += 1;
                writeln!(stdout, "ERROR {}: {error}", path.display())?;
                continue;
            }
        };
        let output = match &args.out {
            Some(out) => out.join(&input.relative),
            None => input.path.clone(),
        };
        if let Some(parent) = output.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
        }
        let mut recorded = None;
        let result = deidentify_file(
            &input.path,
            &output,
            args.sidecar_dir.as_deref(),
            &deidentifier,
            &key,
            &options,
            |record, canonical| {
                recorded = record_in_ledger(ledger.as_mut(), record, canonical)?;
                Ok::<(), anyhow::Error>(())
            },
        );
        match result {
            Ok(outcome) => {
                done += 1;
                let in_ledger = match recorded {
                    Some(seq) => format!(", ledger entry #{seq}"),
                    None => String::new(),
                };
                writeln!(
                    stdout,
                    "DEIDENTIFIED {} -> {} (key {}, seal {} of the chain; {} attributes withheld, \
                     {} replaced, {} added, {} kept{in_ledger})",
                    input.path.display(),
                    outcome.written.display(),
                    key.key_id(),
                    outcome.chain_length,
                    outcome.withheld,
                    outcome.replaced,
                    outcome.added,
                    outcome.kept,
                )?;
            }
            Err(error) => {
                failed += 1;
                let note = unwritten_note(recorded);
                writeln!(
                    stdout,
                    "ERROR {}: {}{note}",
                    input.path.display(),
                    crate::describe(&error)
                )?;
            }
        }
    }
    if failed > 0 {
        eprintln!("scanseal: {done} de-identified, {failed} not de-identified");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
