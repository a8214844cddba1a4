//! `scanseal`: the command-line front end. Argument parsing, output formatting and exit codes
//! only; everything a library user needs lives in the `scanseal-*` crates.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

mod atomic;
mod deidentify_cmd;
mod digest;
mod gateway_cmd;
mod inspect_cmd;
mod keygen_cmd;
mod ledger_cmd;
mod parallel;
mod pictures;
mod sign_cmd;
mod trust_cmd;
mod verify_cmd;
mod walk;

/// Prove a medical image is the one the scanner produced.
#[derive(Parser)]
#[command(name = "scanseal", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the canonical form (canon-v1) of DICOM files: pixel digest, mode, descriptor,
    /// frames and tiles, and the canonicalized attribute list.
    Digest(DigestArgs),
    /// Generate an Ed25519 key pair: NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub.
    Keygen(keygen_cmd::KeygenArgs),
    /// Manage a trust store: the public keys a verifier accepts, with roles and validity.
    Trust(trust_cmd::TrustArgs),
    /// Seal DICOM files: embed a signed seal (--out DIR or --in-place) or write FILE.seal
    /// sidecars (--sidecar).
    Sign(sign_cmd::SignArgs),
    /// De-identify sealed files (PS3.15 Basic Profile and its options) and extend their seal
    /// chain with a `deidentified` seal, so the pixels stay provably the acquired ones
    /// (--out DIR or --in-place).
    Deidentify(deidentify_cmd::DeidentifyArgs),
    /// Verify sealed files against a trust store: INTACT, MODIFIED, ALTERED, UNSIGNED,
    /// UNTRUSTED, INVALID or ERROR per file. Exit 0 when all are INTACT or MODIFIED.
    Verify(verify_cmd::VerifyArgs),
    /// Show a file's seal chain in human form.
    Inspect(inspect_cmd::InspectArgs),
    /// The ledger of seals: init, checkpoint, prove, verify, info.
    Ledger(ledger_cmd::LedgerArgs),
    /// Check offline proofs (.tlog-proof) that entries are in a ledger: VERIFIED, INVALID or
    /// ERROR (unreadable) per proof. Exit 0 when all verify.
    VerifyProof(ledger_cmd::VerifyProofArgs),
    /// Run a sealing DICOM gateway: a Storage SCP that seals each instance it receives,
    /// records it in the ledger and forwards it to the PACS before answering the modality.
    Gateway(gateway_cmd::GatewayArgs),
}

#[derive(clap::Args)]
struct DigestArgs {
    /// One JSON object per file per line instead of text.
    #[arg(long)]
    json: bool,
    /// Derive attribute salts from this hex seed (spec C6.3) and print each attribute's
    /// commitment; equal attributes in two files then have equal commitments. For local
    /// comparison and tests only: seals use random salts.
    #[arg(long, value_name = "HEX")]
    salt_seed: Option<String>,
    /// Tile size in pixels (1..=65535).
    #[arg(long, default_value_t = scanseal_canon::DEFAULT_TILE_SIZE)]
    tile_size: u32,
    /// Also list every frame's tile digests (JSON: `tile_digests`).
    #[arg(long)]
    tiles: bool,
    /// DICOM files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Digest(args) => run_digest(&args),
        Command::Keygen(args) => keygen_cmd::run(&args),
        Command::Trust(args) => trust_cmd::run(&args),
        Command::Sign(args) => sign_cmd::run(&args),
        Command::Deidentify(args) => deidentify_cmd::run(&args),
        Command::Verify(args) => verify_cmd::run(&args),
        Command::Inspect(args) => inspect_cmd::run(&args),
        Command::Ledger(args) => ledger_cmd::run(&args),
        Command::VerifyProof(args) => ledger_cmd::verify_proof(&args),
        // Serves until killed: it only returns when it cannot start (or listening fails).
        Command::Gateway(args) => gateway_cmd::run(&args).map(|()| ExitCode::SUCCESS),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("scanseal: {}", describe(&error));
            ExitCode::from(2)
        }
    }
}

fn run_digest(args: &DigestArgs) -> Result<ExitCode> {
    let seed = match &args.salt_seed {
        Some(text) => {
            let seed = hex::decode(text.trim()).context("--salt-seed is not hex")?;
            if seed.len() < 16 {
                bail!("--salt-seed must be at least 16 bytes (32 hex characters)");
            }
            Some(seed)
        }
        None => None,
    };
    let options = scanseal_canon::CanonOptions::new().tile_size(args.tile_size);
    let mut stdout = std::io::stdout().lock();
    let mut failed = false;
    for path in &args.paths {
        let report = digest::digest_file(path, &options, seed.as_deref(), args.tiles);
        failed |= report.is_err();
        if args.json {
            serde_json::to_writer(&mut stdout, &digest::to_json(path, &report))?;
            writeln!(stdout)?;
        } else {
            digest::write_text(&mut stdout, path, &report)?;
        }
    }
    stdout.flush()?;
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The error and its causes, `: `-separated, leaving out a cause whose text the message
/// already holds (library errors often print their source themselves).
pub fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
