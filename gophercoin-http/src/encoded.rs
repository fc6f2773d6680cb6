//! Blocks' JSON, encoded once and shared. A block never changes once made (its hash
//! commits to its header and transactions, and a transfer's PKCS#1 v1.5 signature is
//! determined by its key and message, so the node never holds two blocks under one hash),
//! so the API's encoding of it can be kept and sent again by reference: a whole-chain
//! download costs copies, not encoding. A block's JSON deflated for gzip answers
//! ([`crate::gzip`]) is kept with it once a gzip answer deflates it.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use axum::body::Bytes;
use gophercoin_core::{BlockHash, CheckedBlock};

use crate::{dto::BlockDto, gzip::Piece};

/// How many bytes of blocks' JSON and deflated pieces [`EncodedBlocks`] keeps by default.
pub(crate) const DEFAULT_BUDGET: usize = 128 * 1024 * 1024;

/// A bounded store of blocks' JSON ([`BlockDto`]) and of that JSON deflated, by hash; the
/// oldest entries go first when it is full.
#[derive(Debug)]
pub(crate) struct EncodedBlocks {
    budget: usize,
    inner: Mutex<Inner>,
    /// Held while a block is encoded or deflated for a streamed answer, so that many
    /// downloads of blocks not kept encode one block at a time and take at most one
    /// thread's share of the node's cores (the second to ask for a block then finds it
    /// kept).
    pub(crate) encoding: tokio::sync::Semaphore,
}

#[derive(Debug, Default)]
struct Inner {
    by_hash: HashMap<BlockHash, Entry>,
    /// Each kept hash once, oldest first.
    order: VecDeque<BlockHash>,
    /// The bytes of every entry kept.
    bytes: usize,
}

/// What is kept of one block: its JSON once a plain answer needed it, its deflated piece
/// once a gzip answer did.
#[derive(Debug, Clone, Default)]
struct Entry {
    json: Option<Bytes>,
    /// The JSON as a piece of a gzip answer ([`Piece::deflate`]).
    deflated: Option<Piece>,
}

impl Entry {
    fn bytes(&self) -> usize {
        self.json.as_ref().map_or(0, Bytes::len)
            + self.deflated.as_ref().map_or(0, |piece| piece.bytes.len())
    }
}

impl EncodedBlocks {
    /// An empty store that keeps up to `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        EncodedBlocks { budget, inner: Mutex::default(), encoding: tokio::sync::Semaphore::new(1) }
    }

    /// The block's JSON: kept from an earlier call, or encoded now (outside the store's
    /// lock) and kept if it fits the budget.
    pub(crate) fn get(&self, block: &CheckedBlock) -> Bytes {
        let hash = block.hash();
        if let Some(json) = self.cached(&hash) {
            return json;
        }
        let json = encode(block);
        self.keep(hash, Entry { json: Some(json.clone()), deflated: None });
        json
    }

    /// The block's JSON deflated: kept from an earlier call, or made now (outside the
    /// store's lock) from its JSON (kept, or encoded for the purpose and not kept: a gzip
    /// answer needs only the piece) and kept if it fits the budget.
    pub(crate) fn get_deflated(&self, block: &CheckedBlock) -> Piece {
        let hash = block.hash();
        let kept = self.lock().by_hash.get(&hash).cloned().unwrap_or_default();
        if let Some(piece) = kept.deflated {
            return piece;
        }
        let json = kept.json.unwrap_or_else(|| encode(block));
        let piece = Piece::deflate(&json);
        self.keep(hash, Entry { json: None, deflated: Some(piece.clone()) });
        piece
    }

    /// The block's JSON if it is kept; [`EncodedBlocks::get`] encodes it if not.
    pub(crate) fn cached(&self, hash: &BlockHash) -> Option<Bytes> {
        self.lock().by_hash.get(hash)?.json.clone()
    }

    /// The block's JSON deflated if it is kept; [`EncodedBlocks::get_deflated`] makes it
    /// if not.
    pub(crate) fn cached_deflated(&self, hash: &BlockHash) -> Option<Piece> {
        self.lock().by_hash.get(hash)?.deflated.clone()
    }

    /// Adds what `new` holds to what is kept for `hash` (what is kept already stays as it
    /// is), the oldest other entries going first to make room, unless the entry alone
    /// would be over the budget. An entry that grows keeps its place in the order.
    fn keep(&self, hash: BlockHash, new: Entry) {
        let mut inner = self.lock();
        let known = inner.by_hash.get(&hash).cloned();
        let is_new = known.is_none();
        let mut entry = known.unwrap_or_default();
        let before = entry.bytes();
        let grows = (entry.json.is_none() && new.json.is_some())
            || (entry.deflated.is_none() && new.deflated.is_some());
        if !grows {
            return;
        }
        entry.json = entry.json.or(new.json);
        entry.deflated = entry.deflated.or(new.deflated);
        let after = entry.bytes();
        if after > self.budget {
            return;
        }
        inner.bytes -= before;
        // The oldest others go first; this entry keeps its place (once they are gone, it
        // fits).
        let mut at = 0;
        while inner.bytes + after > self.budget && at < inner.order.len() {
            if inner.order[at] == hash {
                at += 1;
                continue;
            }
            let Some(oldest) = inner.order.remove(at) else { break };
            if let Some(gone) = inner.by_hash.remove(&oldest) {
                inner.bytes -= gone.bytes();
            }
        }
        inner.bytes += after;
        if is_new {
            inner.order.push_back(hash);
        }
        inner.by_hash.insert(hash, entry);
    }

    /// Bytes kept now.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A block's JSON as the API shows it.
fn encode(block: &CheckedBlock) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&BlockDto::from_checked(block))
            .expect("a block's JSON has string keys only"),
    )
}

#[cfg(test)]
mod tests {
    use gophercoin_core::{Node, Params, RsaSigner, Signer as _};

    use super::*;

    /// `count` blocks mined on a devnet node, one target interval apart.
    fn mined(count: u64) -> Vec<std::sync::Arc<CheckedBlock>> {
        let mut node = Node::devnet();
        let key: RsaSigner = include_str!("../tests/data/alice.pkcs8.hex")
            .trim()
            .parse()
            .expect("the committed test key");
        let params = Params::devnet();
        (1..=count)
            .map(|height| {
                let at = params.genesis_timestamp + height * params.target_block_secs;
                let _mined = node
                    .mine_block(&key.address(), gophercoin_core::UnixTime::from_secs(at))
                    .expect("mines");
                node.chain().main_chain_shared_from(height).next().expect("the tip")
            })
            .collect()
    }

    #[test]
    fn a_block_is_encoded_once_and_the_budget_holds() {
        let blocks = mined(4);
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

    #[test]
    fn a_deflated_piece_is_kept_with_or_without_the_json_and_the_budget_holds() {
        let blocks = mined(6);
        let one = blocks[0].as_ref();
        let json = serde_json::to_vec(&BlockDto::from_checked(one)).unwrap();
        let piece_len = Piece::deflate(&json).bytes.len();
        let budget = 2 * (json.len() + piece_len);
        let encoded = EncodedBlocks::new(budget);
        // A gzip answer first: the piece is kept, the JSON it was made from is not.
        let first = encoded.get_deflated(one);
        assert_eq!(first.bytes.len(), piece_len);
        assert_eq!(encoded.cached(&one.hash()), None);
        assert_eq!(encoded.bytes(), piece_len);
        // Kept: the same bytes, not a new deflate.
        let again = encoded.cached_deflated(&one.hash()).expect("kept");
        assert_eq!(again.bytes.as_ptr(), first.bytes.as_ptr());
        assert_eq!(encoded.get_deflated(one).bytes.as_ptr(), first.bytes.as_ptr());
        // A plain answer then adds the JSON to the same entry, which keeps its place.
        assert_eq!(encoded.get(one), json);
        assert_eq!(encoded.bytes(), json.len() + piece_len);
        assert!(encoded.cached_deflated(&one.hash()).is_some());
        // More blocks than fit: the budget holds, and the oldest went first.
        for block in &blocks[1..] {
            let _piece = encoded.get_deflated(block);
            let _json = encoded.get(block);
            assert!(encoded.bytes() <= budget, "{} kept of {budget}", encoded.bytes());
        }
        assert_eq!(encoded.cached(&one.hash()), None);
        assert!(encoded.cached_deflated(&one.hash()).is_none());
        let last = blocks[5].hash();
        assert!(encoded.cached(&last).is_some() && encoded.cached_deflated(&last).is_some());
    }
}
