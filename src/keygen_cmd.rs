//! `scanseal keygen`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Directory to write the key files into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Key name: the files are NAME.key and NAME.pub.
    #[arg(long)]
    name: String,
}

pub fn run(args: &KeygenArgs) -> Result<ExitCode> {
    let pair = scanseal_keys::write_key_pair(&args.out, &args.name)?;
    println!("{}", pair.private_key_path.display());
    println!("{}", pair.public_key_path.display());
    println!("key id {}", pair.key_id);
    Ok(ExitCode::SUCCESS)
}
