//! `scanseal sign`.

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{bail, Result};
use scanseal_canon::Canonical;
use scanseal_keys::SigningKey;
use scanseal_ledger::{instance_key, sop_instance_uid, Ledger, NewEntry};
use scanseal_seal::{seal_file_with, sidecar_path, Claims, Placement, SealOptions, SealRecord};

use crate::{parallel, walk};

#[derive(clap::Args)]
pub struct SignArgs {
    /// The signing key (PKCS#8 PEM, readable only by its owner).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Write the seal to FILE.seal (next to the file, or under --out) and leave the DICOM
    /// file untouched.
    #[arg(long)]
    sidecar: bool,
    /// Write sealed files (or sidecars) under DIR, mirroring directory arguments.
    #[arg(long, value_name = "DIR", conflicts_with = "in_place")]
    out: Option<PathBuf>,
    /// Replace each file by its sealed version (atomically).
    #[arg(long, conflicts_with = "sidecar")]
    in_place: bool,
    /// Add a countersignature to a file that is already sealed (refused otherwise).
    #[arg(long)]
    append: bool,
    /// Tile size in pixels for locating alterations later (1..=65535).
    #[arg(long, value_name = "N")]
    tile_size: Option<u32>,
    /// Signer claim: the acquiring device's identifier (no patient data).
    #[arg(long, value_name = "ID")]
    device_id: Option<String>,
    /// Signer claim: the operator's identifier (no patient data).
    #[arg(long, value_name = "ID")]
    operator_id: Option<String>,
    /// Record each seal in this ledger (see `scanseal ledger init`); a file is reported
    /// SEALED only once its entry is committed.
    #[arg(long, value_name = "DB")]
    ledger: Option<PathBuf>,
    /// Files sealed at once (default: one per core). Output lines stay in input order.
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<NonZeroUsize>,
    /// DICOM files or directories (recursed).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(args: &SignArgs) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    if !args.sidecar && args.out.is_none() && !args.in_place {
        bail!("say where sealed files go: --out DIR or --in-place (or use --sidecar)");
    }
    if let Some(size) = args.tile_size {
        if !(1..=65535).contains(&size) {
            bail!("--tile-size must be 1..=65535");
        }
    }
    let key = SigningKey::load(&args.key)?;
    let ledger = match &args.ledger {
        Some(path) => Some(Ledger::open(path)?),
        None => None,
    };
    let options = SealOptions {
        claims: Claims {
            device_id: args.device_id.clone(),
            operator_id: args.operator_id.clone(),
        },
        tile_size: args.tile_size,
        append: args.append,
        ..SealOptions::new()
    };
    let ledger = ledger.map(Mutex::new);
    let inputs = walk::expand(&args.paths);
    let seal_one = |input: &Result<walk::Input, (PathBuf, String)>| -> (bool, String) {
        match input {
            Ok(input) => seal_one(args, input, &key, &options, ledger.as_ref()),
            Err((path, error)) => (false, format!("ERROR {}: {error}", path.display())),
        }
    };
    let mut failed = 0usize;
    let mut sealed = 0usize;
    parallel::map_in_order(
        &inputs,
        parallel::thread_count(args.threads.map(NonZeroUsize::get)),
        seal_one,
        |(ok, line)| {
            if ok {
                sealed += 1;
            } else {
                failed += 1;
            }
            writeln!(stdout, "{line}")?;
            Ok(())
        },
    )?;
    if failed > 0 {
        eprintln!("scanseal: {sealed} sealed, {failed} not sealed");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Seals one file as `args` say; the line to print and whether it was sealed.
fn seal_one(
    args: &SignArgs,
    input: &walk::Input,
    key: &SigningKey,
    options: &SealOptions,
    ledger: Option<&Mutex<Ledger>>,
) -> (bool, String) {
    let placement = match (&args.out, args.sidecar) {
        (Some(out), false) => Placement::Embedded {
            output: out.join(&input.relative),
        },
        (None, false) => Placement::Embedded {
            output: input.path.clone(),
        },
        (Some(out), true) => Placement::Sidecar {
            path: sidecar_path(&out.join(&input.relative), None),
        },
        (None, true) => Placement::Sidecar {
            path: sidecar_path(&input.path, None),
        },
    };
    let target = match &placement {
        Placement::Embedded { output } => output,
        Placement::Sidecar { path } => path,
    };
    if let Some(parent) = target.parent() {
        if !parent.as_os_str().is_empty() {
            if let Err(error) = std::fs::create_dir_all(parent) {
                return (
                    false,
                    format!(
                        "ERROR {}: cannot create {}: {error}",
                        input.path.display(),
                        parent.display()
                    ),
                );
            }
        }
    }
    let mut recorded = None;
    let result = seal_file_with(
        &input.path,
        &placement,
        key,
        options,
        |record, canonical| {
            let Some(ledger) = ledger else {
                return Ok(());
            };
            let mut ledger = ledger
                .lock()
                .map_err(|_| anyhow::anyhow!("the ledger connection was lost by another worker"))?;
            recorded = record_in_ledger(Some(&mut ledger), record, canonical)?;
            Ok::<(), anyhow::Error>(())
        },
    );
    let in_ledger = match recorded {
        Some(seq) => format!(", ledger entry #{seq}"),
        None => String::new(),
    };
    match result {
        Ok(outcome) => {
            let chain = if outcome.chain_length > 1 {
                format!(", seal {} of the chain", outcome.chain_length)
            } else {
                String::new()
            };
            (
                true,
                format!(
                    "SEALED {} -> {} (key {}{chain}{in_ledger})",
                    input.path.display(),
                    outcome.written.display(),
                    key.key_id()
                ),
            )
        }
        Err(error) => (
            false,
            format!(
                "ERROR {}: {}{}",
                input.path.display(),
                crate::describe(&error),
                unwritten_note(recorded)
            ),
        ),
    }
}

/// Appends the ledger entry of a seal just made, when a ledger is in use: the step between
/// writing a sealed file and moving it into place (`sign --ledger`, `deidentify --ledger`).
/// Returns the entry's sequence number.
pub(crate) fn record_in_ledger(
    ledger: Option<&mut Ledger>,
    record: &SealRecord,
    canonical: &Canonical,
) -> Result<Option<u64>> {
    let Some(ledger) = ledger else {
        return Ok(None);
    };
    let uid = sop_instance_uid(canonical);
    let entry = NewEntry::for_seal(record, instance_key(uid.as_deref()))?;
    Ok(Some(ledger.append(&entry)?.seq))
}

/// What to add to an error line when the seal was recorded but its file was not written.
pub(crate) fn unwritten_note(recorded: Option<u64>) -> String {
    match recorded {
        Some(seq) => {
            format!(" (the seal was recorded as ledger entry #{seq} but the file was not written)")
        }
        None => String::new(),
    }
}
