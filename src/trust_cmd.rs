//! `scanseal trust` (placeholder until the trust store lands).

use std::process::ExitCode;

use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct TrustArgs {}

pub fn run(_args: &TrustArgs) -> Result<ExitCode> {
    bail!("trust store not implemented yet")
}
