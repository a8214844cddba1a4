//! `scanseal keygen`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Directory to write the key files into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Key name: the files are NAME.key and NAME.pub (letters, digits, '.', '_', '-').
    #[arg(long)]
    name: String,
}

pub fn run(args: &KeygenArgs) -> Result<ExitCode> {
    // The key error names the file and its cause; show it once (not followed by the cause
    // again, as the error chain would).
    let pair = scanseal_keys::write_key_pair(&args.out, &args.name).map_err(|e| anyhow!("{e}"))?;
    println!("{}", pair.private_key_path.display());
    println!("{}", pair.public_key_path.display());
    println!("key id {}", pair.key_id);
    Ok(ExitCode::SUCCESS)
}
