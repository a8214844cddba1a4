//! `scanseal trust`: add, revoke and list the keys of a trust store (spec/keys-and-trust.md).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use scanseal_keys::PublicKey;
use scanseal_trust::{format_time, parse_time, Role, TrustStore, TrustedKey};
use time::OffsetDateTime;

#[derive(clap::Args)]
pub struct TrustArgs {
    #[command(subcommand)]
    command: TrustCommand,
}

#[derive(clap::Subcommand)]
enum TrustCommand {
    /// Add a public key (NAME.pub) to a trust store, creating the store if it does not exist.
    Add(AddArgs),
    /// Revoke a key: signatures it made at or after the given time are no longer trusted.
    Revoke(RevokeArgs),
    /// List the keys of a trust store.
    List(ListArgs),
}

/// Times: RFC 3339 (2026-11-25T10:00:00Z, any offset), a date (2026-11-25, midnight UTC) or
/// `now`; stored in UTC, whole seconds.
#[derive(clap::Args)]
struct AddArgs {
    /// The trust store file (TOML).
    #[arg(long, value_name = "FILE")]
    store: PathBuf,
    /// What the key may sign.
    #[arg(long, value_name = "ROLE", value_parser = ["acquisition", "deidentification", "ledger"])]
    role: String,
    /// Name of the entry [default: the key file's name without its extension].
    #[arg(long)]
    name: Option<String>,
    /// Signatures made before this time are not trusted (RFC 3339, YYYY-MM-DD or `now`).
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    not_before: Option<OffsetDateTime>,
    /// Signatures made after this time are not trusted (RFC 3339, YYYY-MM-DD or `now`).
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    not_after: Option<OffsetDateTime>,
    /// The public key file (SubjectPublicKeyInfo PEM, as `scanseal keygen` writes NAME.pub).
    #[arg(value_name = "KEY.pub")]
    key: PathBuf,
}

#[derive(clap::Args)]
struct RevokeArgs {
    /// The trust store file (TOML).
    #[arg(long, value_name = "FILE")]
    store: PathBuf,
    /// Signatures made at or after this time are no longer trusted (RFC 3339, YYYY-MM-DD or
    /// `now`). A revocation can only be moved earlier.
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    at: OffsetDateTime,
    /// Name of the entry to revoke.
    name: String,
}

#[derive(clap::Args)]
struct ListArgs {
    /// The trust store file (TOML).
    #[arg(long, value_name = "FILE")]
    store: PathBuf,
    /// One JSON object per key per line: name, role, key_id, public_key (base64 of the
    /// SubjectPublicKeyInfo DER), not_before, not_after, revoked_at (RFC 3339 or null).
    #[arg(long)]
    json: bool,
}

/// One line of `trust list --json`.
#[derive(serde::Serialize)]
struct ListRecord<'a> {
    name: &'a str,
    role: &'static str,
    key_id: String,
    public_key: String,
    not_before: Option<String>,
    not_after: Option<String>,
    revoked_at: Option<String>,
}

fn parse_time_arg(text: &str) -> Result<OffsetDateTime, String> {
    // The error names the text and says which forms are accepted; clap adds the flag.
    parse_time(text).map_err(|e| e.to_string())
}

pub fn run(args: &TrustArgs) -> Result<ExitCode> {
    match &args.command {
        TrustCommand::Add(args) => add(args),
        TrustCommand::Revoke(args) => revoke(args),
        TrustCommand::List(args) => list(args),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// Errors of the library already name the file and what is wrong; they are shown as one
/// message, not followed by their cause again.
fn flat(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{error}")
}

fn load_or_new(path: &Path) -> Result<TrustStore> {
    match path.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustStore::new()),
        _ => TrustStore::load(path).map_err(flat),
    }
}

fn add(args: &AddArgs) -> Result<()> {
    let public_key = PublicKey::load(&args.key).map_err(flat)?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => args
            .key
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
            .ok_or_else(|| {
                anyhow!(
                    "{}: cannot take a key name from this file name; give --name",
                    args.key.display()
                )
            })?,
    };
    let role: Role = args.role.parse().map_err(flat)?;
    let mut store = load_or_new(&args.store)?;
    let key = TrustedKey {
        not_before: args.not_before,
        not_after: args.not_after,
        ..TrustedKey::new(&name, role, public_key)
    };
    let key_id = key.key_id();
    store
        .add(key)
        .map_err(flat)
        .with_context(|| format!("cannot add {} to {}", name, args.store.display()))?;
    store.save(&args.store).map_err(flat)?;
    println!(
        "added {name} ({role}, key id {key_id}) to {}",
        args.store.display()
    );
    Ok(())
}

fn revoke(args: &RevokeArgs) -> Result<()> {
    let mut store = TrustStore::load(&args.store).map_err(flat)?;
    store
        .revoke(&args.name, args.at)
        .map_err(flat)
        .with_context(|| format!("cannot revoke in {}", args.store.display()))?;
    store.save(&args.store).map_err(flat)?;
    let key_id = store
        .find_by_name(&args.name)
        .map(|k| k.key_id().to_hex())
        .unwrap_or_default();
    println!(
        "revoked {} (key id {key_id}) as of {} in {}",
        args.name,
        format_time(args.at),
        args.store.display()
    );
    Ok(())
}

fn list(args: &ListArgs) -> Result<()> {
    let store = TrustStore::load(&args.store).map_err(flat)?;
    let mut stdout = std::io::stdout().lock();
    let time_or = |t: Option<OffsetDateTime>, none: &str| t.map_or(none.to_string(), format_time);
    if args.json {
        for key in store.entries() {
            let time = |t: Option<OffsetDateTime>| t.map(format_time);
            let record = ListRecord {
                name: &key.name,
                role: key.role.as_str(),
                key_id: key.key_id().to_hex(),
                public_key: key.public_key_base64(),
                not_before: time(key.not_before),
                not_after: time(key.not_after),
                revoked_at: time(key.revoked_at),
            };
            serde_json::to_writer(&mut stdout, &record)?;
            writeln!(stdout)?;
        }
    } else {
        let mut rows = vec![[
            "NAME".to_string(),
            "ROLE".to_string(),
            "KEY ID".to_string(),
            "NOT BEFORE".to_string(),
            "NOT AFTER".to_string(),
            "REVOKED".to_string(),
        ]];
        for key in store.entries() {
            rows.push([
                key.name.clone(),
                key.role.to_string(),
                key.key_id().to_hex(),
                time_or(key.not_before, "-"),
                time_or(key.not_after, "-"),
                time_or(key.revoked_at, "-"),
            ]);
        }
        let mut widths = [0usize; 6];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  "));
                }
            }
            writeln!(stdout, "{line}")?;
        }
    }
    stdout.flush()?;
    Ok(())
}
