//! Offline proofs as C2SP `tlog-proof` v1 (spec/ledger.md §6).

use scanseal_keys::{base64, PublicKey};

use crate::entry::Entry;
use crate::merkle::{leaf_hash, verify_inclusion, Hash};
use crate::note::{parse_decimal, SignedCheckpoint};
use crate::LedgerError;

/// The first line of every proof.
pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// At most this many inclusion-proof hashes (a tree of 2^64 leaves needs 64).
const MAX_PROOF_HASHES: usize = 64;
/// Longest proof file read.
pub const MAX_PROOF_BYTES: usize = 128 * 1024;

/// An inclusion proof of one entry under a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryProof {
    /// The entry encoding (the `extra` line).
    pub entry: Vec<u8>,
    /// The leaf index.
    pub index: u64,
    /// `PATH(index, D[size])`, leaf's sibling first.
    pub path: Vec<Hash>,
    /// The checkpoint the path leads to.
    pub checkpoint: SignedCheckpoint,
}

/// What a verified proof establishes.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    /// The entry, decoded.
    pub entry: Entry,
    /// The checkpoint it is included under (its signature verified).
    pub checkpoint: SignedCheckpoint,
    /// Index into the candidate keys of the ledger key that signed the checkpoint.
    pub ledger_key: usize,
}

impl EntryProof {
    /// The proof text.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{PROOF_HEADER}\nextra {}\nindex {}\n",
            base64::encode(&self.entry),
            self.index
        );
        for hash in &self.path {
            out.push_str(&base64::encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint.text);
        out
    }

    /// Parses a proof strictly. Nothing in it is trusted until [`EntryProof::verify`].
    ///
    /// # Errors
    /// `Malformed` naming the line at fault.
    pub fn parse(text: &str) -> Result<EntryProof, LedgerError> {
        let malformed = |reason: String| LedgerError::Malformed {
            what: "proof",
            reason,
        };
        if text.len() > MAX_PROOF_BYTES {
            return Err(malformed(format!("{} bytes is too long", text.len())));
        }
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| malformed("no blank line before the checkpoint".into()))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(PROOF_HEADER) {
            return Err(malformed(format!("the first line is not {PROOF_HEADER:?}")));
        }
        let mut line = lines.next();
        let entry = match line.and_then(|l| l.strip_prefix("extra ")) {
            Some(extra) => {
                line = lines.next();
                base64::decode(extra).map_err(|e| malformed(format!("extra data: {e}")))?
            }
            None => {
                return Err(malformed(
                    "no `extra` line: a scanseal proof carries its ledger entry there".into(),
                ))
            }
        };
        let index = line
            .and_then(|l| l.strip_prefix("index "))
            .and_then(parse_decimal)
            .ok_or_else(|| malformed("no `index N` line with a decimal index".into()))?;
        let mut path = Vec::new();
        for line in lines {
            if path.len() == MAX_PROOF_HASHES {
                return Err(malformed(format!(
                    "more than {MAX_PROOF_HASHES} proof hashes"
                )));
            }
            let hash = base64::decode(line)
                .ok()
                .and_then(|b| Hash::try_from(b.as_slice()).ok())
                .ok_or_else(|| {
                    malformed(format!("proof line {line:?} is not 32 bytes of base64"))
                })?;
            path.push(hash);
        }
        let checkpoint = SignedCheckpoint::parse(checkpoint)?;
        Ok(EntryProof {
            entry,
            index,
            path,
            checkpoint,
        })
    }

    /// Verifies the proof against trusted ledger keys (spec/ledger.md P2).
    ///
    /// # Errors
    /// `Signature` for the checkpoint, `Malformed` for the entry, `Proof` for the path.
    pub fn verify(&self, ledger_keys: &[PublicKey]) -> Result<VerifiedProof, LedgerError> {
        let ledger_key = self.checkpoint.verify(ledger_keys)?;
        let entry = Entry::decode(&self.entry)?;
        if entry.seq != self.index {
            return Err(LedgerError::Malformed {
                what: "proof",
                reason: format!(
                    "the entry says it is #{} but the proof is for index {}",
                    entry.seq, self.index
                ),
            });
        }
        let checkpoint = &self.checkpoint.checkpoint;
        verify_inclusion(
            self.index,
            checkpoint.size,
            &leaf_hash(&self.entry),
            &self.path,
            &checkpoint.root,
        )?;
        Ok(VerifiedProof {
            entry,
            checkpoint: self.checkpoint.clone(),
            ledger_key,
        })
    }
}
