//! The spool: where received instances wait, sealed, until the PACS has them. It is the
//! gateway's only state besides the ledger, and survives a restart:
//!
//! - `incoming/`: instances being received (not yet sealed); emptied at start, since their
//!   sender was never told they were stored and sends them again;
//! - `pending/KEY.dcm`: sealed and recorded, not yet accepted by the PACS;
//! - `delivered/KEY`: an empty marker per instance the PACS accepted, so that a sender that
//!   repeats an instance (it did not get the answer) does not make a second seal;
//! - `failed/KEY.dcm`: the PACS answered with an error status (not retried, since the same
//!   data set would get the same error; for a person to look at, or sent again by the modality).
//!
//! `KEY` is the ledger's hash of the SOP Instance UID ([`instance_key`]): file names carry no
//! UID.

use std::path::{Path, PathBuf};

use crate::GatewayError;

/// The name of an instance in the spool, in sidecar file names and in the log: the hex of
/// its ledger key, SHA-256("scanseal-ledger-v1 sop-instance-uid" ‖ 0x00 ‖ SOP Instance UID)
/// (spec/ledger.md §3.2). It carries no UID, and it finds the instance's entries in the ledger.
pub fn instance_key(sop_instance_uid: &str) -> String {
    scanseal_ledger::instance_key(Some(sop_instance_uid)).to_hex()
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

    /// Moves instance `key` back from `failed/` to `pending/` (a modality sent it again after
    /// the PACS found an error in it): whether it was there.
    ///
    /// # Errors
    /// `Io` when it is there but cannot be moved.
    pub fn requeue_failed(&self, key: &str) -> Result<bool, GatewayError> {
        let failed = self.root.join("failed").join(format!("{key}.dcm"));
        if !failed.exists() {
            return Ok(false);
        }
        let pending = self.pending(key);
        std::fs::rename(&failed, &pending).map_err(|source| GatewayError::Io {
            path: failed,
            source,
        })?;
        scanseal_seal::sync_directory(&pending);
        Ok(true)
    }

    /// Moves instance `key` out of the retry queue after the PACS found an error in it.
    ///
    /// # Errors
    /// `Io` when it cannot be moved.
    pub fn mark_failed(&self, key: &str) -> Result<(), GatewayError> {
        let target = self.root.join("failed").join(format!("{key}.dcm"));
        std::fs::rename(self.pending(key), &target).map_err(|source| GatewayError::Io {
            path: target.clone(),
            source,
        })?;
        scanseal_seal::sync_directory(&target);
        Ok(())
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
