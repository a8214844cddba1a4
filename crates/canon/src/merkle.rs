//! RFC 9162 §2.1.1 Merkle Tree Hash over 32-byte digests (spec §1, `MTH`).

use crate::Digest;

const LEAF_PREFIX: &[u8] = &[0x00];
const NODE_PREFIX: &[u8] = &[0x01];

/// `MTH(leaves)`: the RFC 9162 Merkle Tree Hash whose leaf inputs are the given digests.
///
/// The empty list hashes to SHA-256 of the empty string, as in RFC 9162.
pub fn merkle_root(leaves: &[Digest]) -> Digest {
    merkle_tree_hash(leaves)
}

/// `MTH(leaves)` over arbitrary byte strings (RFC 9162 §2.1.1).
pub fn merkle_tree_hash<L: AsRef<[u8]>>(leaves: &[L]) -> Digest {
    match leaves {
        [] => Digest::of(&[]),
        [leaf] => Digest::of(&[LEAF_PREFIX, leaf.as_ref()]),
        _ => {
            // k: the largest power of two smaller than n.
            let k = leaves.len().next_power_of_two() / 2;
            let left = merkle_tree_hash(&leaves[..k]);
            let right = merkle_tree_hash(&leaves[k..]);
            Digest::of(&[NODE_PREFIX, &left.0, &right.0])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_largest_power_of_two_below_n() {
        // n = 5 splits 4 + 1; n = 4 splits 2 + 2.
        let leaves: Vec<Digest> = (0..5u8).map(|i| Digest([i; 32])).collect();
        let four = merkle_root(&leaves[..4]);
        let want = Digest::of(&[&[1], &four.0, &merkle_root(&leaves[4..]).0]);
        assert_eq!(merkle_root(&leaves), want);
        let two_two = Digest::of(&[
            &[1],
            &merkle_root(&leaves[..2]).0,
            &merkle_root(&leaves[2..4]).0,
        ]);
        assert_eq!(four, two_two);
    }

    #[test]
    fn empty_tree_is_sha256_of_nothing() {
        assert_eq!(
            merkle_root(&[]).to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
