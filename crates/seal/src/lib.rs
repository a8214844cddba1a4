//! Seals for DICOM instances (normative text: `spec/seal-format.md`).
//!
//! A seal is an Ed25519 signature, in a tagged COSE_Sign1 envelope (RFC 9052), over a
//! deterministic-CBOR [`Manifest`] of an instance's canonical form (`scanseal-canon`): the
//! pixel digest with its descriptor and frame digests, and one salted commitment per header
//! attribute. Beside each envelope travel the salts and tile digests ([`SealRecord`]); seals
//! form a [`SealChain`] that lives either **embedded** in a private block of the DICOM file
//! ([`embed`]), spliced into the original bytes so nothing else changes, or in a **sidecar**
//! file `FILE.seal`.
//!
//! This crate makes and reads seals: [`seal_canonical`] builds one from a canonical form and
//! a key, [`seal_file`] seals a file atomically, [`read_chain`] finds a file's chain. It
//! checks an envelope's structure and signature ([`Envelope`]), but it does **not** decide
//! whether a signer is trusted or whether a file still matches its seal — that is
//! `scanseal-verify`.
//!
//! ```no_run
//! use scanseal_keys::SigningKey;
//! use scanseal_seal::{seal_file, Placement, SealOptions};
//! use std::path::Path;
//!
//! let key = SigningKey::load(Path::new("keys-example/example-ct-01.key"))?;
//! let outcome = seal_file(
//!     Path::new("scan.dcm"),
//!     &Placement::Embedded { output: "sealed/scan.dcm".into() },
//!     &key,
//!     &SealOptions::new(),
//! )?;
//! println!("sealed, envelope digest {}", outcome.record.envelope_digest());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cbor;
mod chain;
pub mod embed;
mod envelope;
mod file;
mod manifest;
mod sealer;
#[cfg(test)]
mod vectors;

pub use chain::{SealChain, SealRecord, CHAIN_FORMAT};
pub use envelope::Envelope;
pub use file::{
    read_chain, same_file, seal_file, seal_file_with, sidecar_path, stage_seal, sync_directory,
    write_atomically, FoundChain, Placement, SealOutcome, SealSource, StagedOutput, StagedSeal,
};
pub use manifest::{
    format_time, parse_time, whole_seconds, Action, AttributeAction, Claims, Deidentification,
    Manifest, PixelManifest, MANIFEST_FORMAT, MANIFEST_FORMAT_V2,
};
pub use sealer::{seal_canonical, seal_deidentified, SealOptions};

use scanseal_keys::KeyId;

/// Why a seal could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// A seal structure is not what the format requires.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which structure.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A format version this crate does not know.
    #[error("unsupported {what} version {found:?} (this scanseal reads {supported:?})")]
    UnsupportedVersion {
        /// Which structure.
        what: &'static str,
        /// The version found.
        found: String,
        /// The version supported.
        supported: &'static str,
    },
    /// The envelope names an algorithm other than EdDSA.
    #[error("envelope algorithm {found} is not accepted (only EdDSA, -8)")]
    UnsupportedAlgorithm {
        /// The algorithm found.
        found: String,
    },
    /// The signature does not verify.
    #[error("signature does not verify with key {key_id}")]
    BadSignature {
        /// The key it was checked with.
        key_id: KeyId,
    },
    /// A manifest or envelope names a different key than the one used.
    #[error("seal names key {manifest} but key {key} was given")]
    KeyMismatch {
        /// The key id in the seal.
        manifest: KeyId,
        /// The key id of the key given.
        key: KeyId,
    },
    /// The file already carries a seal and adding to its chain was not asked for.
    #[error("{path} is already sealed ({source_kind}); add a seal to its chain explicitly to countersign")]
    AlreadySealed {
        /// The file.
        path: std::path::PathBuf,
        /// `embedded` or `sidecar`.
        source_kind: &'static str,
    },
    /// A sidecar was asked for, but the file carries an embedded seal (which verifiers use
    /// instead of any sidecar).
    #[error(
        "{path} carries an embedded seal, which verifiers use instead of a sidecar; add to its \
         chain with --append (without --sidecar)"
    )]
    EmbeddedSealPresent {
        /// The file.
        path: std::path::PathBuf,
    },
    /// Adding to a chain was asked for, but the file has no seal.
    #[error("{path} has no seal to add to")]
    NotSealed {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The file has more than one seal block.
    #[error("{count} seal blocks at the top level; a file carries at most one")]
    SeveralBlocks {
        /// How many.
        count: usize,
    },
    /// An item of a top-level sequence holds elements of a seal block, which the canonical
    /// form excludes (canon C5.1.2), so a seal could not cover them (§6.1 B5).
    #[error(
        "an item of {attribute} holds a SCANSEAL 1 block, which no seal can cover; remove it \
         before sealing"
    )]
    SealBlockInItem {
        /// The top-level attribute holding the block (tag and keyword).
        attribute: String,
    },
    /// The output exists and would be overwritten.
    #[error("{path} already exists; scanseal does not overwrite outputs")]
    OutputExists {
        /// The output.
        path: std::path::PathBuf,
    },
    /// The instance could not be canonicalized.
    #[error(transparent)]
    Canon(#[from] scanseal_canon::CanonError),
    /// The seal block could not be located, read or written.
    #[error(transparent)]
    Embed(#[from] embed::EmbedError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
