//! Checkpoints as C2SP `tlog-checkpoint` in C2SP `signed-note` form (spec/ledger.md §5).

use scanseal_keys::{base64, PublicKey, SigningKey};
use sha2::{Digest as _, Sha256};

use crate::merkle::Hash;
use crate::LedgerError;

/// Signed-note signature type byte of Ed25519.
const ED25519_TYPE: u8 = 0x01;
/// Longest note read; a checkpoint with 16 Ed25519 signatures is under 2 KiB.
const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Signature lines read at most (signed-note: "MUST accept at least up to 16").
const MAX_SIGNATURES: usize = 16;
/// Longest origin (the tlog-cosignature limit).
const MAX_ORIGIN_BYTES: usize = 255;

/// A tree head: what a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The ledger's origin line (also the signing key's name).
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// Merkle root at that size.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size and base64 root, one per line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            base64::encode(&self.root)
        )
    }

    /// Parses the note text strictly (no extension lines).
    ///
    /// # Errors
    /// `Malformed` naming the offending line.
    pub fn parse_body(body: &str) -> Result<Checkpoint, LedgerError> {
        let malformed = |reason: String| LedgerError::Malformed {
            what: "checkpoint",
            reason,
        };
        let lines = body
            .strip_suffix('\n')
            .ok_or_else(|| malformed("text does not end with a newline".into()))?
            .split('\n')
            .collect::<Vec<_>>();
        let [origin, size, root] = lines.as_slice() else {
            return Err(malformed(format!(
                "{} lines of text; a scanseal checkpoint has exactly 3 (origin, size, root)",
                lines.len()
            )));
        };
        validate_origin(origin)?;
        let size = parse_decimal(size).ok_or_else(|| {
            malformed(format!(
                "tree size {size:?} is not a decimal number without leading zeros"
            ))
        })?;
        let root = base64::decode(root)
            .ok()
            .and_then(|b| Hash::try_from(b.as_slice()).ok())
            .ok_or_else(|| malformed(format!("root {root:?} is not 32 bytes of base64")))?;
        Ok(Checkpoint {
            origin: (*origin).to_string(),
            size,
            root,
        })
    }

    /// Signs the checkpoint with the ledger key, the key name being the origin.
    pub fn sign(&self, key: &SigningKey) -> SignedCheckpoint {
        let body = self.body();
        let public = key.public_key();
        let signature = NoteSignature {
            name: self.origin.clone(),
            key_hash: note_key_hash(&self.origin, &public),
            signature: key.sign(body.as_bytes()).to_vec(),
        };
        let text = format!("{body}\n{}", signature.line());
        SignedCheckpoint {
            checkpoint: self.clone(),
            text,
            signatures: vec![signature],
        }
    }
}

/// Parses ASCII decimal with no sign and no leading zeros (except `0`).
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

/// Checks an origin can be a checkpoint origin and a signed-note key name.
///
/// # Errors
/// `InvalidOrigin` saying why.
pub fn validate_origin(origin: &str) -> Result<(), LedgerError> {
    let invalid = |reason| LedgerError::InvalidOrigin {
        origin: origin.to_string(),
        reason,
    };
    if origin.is_empty() {
        return Err(invalid("it is empty"));
    }
    if origin.len() > MAX_ORIGIN_BYTES {
        return Err(invalid("it is longer than 255 bytes"));
    }
    if !origin.bytes().all(|b| b.is_ascii_graphic() && b != b'+') {
        return Err(invalid(
            "only printable ASCII without spaces or '+' is allowed (it is also a key name)",
        ));
    }
    Ok(())
}

/// The signed-note key hash: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0..4]`.
pub fn note_key_hash(name: &str, key: &PublicKey) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ED25519_TYPE])
        .chain_update(key.to_bytes())
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The verifier key string other signed-note tools read: `name+hash+base64(0x01 ‖ key)`.
pub fn verifier_key(name: &str, key: &PublicKey) -> String {
    let mut typed = vec![ED25519_TYPE];
    typed.extend_from_slice(&key.to_bytes());
    format!(
        "{name}+{}+{}",
        hex::encode(note_key_hash(name, key)),
        base64::encode(&typed)
    )
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// The 4-byte key hash.
    pub key_hash: [u8; 4],
    /// The signature bytes (64 for Ed25519).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    fn line(&self) -> String {
        let mut blob = self.key_hash.to_vec();
        blob.extend_from_slice(&self.signature);
        format!("\u{2014} {} {}\n", self.name, base64::encode(&blob))
    }
}

/// A checkpoint with its signed-note text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What it states.
    pub checkpoint: Checkpoint,
    /// The whole note, exactly as signed and stored.
    pub text: String,
    /// Its signature lines.
    pub signatures: Vec<NoteSignature>,
}

impl SignedCheckpoint {
    /// Parses a signed note holding a checkpoint. Signatures are not verified here.
    ///
    /// # Errors
    /// `Malformed` naming the rule broken.
    pub fn parse(text: &str) -> Result<SignedCheckpoint, LedgerError> {
        let malformed = |reason: String| LedgerError::Malformed {
            what: "signed note",
            reason,
        };
        if text.len() > MAX_NOTE_BYTES {
            return Err(malformed(format!("{} bytes is too long", text.len())));
        }
        if text.chars().any(|c| c < ' ' && c != '\n') {
            return Err(malformed(
                "contains a control character other than newline".into(),
            ));
        }
        if !text.ends_with('\n') {
            return Err(malformed("does not end with a newline".into()));
        }
        let split = text
            .rfind("\n\n")
            .ok_or_else(|| malformed("no blank line before the signatures".into()))?;
        let body = &text[..split + 1];
        let signature_text = &text[split + 2..];
        let checkpoint = Checkpoint::parse_body(body)?;
        let mut signatures = Vec::new();
        for line in signature_text.lines() {
            if signatures.len() == MAX_SIGNATURES {
                return Err(malformed(format!("more than {MAX_SIGNATURES} signatures")));
            }
            let rest = line.strip_prefix("\u{2014} ").ok_or_else(|| {
                malformed(format!("signature line {line:?} does not start with '— '"))
            })?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or_else(|| malformed(format!("signature line {line:?} has no signature")))?;
            if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
                return Err(malformed(format!("key name {name:?} is not allowed")));
            }
            let blob =
                base64::decode(blob).map_err(|e| malformed(format!("signature of {name}: {e}")))?;
            if blob.len() < 5 {
                return Err(malformed(format!("signature of {name} is too short")));
            }
            let (hash, signature) = blob.split_at(4);
            signatures.push(NoteSignature {
                name: name.to_string(),
                key_hash: [hash[0], hash[1], hash[2], hash[3]],
                signature: signature.to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(malformed("no signature lines".into()));
        }
        Ok(SignedCheckpoint {
            checkpoint,
            text: text.to_string(),
            signatures,
        })
    }

    /// The signed part of the note (the checkpoint body, with its final newline).
    pub fn body(&self) -> &str {
        let end = self.text.rfind("\n\n").map_or(0, |at| at + 1);
        self.text.get(..end).unwrap_or("")
    }

    /// Verifies the note against candidate ledger keys (spec/ledger.md C4): a line whose name
    /// is the origin and whose key hash matches a candidate must verify; at least one must.
    /// Returns the index of the first candidate that signed.
    ///
    /// # Errors
    /// `Signature` when a matching signature fails or no candidate signed.
    pub fn verify(&self, candidates: &[PublicKey]) -> Result<usize, LedgerError> {
        let body = self.body();
        let mut signed_by = None;
        for line in &self.signatures {
            if line.name != self.checkpoint.origin {
                continue;
            }
            for (index, key) in candidates.iter().enumerate() {
                if note_key_hash(&line.name, key) != line.key_hash {
                    continue;
                }
                key.verify(body.as_bytes(), &line.signature).map_err(|_| {
                    LedgerError::Signature {
                        what: "checkpoint",
                        reason: format!(
                            "the signature by ledger key {} does not verify: the checkpoint was altered",
                            key.key_id()
                        ),
                    }
                })?;
                signed_by.get_or_insert(index);
            }
        }
        signed_by.ok_or_else(|| LedgerError::Signature {
            what: "checkpoint",
            reason: if candidates.is_empty() {
                "no ledger key to check it against".to_string()
            } else {
                format!(
                    "not signed by any of the {} trusted ledger key(s) for origin {}",
                    candidates.len(),
                    self.checkpoint.origin
                )
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32])
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            origin: "example.org/ledger".into(),
            size: 42,
            root: [5; 32],
        }
    }

    #[test]
    fn signed_checkpoint_round_trips_and_verifies() {
        let signed = sample().sign(&key(1));
        assert!(signed.text.starts_with("example.org/ledger\n42\nBQUF"));
        assert!(signed.text.contains("\n\n\u{2014} example.org/ledger "));
        let parsed = SignedCheckpoint::parse(&signed.text).unwrap();
        assert_eq!(parsed, signed);
        assert_eq!(
            parsed
                .verify(&[key(2).public_key(), key(1).public_key()])
                .unwrap(),
            1
        );
        assert!(parsed.verify(&[key(2).public_key()]).is_err());
        assert!(parsed.verify(&[]).is_err());
    }

    #[test]
    fn altered_checkpoints_are_refused() {
        let signed = sample().sign(&key(1));
        let forged = signed.text.replacen("\n42\n", "\n43\n", 1);
        let parsed = SignedCheckpoint::parse(&forged).unwrap();
        assert!(parsed.verify(&[key(1).public_key()]).is_err());
        for bad in [
            signed.text.replacen("\n42\n", "\n042\n", 1),
            signed.text.replacen("\n42\n", "\n-42\n", 1),
            signed.text.replacen("\n42\n", "\n42\nextension\n", 1),
            signed.text.replacen("\n\n", "\n", 1),
            signed.text.trim_end().to_string(),
            signed.text.replace('\u{2014}', "-"),
            signed
                .text
                .replacen("example.org/ledger\n", "exa mple\n", 1),
            format!("{}\u{7}", signed.text),
            String::new(),
        ] {
            assert!(SignedCheckpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn witness_lines_from_unknown_keys_are_ignored() {
        let signed = sample().sign(&key(1));
        let witness = NoteSignature {
            name: "witness.example".into(),
            key_hash: [1, 2, 3, 4],
            signature: vec![0; 64],
        };
        let text = format!("{}{}", signed.text, witness.line());
        let parsed = SignedCheckpoint::parse(&text).unwrap();
        assert_eq!(parsed.verify(&[key(1).public_key()]).unwrap(), 0);
    }

    #[test]
    fn origin_rules() {
        assert!(validate_origin("pacs.example.org/scanseal").is_ok());
        for bad in ["", "a b", "a+b", "a\nb", &"x".repeat(256)] {
            assert!(validate_origin(bad).is_err());
        }
    }
}
