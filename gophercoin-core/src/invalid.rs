//! The invalid-block cache: blocks found invalid, remembered by hash, so that the same
//! block sent again is refused at the cost of a look-up instead of its signatures.
//!
//! A block's hash commits to its header and, through the merkle root, to its entries'
//! ids, but not to its transfers' signatures (a transaction id does not cover its
//! signature). So a block refused for a fault that depends on a signature (a bad one, or
//! one that makes its transfer too large) is remembered together with that signature and
//! its position: the same header with another signature there is checked afresh. Blocks
//! whose body does not match their header (a wrong merkle root), or whose fault costs
//! nothing to find (a header without its proof of work), are not remembered; nor is a
//! block not known to declare the target required at its height
//! ([`Node::precheck_block`](crate::Node::precheck_block) checks it), so filling the cache
//! costs a proof of work at the network's difficulty per entry.
//!
//! The cache is shared by its clones, so checks run outside a lock around the
//! [`Node`](crate::Node) (on other threads) remember what they find for the node.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use crate::{
    block::{self, Block, BlockHeader, BlockTransaction, CheckedBlock, RejectionScope},
    chain::ChainError,
    crypto::{Signature, Verifier},
    error::Error,
    hash::BlockHash,
    params::{Params, RulesId},
    transaction::{IdentifiedTransaction, VerifiedTransaction},
};

/// A bounded, shared record of invalid blocks (the oldest forgotten first).
///
/// # Examples
///
/// ```
/// use gophercoin_core::{Node, Params};
///
/// let node = Node::devnet();
/// let mut block = Params::devnet().genesis();
/// block.header.height = 1; // no reward, and almost surely no proof of work
/// assert!(node.checker().check_block(block, None, |_| None).is_err());
/// // A fault that costs nothing to find again is not remembered.
/// assert_eq!(node.invalid_blocks().len(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct InvalidBlocks {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    entries: BTreeMap<BlockHash, Remembered>,
    order: VecDeque<BlockHash>,
}

#[derive(Debug)]
struct Remembered {
    error: Error,
    /// For a bad signature: its position among the block's entries, and the signature.
    signature: Option<(usize, Signature)>,
}

impl InvalidBlocks {
    /// Makes an empty cache that remembers at most `capacity` blocks.
    pub(crate) fn new(capacity: usize) -> Self {
        let inner = Inner { capacity, entries: BTreeMap::new(), order: VecDeque::new() };
        InvalidBlocks { inner: Arc::new(Mutex::new(inner)) }
    }

    /// Returns the error a block was refused with, if it is known invalid: its hash was
    /// refused (for a bad signature, with this same signature at that position).
    pub(crate) fn lookup(
        &self,
        header: &BlockHeader,
        transactions: &[BlockTransaction],
    ) -> Option<Error> {
        let inner = self.lock();
        let remembered = inner.entries.get(&header.hash())?;
        match &remembered.signature {
            None => Some(remembered.error.clone()),
            Some((index, signature)) => match transactions.get(*index) {
                Some(BlockTransaction::Transfer(tx)) if tx.signature == *signature => {
                    Some(remembered.error.clone())
                }
                _ => None,
            },
        }
    }

    /// Returns the error remembered for a hash, whatever signature it was remembered with:
    /// if a block with this hash was just refused with this very error, its refusal was
    /// remembered, and every block of the same bytes will be refused the same way.
    pub fn remembered(&self, hash: &BlockHash) -> Option<Error> {
        self.lock().entries.get(hash).map(|r| r.error.clone())
    }

    /// Returns `true` if every block with this hash is invalid (so every block built on
    /// it is too).
    pub fn is_invalid(&self, hash: &BlockHash) -> bool {
        self.lock().entries.get(hash).is_some_and(|r| r.signature.is_none())
    }

    /// Returns how many blocks are remembered.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Returns `true` if no block is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks a block on its own as [`block::check_in_isolation`] does, after
    /// looking it up here, and remembers it if it is refused for a fault its hash (and
    /// signature) identifies and it was `prechecked`: it passed
    /// [`Node::precheck_block`](crate::Node::precheck_block), so its target is the one its
    /// height requires and its proof of work cost real work. A block of a candidate chain,
    /// not yet placed, is checked but not remembered.
    ///
    /// # Errors
    ///
    /// The remembered error, [`ChainError::InvalidParent`], or the block's
    /// [`BlockError`](crate::BlockError).
    pub(crate) fn check(
        &self,
        block: Block,
        prechecked: bool,
        verifier: &impl Verifier,
        params: &Params,
        rules: RulesId,
        verified: impl Fn(&IdentifiedTransaction) -> Option<VerifiedTransaction>,
    ) -> Result<CheckedBlock, Error> {
        if let Some(error) = self.lookup(&block.header, &block.transactions) {
            return Err(error);
        }
        if self.is_invalid(&block.header.prev) {
            return Err(ChainError::InvalidParent { prev: block.header.prev }.into());
        }
        let hash = block.hash();
        block::check_in_isolation(block, verifier, params, rules, verified).map_err(|rejection| {
            let error = Error::from(rejection.error);
            match rejection.scope {
                _ if !prechecked => {}
                RejectionScope::Nothing => {}
                RejectionScope::Hash => self.remember(hash, error.clone(), None),
                RejectionScope::Signature(index, signature) => {
                    self.remember(hash, error.clone(), Some((index, signature)));
                }
            }
            error
        })
    }

    /// Remembers a block refused for a fault that every block with its hash has (one that
    /// passed its proof of work: the caller's duty).
    pub(crate) fn remember(
        &self,
        hash: BlockHash,
        error: Error,
        signature: Option<(usize, Signature)>,
    ) {
        let mut inner = self.lock();
        if inner.capacity == 0 {
            return;
        }
        if inner.entries.insert(hash, Remembered { error, signature }).is_none() {
            inner.order.push_back(hash);
        }
        while inner.order.len() > inner.capacity {
            if let Some(oldest) = inner.order.pop_front() {
                inner.entries.remove(&oldest);
            }
        }
    }

    // The cache holds no invariant a panic elsewhere could break, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
