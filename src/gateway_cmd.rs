//! `scanseal gateway`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use scanseal_gateway::{Destination, Gateway, GatewayConfig, Placement};
use scanseal_keys::SigningKey;
use scanseal_ledger::Ledger;

#[derive(clap::Args)]
pub struct GatewayArgs {
    /// The signing key (PKCS#8 PEM, readable only by its owner).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The ledger every seal is recorded in (see `scanseal ledger init`).
    #[arg(long, value_name = "DB")]
    ledger: PathBuf,
    /// Address and port to listen on, e.g. 0.0.0.0:11112.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: String,
    /// This gateway's AE title (the title modalities call).
    #[arg(long, value_name = "AE")]
    ae_title: String,
    /// The PACS to forward to: its AE title, host and port.
    #[arg(long, value_name = "AE@HOST:PORT")]
    forward: Destination,
    /// Write seals as sidecars (DIR/KEY.seal, KEY the ledger's hash of the SOP Instance UID;
    /// `verify --sidecar-dir DIR` finds them) and forward instances unchanged, for a PACS that
    /// strips private elements.
    #[arg(long, value_name = "DIR")]
    sidecar_dir: Option<PathBuf>,
    /// Where instances wait, sealed, until the PACS has them [default: ./scanseal-spool].
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Accept associations only from these calling AE titles (default: any).
    #[arg(long, value_name = "AE", num_args = 1..)]
    allow_calling: Vec<String>,
    /// Seconds before the first retry of the spool; doubled while the PACS stays
    /// unreachable, up to --retry-max.
    #[arg(long, value_name = "S", default_value_t = 2)]
    retry_min: u64,
    /// Longest wait between retries of the spool, in seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    retry_max: u64,
    /// Network timeout in seconds.
    #[arg(long, value_name = "S", default_value_t = 30)]
    timeout: u64,
}

pub fn run(args: &GatewayArgs) -> Result<()> {
    let key = SigningKey::load(&args.key)?;
    let ledger = Ledger::open(&args.ledger)?;
    let placement = match &args.sidecar_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            Placement::Sidecar(dir.clone())
        }
        None => Placement::Embedded,
    };
    let spool = args
        .spool
        .clone()
        .unwrap_or_else(|| PathBuf::from("scanseal-spool"));
    let config = GatewayConfig {
        ae_title: args.ae_title.clone(),
        destination: args.forward.clone(),
        spool: spool.clone(),
        placement,
        allow_calling: args.allow_calling.clone(),
        retry_min: Duration::from_secs(args.retry_min.max(1)),
        retry_max: Duration::from_secs(args.retry_max.max(args.retry_min.max(1))),
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let gateway = Gateway::new(
        config,
        key,
        ledger,
        Box::new(|line| eprintln!("scanseal gateway: {line}")),
    )?;
    let listener = TcpListener::bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let callers = if args.allow_calling.is_empty() {
        "any calling AE title is accepted (use --allow-calling to restrict)".to_string()
    } else {
        format!(
            "calling AE titles accepted: {}",
            args.allow_calling.join(", ")
        )
    };
    eprintln!(
        "scanseal gateway: {} listening on {}, forwarding to {}@{}, spool {}; {callers}",
        args.ae_title,
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| args.listen.clone()),
        args.forward.ae_title,
        args.forward.address,
        spool.display(),
    );
    Arc::new(gateway).serve(listener)?;
    Ok(())
}
