//! Building a seal from a canonical form.

use rand::RngCore;
use scanseal_canon::{Canonical, Salt};
use scanseal_keys::SigningKey;
use time::OffsetDateTime;

use crate::chain::{cbor_key_order, SealRecord};
use crate::envelope::Envelope;
use crate::manifest::{whole_seconds, Action, Claims, Manifest, PixelManifest};
use crate::SealError;

/// Options of [`seal_canonical`] and [`crate::seal_file`].
#[derive(Debug, Clone, Default)]
pub struct SealOptions {
    /// The creation time; the current time when `None`.
    pub created: Option<OffsetDateTime>,
    /// Signer claims (device, operator), never patient data.
    pub claims: Claims,
    /// Tile size for the canonical form; the canonicalizer's default when `None`.
    pub tile_size: Option<u32>,
    /// Add a `countersigned` seal to an existing chain instead of refusing a sealed file.
    pub append: bool,
    /// Derive attribute salts from this seed (canon C6.3) instead of drawing them at random.
    /// Only for reproducible test vectors: a derived salt is only as secret as the seed.
    pub salt_seed: Option<Vec<u8>>,
}

impl SealOptions {
    /// Defaults: now, no claims, default tile size, random salts, refuse sealed files.
    pub fn new() -> SealOptions {
        SealOptions::default()
    }
}

/// Seals `canonical` with `key`. `previous` is the chain's newest seal when countersigning
/// (the new seal's predecessor), `None` for an acquisition seal.
///
/// # Errors
/// `TooLarge`-type canonical errors for absurd inputs; nothing else in practice.
pub fn seal_canonical(
    canonical: &Canonical,
    key: &SigningKey,
    options: &SealOptions,
    previous: Option<&SealRecord>,
) -> Result<SealRecord, SealError> {
    let mut salts = Vec::with_capacity(canonical.attributes.len());
    let mut attributes = Vec::with_capacity(canonical.attributes.len());
    let mut random = rand::rngs::OsRng;
    for attribute in &canonical.attributes {
        let id = attribute.id.encode()?;
        let salt = match &options.salt_seed {
            Some(seed) => attribute.derived_salt(seed)?,
            None => {
                let mut salt = [0u8; 16];
                random.fill_bytes(&mut salt);
                Salt(salt)
            }
        };
        attributes.push((id.clone(), attribute.commit(&salt)));
        salts.push((id, salt));
    }
    attributes.sort_by(|a, b| cbor_key_order(&a.0, &b.0));
    salts.sort_by(|a, b| cbor_key_order(&a.0, &b.0));
    let (pixels, tiles) = match &canonical.pixels {
        None => (None, Vec::new()),
        Some(pixels) => (
            Some(PixelManifest {
                digest: pixels.digest,
                mode: pixels.mode,
                tile_size: pixels.tile_size,
                descriptor: pixels.descriptor.clone(),
                frames: pixels.frames.iter().map(|f| f.digest).collect(),
            }),
            if pixels.tile_size == 0 {
                Vec::new()
            } else {
                pixels.frames.iter().map(|f| f.tiles.clone()).collect()
            },
        ),
    };
    let manifest = Manifest {
        action: if previous.is_some() {
            Action::Countersigned
        } else {
            Action::Acquired
        },
        created: whole_seconds(options.created.unwrap_or_else(OffsetDateTime::now_utc)),
        signer: key.key_id(),
        pixels,
        attributes,
        predecessor: previous.map(SealRecord::envelope_digest),
        claims: options.claims.clone(),
    };
    Ok(SealRecord {
        envelope: Envelope::sign(&manifest, key)?,
        salts,
        tiles,
    })
}
