//! Known-answer tests for `scanseal_ledger::merkle`: tree hashes, inclusion and
//! consistency proofs for sizes 1..=64 and a few large ones, checked against a small
//! independent reference written straight from RFC 9162's recursive definitions,
//! plus mutated-proof negatives, argument errors and lookup counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scanseal_ledger::merkle::*;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::convert::Infallible;

/// RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH and §2.1.4.1 PROOF/SUBPROOF, transcribed over
/// leaf data with sha2 used directly (not the module's `leaf_hash`/`node_hash`).
/// `D[lo:hi]` is passed as a pair of indices into `leaves`; MTH results are memoized
/// per range, which changes nothing but the cost for the large trees.
struct Reference {
    leaves: Vec<Vec<u8>>,
    memo: HashMap<(usize, usize), Hash>,
}

impl Reference {
    fn new(n: usize) -> Self {
        Self {
            leaves: (0..n).map(leaf_data).collect(),
            memo: HashMap::new(),
        }
    }

    /// The largest power of two smaller than n (n > 1).
    fn k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn sha256(parts: &[&[u8]]) -> Hash {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    /// MTH(D[lo:hi]).
    fn mth(&mut self, lo: usize, hi: usize) -> Hash {
        if let Some(hash) = self.memo.get(&(lo, hi)) {
            return *hash;
        }
        let hash = match hi - lo {
            0 => Self::sha256(&[]),
            1 => Self::sha256(&[&[0x00], &self.leaves[lo]]),
            n => {
                let k = Self::k(n);
                let left = self.mth(lo, lo + k);
                let right = self.mth(lo + k, hi);
                Self::sha256(&[&[0x01], &left, &right])
            }
        };
        self.memo.insert((lo, hi), hash);
        hash
    }

    /// PATH(m, D[lo:hi]), m counted from lo.
    fn path(&mut self, m: usize, lo: usize, hi: usize) -> Vec<Hash> {
        let n = hi - lo;
        if n == 1 {
            return Vec::new();
        }
        let k = Self::k(n);
        if m < k {
            let mut path = self.path(m, lo, lo + k);
            path.push(self.mth(lo + k, hi));
            path
        } else {
            let mut path = self.path(m - k, lo + k, hi);
            path.push(self.mth(lo, lo + k));
            path
        }
    }

    /// PROOF(m, D[0:n]).
    fn proof(&mut self, m: usize, n: usize) -> Vec<Hash> {
        self.subproof(m, 0, n, true)
    }

    /// SUBPROOF(m, D[lo:hi], b), m counted from lo.
    fn subproof(&mut self, m: usize, lo: usize, hi: usize, b: bool) -> Vec<Hash> {
        let n = hi - lo;
        if m == n {
            return if b {
                Vec::new()
            } else {
                vec![self.mth(lo, hi)]
            };
        }
        let k = Self::k(n);
        if m <= k {
            let mut proof = self.subproof(m, lo, lo + k, b);
            proof.push(self.mth(lo + k, hi));
            proof
        } else {
            let mut proof = self.subproof(m - k, lo + k, hi, false);
            proof.push(self.mth(lo, lo + k));
            proof
        }
    }

    fn leaf(&mut self, i: usize) -> Hash {
        self.mth(i, i + 1)
    }
}

fn leaf_data(i: usize) -> Vec<u8> {
    format!("leaf {i}").into_bytes()
}

fn memory_tree(n: usize) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for i in 0..n {
        tree.push(leaf_hash(&leaf_data(i)));
    }
    tree
}

fn h(hex: &str) -> Hash {
    assert_eq!(hex.len(), 64, "{hex}");
    let mut out = [0; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out[(bit / 8) % 32] ^= 1 << (bit % 8);
    out
}

/// A deterministic spread of values in 0..bound.
fn sample(bound: u64, count: usize, seed: u64) -> Vec<u64> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % bound
        })
        .collect()
}

// Hex values below were computed with Python's hashlib, e.g.
//   python3 -c "import hashlib; print(hashlib.sha256(b'').hexdigest())"
//   python3 -c "import hashlib; print(hashlib.sha256(b'\x00').hexdigest())"
// and, for the eight-leaf tree, with a ten-line Python transcription of RFC 9162 MTH,
// PATH and PROOF. The roots are the well-known RFC 6962 test vectors of the
// certificate-transparency and Trillian test suites.

const CT_LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

const CT_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn empty_tree_and_single_leaf_known_answers() {
    let empty = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(EMPTY_ROOT, empty);
    assert_eq!(HASH_SIZE, 32);
    assert_eq!(MemoryTree::new().root(), empty);
    assert_eq!(TreeBuilder::new().root(), empty);
    assert_eq!(TreeBuilder::new().size(), 0);
    assert_eq!(root(&mut MemoryTree::new(), 0).unwrap(), empty);
    assert!(MemoryTree::new().is_empty());

    // SHA-256(0x00): the hash of an empty leaf, and the root of a tree holding only it.
    let empty_leaf = h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    assert_eq!(leaf_hash(b""), empty_leaf);
    let mut tree = MemoryTree::new();
    tree.push(empty_leaf);
    assert_eq!(tree.root(), empty_leaf);
    assert_eq!(tree.len(), 1);
    // SHA-256(0x01 || 32 zero bytes || 32 zero bytes).
    assert_eq!(
        node_hash(&[0; 32], &[0; 32]),
        h("ae0798d0ecaed2b778eddebf18f071a561c53658c05e76cedecc27cafbdbc577")
    );
}

#[test]
fn rfc6962_test_vectors() {
    let mut tree = MemoryTree::new();
    let mut builder = TreeBuilder::new();
    for (leaf, expected) in CT_LEAVES.iter().zip(CT_ROOTS) {
        tree.push(leaf_hash(leaf));
        builder.push(leaf_hash(leaf)).unwrap();
        assert_eq!(tree.root(), h(expected));
        assert_eq!(builder.root(), h(expected));
        let size = tree.len();
        assert_eq!(root(&mut tree, size).unwrap(), h(expected));
    }

    let paths: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (index, size, expected) in paths {
        let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
        assert_eq!(inclusion_proof(&mut tree, index, size).unwrap(), expected);
        let leaf = leaf_hash(CT_LEAVES[index as usize]);
        let root = h(CT_ROOTS[size as usize - 1]);
        verify_inclusion(index, size, &leaf, &expected, &root).unwrap();
    }

    let proofs: [(u64, u64, &[&str]); 3] = [
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (old, new, expected) in proofs {
        let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
        assert_eq!(consistency_proof(&mut tree, old, new).unwrap(), expected);
        let old_root = h(CT_ROOTS[old as usize - 1]);
        let new_root = h(CT_ROOTS[new as usize - 1]);
        verify_consistency(old, new, &old_root, &new_root, &expected).unwrap();
    }
}

#[test]
fn module_hashes_match_reference() {
    let mut reference = Reference::new(64);
    for i in 0..64 {
        assert_eq!(leaf_hash(&leaf_data(i)), reference.leaf(i));
    }
    // Every perfect node MemoryTree holds, and every subrange hash.
    let mut tree = memory_tree(64);
    for level in 0..=6u8 {
        for index in 0..(64u64 >> level) {
            let lo = (index as usize) << level;
            let hi = lo + (1 << level);
            assert_eq!(tree.node(level, index).unwrap(), reference.mth(lo, hi));
        }
    }
    for start in 0..64 {
        for end in start + 1..=64 {
            assert_eq!(
                subtree_hash(&mut tree, start as u64, end as u64).unwrap(),
                reference.mth(start, end),
                "{start}..{end}"
            );
        }
    }
}

#[test]
fn sizes_1_to_64_match_reference() {
    let mut reference = Reference::new(64);
    // Proofs come both from a tree of exactly the size asked and from a larger one,
    // as a ledger that has grown since the checkpoint would serve them.
    let mut full = memory_tree(64);
    let mut growing = MemoryTree::new();
    let mut builder = TreeBuilder::new();
    for n in 1..=64usize {
        let size = n as u64;
        growing.push(leaf_hash(&leaf_data(n - 1)));
        builder.push(leaf_hash(&leaf_data(n - 1))).unwrap();
        let expected_root = reference.mth(0, n);
        assert_eq!(growing.len(), size);
        assert_eq!(growing.root(), expected_root, "n={n}");
        assert_eq!(builder.root(), expected_root, "n={n}");
        assert_eq!(builder.size(), size);
        assert_eq!(root(&mut growing, size).unwrap(), expected_root, "n={n}");
        assert_eq!(root(&mut full, size).unwrap(), expected_root, "n={n}");

        for index in 0..n {
            let expected = reference.path(index, 0, n);
            let proof = inclusion_proof(&mut full, index as u64, size).unwrap();
            assert_eq!(proof, expected, "PATH({index}, D[0:{n}])");
            assert_eq!(
                inclusion_proof(&mut growing, index as u64, size).unwrap(),
                expected
            );
            let leaf = reference.leaf(index);
            verify_inclusion(index as u64, size, &leaf, &proof, &expected_root).unwrap();
        }

        for m in 1..=n {
            let expected = reference.proof(m, n);
            let proof = consistency_proof(&mut full, m as u64, size).unwrap();
            assert_eq!(proof, expected, "PROOF({m}, D[0:{n}])");
            assert_eq!(
                consistency_proof(&mut growing, m as u64, size).unwrap(),
                expected
            );
            let old_root = reference.mth(0, m);
            verify_consistency(m as u64, size, &old_root, &expected_root, &proof).unwrap();
        }
        // The empty tree is consistent with everything, with nothing to prove.
        verify_consistency(0, size, &EMPTY_ROOT, &expected_root, &[]).unwrap();
    }
}

#[test]
fn large_sizes_match_reference() {
    const SIZES: [usize; 5] = [1000, 1024, 1025, 4097, 65537];
    let max = SIZES[SIZES.len() - 1];
    let mut reference = Reference::new(max);
    let mut tree = memory_tree(max);
    let mut builder = TreeBuilder::new();
    for n in SIZES {
        let size = n as u64;
        while builder.size() < size {
            let i = builder.size() as usize;
            builder.push(leaf_hash(&leaf_data(i))).unwrap();
        }
        let expected_root = reference.mth(0, n);
        assert_eq!(builder.root(), expected_root, "n={n}");
        assert_eq!(root(&mut tree, size).unwrap(), expected_root, "n={n}");

        let mut picks: Vec<u64> = vec![0, 1, 2, size / 2, size - 2, size - 1];
        for bit in 0..64 {
            let p = 1u64 << bit;
            if p < size {
                picks.extend([p - 1, p, p + 1]);
            }
        }
        picks.extend(sample(size, 12, size));
        picks.retain(|&p| p < size);
        for &index in &picks {
            let proof = inclusion_proof(&mut tree, index, size).unwrap();
            assert_eq!(
                proof,
                reference.path(index as usize, 0, n),
                "{index} in {n}"
            );
            let leaf = reference.leaf(index as usize);
            verify_inclusion(index, size, &leaf, &proof, &expected_root).unwrap();
            assert_rejects_inclusion(
                index,
                size,
                &leaf,
                &proof,
                &expected_root,
                &mut roots_of(&mut reference),
            );
        }
        for &m in picks.iter().map(|p| p + 1).collect::<Vec<_>>().iter() {
            let proof = consistency_proof(&mut tree, m, size).unwrap();
            assert_eq!(proof, reference.proof(m as usize, n), "{m} to {n}");
            let old_root = reference.mth(0, m as usize);
            verify_consistency(m, size, &old_root, &expected_root, &proof).unwrap();
            assert_rejects_consistency(
                m,
                size,
                &old_root,
                &expected_root,
                &proof,
                &mut roots_of(&mut reference),
            );
        }
    }
}

/// Every mutation of a proof: each hash with one bit flipped, each hash dropped, and a
/// hash added at each end and in the middle.
fn mutations(proof: &[Hash]) -> Vec<Vec<Hash>> {
    let mut out = Vec::new();
    for i in 0..proof.len() {
        for bit in [0, 7 * i + 3, 255] {
            let mut p = proof.to_vec();
            p[i] = flip(&p[i], bit);
            out.push(p);
        }
        let mut p = proof.to_vec();
        p.remove(i);
        out.push(p);
    }
    let extra = leaf_hash(b"extra");
    for at in [0, proof.len() / 2, proof.len()] {
        let mut p = proof.to_vec();
        p.insert(at, extra);
        out.push(p);
    }
    if let Some(last) = proof.last() {
        let mut p = proof.to_vec();
        p.push(*last);
        out.push(p);
    }
    out
}

/// The true root of each tree size the reference covers.
fn roots_of(reference: &mut Reference) -> impl FnMut(u64) -> Option<Hash> + '_ {
    move |size| (size <= reference.leaves.len() as u64).then(|| reference.mth(0, size as usize))
}

/// Checks that a valid inclusion proof stops verifying once anything about it changes.
///
/// A wrong size is tried with that size's own root: sizes and roots come in signed pairs,
/// and the RFC algorithm does not promise to reject a root paired with the wrong size
/// (leaf 0 of 3 and of 4 share a path shape, so a size-3 proof checks out against the
/// size-3 root claimed for size 4).
fn assert_rejects_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
    root_of: &mut dyn FnMut(u64) -> Option<Hash>,
) {
    for bad in mutations(proof) {
        assert!(
            verify_inclusion(index, size, leaf, &bad, root).is_err(),
            "mutated proof for {index} in {size} accepted"
        );
    }
    let mut other_indices: Vec<u64> = if size <= 32 {
        (0..size + 2).collect()
    } else {
        vec![
            0,
            index.wrapping_sub(1),
            index + 1,
            index ^ 1,
            size - 1,
            size,
            u64::MAX,
        ]
    };
    other_indices.retain(|&i| i != index);
    for other in other_indices {
        assert!(
            verify_inclusion(other, size, leaf, proof, root).is_err(),
            "index {other} accepted for {index} in {size}"
        );
    }
    let mut other_sizes: Vec<u64> = if size <= 32 {
        (0..size + 4).collect()
    } else {
        vec![index, index + 1, size - 1, size + 1, size + 2]
    };
    other_sizes.extend([size * 2, u64::MAX]);
    other_sizes.retain(|&s| s != size);
    for other in other_sizes {
        if let Some(other_root) = root_of(other) {
            assert!(
                verify_inclusion(index, other, leaf, proof, &other_root).is_err(),
                "size {other} accepted for {index} in {size}"
            );
        }
    }
    // Far larger sizes need longer paths, whatever the root.
    for other in [size << 8, u64::MAX] {
        assert!(verify_inclusion(index, other, leaf, proof, root).is_err());
    }
    for bit in [0, 100, 255] {
        assert!(verify_inclusion(index, size, &flip(leaf, bit), proof, root).is_err());
        assert!(verify_inclusion(index, size, leaf, proof, &flip(root, bit)).is_err());
    }
    assert!(verify_inclusion(index, size, &leaf_hash(b"other"), proof, root).is_err());
}

/// Checks that a valid consistency proof stops verifying once anything about it changes.
/// Wrong sizes are tried with their own roots, as for inclusion.
fn assert_rejects_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
    root_of: &mut dyn FnMut(u64) -> Option<Hash>,
) {
    for bad in mutations(proof) {
        assert!(
            verify_consistency(old, new, old_root, new_root, &bad).is_err(),
            "mutated proof from {old} to {new} accepted"
        );
    }
    let candidates: Vec<u64> = if new <= 32 {
        (0..new + 4).collect()
    } else {
        vec![
            0,
            1,
            old - 1,
            old + 1,
            new - 1,
            new,
            new + 1,
            new * 2,
            u64::MAX,
        ]
    };
    for &other in &candidates {
        // Every tree extends the empty one, with an empty proof.
        let Some(other_root) = root_of(other) else {
            continue;
        };
        if other != old && !(other == 0 && proof.is_empty()) {
            assert!(
                verify_consistency(other, new, &other_root, new_root, proof).is_err(),
                "old size {other} accepted for {old} to {new}"
            );
        }
        if other != new {
            assert!(
                verify_consistency(old, other, old_root, &other_root, proof).is_err(),
                "new size {other} accepted for {old} to {new}"
            );
        }
    }
    for other in [new << 8, u64::MAX] {
        assert!(verify_consistency(old, other, old_root, new_root, proof).is_err());
    }
    for bit in [0, 100, 255] {
        assert!(verify_consistency(old, new, &flip(old_root, bit), new_root, proof).is_err());
        assert!(verify_consistency(old, new, old_root, &flip(new_root, bit), proof).is_err());
    }
    if old_root != new_root {
        assert!(verify_consistency(old, new, new_root, old_root, proof).is_err());
    }
}

#[test]
fn mutated_proofs_are_rejected() {
    let mut reference = Reference::new(40);
    let mut tree = memory_tree(40);
    for n in 1..=40usize {
        let size = n as u64;
        let root = reference.mth(0, n);
        for index in 0..n {
            let proof = inclusion_proof(&mut tree, index as u64, size).unwrap();
            let leaf = reference.leaf(index);
            assert_rejects_inclusion(
                index as u64,
                size,
                &leaf,
                &proof,
                &root,
                &mut roots_of(&mut reference),
            );
            // Another leaf of the same tree is not at this index.
            let other = reference.leaf((index + 1) % n);
            if n > 1 {
                assert!(verify_inclusion(index as u64, size, &other, &proof, &root).is_err());
            }
        }
        for m in 1..=n {
            let proof = consistency_proof(&mut tree, m as u64, size).unwrap();
            let old_root = reference.mth(0, m);
            assert_rejects_consistency(
                m as u64,
                size,
                &old_root,
                &root,
                &proof,
                &mut roots_of(&mut reference),
            );
            // A root of a different old size, or of a different new size, is refused.
            if m > 1 {
                let wrong = reference.mth(0, m - 1);
                assert!(verify_consistency(m as u64, size, &wrong, &root, &proof).is_err());
            }
            if n < 40 {
                let wrong = reference.mth(0, n + 1);
                assert!(verify_consistency(m as u64, size, &old_root, &wrong, &proof).is_err());
            }
        }
    }
}

#[test]
fn verification_error_kinds() {
    let mut reference = Reference::new(13);
    let mut tree = memory_tree(13);
    let root = reference.mth(0, 13);
    let leaf = reference.leaf(5);
    let proof = inclusion_proof(&mut tree, 5, 13).unwrap();
    assert_eq!(proof.len(), 4);
    assert_eq!(
        verify_inclusion(5, 13, &leaf, &proof[1..], &root),
        Err(ProofError::WrongLength {
            expected: 4,
            got: 3
        })
    );
    assert_eq!(
        verify_inclusion(5, 13, &leaf, &proof, &leaf),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_inclusion(13, 13, &leaf, &proof, &root),
        Err(ProofError::IndexOutOfRange {
            index: 13,
            size: 13
        })
    );

    let old_root = reference.mth(0, 6);
    let proof = consistency_proof(&mut tree, 6, 13).unwrap();
    assert_eq!(
        verify_consistency(6, 13, &root, &root, &proof),
        Err(ProofError::OldRootMismatch)
    );
    assert_eq!(
        verify_consistency(6, 13, &old_root, &old_root, &proof),
        Err(ProofError::NewRootMismatch)
    );
    assert_eq!(
        verify_consistency(13, 6, &old_root, &root, &proof),
        Err(ProofError::BadSizes {
            old_size: 13,
            new_size: 6
        })
    );
    // Equal sizes: only an empty proof and equal roots.
    verify_consistency(13, 13, &root, &root, &[]).unwrap();
    assert_eq!(
        verify_consistency(13, 13, &old_root, &root, &[]),
        Err(ProofError::SameSizeRootsDiffer { size: 13 })
    );
    assert_eq!(
        verify_consistency(13, 13, &root, &root, &[root]),
        Err(ProofError::WrongLength {
            expected: 0,
            got: 1
        })
    );
    // Old size 0: only an empty proof, and the old root must be the empty tree's.
    verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]).unwrap();
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &root, &[]),
        Err(ProofError::SameSizeRootsDiffer { size: 0 })
    );
    assert_eq!(
        verify_consistency(0, 0, &root, &root, &[]),
        Err(ProofError::OldRootMismatch)
    );
    verify_consistency(0, 13, &EMPTY_ROOT, &root, &[]).unwrap();
    assert_eq!(
        verify_consistency(0, 13, &EMPTY_ROOT, &root, &[root]),
        Err(ProofError::WrongLength {
            expected: 0,
            got: 1
        })
    );
    assert_eq!(
        verify_consistency(0, 13, &root, &root, &[]),
        Err(ProofError::OldRootMismatch)
    );

    // Messages name the problem.
    let message = ProofError::WrongLength {
        expected: 4,
        got: 3,
    }
    .to_string();
    assert!(message.contains('4') && message.contains('3'), "{message}");
}

#[test]
fn generation_argument_errors() {
    let mut tree = memory_tree(10);
    let out_of_range = |index, size| {
        Err::<Vec<Hash>, _>(GenerateError::Merkle(MerkleError::IndexOutOfRange {
            index,
            size,
        }))
    };
    assert_eq!(inclusion_proof(&mut tree, 10, 10), out_of_range(10, 10));
    assert_eq!(inclusion_proof(&mut tree, 0, 0), out_of_range(0, 0));
    assert_eq!(
        inclusion_proof(&mut tree, u64::MAX, u64::MAX),
        out_of_range(u64::MAX, u64::MAX)
    );
    let bad_sizes = |old_size, new_size| {
        Err::<Vec<Hash>, _>(GenerateError::Merkle(MerkleError::BadSizes {
            old_size,
            new_size,
        }))
    };
    assert_eq!(consistency_proof(&mut tree, 0, 5), bad_sizes(0, 5));
    assert_eq!(consistency_proof(&mut tree, 0, 0), bad_sizes(0, 0));
    assert_eq!(consistency_proof(&mut tree, 6, 5), bad_sizes(6, 5));
    assert_eq!(
        consistency_proof(&mut tree, u64::MAX, 1),
        bad_sizes(u64::MAX, 1)
    );
    assert_eq!(consistency_proof(&mut tree, 5, 5), Ok(Vec::new()));
    assert_eq!(
        subtree_hash(&mut tree, 5, 5),
        Err(GenerateError::Merkle(MerkleError::EmptyRange {
            start: 5,
            end: 5
        }))
    );
    assert!(subtree_hash(&mut tree, 6, 5).is_err());
    assert!(subtree_hash(&mut tree, u64::MAX, 0).is_err());

    // Asking beyond what the source holds is the source's error.
    assert!(matches!(
        root(&mut tree, 11),
        Err(GenerateError::Source(MerkleError::NodeUnavailable { .. }))
    ));
    assert!(matches!(
        inclusion_proof(&mut tree, 3, 12),
        Err(GenerateError::Source(_))
    ));
    assert!(matches!(
        consistency_proof(&mut tree, 3, u64::MAX),
        Err(GenerateError::Source(_))
    ));
    assert!(tree.node(200, 0).is_err());
    assert!(tree.node(0, u64::MAX).is_err());
    assert!(tree.node(0, 10).is_err());
    assert!(tree.node(3, 1).is_err());
    assert!(tree.node(3, 0).is_ok());

    let message = inclusion_proof(&mut tree, 10, 10).unwrap_err().to_string();
    assert!(message.contains("10"), "{message}");
}

/// A source that never fails, counts lookups, and checks that every node asked for lies
/// inside the tree. Its hashes are cheap stand-ins derived from (level, index), so its
/// "tree" is not a real Merkle tree: only the counting matters.
struct CountingSource {
    size: u64,
    lookups: usize,
}

impl NodeSource for CountingSource {
    type Error = Infallible;

    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Infallible> {
        self.lookups += 1;
        let end = (u128::from(index) + 1) << level;
        assert!(
            end <= u128::from(self.size),
            "node({level}, {index}) outside {}",
            self.size
        );
        let mut hash = [0; 32];
        hash[0] = level;
        hash[1..9].copy_from_slice(&index.to_le_bytes());
        Ok(hash)
    }
}

impl CountingSource {
    fn new(size: u64) -> Self {
        Self { size, lookups: 0 }
    }

    fn take(&mut self) -> usize {
        std::mem::take(&mut self.lookups)
    }
}

#[test]
fn proofs_cost_logarithmic_lookups() {
    let n: u64 = (1 << 20) + 12345;
    // ceil(log2 n) = 21. Each proof hash is one perfect node, except at most one
    // non-perfect subtree, which costs one lookup per set bit of its length (< 21); so
    // a proof costs fewer than 2 * 21 lookups.
    let bound = 2 * 21;
    let mut source = CountingSource::new(n);
    root(&mut source, n).unwrap();
    assert_eq!(source.take(), n.count_ones() as usize);

    let mut indices = vec![0, 1, n / 2, (1 << 20) - 1, 1 << 20, n - 2, n - 1];
    indices.extend(sample(n, 200, 7));
    for &index in &indices {
        let proof = inclusion_proof(&mut source, index, n).unwrap();
        let lookups = source.take();
        assert!(
            lookups >= proof.len() && lookups <= bound,
            "{index}: {lookups}"
        );
    }
    for &m in &indices {
        let proof = consistency_proof(&mut source, m + 1, n).unwrap();
        let lookups = source.take();
        assert!(lookups >= proof.len() && lookups <= bound, "{m}: {lookups}");
    }
}

#[test]
fn absurd_sizes_neither_panic_nor_overflow() {
    let max = u64::MAX;
    let mut source = CountingSource::new(max);
    assert!(root(&mut source, max).is_ok());
    assert_eq!(source.take(), 64);
    assert!(subtree_hash(&mut source, 0, max).is_ok());
    assert!(subtree_hash(&mut source, max - 1, max).is_ok());
    assert!(subtree_hash(&mut source, 1 << 63, max).is_ok());
    source.take();

    for index in [0, 1, 1 << 63, max - 2, max - 1] {
        let proof = inclusion_proof(&mut source, index, max).unwrap();
        assert!(proof.len() <= 64);
        assert!(source.take() <= 128);
        let leaf = [7; 32];
        assert_eq!(
            verify_inclusion(index, max, &leaf, &proof, &[0; 32]),
            Err(ProofError::RootMismatch)
        );
        assert!(verify_inclusion(index, max, &leaf, &proof[1..], &[0; 32]).is_err());
    }
    for old in [1, 2, 1 << 63, (1 << 63) + 1, max - 1, max] {
        let proof = consistency_proof(&mut source, old, max).unwrap();
        assert!(proof.len() <= 128);
        assert!(source.take() <= 128);
        let result = verify_consistency(old, max, &[1; 32], &[2; 32], &proof);
        assert!(result.is_err());
    }

    let junk = vec![[9u8; 32]; 200];
    let leaf = [1; 32];
    let root = [2; 32];
    for (index, size) in [
        (0, 0),
        (0, 1),
        (max, max),
        (max, 0),
        (0, max),
        (max - 1, max),
        (1 << 63, max),
    ] {
        for len in [0, 1, 63, 64, 65, 200] {
            assert!(verify_inclusion(index, size, &leaf, &junk[..len], &root).is_err());
        }
    }
    for (old, new) in [
        (0, 0),
        (0, max),
        (1, max),
        (max, max),
        (max - 1, max),
        (max, 1),
        (1 << 63, max),
        (5, 3),
    ] {
        for len in [0, 1, 63, 64, 65, 127, 128, 200] {
            assert!(verify_consistency(old, new, &leaf, &root, &junk[..len]).is_err());
        }
    }
}

#[test]
fn tree_builder_reports_completed_nodes() {
    let mut reference = Reference::new(300);
    let mut builder = TreeBuilder::new();
    for n in 1..=300usize {
        let completed = builder.push(reference.leaf(n - 1)).unwrap();
        // The perfect subtrees that end exactly at leaf n: one per trailing zero bit of n,
        // plus the leaf itself.
        let expected: Vec<(u8, u64, Hash)> = (0..=n.trailing_zeros() as u8)
            .map(|level| {
                let index = (n >> level) - 1;
                let lo = index << level;
                let hi = (index + 1) << level;
                (level, index as u64, reference.mth(lo, hi))
            })
            .collect();
        assert_eq!(completed, expected, "push {n}");
        assert_eq!(builder.size(), n as u64);
        assert_eq!(builder.root(), reference.mth(0, n), "n={n}");
    }
}
