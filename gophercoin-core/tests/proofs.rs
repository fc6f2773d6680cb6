//! Inclusion proofs: every transaction of a block proves against its header's merkle root,
//! and a proof with any bit changed (in the id, in a branch node, in the root) proves
//! nothing.

mod common;

use common::*;
use gophercoin_core::{
    MerkleNode, MerkleProof, MerkleRoot, MostWork, Node, TxId, block::merkle_root,
};
use proptest::prelude::*;

fn flip(bytes: [u8; 32], bit: usize) -> [u8; 32] {
    let mut flipped = bytes;
    if let Some(byte) = flipped.get_mut(bit / 8 % 32) {
        *byte ^= 1 << (bit % 8);
    }
    flipped
}

/// Distinct ids, as a block's are.
fn ids() -> impl Strategy<Value = Vec<TxId>> {
    proptest::collection::btree_set(any::<[u8; 32]>(), 1..80)
        .prop_map(|set| set.into_iter().map(TxId::from_bytes).collect())
        .prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_transaction_proves_and_only_its_own_id(ids in ids()) {
        let root = merkle_root(ids.iter().copied());
        for (index, id) in ids.iter().enumerate() {
            let proof = MerkleProof::new(&ids, index).expect("in range");
            prop_assert_eq!(proof.count as usize, ids.len());
            prop_assert_eq!(proof.verify(id, &root), Ok(()));
            // Another id of the same block at this place does not prove.
            let other = ids.get((index + 1) % ids.len()).expect("in range");
            if other != id {
                prop_assert!(proof.verify(other, &root).is_err());
            }
        }
        prop_assert!(MerkleProof::new(&ids, ids.len()).is_none());
    }

    #[test]
    fn any_flipped_bit_fails(ids in ids(), pick in any::<prop::sample::Index>(), bit in 0usize..256, node in any::<prop::sample::Index>()) {
        let root = merkle_root(ids.iter().copied());
        let index = pick.index(ids.len());
        let id = *ids.get(index).expect("in range");
        let proof = MerkleProof::new(&ids, index).expect("in range");

        let wrong_id = TxId::from_bytes(flip(id.to_bytes(), bit));
        prop_assert!(proof.verify(&wrong_id, &root).is_err());

        let wrong_root = MerkleRoot::from_bytes(flip(root.to_bytes(), bit));
        prop_assert!(proof.verify(&id, &wrong_root).is_err());

        if !proof.branch.is_empty() {
            let mut tampered = proof.clone();
            let at = node.index(tampered.branch.len());
            let sibling = tampered.branch.get_mut(at).expect("in range");
            *sibling = MerkleNode::from_bytes(flip(sibling.to_bytes(), bit));
            prop_assert!(tampered.verify(&id, &root).is_err());

            // A branch with one node fewer or more does not fit the tree.
            let mut short = proof.clone();
            short.branch.pop();
            prop_assert!(short.verify(&id, &root).is_err());
        }
        let mut long = proof.clone();
        long.branch.push(MerkleNode::from_bytes(root.to_bytes()));
        prop_assert!(long.verify(&id, &root).is_err());
    }
}

#[test]
fn a_mined_block_proves_each_of_its_transactions_against_its_header() {
    let params = params();
    let mut node =
        Node::new(params.clone(), params.verifier(), MostWork).expect("valid parameters");
    mine(&mut node, alice(), 1);
    for nonce in 0..5 {
        let payment = transfer(alice(), bob(), coins(1), nonce);
        node.handle_transaction(payment).expect("a valid payment");
    }
    mine(&mut node, carol(), 1);
    let tip = node.tip().hash();
    let block = node.block(&tip).expect("the tip is kept");
    let plain = block.to_block();
    let ids: Vec<TxId> = block.transaction_ids().collect();
    assert_eq!(ids.len(), 6, "the reward and five payments");
    for id in &ids {
        let proof = block.prove(id).expect("the block holds it");
        assert_eq!(plain.prove(id), Some(proof.clone()), "the plain block gives the same proof");
        assert_eq!(proof.verify(id, &block.header().merkle_root), Ok(()));
    }
    assert_eq!(block.prove(&TxId::from_bytes([7; 32])), None);
}
