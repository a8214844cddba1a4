//! The seal chain (spec `seal-format.md` §5): the envelopes of an instance's seals, in order,
//! each with the salts and tile digests that travel beside it.

use ciborium::value::Value;
use scanseal_canon::{Digest, Salt};
use sha2::{Digest as _, Sha256};

use crate::cbor::{self, text, MapReader};
use crate::SealError;

/// The chain format this crate writes and reads.
pub const CHAIN_FORMAT: &str = "scanseal-chain-v1";

/// One seal: its envelope bytes, plus the unsigned material that the signed digests commit
/// to (so altering it can only make verification fail, never succeed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealRecord {
    /// The tagged COSE_Sign1, exactly as signed.
    pub envelope: Vec<u8>,
    /// The salt of each committed attribute, by canonical `ID` bytes, in `ID` byte order.
    /// An attribute without a salt is withheld: its commitment cannot be checked.
    pub salts: Vec<(Vec<u8>, Salt)>,
    /// Per frame, the tile digests whose Merkle root is the signed frame digest (empty in
    /// `encoded-frames` mode and without pixels).
    pub tiles: Vec<Vec<Digest>>,
}

impl SealRecord {
    /// SHA-256 of the envelope: what the next seal's `predecessor` and the ledger record.
    pub fn envelope_digest(&self) -> Digest {
        Digest(Sha256::digest(&self.envelope).into())
    }

    /// Drops the salt of every attribute for which `keep` is false, so those commitments can
    /// no longer be opened (rule R1: they become *withheld*). The envelope is untouched.
    pub fn withhold_salts(&mut self, keep: impl Fn(&[u8]) -> bool) {
        self.salts.retain(|(id, _)| keep(id));
    }

    /// The salt recorded for `id`.
    pub fn salt(&self, id: &[u8]) -> Option<&Salt> {
        self.salts
            .binary_search_by(|(key, _)| cbor_key_order(key, id))
            .ok()
            .and_then(|index| self.salts.get(index))
            .map(|(_, salt)| salt)
    }

    fn to_value(&self) -> Value {
        Value::Map(vec![
            (text("envelope"), Value::Bytes(self.envelope.clone())),
            (
                text("salts"),
                Value::Map(
                    self.salts
                        .iter()
                        .map(|(id, salt)| (Value::Bytes(id.clone()), Value::Bytes(salt.0.to_vec())))
                        .collect(),
                ),
            ),
            (
                text("tiles"),
                Value::Array(
                    self.tiles
                        .iter()
                        .map(|frame| {
                            Value::Bytes(frame.iter().flat_map(|d| d.0).collect::<Vec<u8>>())
                        })
                        .collect(),
                ),
            ),
        ])
    }

    fn from_value(value: &Value) -> Result<SealRecord, SealError> {
        const WHAT: &str = "seal record";
        let mut map = MapReader::new(value, WHAT)?;
        let envelope = map.bytes("envelope")?.to_vec();
        let salts = match map.required("salts")? {
            Value::Map(entries) => entries
                .iter()
                .map(|(id, salt)| {
                    let id = cbor::as_bytes(id, WHAT, "salts")?;
                    let salt = <[u8; 16]>::try_from(cbor::as_bytes(salt, WHAT, "salt")?).map_err(
                        |_| SealError::Malformed {
                            what: WHAT,
                            reason: "a salt is not 16 bytes".into(),
                        },
                    )?;
                    Ok((id.to_vec(), Salt(salt)))
                })
                .collect::<Result<Vec<_>, SealError>>()?,
            _ => {
                return Err(SealError::Malformed {
                    what: WHAT,
                    reason: "salts is not a map".into(),
                })
            }
        };
        let tiles = cbor::as_array(map.required("tiles")?, WHAT, "tiles")?
            .iter()
            .map(|frame| {
                let bytes = cbor::as_bytes(frame, WHAT, "tiles")?;
                if bytes.len() % 32 != 0 {
                    return Err(SealError::Malformed {
                        what: WHAT,
                        reason: "a frame's tile list is not a multiple of 32 bytes".into(),
                    });
                }
                Ok(bytes
                    .chunks_exact(32)
                    .filter_map(|chunk| <[u8; 32]>::try_from(chunk).ok().map(Digest))
                    .collect())
            })
            .collect::<Result<Vec<_>, SealError>>()?;
        map.finish()?;
        Ok(SealRecord {
            envelope,
            salts,
            tiles,
        })
    }
}

/// The order deterministic CBOR gives byte-string map keys: shorter first, then bytewise.
pub(crate) fn cbor_key_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// An instance's seals, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealChain {
    /// The seals.
    pub seals: Vec<SealRecord>,
}

impl SealChain {
    /// The deterministic CBOR encoding stored in the seal block or sidecar.
    ///
    /// # Errors
    /// Only for values CBOR cannot hold.
    pub fn to_cbor(&self) -> Result<Vec<u8>, SealError> {
        cbor::encode(&Value::Map(vec![
            (text("format"), text(CHAIN_FORMAT)),
            (
                text("seals"),
                Value::Array(self.seals.iter().map(SealRecord::to_value).collect()),
            ),
        ]))
    }

    /// Parses a chain. One `0x00` byte after the CBOR item is accepted when the item has an
    /// odd length (the pad of an embedded OB value) — nothing else may follow.
    ///
    /// # Errors
    /// `Malformed`, `UnsupportedVersion`.
    pub fn from_cbor(bytes: &[u8]) -> Result<SealChain, SealError> {
        const WHAT: &str = "seal chain";
        let (value, rest) = cbor::decode_prefix(bytes, WHAT)?;
        let item_len = bytes.len() - rest.len();
        match rest {
            [] => {}
            [0] if item_len % 2 == 1 => {}
            _ => {
                return Err(SealError::Malformed {
                    what: WHAT,
                    reason: format!("{} trailing bytes after the CBOR item", rest.len()),
                })
            }
        }
        let mut map = MapReader::new(&value, WHAT)?;
        let format = map.text("format")?;
        if format != CHAIN_FORMAT {
            return Err(SealError::UnsupportedVersion {
                what: WHAT,
                found: format.to_string(),
                supported: CHAIN_FORMAT,
            });
        }
        let seals = cbor::as_array(map.required("seals")?, WHAT, "seals")?
            .iter()
            .map(SealRecord::from_value)
            .collect::<Result<Vec<_>, _>>()?;
        map.finish()?;
        if seals.is_empty() {
            return Err(SealError::Malformed {
                what: WHAT,
                reason: "no seals".into(),
            });
        }
        Ok(SealChain { seals })
    }

    /// The newest seal.
    pub fn latest(&self) -> Option<&SealRecord> {
        self.seals.last()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_pad_byte_is_accepted_only_after_an_odd_length_chain() {
        let mut chain = SealChain {
            seals: vec![SealRecord {
                envelope: vec![1, 2, 3],
                salts: Vec::new(),
                tiles: Vec::new(),
            }],
        };
        let odd = chain.to_cbor().unwrap();
        assert_eq!(odd.len() % 2, 1);
        assert_eq!(
            SealChain::from_cbor(&[&odd[..], &[0]].concat()).unwrap(),
            chain
        );
        assert!(SealChain::from_cbor(&[&odd[..], &[0, 0]].concat()).is_err());
        assert!(SealChain::from_cbor(&[&odd[..], &[1]].concat()).is_err());
        chain.seals[0].envelope.push(4);
        let even = chain.to_cbor().unwrap();
        assert_eq!(even.len() % 2, 0);
        assert_eq!(SealChain::from_cbor(&even).unwrap(), chain);
        assert!(SealChain::from_cbor(&[&even[..], &[0]].concat()).is_err());
    }
}
