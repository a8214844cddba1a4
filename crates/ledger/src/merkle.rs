//! The Merkle tree of RFC 9162 (Certificate Transparency 2.0) §2.1 over SHA-256:
//! tree hashes, inclusion and consistency proofs, and their verification.
//!
//! This module knows only hashes. It does not know what an entry is, how leaves or
//! nodes are stored, or how many entries a ledger holds: callers hash their entries
//! with [`leaf_hash`], keep perfect-subtree hashes wherever they like and hand them
//! out through [`NodeSource`]. Because every proof is assembled from perfect
//! subtrees, producing one costs O(log n) lookups, never a walk over the leaves.
//!
//! Verification ([`verify_inclusion`], [`verify_consistency`]) follows the RFC's
//! bit-walking algorithms step by step and builds no tree, so an offline verifier
//! needs nothing but the proof, the sizes and the roots.
//!
//! [`TreeBuilder`] recomputes a root by streaming leaves in O(log n) memory, and
//! reports each perfect node as it completes so that stored nodes can be checked.
//!
//! No function here panics on any input: impossible sizes, indices, ranges and
//! malformed proofs are reported as errors.

use sha2::{Digest, Sha256};

/// Length in bytes of every hash in the tree.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash: a leaf hash, an interior node or a root.
pub type Hash = [u8; HASH_SIZE];

/// SHA-256 of the empty string: the root of the empty tree (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

// Distinct prefixes make a leaf hash and an interior hash different functions, so an
// interior node can never be passed off as a leaf (a second-preimage attack on the tree).
const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// The hash of one leaf: SHA-256(0x00 || `leaf_data`).
pub fn leaf_hash(leaf_data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(leaf_data);
    hasher.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || `left` || `right`).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// A source of perfect-subtree hashes: `node(level, index)` is MTH of the 2^level leaves
/// `[index * 2^level, (index+1) * 2^level)`. Level 0 is the leaf hash itself.
///
/// Proof generation asks only for nodes that lie entirely inside the tree size it was
/// given, so a source holding a larger tree serves proofs for any earlier size too.
pub trait NodeSource {
    /// Why a node could not be produced (a storage error, a missing node, ...).
    type Error;

    /// The hash of the perfect subtree at `level` and `index`.
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// Errors in the arguments of tree computations, and a node a source does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A subtree range `start..end` with `start >= end`.
    #[error("leaf range {start}..{end} is empty")]
    EmptyRange { start: u64, end: u64 },
    /// An inclusion proof was asked for a leaf the tree does not have.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof needs 0 < `old_size` <= `new_size`.
    #[error("no consistency proof from tree size {old_size} to {new_size}: need 0 < old size <= new size")]
    BadSizes { old_size: u64, new_size: u64 },
    /// [`MemoryTree`] was asked for a node it does not hold.
    #[error("tree node at level {level}, index {index} does not exist")]
    NodeUnavailable { level: u8, index: u64 },
    /// A [`TreeBuilder`] already holds the largest size a `u64` can count.
    #[error("the tree already has the maximum of 2^64 - 1 leaves")]
    TreeFull,
}

/// Errors from proof generation: the source's error or bad arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError<E> {
    /// The [`NodeSource`] failed.
    #[error(transparent)]
    Source(E),
    /// The sizes, index or range make no sense.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
}

/// In-memory [`NodeSource`] over leaf hashes, for tests and small callers.
///
/// Every perfect node is kept, level by level, and built as soon as it completes, so a
/// push costs amortized O(1) hashes and a lookup is O(1).
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    // levels[l][i] is node(l, i); only complete nodes exist, so levels[l].len() == len >> l.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash (not leaf data: hash it with [`leaf_hash`] first).
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut hash = leaf_hash;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let Some(nodes) = self.levels.get_mut(level) else {
                return;
            };
            nodes.push(hash);
            // An even count means the new node is a right child whose parent is now complete.
            hash = match nodes.as_slice() {
                [.., left, right] if nodes.len() & 1 == 0 => node_hash(left, right),
                _ => return,
            };
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// MTH of all leaves (`EMPTY_ROOT` when there are none).
    pub fn root(&self) -> Hash {
        // A level with an odd count ends in one of the perfect subtrees that make up the
        // tree; they join right to left, smallest first.
        self.levels
            .iter()
            .filter(|nodes| nodes.len() & 1 == 1)
            .filter_map(|nodes| nodes.last())
            .fold(None, |acc, left| match acc {
                None => Some(*left),
                Some(right) => Some(node_hash(left, &right)),
            })
            .unwrap_or(EMPTY_ROOT)
    }
}

impl NodeSource for MemoryTree {
    type Error = MerkleError;

    fn node(&mut self, level: u8, index: u64) -> Result<Hash, MerkleError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(MerkleError::NodeUnavailable { level, index })
    }
}

/// The RFC's k for a list of `len >= 2` leaves: the largest power of two below `len`.
fn split_point(len: u64) -> u64 {
    // `| 1` keeps leading_zeros below 64 even if a caller broke the `len >= 2` rule.
    1 << (63 - (len.saturating_sub(1) | 1).leading_zeros())
}

/// `MTH(D[0:size])` from O(log size) source lookups (decompose size into perfect subtrees).
pub fn root<S: NodeSource>(source: &mut S, size: u64) -> Result<Hash, GenerateError<S::Error>> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    subtree_hash(source, 0, size)
}

/// `MTH(D[start:end])` for any 0 <= start < end: perfect aligned ranges are one lookup,
/// others split at the largest power of two smaller than the length, as RFC 9162 does.
///
/// A range starting at 0, and every subtree a proof needs, costs one lookup per set bit
/// of its length. Other ranges, such as `1..5`, pair their leaves differently from the
/// stored tree and are rebuilt from smaller nodes: up to `end - start` lookups.
pub fn subtree_hash<S: NodeSource>(
    source: &mut S,
    start: u64,
    end: u64,
) -> Result<Hash, GenerateError<S::Error>> {
    if start >= end {
        return Err(MerkleError::EmptyRange { start, end }.into());
    }
    let len = end - start;
    if len.is_power_of_two() && start & (len - 1) == 0 {
        // trailing_zeros of a nonzero u64 is at most 63, so it fits in a u8.
        let level = len.trailing_zeros() as u8;
        return source
            .node(level, start >> level)
            .map_err(GenerateError::Source);
    }
    let mid = start + split_point(len);
    let left = subtree_hash(source, start, mid)?;
    let right = subtree_hash(source, mid, end)?;
    Ok(node_hash(&left, &right))
}

/// The leaf ranges whose MTHs form `PATH(index, D[0:size])`, leaf first. Needs index < size.
fn path_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    // PATH's recursion, unrolled from the root down; the RFC lists siblings from the leaf
    // up, hence the reversal.
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            ranges.push((mid, hi));
            hi = mid;
        } else {
            ranges.push((lo, mid));
            lo = mid;
        }
    }
    ranges.reverse();
    ranges
}

/// The leaf ranges whose MTHs form `PROOF(old_size, D[0:new_size])`, in proof order.
/// Needs 0 < old_size <= new_size.
fn proof_ranges(old_size: u64, new_size: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    // SUBPROOF's recursion, unrolled from the root down. `whole` is the RFC's b: while the
    // walk has only gone left, lo is 0 and the range it ends on is the whole old tree,
    // whose root the verifier already has, so the proof leaves it out.
    let (mut lo, mut hi) = (0, new_size);
    let mut whole = true;
    while old_size < hi {
        let mid = lo + split_point(hi - lo);
        if old_size <= mid {
            ranges.push((mid, hi));
            hi = mid;
        } else {
            ranges.push((lo, mid));
            lo = mid;
            whole = false;
        }
    }
    if !whole {
        ranges.push((lo, hi));
    }
    ranges.reverse();
    ranges
}

fn hash_ranges<S: NodeSource>(
    source: &mut S,
    ranges: &[(u64, u64)],
) -> Result<Vec<Hash>, GenerateError<S::Error>> {
    ranges
        .iter()
        .map(|&(start, end)| subtree_hash(source, start, end))
        .collect()
}

/// RFC 9162 §2.1.3.1 `PATH(index, D[0:size])`: sibling hashes from the leaf upward.
/// index < size, else error. O(log size) lookups (at most one non-perfect subtree
/// occurs on a path).
pub fn inclusion_proof<S: NodeSource>(
    source: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, GenerateError<S::Error>> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size }.into());
    }
    hash_ranges(source, &path_ranges(index, size))
}

/// RFC 9162 §2.1.4.1 `PROOF(old_size, D[0:new_size])` (SUBPROOF with b = true).
/// 0 < old_size <= new_size; old_size == new_size gives an empty proof.
/// O(log new_size) lookups (as for paths, at most one non-perfect subtree occurs).
pub fn consistency_proof<S: NodeSource>(
    source: &mut S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, GenerateError<S::Error>> {
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::BadSizes { old_size, new_size }.into());
    }
    hash_ranges(source, &proof_ranges(old_size, new_size))
}

/// Why a proof was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The claimed leaf index is not inside the claimed tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("the new tree size {new_size} is smaller than the old tree size {old_size}")]
    BadSizes { old_size: u64, new_size: u64 },
    /// The proof's length does not fit the claimed index and sizes.
    #[error("the proof has {got} hashes but these tree sizes need exactly {expected}")]
    WrongLength { expected: usize, got: usize },
    /// An inclusion proof leads to a different root: the leaf is not at that index of that tree.
    #[error("the inclusion proof does not lead to the tree's root")]
    RootMismatch,
    /// A consistency proof does not reproduce the old root.
    #[error("the consistency proof does not match the old tree's root")]
    OldRootMismatch,
    /// A consistency proof does not reproduce the new root: the new tree does not
    /// extend the old one.
    #[error("the consistency proof does not match the new tree's root")]
    NewRootMismatch,
    /// Two different roots for the same tree size: at most one of them is genuine.
    #[error("two different roots for the same tree size {size}")]
    SameSizeRootsDiffer { size: u64 },
}

/// RFC 9162 §2.1.3.2 verification algorithm exactly (the fn/sn bit-walking version),
/// no tree building: checks that `leaf` (a leaf hash) is at `index` in the tree of
/// `size` leaves whose root is `root`.
///
/// The proof length is checked first, against the length PATH would have, only to name
/// the problem; the RFC's own steps reject exactly the same proofs.
///
/// `size` and `root` must come from the same trusted checkpoint. The algorithm only checks
/// that the path's shape fits `size`, and many sizes share a shape (leaf 0 of a tree of 3
/// and of 4, for instance), so a root checked against a size it was never signed with
/// can pass.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = path_ranges(index, size).len();
    let wrong_length = ProofError::WrongLength {
        expected,
        got: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(wrong_length);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(wrong_length);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2 verification algorithm exactly: checks that the tree of `new_size`
/// leaves with root `new_root` extends the tree of `old_size` leaves with root `old_root`.
///
/// Cases the RFC leaves out:
/// - `old_size > new_size` is [`ProofError::BadSizes`].
/// - `old_size == new_size`: the proof must be empty and the roots equal.
/// - `old_size == 0`: every tree extends the empty tree, so there is nothing to prove.
///   Only an empty proof is accepted (anything else was not produced by this module,
///   and is refused rather than ignored) and `old_root` must be [`EMPTY_ROOT`];
///   `new_root` is checked only when `new_size` is 0 too.
///
/// As with [`verify_inclusion`], each size must come with its own root from a trusted
/// checkpoint: a root paired with the wrong size can pass.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::BadSizes { old_size, new_size });
    }
    let expected = if old_size == 0 {
        0
    } else {
        proof_ranges(old_size, new_size).len()
    };
    let wrong_length = ProofError::WrongLength {
        expected,
        got: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }
    if old_size == new_size && old_root != new_root {
        return Err(ProofError::SameSizeRootsDiffer { size: old_size });
    }
    if old_size == 0 && *old_root != EMPTY_ROOT {
        return Err(ProofError::OldRootMismatch);
    }
    if old_size == 0 || old_size == new_size {
        return Ok(());
    }
    // Step 2: when the old tree is a perfect subtree of the new one, the proof omits its
    // root because the verifier has it.
    let mut path = old_size
        .is_power_of_two()
        .then_some(old_root)
        .into_iter()
        .chain(proof);
    // Step 1: an empty path fails.
    let Some(&first) = path.next() else {
        return Err(wrong_length);
    };
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (first, first);
    for c in path {
        if s_n == 0 {
            return Err(wrong_length);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(wrong_length);
    }
    if f_r != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if s_r != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

/// The root of a tree *as leaves are appended*: a compact range (stack of perfect-subtree
/// hashes, one per set bit of size). Used to recompute a whole ledger streaming, in
/// O(log n) memory.
#[derive(Debug, Clone, Default)]
pub struct TreeBuilder {
    size: u64,
    // The perfect subtrees that make up the tree, largest (leftmost) first.
    stack: Vec<Hash>,
}

impl TreeBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash; returns the perfect nodes this completes, in order of
    /// increasing level, as (level, index, hash) — starting with (0, leaf_index, leaf)
    /// itself. Callers compare these with stored nodes.
    ///
    /// A fresh `Vec` per push keeps the interface plain; its cost is small next to the
    /// hashing and the caller's storage reads. Fails only once the size would pass
    /// `u64::MAX`.
    pub fn push(&mut self, leaf: Hash) -> Result<Vec<(u8, u64, Hash)>, MerkleError> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(MerkleError::TreeFull)?;
        let mut completed = vec![(0, index, leaf)];
        let mut hash = leaf;
        let mut level: u8 = 0;
        // Each trailing one bit of the old size is a perfect subtree on the stack waiting
        // for a right sibling of its own size, which the new leaf has just completed.
        while index.checked_shr(u32::from(level)).unwrap_or(0) & 1 == 1 {
            let Some(left) = self.stack.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            level += 1;
            completed.push((level, index.checked_shr(level.into()).unwrap_or(0), hash));
        }
        self.stack.push(hash);
        self.size = new_size;
        Ok(completed)
    }

    /// MTH of all leaves pushed so far (EMPTY_ROOT when none).
    pub fn root(&self) -> Hash {
        let mut subtrees = self.stack.iter().rev();
        let Some(&smallest) = subtrees.next() else {
            return EMPTY_ROOT;
        };
        subtrees.fold(smallest, |right, left| node_hash(left, &right))
    }
}
