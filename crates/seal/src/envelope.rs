//! The COSE_Sign1 envelope (RFC 9052 §4.2; spec `seal-format.md` §4).

use coset::{iana, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use scanseal_keys::{KeyId, PublicKey, SigningKey};

use crate::manifest::Manifest;
use crate::SealError;

/// A parsed envelope whose structure and protected header have been checked, but whose
/// signature has not (that needs the signer's public key: [`Envelope::verify`]).
#[derive(Debug, Clone)]
pub struct Envelope {
    key_id: KeyId,
    sign1: CoseSign1,
    payload: Vec<u8>,
}

/// The protected header every v1 envelope carries, byte for byte: `{1: -8, 4: h'<kid>'}`.
fn protected_header_bytes(key_id: &KeyId) -> Vec<u8> {
    let mut bytes = vec![0xa2, 0x01, 0x27, 0x04, 0x50];
    bytes.extend_from_slice(&key_id.0);
    bytes
}

impl Envelope {
    /// Signs `manifest` with `key` into a tagged COSE_Sign1 (`alg` EdDSA and `kid` protected,
    /// empty unprotected header, attached payload, empty external AAD).
    ///
    /// # Errors
    /// `KeyMismatch` when the manifest names another signer.
    pub fn sign(manifest: &Manifest, key: &SigningKey) -> Result<Vec<u8>, SealError> {
        if manifest.signer != key.key_id() {
            return Err(SealError::KeyMismatch {
                manifest: manifest.signer,
                key: key.key_id(),
            });
        }
        let payload = manifest.to_cbor()?;
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(key.key_id().0.to_vec())
            .build();
        let sign1 = CoseSign1Builder::new()
            .protected(protected)
            .payload(payload)
            .create_signature(b"", |tbs| key.sign(tbs).to_vec())
            .build();
        sign1.to_tagged_vec().map_err(|e| SealError::Malformed {
            what: "envelope",
            reason: format!("cannot encode: {e:?}"),
        })
    }

    /// Parses a tagged COSE_Sign1 and checks, before anything in it is used: the tag, the
    /// deterministic encoding, `alg` = EdDSA (-8) and a 16-byte `kid` as the only protected
    /// parameters, an empty unprotected header, an attached payload and a 64-byte signature.
    ///
    /// # Errors
    /// `Malformed` or `UnsupportedAlgorithm`.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, SealError> {
        let malformed = |reason: String| SealError::Malformed {
            what: "envelope",
            reason,
        };
        if bytes.first() != Some(&0xd2) {
            return Err(malformed(
                "not a tagged COSE_Sign1 (CBOR tag 18 expected)".into(),
            ));
        }
        // Bound the CBOR nesting before coset's recursive decoder sees the bytes.
        crate::cbor::check_nesting(bytes, "envelope")?;
        let sign1 = CoseSign1::from_tagged_slice(bytes)
            .map_err(|e| malformed(format!("not a valid COSE_Sign1: {e:?}")))?;
        let header = &sign1.protected.header;
        match &header.alg {
            Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA)) => {}
            Some(other) => {
                return Err(SealError::UnsupportedAlgorithm {
                    found: format!("{other:?}"),
                })
            }
            None if sign1.unprotected.alg.is_some() => {
                return Err(malformed(
                    "alg is in the unprotected header; it must be protected".into(),
                ))
            }
            None => return Err(malformed("no alg in the protected header".into())),
        }
        let key_id = KeyId::from_slice(&header.key_id)
            .ok_or_else(|| malformed("the protected header has no 16-byte kid".into()))?;
        if sign1.protected.original_data.as_deref() != Some(&protected_header_bytes(&key_id)[..]) {
            return Err(malformed(
                "the protected header must be exactly {1: -8, 4: kid} in deterministic CBOR".into(),
            ));
        }
        if !sign1.unprotected.is_empty() {
            return Err(malformed("the unprotected header must be empty".into()));
        }
        let payload = sign1
            .payload
            .clone()
            .ok_or_else(|| malformed("detached payloads are not used".into()))?;
        if sign1.signature.len() != 64 {
            return Err(malformed(format!(
                "the signature is {} bytes, not 64",
                sign1.signature.len()
            )));
        }
        let again = sign1
            .clone()
            .to_tagged_vec()
            .map_err(|e| malformed(format!("cannot re-encode: {e:?}")))?;
        if again != bytes {
            return Err(malformed(
                "not deterministically encoded (RFC 8949 §4.2.1)".into(),
            ));
        }
        Ok(Envelope {
            key_id,
            sign1,
            payload,
        })
    }

    /// The `kid` of the protected header.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Checks the signature with `key` (`verify_strict`), then parses the manifest and checks
    /// that it names the same signer as the protected header.
    ///
    /// # Errors
    /// `BadSignature`, or any manifest error.
    pub fn verify(&self, key: &PublicKey) -> Result<Manifest, SealError> {
        if key.key_id() != self.key_id {
            return Err(SealError::KeyMismatch {
                manifest: self.key_id,
                key: key.key_id(),
            });
        }
        let tbs = self.sign1.tbs_data(b"");
        key.verify(&tbs, &self.sign1.signature)
            .map_err(|_| SealError::BadSignature {
                key_id: self.key_id,
            })?;
        let manifest = Manifest::from_cbor(&self.payload)?;
        if manifest.signer != self.key_id {
            return Err(SealError::Malformed {
                what: "envelope",
                reason: "the manifest's signer differs from the protected kid".into(),
            });
        }
        Ok(manifest)
    }

    /// Parses the manifest WITHOUT checking the signature: for `inspect`, which shows what a
    /// seal claims. Nothing read this way may be trusted.
    ///
    /// # Errors
    /// Any manifest error.
    pub fn unverified_manifest(&self) -> Result<Manifest, SealError> {
        Manifest::from_cbor(&self.payload)
    }
}
