//! The spool: where received instances wait, sealed, until the PACS has them. It is the
//! gateway's only state besides the ledger, and survives a restart:
//!
//! - `incoming/`: instances being received (not yet sealed); emptied at start, since their
//!   sender was never told they were stored and sends them again;
//! - `pending/KEY.dcm`: sealed and recorded, not yet accepted by the PACS;
//! - `delivered/KEY`: an empty marker per instance the PACS accepted, so that a sender that
//!   repeats an instance (it did not get the answer) does not make a second seal;
//! - `failed/KEY.dcm`: refused by the PACS for good (not retried; for a person to look at).
//!
//! `KEY` is a hash of the SOP Instance UID ([`instance_key`]): file names carry no UID.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::GatewayError;

/// The spool's directory name for an instance: the first 32 hex digits of
/// SHA-256("scanseal-gateway-instance-v1" ‖ SOP Instance UID). Also the instance's name in
/// the log, so that logs carry no UID.
pub fn instance_key(sop_instance_uid: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"scanseal-gateway-instance-v1");
    hasher.update(sop_instance_uid.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
}

impl Spool {
    /// Opens (creating) the spool at `root` and empties `incoming/`.
    ///
    /// # Errors
    /// `Io` when a directory cannot be created or cleaned.
    pub fn open(root: &Path) -> Result<Spool, GatewayError> {
        let spool = Spool {
            root: root.to_path_buf(),
        };
        for dir in ["incoming", "pending", "delivered", "failed"] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).map_err(|source| GatewayError::Io {
                path: path.clone(),
                source,
            })?;
        }
        let incoming = root.join("incoming");
        let entries = std::fs::read_dir(&incoming).map_err(|source| GatewayError::Io {
            path: incoming.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        // Temporary files of a seal cut short by a crash (the sealed file is only renamed
        // into place once it is complete and recorded).
        if let Ok(entries) = std::fs::read_dir(root.join("pending")) {
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".scanseal-")
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(spool)
    }

    /// The directory for instances being received.
    pub fn incoming(&self) -> PathBuf {
        self.root.join("incoming")
    }

    /// Where the sealed instance `key` waits for the PACS.
    pub fn pending(&self, key: &str) -> PathBuf {
        self.root.join("pending").join(format!("{key}.dcm"))
    }

    /// Whether the PACS has accepted instance `key`.
    pub fn is_delivered(&self, key: &str) -> bool {
        self.root.join("delivered").join(key).exists()
    }

    /// Records that the PACS accepted instance `key` and drops its pending file.
    ///
    /// # Errors
    /// `Io` when the marker cannot be written.
    pub fn mark_delivered(&self, key: &str) -> Result<(), GatewayError> {
        let marker = self.root.join("delivered").join(key);
        std::fs::File::create(&marker)
            .and_then(|file| file.sync_all())
            .map_err(|source| GatewayError::Io {
                path: marker.clone(),
                source,
            })?;
        scanseal_seal::sync_directory(&marker);
        let pending = self.pending(key);
        std::fs::remove_file(&pending).map_err(|source| GatewayError::Io {
            path: pending,
            source,
        })
    }

    /// Moves instance `key` out of the retry queue after the PACS refused it for good.
    ///
    /// # Errors
    /// `Io` when it cannot be moved.
    pub fn mark_failed(&self, key: &str) -> Result<(), GatewayError> {
        let target = self.root.join("failed").join(format!("{key}.dcm"));
        std::fs::rename(self.pending(key), &target).map_err(|source| GatewayError::Io {
            path: target,
            source,
        })
    }

    /// The keys of the instances waiting for the PACS, oldest first.
    pub fn pending_keys(&self) -> Vec<String> {
        let dir = self.root.join("pending");
        let mut found: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|entry| {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        let key = name.strip_suffix(".dcm")?.to_string();
                        let modified = entry.metadata().and_then(|m| m.modified()).ok()?;
                        Some((modified, key))
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found.into_iter().map(|(_, key)| key).collect()
    }
}
