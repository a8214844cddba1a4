//! The scanseal sealing gateway: a DICOM Storage SCP (C-ECHO, C-STORE) between modality and
//! PACS that seals every instance it receives, records the seal in the ledger, forwards the
//! sealed instance to the PACS with C-STORE in the transfer syntax it arrived in, and only
//! then tells the modality it was stored. An instance the PACS cannot take yet stays sealed
//! in the spool and is retried with back-off, also after a restart. Conformance statement:
//! `spec/gateway.md`.
//!
//! It does **not** transcode, query, retrieve or keep instances once the PACS has them, and it
//! does not speak TLS (put it on the modality's network segment, or behind a TLS tunnel).

#![forbid(unsafe_code)]

mod dimse;
mod forward;
mod server;
mod spool;

pub use dimse::{status, Command};
pub use forward::{stored_instance, Destination, Forwarder, StoredInstance};
pub use server::{Gateway, GatewayConfig, Placement, STORAGE_SOP_CLASSES, TRANSFER_SYNTAXES};
pub use spool::{instance_key, Spool};

use std::path::PathBuf;

/// Why the gateway cannot start, or why one exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A setting is not usable.
    #[error("{0}")]
    Config(String),
    /// A file of the spool cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The peer broke the DICOM protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The PACS could not be given the instance.
    #[error("forwarding to {destination}: {reason}")]
    Forward {
        /// `AE@HOST:PORT`.
        destination: String,
        /// Why.
        reason: String,
    },
    /// The PACS took the association but not the instance's SOP class in its transfer
    /// syntax.
    #[error("forwarding to {destination}: {reason}")]
    NotAccepted {
        /// `AE@HOST:PORT`.
        destination: String,
        /// What it does not accept.
        reason: String,
        /// The status the modality is given for it.
        status: u16,
    },
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] scanseal_seal::SealError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] scanseal_ledger::LedgerError),
}

/// Checks an AE title: 1 to 16 characters of the default character repertoire, no
/// backslash or control characters, not only spaces (PS3.5 AE).
///
/// # Errors
/// `Config` naming what is wrong.
pub fn check_ae_title(title: &str) -> Result<(), GatewayError> {
    let bad = |why: &str| Err(GatewayError::Config(format!("AE title '{title}' {why}")));
    if title.trim().is_empty() {
        return bad("is empty");
    }
    if title.len() > 16 {
        return bad("is longer than 16 characters");
    }
    if !title.chars().all(|c| (' '..='~').contains(&c) && c != '\\') {
        return bad("has a character an AE title cannot have");
    }
    Ok(())
}
