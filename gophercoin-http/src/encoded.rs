//! Blocks' JSON, encoded once and shared. A block never changes once made (its hash
//! commits to its header and transactions, and a transfer's PKCS#1 v1.5 signature is
//! determined by its key and message, so the node never holds two blocks under one hash),
//! so the API's encoding of it can be kept and sent again by reference: a whole-chain
//! download costs copies, not encoding.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use axum::body::Bytes;
use gophercoin_core::{BlockHash, CheckedBlock};

use crate::dto::BlockDto;

/// How many bytes of blocks' JSON [`EncodedBlocks`] keeps by default.
pub(crate) const DEFAULT_BUDGET: usize = 128 * 1024 * 1024;

/// A bounded store of blocks' JSON ([`BlockDto`]), by hash; the oldest entries go first
/// when it is full.
#[derive(Debug)]
pub(crate) struct EncodedBlocks {
    budget: usize,
    inner: Mutex<Inner>,
    /// Held while a block is encoded for a streamed answer, so that many downloads of
    /// blocks not kept encode one block at a time and take at most one thread's share of
    /// the node's cores (the second to ask for a block then finds it kept).
    pub(crate) encoding: tokio::sync::Semaphore,
}

#[derive(Debug, Default)]
struct Inner {
    by_hash: HashMap<BlockHash, Bytes>,
    order: VecDeque<BlockHash>,
    bytes: usize,
}

impl EncodedBlocks {
    /// An empty store that keeps up to `budget` bytes of JSON.
    pub(crate) fn new(budget: usize) -> Self {
        EncodedBlocks { budget, inner: Mutex::default(), encoding: tokio::sync::Semaphore::new(1) }
    }

    /// The block's JSON: kept from an earlier call, or encoded now (outside the store's
    /// lock) and kept if it fits the budget.
    pub(crate) fn get(&self, block: &CheckedBlock) -> Bytes {
        let hash = block.hash();
        if let Some(json) = self.lock().by_hash.get(&hash) {
            return json.clone();
        }
        let json = Bytes::from(
            serde_json::to_vec(&BlockDto::from_checked(block))
                .expect("a block's JSON has string keys only"),
        );
        if json.len() <= self.budget {
            let mut inner = self.lock();
            if !inner.by_hash.contains_key(&hash) {
                while inner.bytes + json.len() > self.budget {
                    let Some(oldest) = inner.order.pop_front() else { break };
                    if let Some(gone) = inner.by_hash.remove(&oldest) {
                        inner.bytes -= gone.len();
                    }
                }
                inner.bytes += json.len();
                inner.order.push_back(hash);
                inner.by_hash.insert(hash, json.clone());
            }
        }
        json
    }

    /// The block's JSON if it is kept; [`EncodedBlocks::get`] encodes it if not.
    pub(crate) fn cached(&self, hash: &BlockHash) -> Option<Bytes> {
        self.lock().by_hash.get(hash).cloned()
    }

    /// Bytes of JSON kept now.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use gophercoin_core::{Node, Params, RsaSigner, Signer as _};

    use super::*;

    #[test]
    fn a_block_is_encoded_once_and_the_budget_holds() {
        let mut node = Node::devnet();
        let key: RsaSigner = include_str!("../tests/data/alice.pkcs8.hex")
            .trim()
            .parse()
            .expect("the committed test key");
        let miner = key.address();
        let params = Params::devnet();
        let mut blocks = vec![];
        for height in 1..=4 {
            let at = params.genesis_timestamp + height * params.target_block_secs;
            let _mined =
                node.mine_block(&miner, gophercoin_core::UnixTime::from_secs(at)).expect("mines");
            blocks.push(node.chain().main_chain_shared_from(height).next().expect("the tip"));
        }
        let one = blocks[0].as_ref();
        let expected = serde_json::to_vec(&BlockDto::from_checked(one)).unwrap();
        let budget = expected.len() * 2 + expected.len() / 2;
        let encoded = EncodedBlocks::new(budget);
        let first = encoded.get(one);
        assert_eq!(first.as_ref(), expected.as_slice());
        // The same bytes, not a new encoding.
        assert_eq!(encoded.get(one).as_ptr(), first.as_ptr());
        assert_eq!(encoded.cached(&one.hash()).map(|json| json.as_ptr()), Some(first.as_ptr()));
        for block in &blocks {
            let json = encoded.get(block);
            assert_eq!(json, serde_json::to_vec(&BlockDto::from_checked(block)).unwrap());
            assert!(encoded.bytes() <= budget, "{} > {budget}", encoded.bytes());
        }
        // The oldest went first: block 1 is encoded anew.
        assert_eq!(encoded.cached(&one.hash()), None);
        assert_ne!(encoded.get(one).as_ptr(), first.as_ptr());
    }
}
