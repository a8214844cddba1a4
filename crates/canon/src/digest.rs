//! Fixed-size digest and salt types, and the canonical byte encodings of spec §1.

use sha2::{Digest as _, Sha256};
use std::fmt;

use crate::CanonError;

/// A SHA-256 digest (tile, frame, pixel digest, or attribute commitment).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// SHA-256 of `parts`, concatenated.
    pub fn of(parts: &[&[u8]]) -> Digest {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Digest(hasher.finalize().into())
    }

    /// The digest as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

/// The 16-byte salt of one attribute commitment (spec C6.2).
///
/// Salts are what keep a commitment to a patient's name from being found by trying a
/// dictionary of names, so their `Debug` form does not print them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Salt(pub [u8; 16]);

impl Salt {
    /// Derives a salt from a secret seed and an attribute identity (spec C6.3). For tests and
    /// local comparison only: seals use random salts.
    pub fn derive(seed: &[u8], identity: &[u8]) -> Result<Salt, CanonError> {
        let mut hasher = Sha256::new();
        hasher.update(SALT_PREFIX);
        hasher.update(length_prefix(seed.len(), "salt seed")?);
        hasher.update(seed);
        hasher.update(identity);
        let full: [u8; 32] = hasher.finalize().into();
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&full[..16]);
        Ok(Salt(salt))
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Salt").finish_non_exhaustive()
    }
}

/// Spec §1: tile digest prefix (C4.3.2).
pub const TILE_PREFIX: &[u8] = b"scanseal:canon-v1:tile\0";
/// Spec §1: encoded-frame digest prefix (C4.5.2).
pub const ENCODED_FRAME_PREFIX: &[u8] = b"scanseal:canon-v1:encoded-frame\0";
/// Spec §1: pixel digest prefix (C4.6.1).
pub const PIXEL_PREFIX: &[u8] = b"scanseal:canon-v1:pixel\0";
/// Spec §1: attribute commitment prefix (C6.2).
pub const ATTRIBUTE_PREFIX: &[u8] = b"scanseal:canon-v1:attribute\0";
/// Spec §1: seed-derived salt prefix (C6.3).
pub const SALT_PREFIX: &[u8] = b"scanseal:canon-v1:salt\0";

/// `u32(len)` of spec §1, refusing lengths that do not fit.
pub(crate) fn length_prefix(len: usize, what: &'static str) -> Result<[u8; 4], CanonError> {
    u32::try_from(len)
        .map(u32::to_le_bytes)
        .map_err(|_| CanonError::TooLarge { what })
}

/// Appends `bytes(b)` (spec §1) to `out`.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8], what: &'static str) -> Result<(), CanonError> {
    out.extend_from_slice(&length_prefix(b.len(), what)?);
    out.extend_from_slice(b);
    Ok(())
}

/// Appends `u32(x)` (spec §1) to `out`.
pub(crate) fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}
