//! Arbitrary bytes → every parser of `scanseal-seal` that takes bytes: the COSE_Sign1
//! envelope (its manifest, unverified and verified with a fixed key), the chain, the manifest,
//! and the embedded seal block scanner. Never a panic.

#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scanseal_keys::PublicKey;
use scanseal_seal::embed::scan_seal_blocks;
use scanseal_seal::{read_chain, Envelope, Manifest, SealChain};

fn public_key() -> Option<&'static PublicKey> {
    static KEY: OnceLock<Option<PublicKey>> = OnceLock::new();
    KEY.get_or_init(|| {
        PublicKey::from_pem(include_str!("../../keys-example/example-ct-01.pub")).ok()
    })
    .as_ref()
}

fn envelope(bytes: &[u8]) {
    if let Ok(envelope) = Envelope::parse(bytes) {
        let _ = envelope.key_id();
        let _ = envelope.unverified_manifest();
        if let Some(key) = public_key() {
            let _ = envelope.verify(key);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    envelope(data);
    if let Ok(chain) = SealChain::from_cbor(data) {
        for record in &chain.seals {
            let _ = record.envelope_digest();
            envelope(&record.envelope);
        }
        // A chain that parses encodes back to what was read (deterministic CBOR, B-rules):
        // the parser accepts exactly one encoding of each chain.
        if let Ok(encoded) = chain.to_cbor() {
            let unpadded = match data {
                [head @ .., 0] if head.len() % 2 == 1 => head,
                _ => data,
            };
            assert!(
                encoded == unpadded,
                "SealChain::from_cbor accepted an encoding that to_cbor does not produce"
            );
        }
    }
    if let Ok(manifest) = Manifest::from_cbor(data) {
        if let Ok(encoded) = manifest.to_cbor() {
            assert!(
                encoded == data,
                "Manifest::from_cbor accepted an encoding that to_cbor does not produce"
            );
        }
    }
    let _ = scan_seal_blocks(&mut Cursor::new(data));
    if let Ok(Some(found)) = read_chain(&mut Cursor::new(data), None) {
        if let Ok(chain) = found.chain {
            for record in &chain.seals {
                envelope(&record.envelope);
            }
        }
    }
});
