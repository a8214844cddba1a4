//! `scanseal ledger` and `scanseal verify-proof`: the ledger of seals (spec/ledger.md).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use scanseal_canon::{canonicalize, CanonOptions, DicomInstance};
use scanseal_keys::{PublicKey, SigningKey};
use scanseal_ledger::{
    audit, instance_key, sop_instance_uid, verifier_key, AuditOptions, Entry, EntryProof, Ledger,
    SignedCheckpoint, MAX_PROOF_BYTES,
};
use scanseal_seal::{format_time, read_chain, sidecar_path};
use scanseal_trust::{Role, TrustStore};
use time::OffsetDateTime;

use crate::atomic::{self, Existing};

#[derive(clap::Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    command: LedgerCommand,
}

#[derive(clap::Subcommand)]
enum LedgerCommand {
    /// Create an empty ledger (a SQLite file; never overwrites).
    Init(InitArgs),
    /// Sign the current tree head with the ledger key, store it and print it (C2SP
    /// tlog-checkpoint in signed-note form).
    Checkpoint(CheckpointArgs),
    /// Write an offline proof that an entry is in the ledger (C2SP tlog-proof).
    Prove(ProveArgs),
    /// Recompute the whole tree, check stored checkpoints and that the ledger is consistent
    /// with checkpoints kept elsewhere. INTACT (exit 0) or ALTERED (exit 1) naming the first
    /// bad entry.
    Verify(LedgerVerifyArgs),
    /// Show a ledger's origin, size, root and latest checkpoint.
    Info(InfoArgs),
}

#[derive(clap::Args)]
struct InitArgs {
    /// The log's name in checkpoints, e.g. pacs.hospital.example/scanseal [default: a random
    /// scanseal.local/ledger/… name].
    #[arg(long)]
    origin: Option<String>,
    /// The ledger file to create.
    db: PathBuf,
}

#[derive(clap::Args)]
struct CheckpointArgs {
    /// The ledger's signing key (a `ledger`-role key in verifiers' trust stores).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Also write the checkpoint to FILE (atomically; never overwrites).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The ledger.
    db: PathBuf,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["seq", "file"])))]
struct ProveArgs {
    /// The entry's sequence number.
    #[arg(long, value_name = "N")]
    seq: Option<u64>,
    /// The entry of this DICOM file: its newest seal, or (no seal) its SOP Instance UID.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Look for the file's sidecar in DIR instead of next to it.
    #[arg(long, value_name = "DIR")]
    sidecar_dir: Option<PathBuf>,
    /// When no checkpoint covers the entry yet, make one with this ledger key.
    #[arg(long, value_name = "KEY")]
    key: Option<PathBuf>,
    /// Write the proof to FILE (atomically; never overwrites) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The ledger.
    db: PathBuf,
}

#[derive(clap::Args)]
struct LedgerVerifyArgs {
    /// Check checkpoint signatures against this trust store's `ledger` keys (without it, only
    /// against the key recorded in the database itself).
    #[arg(long, value_name = "STORE")]
    trust: Option<PathBuf>,
    /// A checkpoint kept outside the database: the ledger must still be consistent with it.
    #[arg(long, value_name = "FILE")]
    checkpoint: Vec<PathBuf>,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// The ledger.
    db: PathBuf,
}

#[derive(clap::Args)]
struct InfoArgs {
    /// The ledger.
    db: PathBuf,
}

#[derive(clap::Args)]
pub struct VerifyProofArgs {
    /// The trust store: its `ledger` keys must have signed the proof's checkpoint.
    #[arg(long, value_name = "STORE")]
    trust: PathBuf,
    /// One JSON object per proof instead of text.
    #[arg(long)]
    json: bool,
    /// Proof files (.tlog-proof).
    #[arg(required = true)]
    proofs: Vec<PathBuf>,
}

pub fn run(args: &LedgerArgs) -> Result<ExitCode> {
    match &args.command {
        LedgerCommand::Init(args) => init(args),
        LedgerCommand::Checkpoint(args) => checkpoint(args),
        LedgerCommand::Prove(args) => prove(args),
        LedgerCommand::Verify(args) => verify(args),
        LedgerCommand::Info(args) => info(args),
    }
}

fn init(args: &InitArgs) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let origin = args
        .origin
        .clone()
        .unwrap_or_else(scanseal_ledger::default_origin);
    let ledger = Ledger::create(&args.db, &origin)?;
    writeln!(
        stdout,
        "CREATED {} (origin {})",
        args.db.display(),
        ledger.origin()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn checkpoint(args: &CheckpointArgs) -> Result<ExitCode> {
    let key = SigningKey::load(&args.key)?;
    let mut ledger = Ledger::open(&args.db)?;
    let signed = ledger.checkpoint(&key)?;
    if let Some(out) = &args.out {
        write_new_file(out, signed.text.as_bytes())?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(signed.text.as_bytes())?;
    stdout.flush()?;
    eprintln!(
        "scanseal: checkpoint at size {}; verifier key {}",
        signed.checkpoint.size,
        verifier_key(ledger.origin(), &key.public_key())
    );
    Ok(ExitCode::SUCCESS)
}

fn prove(args: &ProveArgs) -> Result<ExitCode> {
    let mut ledger = Ledger::open(&args.db)?;
    let seq = match (args.seq, &args.file) {
        (Some(seq), _) => seq,
        (None, Some(file)) => entry_for_file(&ledger, file, args.sidecar_dir.as_deref())?.seq,
        (None, None) => bail!("say which entry: --seq N or --file PATH"),
    };
    if ledger.checkpoint_covering(seq)?.is_none() {
        if let Some(key) = &args.key {
            let key = SigningKey::load(key)?;
            ledger.checkpoint(&key)?;
        }
    }
    let proof = ledger.prove(seq)?;
    let text = proof.to_text();
    match &args.out {
        Some(out) => {
            write_new_file(out, text.as_bytes())?;
            eprintln!(
                "scanseal: proof of entry #{seq} under the checkpoint at size {} written to {}",
                proof.checkpoint.checkpoint.size,
                out.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The entry of a file: its newest seal's, or by SOP Instance UID when it has no seal.
fn entry_for_file(ledger: &Ledger, path: &Path, sidecar_dir: Option<&Path>) -> Result<Entry> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let length = file.metadata().map(|m| m.len()).ok();
    let instance = DicomInstance::from_reader(&mut file, length)
        .with_context(|| format!("{} is not a readable DICOM file", path.display()))?;
    let sidecar = sidecar_path(path, sidecar_dir);
    if let Some(found) = read_chain(&mut file, Some(&sidecar))? {
        let chain = found
            .chain
            .map_err(|reason| anyhow!("{}: malformed seal: {reason}", path.display()))?;
        let record = chain
            .latest()
            .ok_or_else(|| anyhow!("{}: the seal chain is empty", path.display()))?;
        let entries = ledger.find_by_envelope(&record.envelope_digest())?;
        return entries.into_iter().next().ok_or_else(|| {
            anyhow!(
                "{}: its seal is not recorded in ledger {}",
                path.display(),
                ledger.origin()
            )
        });
    }
    let canonical = canonicalize(&instance, &CanonOptions::new())?;
    let uid = sop_instance_uid(&canonical)
        .ok_or_else(|| anyhow!("{}: no seal and no SOP Instance UID", path.display()))?;
    let entries = ledger.find_by_instance(&instance_key(Some(&uid)))?;
    entries.into_iter().last().ok_or_else(|| {
        anyhow!(
            "{}: no seal, and ledger {} has no entry for its SOP Instance UID",
            path.display(),
            ledger.origin()
        )
    })
}

fn verify(args: &LedgerVerifyArgs) -> Result<ExitCode> {
    let trusted_keys = match &args.trust {
        Some(path) => Some(ledger_keys(path)?),
        None => None,
    };
    let mut external = Vec::new();
    for path in &args.checkpoint {
        let text = read_text(path, 64 * 1024)?;
        let note = SignedCheckpoint::parse(&text)
            .with_context(|| format!("checkpoint {}", path.display()))?;
        external.push((path.display().to_string(), note));
    }
    let ledger = Ledger::open_read_only(&args.db)?;
    for (label, note) in &external {
        if note.checkpoint.origin != ledger.origin() {
            bail!(
                "checkpoint {label} is for ledger {:?}, not for {} ({:?})",
                note.checkpoint.origin,
                args.db.display(),
                ledger.origin()
            );
        }
    }
    let report = audit(
        &ledger,
        &AuditOptions {
            trusted_keys,
            external,
        },
    )?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "verdict".into(),
                if report.is_intact() {
                    "INTACT"
                } else {
                    "ALTERED"
                }
                .into(),
            );
            object.insert("path".into(), args.db.display().to_string().into());
            object.insert("first_bad_seq".into(), report.first_bad_seq().into());
        }
        serde_json::to_writer(&mut stdout, &value)?;
        writeln!(stdout)?;
    } else if report.is_intact() {
        writeln!(
            stdout,
            "INTACT {}: {} entries, root {}; {} stored checkpoint(s) verified against {}; {} external checkpoint(s) consistent",
            args.db.display(),
            report.size,
            report.root.as_deref().unwrap_or("-"),
            report.checkpoints_verified,
            if args.trust.is_some() { "the trust store" } else { "the key recorded in the ledger (pass --trust to check who signed them)" },
            report.external_consistent,
        )?;
    } else {
        let first = match report.first_bad_seq() {
            Some(seq) => format!("first bad entry #{seq}: "),
            None => String::new(),
        };
        writeln!(
            stdout,
            "ALTERED {}: {first}{}",
            args.db.display(),
            report.problems.first().map_or("", |p| p.message.as_str())
        )?;
        for problem in report.problems.iter().skip(1) {
            writeln!(stdout, "  also: {}", problem.message)?;
        }
    }
    if !args.json {
        for note in &report.notes {
            writeln!(stdout, "  note: {note}")?;
        }
    }
    stdout.flush()?;
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn info(args: &InfoArgs) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let ledger = Ledger::open_read_only(&args.db)?;
    let size = ledger.size()?;
    let root = ledger.root(size)?;
    let checkpoints = ledger.checkpoints()?;
    writeln!(stdout, "origin      {}", ledger.origin())?;
    writeln!(stdout, "entries     {size}")?;
    writeln!(stdout, "root        {}", hex::encode(root))?;
    writeln!(stdout, "checkpoints {}", checkpoints.len())?;
    if let Some(latest) = checkpoints.last() {
        writeln!(
            stdout,
            "latest      size {} at {}",
            latest.size, latest.created
        )?;
        if let Some(key) = &latest.public_key {
            writeln!(
                stdout,
                "ledger key  {} ({})",
                key.key_id(),
                verifier_key(ledger.origin(), key)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify_proof(args: &VerifyProofArgs) -> Result<ExitCode> {
    let trust = TrustStore::load(&args.trust)
        .with_context(|| format!("cannot use trust store {}", args.trust.display()))?;
    let keys = trusted_ledger_keys(&trust);
    let mut stdout = std::io::stdout().lock();
    let mut all_verified = true;
    for path in &args.proofs {
        let text = match read_text(path, MAX_PROOF_BYTES) {
            Ok(text) => text,
            Err(error) => {
                all_verified = false;
                let reason = crate::describe(&error);
                if args.json {
                    let json = serde_json::json!({
                        "path": path.display().to_string(),
                        "verdict": "ERROR",
                        "reason": reason,
                    });
                    serde_json::to_writer(&mut stdout, &json)?;
                    writeln!(stdout)?;
                } else {
                    writeln!(stdout, "ERROR {}: {reason}", path.display())?;
                }
                continue;
            }
        };
        let outcome = EntryProof::parse(&text).and_then(|proof| proof.verify(&keys));
        let (verdict, reason, json) = match outcome {
            Ok(verified) => {
                let entry = &verified.entry;
                let decision =
                    trust.evaluate(&entry.content.signer, Role::Acquisition, entry.recorded);
                let signer = match decision.key() {
                    Some(key) => format!(
                        "{} ({}, {})",
                        key.name,
                        entry.content.signer,
                        decision.word()
                    ),
                    None => format!("key {} (not in the trust store)", entry.content.signer),
                };
                let ledger_key = keys.get(verified.ledger_key).map(|k| k.key_id().to_hex());
                let recorded = format_time(entry.recorded).unwrap_or_default();
                let checkpoint = &verified.checkpoint.checkpoint;
                let reason = format!(
                    "entry #{} ({} seal by {signer}, envelope {}, recorded {recorded}) is in ledger {} at size {}, checkpoint signed by ledger key {}",
                    entry.seq,
                    entry.content.kind,
                    entry.content.envelope,
                    checkpoint.origin,
                    checkpoint.size,
                    ledger_key.as_deref().unwrap_or("?"),
                );
                let json = serde_json::json!({
                    "path": path.display().to_string(),
                    "verdict": "VERIFIED",
                    "reason": reason,
                    "entry": {
                        "seq": entry.seq,
                        "kind": entry.content.kind.as_str(),
                        "recorded": recorded,
                        "signer": entry.content.signer.to_hex(),
                        "signer_name": decision.key().map(|k| k.name.clone()),
                        "signer_trust": decision.word(),
                        "envelope_sha256": entry.content.envelope.to_hex(),
                        "pixel_digest": entry.content.pixels.map(|p| p.digest.to_hex()),
                        "pixel_mode": entry.content.pixels.map(|p| p.mode.name()),
                        "instance_key": entry.content.instance.to_hex(),
                    },
                    "checkpoint": {
                        "origin": checkpoint.origin,
                        "size": checkpoint.size,
                        "root": hex::encode(checkpoint.root),
                        "ledger_key": ledger_key,
                    },
                });
                ("VERIFIED", reason, json)
            }
            Err(error) => {
                all_verified = false;
                let reason = error.to_string();
                let json = serde_json::json!({
                    "path": path.display().to_string(),
                    "verdict": "INVALID",
                    "reason": reason,
                });
                ("INVALID", reason, json)
            }
        };
        if args.json {
            serde_json::to_writer(&mut stdout, &json)?;
            writeln!(stdout)?;
        } else {
            writeln!(stdout, "{verdict} {}: {reason}", path.display())?;
        }
    }
    stdout.flush()?;
    Ok(if all_verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The trust store's `ledger` keys that are trusted now (a checkpoint carries no time).
fn trusted_ledger_keys(trust: &TrustStore) -> Vec<PublicKey> {
    trust.trusted_keys(Role::Ledger, OffsetDateTime::now_utc())
}

fn ledger_keys(path: &Path) -> Result<Vec<PublicKey>> {
    let trust = TrustStore::load(path)
        .with_context(|| format!("cannot use trust store {}", path.display()))?;
    let keys = trusted_ledger_keys(&trust);
    if keys.is_empty() {
        bail!(
            "trust store {} has no currently trusted key with role `ledger`",
            path.display()
        );
    }
    Ok(keys)
}

fn read_text(path: &Path, limit: usize) -> Result<String> {
    let length = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if length > limit as u64 {
        bail!(
            "{} is {length} bytes, more than the {limit} allowed",
            path.display()
        );
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))
}

/// Writes a new file atomically; never overwrites.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic::write_file(path, bytes, Existing::Keep)
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}
