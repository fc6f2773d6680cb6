//! The merkle tree over a block's transaction ids: the root a header commits to, and
//! inclusion proofs, which show that one transaction is in a block to someone who holds
//! only the block's header.
//!
//! The root is computed over the ids in block order: each id hashed with the leaf tag, each
//! pair of neighbours with the node tag, an odd node at the end of a level carried up
//! unchanged, until one hash is left (the all-zero root for no transactions). A proof
//! recomputes the same root from one id and the siblings on its way up; it adds no rule.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{
    codec::{MERKLE_LEAF_TAG, MERKLE_NODE_TAG},
    hash::{MerkleNode, MerkleRoot, TxId, sha256},
};

/// Computes the merkle root of a list of ids.
///
/// Leaves and inner nodes are hashed with different domain tags, and an odd node is
/// carried up unchanged rather than paired with itself, so no two different lists share a
/// root (Bitcoin's duplicate-last-leaf ambiguity, CVE-2012-2459, can't happen).
///
/// # Consensus
///
/// Rules: [enc-merkle-root](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#enc-merkle-root)
pub fn merkle_root(ids: impl IntoIterator<Item = TxId>) -> MerkleRoot {
    let mut level: Vec<[u8; 32]> = ids.into_iter().map(|id| leaf(&id)).collect();
    while level.len() > 1 {
        level = parents(&level);
    }
    MerkleRoot::from_bytes(level.first().copied().unwrap_or_default())
}

fn leaf(id: &TxId) -> [u8; 32] {
    sha256(&[MERKLE_LEAF_TAG, id.as_bytes()])
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    sha256(&[MERKLE_NODE_TAG, left, right])
}

/// The level above `level`: each pair hashed together, an odd last node carried up.
fn parents(level: &[[u8; 32]]) -> Vec<[u8; 32]> {
    level
        .chunks(2)
        .filter_map(|pair| match pair {
            [left, right] => Some(node(left, right)),
            [single] => Some(*single),
            _ => None,
        })
        .collect()
}

/// A proof that a transaction id is a leaf of the tree whose root a header commits to: the
/// sibling of each node on the way from its leaf to the root (none where the node was
/// carried up alone).
///
/// What it proves is membership: leaves and inner nodes are hashed with different tags,
/// so no inner node passes for a transaction. `index` and `count` give the tree's shape,
/// which levels have a sibling and on which side; they are the prover's word, not proven
/// by the root: where a node is carried up alone, another shape with the same sides at the
/// hashed levels leads to the same root (the proof for the 5th of 5 also verifies as the
/// 2nd of 2). Only index 0, the reward's place, is pinned: any other index has a left
/// sibling somewhere on its way up.
///
/// ```
/// use gophercoin_core::{TxId, merkle::{MerkleProof, merkle_root}};
///
/// let ids: Vec<TxId> = (1..=5).map(|n| TxId::from_bytes([n; 32])).collect();
/// let root = merkle_root(ids.iter().copied());
/// let proof = MerkleProof::new(&ids, 3).expect("index 3 is in the list");
/// assert_eq!(proof.verify(&ids[3], &root), Ok(()));
/// assert!(proof.verify(&ids[2], &root).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerkleProof {
    /// The transaction's place in its block, from 0 (the reward), as the prover says.
    pub index: u32,
    /// How many transactions the block holds, as the prover says.
    pub count: u32,
    /// The siblings on the way up, the leaf's first.
    pub branch: Vec<MerkleNode>,
}

/// Why a [`MerkleProof`] does not prove a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The index is not below the count.
    #[error("index {index} is not in a block of {count} transactions")]
    IndexOutOfRange {
        /// The proof's index.
        index: u32,
        /// The proof's count.
        count: u32,
    },
    /// The branch has not one sibling for each level with one.
    #[error("the branch has {actual} nodes where the tree has {expected}")]
    BranchLength {
        /// The siblings the tree's shape calls for.
        expected: usize,
        /// The branch's nodes.
        actual: usize,
    },
    /// The branch leads to another root.
    #[error("the proof leads to root {computed}, the header commits to {expected}")]
    RootMismatch {
        /// The root the header commits to.
        expected: MerkleRoot,
        /// The root the proof leads to.
        computed: MerkleRoot,
    },
}

impl MerkleProof {
    /// Makes the proof for the id at `index` of `ids` (a block's transaction ids in block
    /// order), or `None` if there is none there.
    pub fn new(ids: &[TxId], index: usize) -> Option<MerkleProof> {
        let (count, wanted) = (u32::try_from(ids.len()).ok()?, u32::try_from(index).ok()?);
        if index >= ids.len() {
            return None;
        }
        let mut level: Vec<[u8; 32]> = ids.iter().map(leaf).collect();
        let mut at = index;
        let mut branch = vec![];
        while level.len() > 1 {
            if let Some(sibling) = level.get(at ^ 1) {
                branch.push(MerkleNode::from_bytes(*sibling));
            }
            level = parents(&level);
            at /= 2;
        }
        Some(MerkleProof { index: wanted, count, branch })
    }

    /// The root this proof leads to from `id`.
    ///
    /// # Errors
    ///
    /// [`ProofError::IndexOutOfRange`] or [`ProofError::BranchLength`] if the proof does not
    /// fit a tree of its count.
    pub fn root(&self, id: &TxId) -> Result<MerkleRoot, ProofError> {
        let (index, count) = (self.index, self.count);
        if index >= count {
            return Err(ProofError::IndexOutOfRange { index, count });
        }
        let (mut at, mut width) = (index, count);
        let mut hash = leaf(id);
        let mut siblings = self.branch.iter();
        let mut used = 0;
        while width > 1 {
            // The last node of an odd level has no sibling: it is carried up as it is.
            if (at ^ 1) < width {
                let Some(sibling) = siblings.next() else {
                    return Err(self.branch_length_error());
                };
                used += 1;
                hash = if at % 2 == 0 {
                    node(&hash, sibling.as_bytes())
                } else {
                    node(sibling.as_bytes(), &hash)
                };
            }
            at /= 2;
            width = width.div_ceil(2);
        }
        if used != self.branch.len() {
            return Err(self.branch_length_error());
        }
        Ok(MerkleRoot::from_bytes(hash))
    }

    /// Checks that `id` is in the tree whose root is `root` (a header's `merkle_root`).
    ///
    /// # Errors
    ///
    /// A [`ProofError`] saying why not.
    pub fn verify(&self, id: &TxId, root: &MerkleRoot) -> Result<(), ProofError> {
        let computed = self.root(id)?;
        if computed == *root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch { expected: *root, computed })
        }
    }

    /// The number of siblings a tree of this proof's count has for its index.
    fn expected_branch_length(&self) -> usize {
        let (mut at, mut width, mut length) = (self.index, self.count, 0);
        while width > 1 {
            if (at ^ 1) < width {
                length += 1;
            }
            at /= 2;
            width = width.div_ceil(2);
        }
        length
    }

    fn branch_length_error(&self) -> ProofError {
        ProofError::BranchLength {
            expected: self.expected_branch_length(),
            actual: self.branch.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u8) -> Vec<TxId> {
        (0..n).map(|i| TxId::from_bytes([i; 32])).collect()
    }

    #[test]
    fn a_single_transaction_is_its_own_root_with_an_empty_branch() {
        let ids = ids(1);
        let proof = MerkleProof::new(&ids, 0).expect("in range");
        assert!(proof.branch.is_empty());
        assert_eq!(proof.root(&ids[0]), Ok(merkle_root(ids.iter().copied())));
    }

    #[test]
    fn the_carried_node_of_an_odd_level_has_no_sibling() {
        // Five leaves: the fifth is carried up twice and meets the other four's root.
        let ids = ids(5);
        let proof = MerkleProof::new(&ids, 4).expect("in range");
        assert_eq!(proof.branch.len(), 1);
        assert_eq!(proof.verify(&ids[4], &merkle_root(ids.iter().copied())), Ok(()));
    }

    #[test]
    fn index_and_count_are_the_provers_word_where_levels_carry_a_node_up() {
        // The 5th of 5 and the 2nd of 2 take the same sides at their hashed levels.
        let ids = ids(5);
        let root = merkle_root(ids.iter().copied());
        let proof = MerkleProof::new(&ids, 4).expect("in range");
        let reshaped = MerkleProof { index: 1, count: 2, ..proof.clone() };
        assert_eq!(reshaped.verify(&ids[4], &root), Ok(()));
        // The reward's place can't be claimed by another leaf: moving it to index 0
        // swaps the sides.
        let as_reward = MerkleProof { index: 0, count: 2, ..proof };
        assert!(as_reward.verify(&ids[4], &root).is_err());
    }

    #[test]
    fn a_proof_out_of_range_or_of_the_wrong_length_is_refused() {
        let ids = ids(4);
        let root = merkle_root(ids.iter().copied());
        assert_eq!(MerkleProof::new(&ids, 4), None);
        let mut proof = MerkleProof::new(&ids, 1).expect("in range");
        proof.index = 4;
        assert_eq!(proof.root(&ids[1]), Err(ProofError::IndexOutOfRange { index: 4, count: 4 }));
        proof.index = 1;
        proof.branch.push(MerkleNode::ZERO);
        assert_eq!(
            proof.verify(&ids[1], &root),
            Err(ProofError::BranchLength { expected: 2, actual: 3 })
        );
        proof.branch.truncate(1);
        assert_eq!(
            proof.verify(&ids[1], &root),
            Err(ProofError::BranchLength { expected: 2, actual: 1 })
        );
    }
}
