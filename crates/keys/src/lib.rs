//! Ed25519 keys for scanseal (normative text: `spec/keys-and-trust.md`).
//!
//! - [`SigningKey`]: a private key, read from a PKCS#8 PEM file that only its owner may read,
//!   zeroized on drop and never shown by `Debug`.
//! - [`PublicKey`]: a public key, read from or written as SubjectPublicKeyInfo PEM, checking
//!   signatures with `verify_strict` (no malleable or small-order signatures).
//! - [`KeyId`]: the 16-byte key id, the first half of SHA-256 over the key's
//!   SubjectPublicKeyInfo DER, so anyone can recompute it with
//!   `openssl pkey -pubin -in K.pub -outform DER | sha256sum | cut -c1-32`.
//! - [`write_key_pair`]: creates `NAME.key` (mode 0600, never overwriting) and `NAME.pub`.
//!
//! It does **not** decide whether a key is trusted (that is `scanseal-trust`), and it does
//! not know what is signed (that is `scanseal-seal`).
//!
//! ```no_run
//! use scanseal_keys::{write_key_pair, SigningKey};
//!
//! let pair = write_key_pair(std::path::Path::new("keys"), "ct-01")?;
//! let key = SigningKey::load(&pair.private_key_path)?;
//! let signature = key.sign(b"message");
//! key.public_key().verify(b"message", &signature)?;
//! # Ok::<_, scanseal_keys::KeyError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod base64;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Length of a key id in bytes.
pub const KEY_ID_LEN: usize = 16;

/// Why a key could not be read, written or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A private key file can be read by other users.
    #[error(
        "{path}: private key is readable by group or others (mode {mode:04o}); \
         run `chmod 600 {path}` if it has not leaked, or make a new key if it may have"
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file is not an Ed25519 key in the expected PEM form.
    #[error("{what}: {reason}")]
    Malformed {
        /// The file, or what was being read.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// `write_key_pair` would overwrite an existing file.
    #[error("{path} already exists; scanseal never overwrites a key")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// A key name that cannot be a file name.
    #[error("key name {name:?} is not allowed: use letters, digits, '.', '_' and '-', not starting with '.'")]
    BadName {
        /// The name given.
        name: String,
    },
    /// A key id that is not 32 hex digits.
    #[error("key id {text:?} is not {} hex digits", KEY_ID_LEN * 2)]
    BadKeyId {
        /// The text given.
        text: String,
    },
    /// A signature that does not verify (or is not 64 bytes).
    #[error("signature does not verify with key {key_id}")]
    BadSignature {
        /// The key it was checked against.
        key_id: KeyId,
    },
}

/// A key id: `SHA-256(SubjectPublicKeyInfo DER)[0..16]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl KeyId {
    /// Parses 32 hex digits.
    ///
    /// # Errors
    /// `BadKeyId` for anything else.
    pub fn from_hex(text: &str) -> Result<KeyId, KeyError> {
        let bad = || KeyError::BadKeyId {
            text: text.to_string(),
        };
        let bytes = hex::decode(text.trim()).map_err(|_| bad())?;
        Self::from_slice(&bytes).ok_or_else(bad)
    }

    /// The key id in `bytes`, if it is exactly 16 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<KeyId> {
        <[u8; KEY_ID_LEN]>::try_from(bytes).ok().map(KeyId)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

/// An Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`) file.
    ///
    /// # Errors
    /// `Io` or `Malformed`.
    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        PublicKey::from_pem(&text).map_err(|e| match e {
            KeyError::Malformed { reason, .. } => KeyError::Malformed {
                what: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Parses SubjectPublicKeyInfo PEM.
    ///
    /// # Errors
    /// `Malformed` when it is not an Ed25519 public key in that form.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        if text.contains("PRIVATE KEY") {
            return Err(malformed(
                "public key",
                "this is a private key; give the .pub file",
            ));
        }
        ed25519_dalek::VerifyingKey::from_public_key_pem(text.trim())
            .map(|key| PublicKey { key })
            .map_err(|e| {
                malformed(
                    "public key",
                    &format!("not an Ed25519 SubjectPublicKeyInfo PEM ({e})"),
                )
            })
    }

    /// Parses SubjectPublicKeyInfo DER.
    ///
    /// # Errors
    /// `Malformed` when it is not an Ed25519 public key.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        ed25519_dalek::VerifyingKey::from_public_key_der(der)
            .map(|key| PublicKey { key })
            .map_err(|e| {
                malformed(
                    "public key",
                    &format!("not an Ed25519 SubjectPublicKeyInfo ({e})"),
                )
            })
    }

    /// The 32-byte raw key (RFC 8032).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The SubjectPublicKeyInfo DER encoding (44 bytes).
    pub fn spki_der(&self) -> Vec<u8> {
        // RFC 8410 §4: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING key }.
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(self.key.as_bytes());
        der
    }

    /// SubjectPublicKeyInfo PEM with LF line endings.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_else(|_| pem_from_der("PUBLIC KEY", &self.spki_der()))
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        let digest = Sha256::digest(self.spki_der());
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        KeyId(id)
    }

    /// Checks an Ed25519 signature with `verify_strict`.
    ///
    /// # Errors
    /// `BadSignature` when it does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        let bad = || KeyError::BadSignature {
            key_id: self.key_id(),
        };
        let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| bad())?;
        self.key
            .verify_strict(message, &signature)
            .map_err(|_| bad())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

/// An Ed25519 private key. Zeroized on drop; `Debug` shows only its key id.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> SigningKey {
        SigningKey {
            key: ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// A key from its 32-byte seed (RFC 8032 private key). For test vectors.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey {
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// Reads a PKCS#8 PEM private key file, refusing one that group or others can read.
    ///
    /// # Errors
    /// `InsecurePermissions`, `Io` or `Malformed`.
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        check_private_permissions(path, &file)?;
        let mut bytes = Zeroizing::new(Vec::new());
        std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(io)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Malformed {
            what: path.display().to_string(),
            reason: "not a PEM private key file: it is not text (not UTF-8)".into(),
        })?;
        SigningKey::from_pem(text).map_err(|e| match e {
            KeyError::Malformed { reason, .. } => KeyError::Malformed {
                what: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Parses a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) Ed25519 key (v1 or v2).
    ///
    /// # Errors
    /// `Malformed` when it is not one. The message never contains key material.
    pub fn from_pem(text: &str) -> Result<SigningKey, KeyError> {
        if text.contains("BEGIN PUBLIC KEY") {
            return Err(malformed(
                "private key",
                "this is a public key; give the .key file",
            ));
        }
        if text.trim().is_empty() {
            return Err(malformed("private key", "the file is empty"));
        }
        if !text.contains("-----BEGIN ") {
            return Err(malformed(
                "private key",
                "not a PEM file (no \"-----BEGIN PRIVATE KEY-----\" line)",
            ));
        }
        ed25519_dalek::SigningKey::from_pkcs8_pem(text.trim())
            .map(|key| SigningKey { key })
            .map_err(|e| {
                let why = other_algorithm(text).unwrap_or_else(|| e.to_string());
                malformed(
                    "private key",
                    &format!("not an Ed25519 PKCS#8 PEM private key ({why})"),
                )
            })
    }

    /// PKCS#8 v1 PEM (RFC 8410 §7), the form `openssl genpkey -algorithm ed25519` writes.
    pub fn to_pem(&self) -> Zeroizing<String> {
        let keypair = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.key.to_bytes(),
            public_key: None,
        };
        match keypair.to_pkcs8_pem(LineEnding::LF) {
            Ok(pem) => pem,
            // Encoding 32 bytes cannot fail; fall back to writing the fixed DER by hand.
            Err(_) => {
                let mut der = Zeroizing::new(vec![
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04,
                    0x22, 0x04, 0x20,
                ]);
                der.extend_from_slice(&keypair.secret_key);
                Zeroizing::new(pem_from_der("PRIVATE KEY", &der))
            }
        }
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
        }
    }

    /// The key id of the public half.
    pub fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }

    /// Signs `message` (pure Ed25519, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, secret redacted)", self.key_id())
    }
}

/// What a PKCS#8 private key of another algorithm is, by its algorithm OID, when `text` is one
/// (the PKCS#8 reader would only say that it does not know the Ed25519 OID it expected).
fn other_algorithm(text: &str) -> Option<String> {
    use ed25519_dalek::pkcs8::{spki::der::pem, PrivateKeyInfo};
    let (label, der) = pem::decode_vec(text.trim().as_bytes()).ok()?;
    let der = Zeroizing::new(der);
    if label != "PRIVATE KEY" {
        return None;
    }
    let oid = PrivateKeyInfo::try_from(der.as_slice())
        .ok()?
        .algorithm
        .oid
        .to_string();
    let name = match oid.as_str() {
        "1.3.101.112" => return None,
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => "an RSA key",
        "1.2.840.10045.2.1" => "an elliptic-curve (ECDSA) key",
        "1.3.101.113" => "an Ed448 key",
        "1.3.101.110" => "an X25519 key",
        "1.3.101.111" => "an X448 key",
        _ => "a key of another algorithm",
    };
    Some(format!(
        "this is {name}, algorithm OID {oid}; scanseal keys are Ed25519, OID 1.3.101.112"
    ))
}

/// The two files [`write_key_pair`] created.
#[derive(Debug, Clone)]
pub struct KeyPairFiles {
    /// `NAME.key`.
    pub private_key_path: PathBuf,
    /// `NAME.pub`.
    pub public_key_path: PathBuf,
    /// The new key's id.
    pub key_id: KeyId,
}

/// Generates a key and writes (creating `DIR` if needed) `DIR/NAME.key` (PKCS#8 PEM, created new with mode 0600) and
/// `DIR/NAME.pub` (SubjectPublicKeyInfo PEM). Refuses if either file exists; on failure
/// removes what it created.
///
/// # Errors
/// `BadName`, `Exists` or `Io`.
pub fn write_key_pair(dir: &Path, name: &str) -> Result<KeyPairFiles, KeyError> {
    check_name(name)?;
    let private_key_path = dir.join(format!("{name}.key"));
    let public_key_path = dir.join(format!("{name}.pub"));
    for path in [&private_key_path, &public_key_path] {
        if path.symlink_metadata().is_ok() {
            return Err(KeyError::Exists { path: path.clone() });
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let key = SigningKey::generate();
    write_new(&private_key_path, key.to_pem().as_bytes(), 0o600)?;
    if let Err(e) = write_new(
        &public_key_path,
        key.public_key().to_pem().as_bytes(),
        0o644,
    ) {
        // Do not leave a private key whose public half was never written.
        let _ = std::fs::remove_file(&private_key_path);
        return Err(e);
    }
    Ok(KeyPairFiles {
        private_key_path,
        public_key_path,
        key_id: key.key_id(),
    })
}

/// The key-name rule (spec K5), shared by key files and trust-store entries: 1 to 128
/// letters, digits, `.`, `_` and `-`, not starting with `.` (so a name is a safe file name).
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(KeyError::BadName {
            name: name.to_string(),
        })
    }
}

/// Creates `path` (failing if it exists) with `mode`, writes `bytes` and syncs it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            KeyError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(io(e));
    }
    if let Some(parent) = path.parent() {
        // Make the new directory entry durable too.
        if let Ok(dir) = File::open(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        }) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

fn check_private_permissions(path: &Path, file: &File) -> Result<(), KeyError> {
    match access_by_others(file) {
        Ok(None) => Ok(()),
        Ok(Some(mode)) => Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        }),
        Err(source) => Err(KeyError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The file's permission bits when its group or others may access it (a secret such as a
/// private key must be readable by its owner only); `None` when they may not, and always on
/// platforms without Unix permissions.
///
/// # Errors
/// When the file's metadata cannot be read.
pub fn access_by_others(file: &File) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode() & 0o7777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(None)
    }
}

fn malformed(what: &str, reason: &str) -> KeyError {
    KeyError::Malformed {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

fn pem_from_der(label: &str, der: &[u8]) -> String {
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in base64::encode(der).as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test_1_key_id_and_signature() {
        // RFC 8032 §7.1 TEST 1.
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let key = SigningKey::from_seed(&seed);
        assert_eq!(
            hex::encode(key.public_key().to_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let signature = key.sign(b"");
        assert_eq!(
            hex::encode(signature),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        key.public_key().verify(b"", &signature).unwrap();
        assert!(key.public_key().verify(b"x", &signature).is_err());
        // The key id is SHA-256 over the 44-byte SPKI; the DER must match what the pkcs8
        // encoder produces.
        let der = key
            .public_key()
            .key
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        assert_eq!(der, key.public_key().spki_der());
        assert_eq!(
            key.key_id().to_hex(),
            hex::encode(&Sha256::digest(&der)[..16])
        );
    }

    #[test]
    fn pem_round_trip_and_fallback_encoder_agree() {
        let key = SigningKey::generate();
        let pem = key.to_pem();
        let back = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(back.key_id(), key.key_id());
        let public = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        assert_eq!(public, key.public_key());
        assert_eq!(
            pem_from_der("PUBLIC KEY", &key.public_key().spki_der()),
            key.public_key().to_pem()
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let seed = [7u8; 32];
        let key = SigningKey::from_seed(&seed);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode(seed)));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn key_pair_files_never_overwrite_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let pair = write_key_pair(dir.path(), "ct-01").unwrap();
        let key = SigningKey::load(&pair.private_key_path).unwrap();
        assert_eq!(key.key_id(), pair.key_id);
        assert_eq!(
            PublicKey::load(&pair.public_key_path).unwrap().key_id(),
            pair.key_id
        );
        assert!(matches!(
            write_key_pair(dir.path(), "ct-01"),
            Err(KeyError::Exists { .. })
        ));
        assert!(matches!(
            write_key_pair(dir.path(), "../x"),
            Err(KeyError::BadName { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&pair.private_key_path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(
                &pair.private_key_path,
                std::fs::Permissions::from_mode(0o640),
            )
            .unwrap();
            let err = SigningKey::load(&pair.private_key_path).unwrap_err();
            assert!(matches!(
                err,
                KeyError::InsecurePermissions { mode: 0o640, .. }
            ));
            assert!(err.to_string().contains("chmod 600"));
        }
    }

    #[test]
    fn wrong_kinds_of_pem_are_named() {
        let key = SigningKey::generate();
        let err = SigningKey::from_pem(&key.public_key().to_pem()).unwrap_err();
        assert!(err.to_string().contains("public key"));
        let err = PublicKey::from_pem(&key.to_pem()).unwrap_err();
        assert!(err.to_string().contains("private key"));
        assert!(PublicKey::from_pem("garbage").is_err());
        assert!(SigningKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err());
    }
}
