//! Ledger entries and their canonical encoding (spec/ledger.md §3).

use ciborium::value::Value;
use scanseal_canon::{Canonical, Digest, PixelMode, ValueClass};
use scanseal_keys::KeyId;
use scanseal_seal::{Action, Envelope, SealRecord};
use time::OffsetDateTime;

use crate::merkle::{leaf_hash, Hash};
use crate::LedgerError;

/// The entry format string.
pub const ENTRY_FORMAT: &str = "scanseal-ledger-entry-v1";

const INSTANCE_DOMAIN: &[u8] = b"scanseal-ledger-v1 sop-instance-uid\0";

/// What the sealing did (the manifest's action).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// The first seal of an instance, made at acquisition.
    Acquired,
    /// A further signer attesting the same content.
    Countersigned,
    /// The seal of a de-identified copy.
    Deidentified,
}

impl EntryKind {
    /// The word in the encoding and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Acquired => "acquired",
            EntryKind::Countersigned => "countersigned",
            EntryKind::Deidentified => "deidentified",
        }
    }

    /// Parses the word.
    pub fn from_name(name: &str) -> Option<EntryKind> {
        match name {
            "acquired" => Some(EntryKind::Acquired),
            "countersigned" => Some(EntryKind::Countersigned),
            "deidentified" => Some(EntryKind::Deidentified),
            _ => None,
        }
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pixel digest a seal recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRecord {
    /// `decoded-samples` or `encoded-frames` (never `none`).
    pub mode: PixelMode,
    /// `PIXEL_DIGEST` (canon C4.6.1).
    pub digest: Digest,
    /// The tile size the digest was computed with (0 in `encoded-frames` mode): a verifier
    /// recomputes the digest of a file with it.
    pub tile_size: u32,
}

/// What a caller appends; the ledger assigns the sequence number and the recorded time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// What the sealing did.
    pub kind: EntryKind,
    /// The seal's signer.
    pub signer: KeyId,
    /// SHA-256 of the seal envelope.
    pub envelope: Digest,
    /// The pixel digest, `None` for an instance without pixels.
    pub pixels: Option<PixelRecord>,
    /// [`instance_key`] of the SOP Instance UID.
    pub instance: Digest,
    /// The envelope digest of the seal this one follows, if any.
    pub predecessor: Option<Digest>,
}

impl NewEntry {
    /// The entry for a seal just made over `canonical`: [`NewEntry::for_seal`] keyed by the
    /// [`instance_key`] of its [`sop_instance_uid`]. This is how `sign`, `deidentify` and the
    /// gateway record what they seal.
    ///
    /// # Errors
    /// As [`NewEntry::for_seal`].
    pub fn for_sealed_instance(
        record: &SealRecord,
        canonical: &Canonical,
    ) -> Result<NewEntry, LedgerError> {
        let uid = sop_instance_uid(canonical);
        NewEntry::for_seal(record, instance_key(uid.as_deref()))
    }

    /// The entry for a seal just made (or read back): kind, signer, pixels and predecessor come
    /// from the envelope's manifest, which is parsed but whose signature is not checked here.
    ///
    /// # Errors
    /// `Seal` when the envelope does not parse.
    pub fn for_seal(record: &SealRecord, instance: Digest) -> Result<NewEntry, LedgerError> {
        let envelope = Envelope::parse(&record.envelope)?;
        let manifest = envelope.unverified_manifest()?;
        let kind = match manifest.action {
            Action::Acquired => EntryKind::Acquired,
            Action::Countersigned => EntryKind::Countersigned,
            Action::Deidentified => EntryKind::Deidentified,
            other => {
                return Err(LedgerError::Malformed {
                    what: "seal",
                    reason: format!("action {other} has no ledger entry kind"),
                })
            }
        };
        Ok(NewEntry {
            kind,
            signer: envelope.key_id(),
            envelope: record.envelope_digest(),
            pixels: manifest.pixels.map(|p| PixelRecord {
                mode: p.mode,
                digest: p.digest,
                tile_size: p.tile_size,
            }),
            instance,
            predecessor: manifest.predecessor,
        })
    }
}

/// One ledger entry (spec/ledger.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log, the Merkle leaf index.
    pub seq: u64,
    /// When the ledger recorded it (UTC, whole seconds).
    pub recorded: OffsetDateTime,
    /// What was recorded.
    pub content: NewEntry,
}

impl Entry {
    /// The canonical encoding `ENTRY`.
    ///
    /// # Errors
    /// `Malformed` for a recorded time outside years 0000–9999.
    pub fn encode(&self) -> Result<Vec<u8>, LedgerError> {
        let recorded =
            scanseal_seal::format_time(self.recorded).map_err(|e| LedgerError::Malformed {
                what: "entry",
                reason: format!("recorded time: {e}"),
            })?;
        let c = &self.content;
        let mut out = Vec::with_capacity(320);
        // Keys in deterministic order: by encoded length, then bytewise.
        head(&mut out, 5, 9);
        text(&mut out, "seq");
        head(&mut out, 0, self.seq);
        text(&mut out, "kind");
        text(&mut out, c.kind.as_str());
        text(&mut out, "format");
        text(&mut out, ENTRY_FORMAT);
        text(&mut out, "pixels");
        match &c.pixels {
            None => out.push(0xf6),
            Some(pixels) => {
                head(&mut out, 5, 3);
                text(&mut out, "mode");
                text(&mut out, pixels.mode.name());
                text(&mut out, "digest");
                bytes(&mut out, &pixels.digest.0);
                text(&mut out, "tile_size");
                head(&mut out, 0, u64::from(pixels.tile_size));
            }
        }
        text(&mut out, "signer");
        bytes(&mut out, &c.signer.0);
        text(&mut out, "envelope");
        bytes(&mut out, &c.envelope.0);
        text(&mut out, "instance");
        bytes(&mut out, &c.instance.0);
        text(&mut out, "recorded");
        text(&mut out, &recorded);
        text(&mut out, "predecessor");
        bytes(
            &mut out,
            c.predecessor.as_ref().map_or(&[][..], |d| &d.0[..]),
        );
        Ok(out)
    }

    /// The RFC 9162 leaf hash `H(0x00 ‖ ENTRY)`.
    ///
    /// # Errors
    /// As [`Entry::encode`].
    pub fn leaf_hash(&self) -> Result<Hash, LedgerError> {
        Ok(leaf_hash(&self.encode()?))
    }

    /// Decodes `ENTRY` strictly: exactly the deterministic encoding of a valid entry.
    ///
    /// # Errors
    /// `Malformed` naming what is wrong.
    pub fn decode(encoded: &[u8]) -> Result<Entry, LedgerError> {
        let malformed = |reason: String| LedgerError::Malformed {
            what: "ledger entry",
            reason,
        };
        if encoded.len() > 4096 {
            return Err(malformed(format!("{} bytes is too long", encoded.len())));
        }
        let value: Value =
            ciborium::de::from_reader(encoded).map_err(|e| malformed(format!("not CBOR: {e}")))?;
        let Value::Map(fields) = value else {
            return Err(malformed("not a CBOR map".into()));
        };
        let mut seq = None;
        let mut kind = None;
        let mut format = None;
        let mut pixels = None;
        let mut signer = None;
        let mut envelope = None;
        let mut instance = None;
        let mut recorded = None;
        let mut predecessor = None;
        for (key, item) in &fields {
            let Value::Text(key) = key else {
                return Err(malformed("a map key is not text".into()));
            };
            let slot = match key.as_str() {
                "seq" => &mut seq,
                "kind" => &mut kind,
                "format" => &mut format,
                "pixels" => &mut pixels,
                "signer" => &mut signer,
                "envelope" => &mut envelope,
                "instance" => &mut instance,
                "recorded" => &mut recorded,
                "predecessor" => &mut predecessor,
                other => return Err(malformed(format!("unknown field {other:?}"))),
            };
            if slot.replace(item).is_some() {
                return Err(malformed(format!("field {key:?} appears twice")));
            }
        }
        fn need<'v>(slot: Option<&'v Value>, name: &str) -> Result<&'v Value, LedgerError> {
            slot.ok_or_else(|| LedgerError::Malformed {
                what: "ledger entry",
                reason: format!("field {name:?} is missing"),
            })
        }
        let format = as_text(need(format, "format")?, "format").map_err(malformed)?;
        if format != ENTRY_FORMAT {
            return Err(malformed(format!(
                "format {format:?} is not {ENTRY_FORMAT:?}"
            )));
        }
        let seq = match need(seq, "seq")? {
            Value::Integer(i) => {
                u64::try_from(*i).map_err(|_| malformed("seq is negative".into()))?
            }
            _ => return Err(malformed("seq is not an unsigned integer".into())),
        };
        let kind_text = as_text(need(kind, "kind")?, "kind").map_err(malformed)?;
        let kind = EntryKind::from_name(kind_text)
            .ok_or_else(|| malformed(format!("unknown kind {kind_text:?}")))?;
        let pixels = match need(pixels, "pixels")? {
            Value::Null => None,
            Value::Map(inner) => {
                let mut mode = None;
                let mut digest = None;
                let mut tile_size = None;
                for (key, item) in inner {
                    match key {
                        Value::Text(k) if k == "mode" && mode.is_none() => mode = Some(item),
                        Value::Text(k) if k == "digest" && digest.is_none() => digest = Some(item),
                        Value::Text(k) if k == "tile_size" && tile_size.is_none() => {
                            tile_size = Some(item)
                        }
                        _ => {
                            return Err(malformed("pixels has an unknown or repeated field".into()))
                        }
                    }
                }
                let mode_text =
                    as_text(need(mode, "pixels.mode")?, "pixels.mode").map_err(malformed)?;
                let mode = match PixelMode::from_name(mode_text) {
                    Some(mode) if mode != PixelMode::None => mode,
                    _ => return Err(malformed(format!("unknown pixel mode {mode_text:?}"))),
                };
                let digest = Digest(
                    as_array::<32>(need(digest, "pixels.digest")?, "pixels.digest")
                        .map_err(malformed)?,
                );
                let tile_size = match need(tile_size, "pixels.tile_size")? {
                    Value::Integer(i) => u32::try_from(*i)
                        .map_err(|_| malformed("pixels.tile_size is out of range".into()))?,
                    _ => {
                        return Err(malformed(
                            "pixels.tile_size is not an unsigned integer".into(),
                        ))
                    }
                };
                Some(PixelRecord {
                    mode,
                    digest,
                    tile_size,
                })
            }
            _ => return Err(malformed("pixels is neither null nor a map".into())),
        };
        let signer = KeyId(as_array::<16>(need(signer, "signer")?, "signer").map_err(malformed)?);
        let envelope =
            Digest(as_array::<32>(need(envelope, "envelope")?, "envelope").map_err(malformed)?);
        let instance =
            Digest(as_array::<32>(need(instance, "instance")?, "instance").map_err(malformed)?);
        let recorded_text = as_text(need(recorded, "recorded")?, "recorded").map_err(malformed)?;
        let recorded = scanseal_seal::parse_time(recorded_text).map_err(|_| {
            malformed(format!(
                "recorded time {recorded_text:?} is not YYYY-MM-DDTHH:MM:SSZ"
            ))
        })?;
        let predecessor = match need(predecessor, "predecessor")? {
            Value::Bytes(b) if b.is_empty() => None,
            other => Some(Digest(
                as_array::<32>(other, "predecessor").map_err(malformed)?,
            )),
        };
        let entry = Entry {
            seq,
            recorded,
            content: NewEntry {
                kind,
                signer,
                envelope,
                pixels,
                instance,
                predecessor,
            },
        };
        if entry.encode()? != encoded {
            return Err(malformed(
                "not the deterministic encoding (spec/ledger.md §2)".into(),
            ));
        }
        Ok(entry)
    }
}

fn as_text<'a>(value: &'a Value, name: &str) -> Result<&'a str, String> {
    match value {
        Value::Text(text) => Ok(text),
        _ => Err(format!("{name} is not a text string")),
    }
}

fn as_array<const N: usize>(value: &Value, name: &str) -> Result<[u8; N], String> {
    match value {
        Value::Bytes(b) => <[u8; N]>::try_from(b.as_slice())
            .map_err(|_| format!("{name} is {} bytes, not {N}", b.len())),
        _ => Err(format!("{name} is not a byte string")),
    }
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    if n < 24 {
        out.push(major | n as u8);
    } else if n <= u64::from(u8::MAX) {
        out.extend_from_slice(&[major | 24, n as u8]);
    } else if n <= u64::from(u16::MAX) {
        out.push(major | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= u64::from(u32::MAX) {
        out.push(major | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

/// `INSTANCE_KEY` (spec/ledger.md §3.2) of a SOP Instance UID; `None` hashes the empty string.
pub fn instance_key(sop_instance_uid: Option<&str>) -> Digest {
    Digest::of(&[INSTANCE_DOMAIN, sop_instance_uid.unwrap_or("").as_bytes()])
}

/// The SOP Instance UID (0008,0018) of a canonical form, as canonicalized (trailing NULs and
/// spaces removed); `None` when absent, not decodable text, or not exactly one value.
pub fn sop_instance_uid(canonical: &Canonical) -> Option<String> {
    let attribute = canonical.attributes.iter().find(|a| {
        a.tag.group() == 0x0008 && a.tag.element() == 0x0018 && a.class == ValueClass::Text
    })?;
    // ID(5) ‖ u8(1) ‖ u32(n) ‖ str(v): canon C5.2.1, C5.3.1.
    let bytes = attribute.canonical_bytes();
    let value = bytes.get(5..)?;
    let (&class, rest) = value.split_first()?;
    if class != 1 || rest.get(..4)? != 1u32.to_le_bytes() {
        return None;
    }
    let rest = rest.get(4..)?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let text = rest.get(4..)?;
    if text.len() != len {
        return None;
    }
    String::from_utf8(text.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    pub(crate) fn sample(seq: u64) -> Entry {
        Entry {
            seq,
            recorded: scanseal_seal::parse_time("2026-01-01T00:00:00Z").unwrap(),
            content: NewEntry {
                kind: EntryKind::Acquired,
                signer: KeyId([7; 16]),
                envelope: Digest([seq as u8; 32]),
                pixels: Some(PixelRecord {
                    mode: PixelMode::DecodedSamples,
                    digest: Digest([9; 32]),
                    tile_size: 64,
                }),
                instance: instance_key(Some("1.2.3.4")),
                predecessor: None,
            },
        }
    }

    #[test]
    fn encoding_round_trips_and_matches_a_generic_deterministic_encoder() {
        for seq in [
            0u64,
            23,
            24,
            255,
            256,
            65_535,
            65_536,
            u64::from(u32::MAX) + 1,
        ] {
            let mut entry = sample(seq);
            if seq % 2 == 0 {
                entry.content.pixels = None;
                entry.content.predecessor = Some(Digest([3; 32]));
                entry.content.kind = EntryKind::Countersigned;
            }
            let encoded = entry.encode().unwrap();
            assert_eq!(Entry::decode(&encoded).unwrap(), entry);
            // ciborium writes shortest heads; sorting the map by encoded key gives the
            // deterministic form, which must equal the hand-written encoder.
            let value: Value = ciborium::de::from_reader(encoded.as_slice()).unwrap();
            let Value::Map(mut fields) = value else {
                panic!()
            };
            let key_bytes = |v: &Value| {
                let mut out = Vec::new();
                ciborium::ser::into_writer(v, &mut out).unwrap();
                out
            };
            fields.sort_by_key(|(k, _)| key_bytes(k));
            let mut reencoded = Vec::new();
            ciborium::ser::into_writer(&Value::Map(fields), &mut reencoded).unwrap();
            assert_eq!(reencoded, encoded);
        }
    }

    #[test]
    fn decoding_refuses_non_canonical_and_unknown_input() {
        let encoded = sample(5).encode().unwrap();
        let mut trailing = encoded.clone();
        trailing.push(0);
        assert!(Entry::decode(&trailing).is_err());
        assert!(Entry::decode(&encoded[..encoded.len() - 1]).is_err());
        assert!(Entry::decode(b"").is_err());
        assert!(Entry::decode(&[0xa0]).is_err());
        // seq 5 written with a two-byte head is not deterministic.
        let mut long_head = encoded.clone();
        let at = long_head.windows(4).position(|w| w == b"\x63seq").unwrap() + 4;
        long_head.splice(at..=at, [0x18, 0x05]);
        assert!(Entry::decode(&long_head).is_err());
        // Every single-byte change is refused or decodes to something else.
        for i in 0..encoded.len() {
            let mut changed = encoded.clone();
            changed[i] ^= 0x01;
            if let Ok(entry) = Entry::decode(&changed) {
                assert_ne!(entry, sample(5));
            }
        }
    }

    #[test]
    fn instance_key_is_domain_separated() {
        let key = instance_key(Some("1.2.3"));
        assert_ne!(key, Digest::of(&[b"1.2.3"]));
        assert_eq!(
            key,
            Digest::of(&[b"scanseal-ledger-v1 sop-instance-uid\x001.2.3"])
        );
        assert_ne!(instance_key(None), instance_key(Some("1")));
    }
}
