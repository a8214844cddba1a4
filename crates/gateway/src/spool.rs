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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A pending instance `key` with `bytes` as content.
    fn put_pending(spool: &Spool, key: &str, bytes: &[u8]) -> PathBuf {
        let path = spool.pending(key);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn open_creates_the_layout_empties_incoming_and_drops_only_seal_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("spool");
        let spool = Spool::open(&root).unwrap();
        for sub in ["incoming", "pending", "delivered", "failed"] {
            assert!(root.join(sub).is_dir(), "{sub}/ was not created");
        }
        assert_eq!(spool.incoming(), root.join("incoming"));
        assert_eq!(spool.pending("ab"), root.join("pending").join("ab.dcm"));

        // What a previous run left behind.
        std::fs::write(root.join("incoming").join("instance-1.part"), b"half").unwrap();
        std::fs::write(root.join("incoming").join("instance-2.part"), b"half").unwrap();
        std::fs::write(root.join("pending").join(".scanseal-x1y2.tmp"), b"cut").unwrap();
        put_pending(&spool, "aa11", b"sealed");
        put_pending(&spool, "bb22", b"sealed too");
        std::fs::write(root.join("delivered").join("cc33"), b"").unwrap();
        std::fs::write(root.join("failed").join("dd44.dcm"), b"bad").unwrap();

        let reopened = Spool::open(&root).unwrap();
        assert!(names(&root.join("incoming")).is_empty());
        assert_eq!(names(&root.join("pending")), ["aa11.dcm", "bb22.dcm"]);
        assert_eq!(
            std::fs::read(root.join("pending").join("aa11.dcm")).unwrap(),
            b"sealed"
        );
        assert_eq!(names(&root.join("delivered")), ["cc33"]);
        assert_eq!(names(&root.join("failed")), ["dd44.dcm"]);
        assert!(reopened.is_delivered("cc33"));
        assert!(!reopened.is_delivered("aa11"));
    }

    #[test]
    fn mark_delivered_writes_the_marker_and_drops_the_pending_file() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let pending = put_pending(&spool, "k1", b"sealed");
        assert!(!spool.is_delivered("k1"));
        spool.mark_delivered("k1").unwrap();
        assert!(spool.is_delivered("k1"));
        assert!(dir.path().join("delivered").join("k1").is_file());
        assert!(!pending.exists());
        assert!(spool.pending_keys().is_empty());
        // Nothing pending to drop: an error.
        assert!(matches!(
            spool.mark_delivered("k2"),
            Err(GatewayError::Io { .. })
        ));
    }

    #[test]
    fn mark_failed_sets_aside_and_requeue_failed_puts_back() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let pending = put_pending(&spool, "k1", b"sealed k1");
        let failed = dir.path().join("failed").join("k1.dcm");

        spool.mark_failed("k1").unwrap();
        assert!(!pending.exists());
        assert_eq!(std::fs::read(&failed).unwrap(), b"sealed k1");
        assert!(spool.pending_keys().is_empty());
        assert!(!spool.is_delivered("k1"));

        assert!(spool.requeue_failed("k1").unwrap());
        assert!(!failed.exists());
        assert_eq!(std::fs::read(&pending).unwrap(), b"sealed k1");
        assert_eq!(spool.pending_keys(), ["k1"]);

        // Nothing (left) in failed/.
        assert!(!spool.requeue_failed("k1").unwrap());
        assert!(!spool.requeue_failed("never-seen").unwrap());
        assert!(pending.exists());
        // Nothing pending to set aside.
        assert!(spool.mark_failed("never-seen").is_err());
    }

    #[test]
    fn pending_keys_are_oldest_first_and_only_dcm_files() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let base = SystemTime::now() - Duration::from_secs(3600);
        // Created in an order different from both name order and age order.
        for (key, age_s) in [("bb", 10), ("cc", 30), ("aa", 20), ("dd", 0)] {
            let path = put_pending(&spool, key, key.as_bytes());
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            let modified = base - Duration::from_secs(age_s);
            file.set_modified(modified).unwrap();
        }
        // Not instances: a seal's temporary and a stray file.
        std::fs::write(dir.path().join("pending").join(".scanseal-t.tmp"), b"").unwrap();
        std::fs::write(dir.path().join("pending").join("notes.txt"), b"").unwrap();
        assert_eq!(spool.pending_keys(), ["cc", "aa", "bb", "dd"]);

        // Making the oldest the newest moves it to the end.
        let file = std::fs::File::options()
            .write(true)
            .open(spool.pending("cc"))
            .unwrap();
        file.set_modified(base + Duration::from_secs(5)).unwrap();
        assert_eq!(spool.pending_keys(), ["aa", "bb", "dd", "cc"]);
    }

    #[test]
    fn pending_keys_of_an_empty_spool_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert!(spool.pending_keys().is_empty());
    }

    #[test]
    fn instance_key_is_the_ledger_key_in_lowercase_hex() {
        let uid = "1.2.826.0.1.3680043.8.498.12345";
        let key = instance_key(uid);
        assert_eq!(key.len(), 64);
        assert!(
            key.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{key}"
        );
        assert_eq!(key, scanseal_ledger::instance_key(Some(uid)).to_hex());
        assert_eq!(key, instance_key(uid), "not deterministic");
        assert_ne!(key, instance_key("1.2.826.0.1.3680043.8.498.12346"));
        assert_ne!(key, instance_key(""));
        assert!(!key.contains(uid));
    }
}
