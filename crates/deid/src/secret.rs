//! The de-identification secret: the key of every derivation (UID mapping, date shift).

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::DeidError;

/// Domain-separation prefix of [`Secret::from_bytes`]: the secret is
/// SHA-256(`SECRET_PREFIX` ‖ bytes).
pub const SECRET_PREFIX: &[u8] = b"scanseal-deid-v1 secret\0";

/// The fewest bytes [`Secret::from_bytes`] accepts.
pub const MIN_SECRET_BYTES: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// A 32-byte secret keying the UID mapping and the date shift (HMAC-SHA-256). Whoever holds it
/// can recompute (not invert) every mapping; keep it like a key.
///
/// `Debug` does not show it, it is wiped from memory when dropped, and it cannot be compared.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret([u8; 32]);

impl Secret {
    /// A fresh secret from the operating system's random number generator. Mappings made with
    /// it can never be reproduced once it is dropped.
    ///
    /// # Errors
    /// `Randomness` if the generator fails.
    pub fn random() -> Result<Secret, DeidError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|source| DeidError::Randomness { source })?;
        Ok(Secret(bytes))
    }

    /// A secret derived from `bytes` (for example a file's content), so that a later run with
    /// the same bytes reproduces every mapping: SHA-256 of [`SECRET_PREFIX`] and `bytes`.
    ///
    /// # Errors
    /// `SecretTooShort` for fewer than [`MIN_SECRET_BYTES`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, DeidError> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(DeidError::SecretTooShort {
                len: bytes.len(),
                min: MIN_SECRET_BYTES,
            });
        }
        let digest = Sha256::new()
            .chain_update(SECRET_PREFIX)
            .chain_update(bytes)
            .finalize();
        Ok(Secret(digest.into()))
    }

    /// The secret derived ([`Secret::from_bytes`]) from the content of the file at `path`,
    /// taken as it is (a trailing newline counts). Like a private key file, the file must not
    /// be readable by group or others (on Unix).
    ///
    /// # Errors
    /// `Io` if the file cannot be read, `InsecureSecretPermissions` if group or others may read
    /// it, `SecretTooShort` if it holds fewer than [`MIN_SECRET_BYTES`] bytes.
    pub fn load(path: &Path) -> Result<Secret, DeidError> {
        let io = |source| DeidError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        check_permissions(path, &file)?;
        let mut bytes = Zeroizing::new(Vec::new());
        file.read_to_end(&mut bytes).map_err(io)?;
        Secret::from_bytes(&bytes)
    }

    /// HMAC-SHA-256 keyed with the secret over `domain` ‖ `message`.
    pub(crate) fn mac(&self, domain: &[u8], message: &[u8]) -> [u8; 32] {
        // HMAC pads a key shorter than the hash's block size with zeros (RFC 2104 §2), so the
        // 32-byte secret zero-padded to the 64-byte block is the same key, and this
        // constructor cannot fail.
        let mut key = Key::<HmacSha256>::default();
        for (k, s) in key.iter_mut().zip(self.0.iter()) {
            *k = *s;
        }
        let mut mac = <HmacSha256 as KeyInit>::new(&key);
        key.as_mut_slice().zeroize();
        mac.update(domain);
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

fn check_permissions(path: &Path, file: &File) -> Result<(), DeidError> {
    match scanseal_keys::access_by_others(file) {
        Ok(None) => Ok(()),
        Ok(Some(mode)) => Err(DeidError::InsecureSecretPermissions {
            path: path.to_path_buf(),
            mode,
        }),
        Err(source) => Err(DeidError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bytes_needs_16_bytes_and_is_deterministic() {
        assert!(matches!(
            Secret::from_bytes(b"fifteen bytes!!"),
            Err(DeidError::SecretTooShort { len: 15, min: 16 })
        ));
        let a = Secret::from_bytes(b"sixteen bytes!!!").unwrap();
        let b = Secret::from_bytes(b"sixteen bytes!!!").unwrap();
        let c = Secret::from_bytes(b"sixteen bytes!!?").unwrap();
        assert_eq!(a.0, b.0);
        assert_ne!(a.0, c.0);
        let expected: [u8; 32] = Sha256::new()
            .chain_update(b"scanseal-deid-v1 secret\0")
            .chain_update(b"sixteen bytes!!!")
            .finalize()
            .into();
        assert_eq!(a.0, expected);
    }

    #[test]
    fn load_reads_an_owner_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uid.secret");
        std::fs::write(&path, b"0123456789abcdef0123456789abcdef").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                Secret::load(&path),
                Err(DeidError::InsecureSecretPermissions { mode: 0o644, .. })
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let loaded = Secret::load(&path).unwrap();
        let direct = Secret::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(loaded.0, direct.0);
        assert!(matches!(
            Secret::load(&dir.path().join("missing")),
            Err(DeidError::Io { .. })
        ));
    }

    #[test]
    fn random_secrets_differ() {
        let a = Secret::random().unwrap();
        let b = Secret::random().unwrap();
        assert_ne!(a.0, b.0);
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let secret = Secret([0xAB; 32]);
        let shown = format!("{secret:?}");
        assert_eq!(shown, "Secret { .. }");
        assert!(!shown.to_lowercase().contains("ab"));
    }

    #[test]
    fn mac_is_hmac_sha256_with_the_32_byte_key() {
        let secret = Secret::from_bytes(b"a secret of some length").unwrap();
        let mut reference = <HmacSha256 as Mac>::new_from_slice(&secret.0).unwrap();
        reference.update(b"domain\0");
        reference.update(b"message");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(secret.mac(b"domain\0", b"message"), expected);
        assert_ne!(secret.mac(b"other\0", b"message"), expected);
    }
}
