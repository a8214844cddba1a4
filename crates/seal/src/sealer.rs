//! Building a seal from a canonical form.

use rand::RngCore;
use scanseal_canon::{Canonical, Salt};
use scanseal_keys::SigningKey;
use time::OffsetDateTime;

use crate::chain::{cbor_key_order, SealRecord};
use crate::envelope::Envelope;
use crate::manifest::{
    whole_seconds, Action, AttributeAction, Claims, Deidentification, Manifest, PixelManifest,
};
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
    let (attributes, salts) = commit_attributes(canonical, options, |_| None)?;
    let (pixels, tiles) = pixel_parts(canonical);
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
        deidentification: None,
    };
    Ok(SealRecord {
        envelope: Envelope::sign(&manifest, key)?,
        salts,
        tiles,
    })
}

/// Seals a de-identified instance (spec §3.1): `after` is its canonical form, `previous` the
/// newest seal of the chain it was made from, and `deidentification` what was done to each
/// attribute. A `kept` attribute reuses the previous seal's salt, so its commitment is the
/// same one the earlier signer made; every other attribute gets a fresh salt. The map is
/// checked against both manifests (rule M7) before anything is signed.
///
/// # Errors
/// `Malformed` when `previous` does not parse, a kept attribute has no salt in `previous`, or
/// the map breaks rule M7 (an attribute without an action, a "kept" value that changed, other
/// pixels ...).
pub fn seal_deidentified(
    after: &Canonical,
    key: &SigningKey,
    options: &SealOptions,
    previous: &SealRecord,
    deidentification: Deidentification,
) -> Result<SealRecord, SealError> {
    let deidentification = deidentification.normalized();
    let previous_manifest = Envelope::parse(&previous.envelope)?.unverified_manifest()?;
    let kept_salt = |id: &[u8]| {
        (deidentification.action(id) == Some(AttributeAction::Kept))
            .then(|| previous.salt(id).copied())
    };
    let (attributes, salts) = commit_attributes(after, options, kept_salt)?;
    let (pixels, tiles) = pixel_parts(after);
    let manifest = Manifest {
        action: Action::Deidentified,
        created: whole_seconds(options.created.unwrap_or_else(OffsetDateTime::now_utc)),
        signer: key.key_id(),
        pixels,
        attributes,
        predecessor: Some(previous.envelope_digest()),
        claims: options.claims.clone(),
        deidentification: Some(deidentification),
    };
    if let Some(map) = &manifest.deidentification {
        map.check(&previous_manifest, &manifest)?;
    }
    Ok(SealRecord {
        envelope: Envelope::sign(&manifest, key)?,
        salts,
        tiles,
    })
}

/// Commitments and salts of every attribute, in `ID` key order. `reuse` gives, per `ID`,
/// `Some(Some(salt))` to reuse a salt, `Some(None)` when a salt should be reused but there is
/// none (an error), and `None` for a fresh salt.
type Committed = (Vec<(Vec<u8>, scanseal_canon::Digest)>, Vec<(Vec<u8>, Salt)>);

fn commit_attributes(
    canonical: &Canonical,
    options: &SealOptions,
    reuse: impl Fn(&[u8]) -> Option<Option<Salt>>,
) -> Result<Committed, SealError> {
    let mut salts = Vec::with_capacity(canonical.attributes.len());
    let mut attributes = Vec::with_capacity(canonical.attributes.len());
    let mut random = rand::rngs::OsRng;
    for attribute in &canonical.attributes {
        if attribute.holds_seal_block {
            return Err(SealError::SealBlockInItem {
                attribute: match attribute.keyword() {
                    Some(keyword) => format!("{keyword} {}", attribute.id),
                    None => attribute.id.to_string(),
                },
            });
        }
        let id = attribute.id.encode()?;
        let salt = match (reuse(&id), &options.salt_seed) {
            (Some(Some(salt)), _) => salt,
            (Some(None), _) => {
                return Err(SealError::Malformed {
                    what: "deidentification",
                    reason: format!(
                        "attribute {} is kept, but the seal before withholds its salt",
                        attribute.id
                    ),
                })
            }
            (None, Some(seed)) => attribute.derived_salt(seed)?,
            (None, None) => {
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
    Ok((attributes, salts))
}

fn pixel_parts(canonical: &Canonical) -> (Option<PixelManifest>, Vec<Vec<scanseal_canon::Digest>>) {
    match &canonical.pixels {
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
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use dicom_core::{Tag, VR};
    use scanseal_canon::{canonicalize, CanonOptions, DicomInstance, Element, ElementValue};
    use scanseal_fixtures::{EncodeOptions, Encoding, Fixture};

    use crate::manifest::MANIFEST_FORMAT_V2;
    use crate::SealError;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_seed(&[byte; 32])
    }

    /// A sealed CT fixture, and the same instance with PatientName removed, PatientID emptied
    /// and Patient Identity Removed added.
    fn before_and_after() -> (Canonical, Canonical) {
        let bytes = Fixture::ct_slice(3)
            .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
            .unwrap();
        let mut instance = DicomInstance::from_bytes(&bytes).unwrap();
        let before = canonicalize(&instance, &CanonOptions::new()).unwrap();
        let data_set = instance.data_set_mut();
        data_set.remove(Tag(0x0010, 0x0010)).unwrap();
        data_set.get_mut(Tag(0x0010, 0x0020)).unwrap().value = ElementValue::Primitive(Vec::new());
        data_set.put(Element {
            tag: Tag(0x0012, 0x0062),
            vr: VR::CS,
            value: ElementValue::Primitive(b"YES ".to_vec()),
        });
        let after = canonicalize(&instance, &CanonOptions::new()).unwrap();
        (before, after)
    }

    fn actions(before: &Canonical, after: &Canonical) -> Deidentification {
        let id = |tag: Tag| scanseal_canon::AttributeId::Standard(tag).encode().unwrap();
        let mut actions: Vec<(Vec<u8>, AttributeAction)> = before
            .attributes
            .iter()
            .map(|a| (a.id.encode().unwrap(), AttributeAction::Kept))
            .collect();
        for (key, action) in &mut actions {
            if *key == id(Tag(0x0010, 0x0010)) {
                *action = AttributeAction::Removed;
            } else if *key == id(Tag(0x0010, 0x0020)) {
                *action = AttributeAction::Emptied;
            }
        }
        assert!(after.attributes.len() == before.attributes.len());
        actions.push((id(Tag(0x0012, 0x0062)), AttributeAction::Added));
        actions.sort_by(|a, b| cbor_key_order(&a.0, &b.0));
        Deidentification {
            profile: "basic".into(),
            options: vec!["retain-uids".into()],
            actions,
        }
    }

    /// An acquisition seal over the fixture and the de-identification seal that follows it.
    fn sealed_pair() -> (SealRecord, SealRecord) {
        let (before, after) = before_and_after();
        let acquisition = seal_canonical(&before, &key(1), &SealOptions::new(), None).unwrap();
        let record = seal_deidentified(
            &after,
            &key(2),
            &SealOptions::new(),
            &acquisition,
            actions(&before, &after),
        )
        .unwrap();
        (acquisition, record)
    }

    #[test]
    fn a_deidentification_seal_is_v2_reuses_kept_salts_and_round_trips() {
        let (acquisition, record) = sealed_pair();
        let envelope = Envelope::parse(&record.envelope).unwrap();
        let manifest = envelope.verify(&key(2).public_key()).unwrap();
        assert_eq!(manifest.action, Action::Deidentified);
        assert_eq!(manifest.predecessor, Some(acquisition.envelope_digest()));
        let payload = manifest.to_cbor().unwrap();
        assert!(payload
            .windows(MANIFEST_FORMAT_V2.len())
            .any(|w| w == MANIFEST_FORMAT_V2.as_bytes()));
        assert_eq!(Manifest::from_cbor(&payload).unwrap(), manifest);
        let map = manifest.deidentification.as_ref().unwrap();
        // Kept attributes: the same salt and commitment as the acquisition seal.
        let first = Envelope::parse(&acquisition.envelope)
            .unwrap()
            .unverified_manifest()
            .unwrap();
        for (id, commitment) in &manifest.attributes {
            if map.action(id) == Some(AttributeAction::Kept) {
                assert_eq!(record.salt(id), acquisition.salt(id));
                let old = first.attributes.iter().find(|(i, _)| i == id).unwrap();
                assert_eq!(&old.1, commitment);
            } else {
                assert_ne!(record.salt(id), acquisition.salt(id));
            }
        }
        map.check(&first, &manifest).unwrap();
    }

    #[test]
    fn rule_m7_refuses_an_account_that_does_not_match_the_manifests() {
        let (before, after) = before_and_after();
        let acquisition = seal_canonical(&before, &key(1), &SealOptions::new(), None).unwrap();
        let good = actions(&before, &after);
        let attempt = |map: Deidentification| {
            seal_deidentified(&after, &key(2), &SealOptions::new(), &acquisition, map)
        };
        let id = |tag: Tag| scanseal_canon::AttributeId::Standard(tag).encode().unwrap();
        let set = |tag: Tag, action: AttributeAction| {
            let mut map = good.clone();
            for (key, a) in &mut map.actions {
                if *key == id(tag) {
                    *a = action;
                }
            }
            map
        };
        // The emptied PatientID called kept: its commitment differs.
        let err = attempt(set(Tag(0x0010, 0x0020), AttributeAction::Kept)).unwrap_err();
        assert!(matches!(err, SealError::Malformed { .. }), "{err}");
        // The removed PatientName called emptied.
        assert!(attempt(set(Tag(0x0010, 0x0010), AttributeAction::Emptied)).is_err());
        // The added attribute called kept.
        assert!(attempt(set(Tag(0x0012, 0x0062), AttributeAction::Kept)).is_err());
        // An attribute without an action.
        let mut missing = good.clone();
        missing
            .actions
            .retain(|(key, _)| *key != id(Tag(0x0008, 0x0060)));
        let err = attempt(missing).unwrap_err().to_string();
        assert!(err.contains("no de-identification action"), "{err}");
        // An action for an attribute in neither manifest.
        let mut extra = good.clone();
        extra
            .actions
            .push((id(Tag(0x0011, 0x0001)), AttributeAction::Removed));
        extra.actions.sort_by(|a, b| cbor_key_order(&a.0, &b.0));
        assert!(attempt(extra).is_err());
        // Withheld salt of a kept attribute.
        let mut withheld = acquisition.clone();
        withheld.withhold_salts(|key| *key != id(Tag(0x0008, 0x0060)));
        let err = seal_deidentified(&after, &key(2), &SealOptions::new(), &withheld, good)
            .unwrap_err()
            .to_string();
        assert!(err.contains("withholds its salt"), "{err}");
    }

    #[test]
    fn manifest_versions_and_actions_must_agree() {
        let (acquisition, record) = sealed_pair();
        let manifest = Envelope::parse(&record.envelope)
            .unwrap()
            .unverified_manifest()
            .unwrap();
        let v2 = manifest.to_cbor().unwrap();
        // The same payload claiming v1.
        let as_v1 = replace(&v2, b"scanseal-seal-v2", b"scanseal-seal-v1");
        let err = Manifest::from_cbor(&as_v1).unwrap_err().to_string();
        assert!(
            err.contains("needs manifest format scanseal-seal-v2"),
            "{err}"
        );
        // An acquisition manifest claiming v2.
        let first = Envelope::parse(&acquisition.envelope)
            .unwrap()
            .unverified_manifest()
            .unwrap()
            .to_cbor()
            .unwrap();
        let as_v2 = replace(&first, b"scanseal-seal-v1", b"scanseal-seal-v2");
        assert!(Manifest::from_cbor(&as_v2).is_err());
        // Unknown action word inside the map.
        let bad_word = replace(&v2, b"emptied", b"emptier");
        let err = Manifest::from_cbor(&bad_word).unwrap_err().to_string();
        assert!(err.contains("unknown attribute action"), "{err}");
    }

    fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let at = bytes
            .windows(from.len())
            .position(|w| w == from)
            .expect("pattern present");
        let mut out = bytes.to_vec();
        out[at..at + to.len()].copy_from_slice(to);
        out
    }
}
