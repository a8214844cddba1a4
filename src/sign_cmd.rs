//! `scanseal sign`.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use rayon::prelude::*;
use scanseal_canon::Canonical;
use scanseal_keys::SigningKey;
use scanseal_ledger::{Ledger, NewEntry};
use scanseal_seal::{
    sidecar_path, stage_seal, sync_directory, Claims, Placement, SealOptions, SealRecord,
    StagedSeal,
};

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
    let threads = parallel::thread_count(args.threads.map(NonZeroUsize::get));
    let pool = parallel::pool(threads)?;
    let mut ledger = ledger;
    let mut seen = HashSet::new();
    let inputs: Vec<Planned> = walk::expand(&args.paths)
        .into_iter()
        .map(|input| plan(args, input, &mut seen))
        .collect();
    let mut failed = 0usize;
    let mut sealed = 0usize;
    // Files are made durable a batch at a time: their outputs are synced together, their
    // ledger entries committed in one transaction, then they are put in place. One file at a
    // time would wait for two disk flushes per file, which on most disks costs more than
    // sealing it.
    for batch in batches(&inputs, BATCH_PER_THREAD * threads) {
        let staged: Vec<Result<Staged, String>> = pool.install(|| {
            batch
                .par_iter()
                .map(|planned| stage(planned, &key, &options))
                .collect()
        });
        for (ok, line) in commit_batch(staged, ledger.as_mut(), &key) {
            if ok {
                sealed += 1;
            } else {
                failed += 1;
            }
            writeln!(stdout, "{line}")?;
        }
        stdout.flush()?;
    }
    if failed > 0 {
        eprintln!("scanseal: {sealed} sealed, {failed} not sealed");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Files per worker thread made durable together (see [`commit_batch`]).
const BATCH_PER_THREAD: usize = 64;

/// Input bytes per batch, at most: large files are synced in smaller batches, so that a
/// batch does not hold gigabytes of unsynced output.
const BATCH_BYTES: u64 = 512 << 20;

/// Consecutive runs of at most `max_files` inputs and (but for a single larger file)
/// [`BATCH_BYTES`] bytes.
fn batches(inputs: &[Planned], max_files: usize) -> Vec<&[Planned]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (index, planned) in inputs.iter().enumerate() {
        let size = planned
            .as_ref()
            .ok()
            .and_then(|(input, _)| std::fs::metadata(&input.path).ok())
            .map_or(0, |metadata| metadata.len());
        if index > start && (index - start >= max_files || bytes + size > BATCH_BYTES) {
            batches.push(&inputs[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < inputs.len() {
        batches.push(&inputs[start..]);
    }
    batches
}

/// One input and where its seal goes, or why it is not sealed.
type Planned = Result<(walk::Input, Placement), (PathBuf, String)>;

fn plan(
    args: &SignArgs,
    input: Result<walk::Input, (PathBuf, String)>,
    seen: &mut HashSet<PathBuf>,
) -> Planned {
    let input = input?;
    // The same file given twice would be sealed twice from the same content.
    let identity = input
        .path
        .canonicalize()
        .unwrap_or_else(|_| input.path.clone());
    if !seen.insert(identity) {
        return Err((input.path, "given more than once".into()));
    }
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
    Ok((input, placement))
}

/// A file sealed into a temporary output.
struct Staged {
    input: PathBuf,
    seal: StagedSeal,
}

/// Seals one file up to its temporary output; the error line when that fails.
fn stage(planned: &Planned, key: &SigningKey, options: &SealOptions) -> Result<Staged, String> {
    let (input, placement) = planned
        .as_ref()
        .map_err(|(path, error)| format!("ERROR {}: {error}", path.display()))?;
    let error = |error: &dyn std::fmt::Display| format!("ERROR {}: {error}", input.path.display());
    let target = match placement {
        Placement::Embedded { output } => output,
        Placement::Sidecar { path } => path,
    };
    if let Some(parent) = target.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| error(&format!("cannot create {}: {e}", parent.display())))?;
        }
    }
    let seal = stage_seal(&input.path, placement, key, options)
        .map_err(|e| error(&crate::describe(&e.into())))?;
    Ok(Staged {
        input: input.path.clone(),
        seal,
    })
}

/// Makes a batch of staged seals durable and puts them in place: syncs every output (at once,
/// so the disk flushes them together), appends their ledger entries in one transaction, moves
/// the outputs into place, then syncs their directories. A file is reported SEALED only when
/// all of that is done for it; if the ledger transaction fails, no file of the batch is put
/// in place. Returns each input's line, in order.
fn commit_batch(
    staged: Vec<Result<Staged, String>>,
    ledger: Option<&mut Ledger>,
    key: &SigningKey,
) -> Vec<(bool, String)> {
    let synced: Vec<Result<Staged, String>> = std::thread::scope(|scope| {
        let syncing: Vec<_> = staged
            .into_iter()
            .map(|staged| {
                scope.spawn(move || {
                    let staged = staged?;
                    match staged.seal.output.sync() {
                        Ok(()) => Ok(staged),
                        Err(e) => Err(format!(
                            "ERROR {}: {}",
                            staged.input.display(),
                            crate::describe(&e.into())
                        )),
                    }
                })
            })
            .collect();
        syncing
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("ERROR: a sync thread failed".into()))
            })
            .collect()
    });

    let mut recorded: Vec<Option<u64>> = vec![None; synced.len()];
    if let Some(ledger) = ledger {
        let sealed: Vec<(usize, &Staged)> = synced
            .iter()
            .enumerate()
            .filter_map(|(index, staged)| staged.as_ref().ok().map(|s| (index, s)))
            .collect();
        let appended = sealed
            .iter()
            .map(|(_, staged)| {
                NewEntry::for_sealed_instance(&staged.seal.record, &staged.seal.canonical)
            })
            .collect::<Result<Vec<_>, _>>()
            .and_then(|entries| ledger.append_batch(&entries));
        match appended {
            Ok(entries) => {
                for ((index, _), entry) in sealed.iter().zip(entries) {
                    recorded[*index] = Some(entry.seq);
                }
            }
            Err(error) => {
                let reason = crate::describe(&error.into());
                return synced
                    .into_iter()
                    .map(|staged| match staged {
                        Ok(staged) => (
                            false,
                            format!(
                                "ERROR {}: not recorded in the ledger: {reason}",
                                staged.input.display()
                            ),
                        ),
                        Err(line) => (false, line),
                    })
                    .collect();
            }
        }
    }

    let mut directories = BTreeSet::new();
    let lines: Vec<(bool, String)> = synced
        .into_iter()
        .zip(recorded)
        .map(|(staged, recorded)| {
            let staged = match staged {
                Ok(staged) => staged,
                Err(line) => return (false, line),
            };
            let input = staged.input;
            match staged.seal.put_in_place() {
                Ok(outcome) => {
                    if let Some(parent) = outcome.written.parent() {
                        directories.insert(parent.to_path_buf());
                    }
                    let chain = if outcome.chain_length > 1 {
                        format!(", seal {} of the chain", outcome.chain_length)
                    } else {
                        String::new()
                    };
                    let in_ledger = match recorded {
                        Some(seq) => format!(", ledger entry #{seq}"),
                        None => String::new(),
                    };
                    (
                        true,
                        format!(
                            "SEALED {} -> {} (key {}{chain}{in_ledger})",
                            input.display(),
                            outcome.written.display(),
                            key.key_id()
                        ),
                    )
                }
                Err(error) => (
                    false,
                    format!(
                        "ERROR {}: {}{}",
                        input.display(),
                        crate::describe(&error.into()),
                        unwritten_note(recorded)
                    ),
                ),
            }
        })
        .collect();
    for directory in directories {
        sync_directory(&directory.join("."));
    }
    lines
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
    let entry = NewEntry::for_sealed_instance(record, canonical)?;
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
