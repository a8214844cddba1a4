//! The scanseal trust store (normative text: `spec/keys-and-trust.md`, `trust-store-v1`).
//!
//! A [`TrustStore`] lists the public keys a verifier accepts, each with a name, a [`Role`]
//! (what the key may sign: acquisition seals, de-identification seals, ledger entries), an
//! optional validity window and an optional revocation time. It is kept in a small TOML file
//! that is strictly validated on [`TrustStore::load`] and written atomically and
//! deterministically by [`TrustStore::save`].
//!
//! [`TrustStore::evaluate`] answers one question: may a signature by this key id, in this
//! role, made at this time, be trusted? The answer is a [`TrustDecision`] saying why or why
//! not. The signing time is asserted by the signer; this crate does not bound it (the ledger
//! does, in a later stage).
//!
//! It does **not** read private keys, check signatures (that is `scanseal-keys`), or know
//! what is signed (that is `scanseal-seal`). It does not lock the file: two processes
//! changing one store at the same time can lose one change (never corrupt the file).
//!
//! ```no_run
//! use scanseal_trust::{parse_time, Role, TrustDecision, TrustStore};
//!
//! let store = TrustStore::load(std::path::Path::new("trust.toml"))?;
//! let key_id = scanseal_keys::KeyId::from_hex("00112233445566778899aabbccddeeff")?;
//! match store.evaluate(&key_id, Role::Acquisition, parse_time("2026-11-25T10:00:00Z")?) {
//!     TrustDecision::Trusted(key) => println!("signed by {}", key.name),
//!     refused => println!("not trusted: {refused}"),
//! }
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use scanseal_keys::{KeyId, PublicKey};
use time::OffsetDateTime;

mod file;
mod times;

pub use times::{format_time, parse_time};

/// The version of the trust store file format this crate reads and writes.
pub const TRUST_STORE_VERSION: i64 = 1;

/// Why a trust store could not be read, written or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// Something is wrong in a trust store file.
    #[error("{path}: {error}")]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: Box<TrustError>,
    },
    /// Something is wrong at a place in the TOML text.
    #[error("line {line}, column {column}: {error}")]
    At {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong there.
        error: Box<TrustError>,
    },
    /// The text is not TOML, or not of the trust store's shape (an unknown or missing field,
    /// a value of the wrong type).
    #[error("{message}")]
    Toml {
        /// The TOML reader's message.
        message: String,
    },
    /// The file has no `version`.
    #[error("no `version = {TRUST_STORE_VERSION}`: not a scanseal trust store")]
    MissingVersion,
    /// The file is of another version.
    #[error("trust store version {found} is not supported (this scanseal reads version {TRUST_STORE_VERSION})")]
    UnsupportedVersion {
        /// The version found, as written.
        found: String,
    },
    /// A key name that is not allowed.
    #[error("key name {name:?} is not allowed: use letters, digits, '.', '_' and '-', not starting with '.', at most 128 characters")]
    BadName {
        /// The name given.
        name: String,
    },
    /// A role that is not one of the three.
    #[error("role {text:?} is not one of acquisition, deidentification, ledger")]
    BadRole {
        /// The text given.
        text: String,
    },
    /// A time that cannot be read.
    #[error("time {text:?}: {reason}")]
    BadTime {
        /// The text given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// A `public_key` value that is not base64 of an Ed25519 SubjectPublicKeyInfo.
    #[error("public_key: {reason}")]
    BadPublicKey {
        /// What is wrong.
        reason: String,
    },
    /// A `key_id` that is not the id of the entry's `public_key`.
    #[error("key {name}: key_id {stated:?} is not the id of its public_key, which is {computed}")]
    KeyIdMismatch {
        /// The entry.
        name: String,
        /// The key id written in the file.
        stated: String,
        /// The id of the public key.
        computed: KeyId,
    },
    /// A name already in the store.
    #[error("the trust store already has a key named {name}")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A key already in the store, under another or the same name.
    #[error("key {key_id} is already in the trust store as {existing}")]
    DuplicateKeyId {
        /// The key id.
        key_id: KeyId,
        /// The name of the entry that has it.
        existing: String,
    },
    /// A validity window that is empty.
    #[error("key {name}: not_before {} is not earlier than not_after {}", format_time(*.not_before), format_time(*.not_after))]
    BadWindow {
        /// The entry.
        name: String,
        /// Its start.
        not_before: OffsetDateTime,
        /// Its end.
        not_after: OffsetDateTime,
    },
    /// A name not in the store.
    #[error("the trust store has no key named {name}")]
    UnknownName {
        /// The name.
        name: String,
    },
    /// A revocation that would not move the revocation time earlier.
    #[error("key {name} is already revoked at {}; a revocation can only be moved earlier", format_time(*.at))]
    AlreadyRevoked {
        /// The entry.
        name: String,
        /// Its revocation time.
        at: OffsetDateTime,
    },
}

/// What a key may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Seals made at acquisition (by a modality or the gateway next to it).
    Acquisition,
    /// Seals made by a de-identification service.
    Deidentification,
    /// Ledger entries and checkpoints.
    Ledger,
}

impl Role {
    /// Every role, in the order above.
    pub const ALL: [Role; 3] = [Role::Acquisition, Role::Deidentification, Role::Ledger];

    /// The text form: `acquisition`, `deidentification` or `ledger`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Acquisition => "acquisition",
            Role::Deidentification => "deidentification",
            Role::Ledger => "ledger",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = TrustError;

    /// The exact text form (lowercase).
    fn from_str(text: &str) -> Result<Role, TrustError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| TrustError::BadRole {
                text: text.to_string(),
            })
    }
}

/// One key in a trust store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// Its name (letters, digits, `.`, `_`, `-`; not starting with `.`).
    pub name: String,
    /// What it may sign.
    pub role: Role,
    /// The key.
    pub public_key: PublicKey,
    /// Signatures made before this time are not trusted.
    pub not_before: Option<OffsetDateTime>,
    /// Signatures made after this time are not trusted.
    pub not_after: Option<OffsetDateTime>,
    /// Signatures made at or after this time are not trusted.
    pub revoked_at: Option<OffsetDateTime>,
}

impl TrustedKey {
    /// A key with no validity bounds and no revocation.
    pub fn new(name: &str, role: Role, public_key: PublicKey) -> TrustedKey {
        TrustedKey {
            name: name.to_string(),
            role,
            public_key,
            not_before: None,
            not_after: None,
            revoked_at: None,
        }
    }

    /// The id of its public key.
    pub fn key_id(&self) -> KeyId {
        self.public_key.key_id()
    }

    /// Its public key as the trust store writes it: base64 of the SubjectPublicKeyInfo DER
    /// (the body of the `.pub` PEM file).
    pub fn public_key_base64(&self) -> String {
        file::public_key_text(&self.public_key)
    }

    /// Checks the name and window, and brings every time to UTC whole seconds.
    fn normalized(mut self) -> Result<TrustedKey, TrustError> {
        check_name(&self.name)?;
        for time in [
            &mut self.not_before,
            &mut self.not_after,
            &mut self.revoked_at,
        ]
        .into_iter()
        .flatten()
        {
            *time = times::normalize(*time, &format_time(*time))?;
        }
        if let (Some(not_before), Some(not_after)) = (self.not_before, self.not_after) {
            if not_before >= not_after {
                return Err(TrustError::BadWindow {
                    name: self.name,
                    not_before,
                    not_after,
                });
            }
        }
        Ok(self)
    }
}

/// Whether a signature may be trusted, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustDecision<'a> {
    /// The key is in the store, has the role, and was valid and not revoked at the time.
    Trusted(&'a TrustedKey),
    /// No key with this id is in the store.
    Unknown,
    /// The key is in the store for another role.
    WrongRole {
        /// The key.
        key: &'a TrustedKey,
        /// The role that was asked for.
        wanted: Role,
    },
    /// The signature was made at or after the key's revocation.
    Revoked {
        /// The key.
        key: &'a TrustedKey,
        /// When it was revoked.
        at: OffsetDateTime,
    },
    /// The signature was made before the key's validity window.
    NotYetValid {
        /// The key.
        key: &'a TrustedKey,
        /// The start of its window.
        not_before: OffsetDateTime,
    },
    /// The signature was made after the key's validity window.
    Expired {
        /// The key.
        key: &'a TrustedKey,
        /// The end of its window.
        not_after: OffsetDateTime,
    },
}

impl<'a> TrustDecision<'a> {
    /// Whether this is `Trusted`.
    pub fn is_trusted(&self) -> bool {
        matches!(self, TrustDecision::Trusted(_))
    }

    /// The key the decision is about, unless it is `Unknown`.
    pub fn key(&self) -> Option<&'a TrustedKey> {
        match *self {
            TrustDecision::Trusted(key)
            | TrustDecision::WrongRole { key, .. }
            | TrustDecision::Revoked { key, .. }
            | TrustDecision::NotYetValid { key, .. }
            | TrustDecision::Expired { key, .. } => Some(key),
            TrustDecision::Unknown => None,
        }
    }

    /// One word for the decision, as used in the spec's test vectors: `trusted`, `unknown`,
    /// `wrong-role`, `revoked`, `not-yet-valid` or `expired`.
    pub fn word(&self) -> &'static str {
        match self {
            TrustDecision::Trusted(_) => "trusted",
            TrustDecision::Unknown => "unknown",
            TrustDecision::WrongRole { .. } => "wrong-role",
            TrustDecision::Revoked { .. } => "revoked",
            TrustDecision::NotYetValid { .. } => "not-yet-valid",
            TrustDecision::Expired { .. } => "expired",
        }
    }
}

impl fmt::Display for TrustDecision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustDecision::Trusted(key) => {
                write!(f, "key {} is trusted for {}", key.name, key.role)
            }
            TrustDecision::Unknown => f.write_str("key is not in the trust store"),
            TrustDecision::WrongRole { key, wanted } => write!(
                f,
                "key {} is trusted for {}, not {}",
                key.name, key.role, wanted
            ),
            TrustDecision::Revoked { key, at } => {
                write!(f, "key {} was revoked at {}", key.name, format_time(*at))
            }
            TrustDecision::NotYetValid { key, not_before } => write!(
                f,
                "key {} is not valid before {}",
                key.name,
                format_time(*not_before)
            ),
            TrustDecision::Expired { key, not_after } => {
                write!(f, "key {} expired at {}", key.name, format_time(*not_after))
            }
        }
    }
}

/// The keys a verifier trusts, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStore {
    keys: Vec<TrustedKey>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Reads and validates a trust store file (`trust-store-v1`).
    ///
    /// # Errors
    /// `Io`, or `InFile` naming what is wrong and where.
    pub fn load(path: &Path) -> Result<TrustStore, TrustError> {
        let bytes = std::fs::read(path).map_err(|error| TrustError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        // T2.1: UTF-8 TOML. Said as such rather than as an I/O error.
        let text = String::from_utf8(bytes).map_err(|e| TrustError::InFile {
            path: path.to_path_buf(),
            error: Box::new(TrustError::Toml {
                message: format!(
                    "not UTF-8 text (invalid byte at offset {}): a trust store is UTF-8 TOML",
                    e.utf8_error().valid_up_to()
                ),
            }),
        })?;
        TrustStore::from_toml(&text).map_err(|error| TrustError::InFile {
            path: path.to_path_buf(),
            error: Box::new(error),
        })
    }

    /// Parses and validates the text of a trust store file.
    ///
    /// # Errors
    /// What is wrong, inside `At` when it has a place in the text.
    pub fn from_toml(text: &str) -> Result<TrustStore, TrustError> {
        file::parse(text)
    }

    /// The file text: deterministic, entries in insertion order.
    pub fn to_toml(&self) -> String {
        file::write(self)
    }

    /// Writes the store to `path` atomically: a temporary file in the same directory is
    /// written and synced, then renamed over `path`, then the directory is synced. On failure
    /// `path` is unchanged. An existing file's permissions are kept.
    ///
    /// # Errors
    /// `Io`.
    pub fn save(&self, path: &Path) -> Result<(), TrustError> {
        file::write_atomic(path, self.to_toml().as_bytes()).map_err(|error| TrustError::Io {
            path: path.to_path_buf(),
            error,
        })
    }

    /// Adds a key. Its times are stored as UTC whole seconds (sub-seconds truncated).
    ///
    /// # Errors
    /// `BadName`, `BadTime` (outside 0000–9999), `BadWindow` (`not_before` not earlier than
    /// `not_after`), `DuplicateName`, or `DuplicateKeyId` naming the entry that has the key.
    pub fn add(&mut self, key: TrustedKey) -> Result<(), TrustError> {
        let key = key.normalized()?;
        if self.find_by_name(&key.name).is_some() {
            return Err(TrustError::DuplicateName { name: key.name });
        }
        let key_id = key.key_id();
        if let Some(existing) = self.find(&key_id) {
            return Err(TrustError::DuplicateKeyId {
                key_id,
                existing: existing.name.clone(),
            });
        }
        self.keys.push(key);
        Ok(())
    }

    /// Revokes the key named `name` from time `at` (UTC, whole seconds; sub-seconds
    /// truncated): signatures made at or after `at` are no longer trusted. A key that is
    /// already revoked can only have its revocation moved earlier.
    ///
    /// # Errors
    /// `UnknownName`, `BadTime` (outside 0000–9999), or `AlreadyRevoked` when the key is
    /// already revoked at or before `at`.
    pub fn revoke(&mut self, name: &str, at: OffsetDateTime) -> Result<(), TrustError> {
        let at = times::normalize(at, &format_time(at))?;
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.name == name)
            .ok_or_else(|| TrustError::UnknownName {
                name: name.to_string(),
            })?;
        if let Some(existing) = key.revoked_at {
            if existing <= at {
                return Err(TrustError::AlreadyRevoked {
                    name: name.to_string(),
                    at: existing,
                });
            }
        }
        key.revoked_at = Some(at);
        Ok(())
    }

    /// Every key, in the order added.
    pub fn entries(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// The key with this id.
    pub fn find(&self, key_id: &KeyId) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.key_id() == *key_id)
    }

    /// The key with this name.
    pub fn find_by_name(&self, name: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// The public keys whose signatures in `role` made at `at` would be trusted (every
    /// [`TrustStore::evaluate`] rule applied), in the order added. For checkpoints, which carry
    /// no time, `at` is the time of verification.
    pub fn trusted_keys(&self, role: Role, at: OffsetDateTime) -> Vec<PublicKey> {
        self.keys
            .iter()
            .filter(|key| self.evaluate(&key.key_id(), role, at).is_trusted())
            .map(|key| key.public_key.clone())
            .collect()
    }

    /// Decides whether a signature by `key_id`, in role `role`, made at `signed_at`, may be
    /// trusted. Checks, in this order: the key is in the store (`Unknown`), has the role
    /// (`WrongRole`), `signed_at` is before its revocation (`Revoked`), and `signed_at` is
    /// within `not_before <= signed_at <= not_after` (`NotYetValid`, `Expired`).
    ///
    /// `signed_at` is whatever the signer asserted; bounding it is the ledger's job.
    pub fn evaluate(
        &self,
        key_id: &KeyId,
        role: Role,
        signed_at: OffsetDateTime,
    ) -> TrustDecision<'_> {
        let Some(key) = self.find(key_id) else {
            return TrustDecision::Unknown;
        };
        if key.role != role {
            return TrustDecision::WrongRole { key, wanted: role };
        }
        if let Some(at) = key.revoked_at {
            if signed_at >= at {
                return TrustDecision::Revoked { key, at };
            }
        }
        if let Some(not_before) = key.not_before {
            if signed_at < not_before {
                return TrustDecision::NotYetValid { key, not_before };
            }
        }
        if let Some(not_after) = key.not_after {
            if signed_at > not_after {
                return TrustDecision::Expired { key, not_after };
            }
        }
        TrustDecision::Trusted(key)
    }
}

/// Checks the key-name rule of `scanseal-keys` key files (spec K5): letters, digits, `.`,
/// `_`, `-`, not starting with `.`, 1 to 128 characters.
///
/// # Errors
/// `BadName`.
pub fn check_name(name: &str) -> Result<(), TrustError> {
    if scanseal_keys::is_valid_key_name(name) {
        Ok(())
    } else {
        Err(TrustError::BadName {
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
