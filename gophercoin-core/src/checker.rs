//! The checks a value needs on its own, under one node's rules: a [`Checker`] holds a
//! node's parameters, its signature verifier and its invalid-block cache. Outside this
//! crate, a [`CheckedBlock`] or a [`VerifiedTransaction`] is made only by a node's checker
//! (or by the node itself, which checks the same way).
//!
//! A node hands its checker out ([`Node::checker`](crate::Node::checker)); it is cheap to
//! clone and to send to other threads, so blocks and payments can be checked on every
//! core, outside a lock around the node, and then handed to the node
//! ([`Node::handle_checked_block`](crate::Node::handle_checked_block),
//! [`Node::handle_verified_transaction`](crate::Node::handle_verified_transaction)), which
//! takes nothing else. Each checked value carries which node's rules it was checked under,
//! and a node refuses (panics on) one checked by another node's checker: what a node holds
//! was checked under its own parameters (validated once, [`Params::validate`]) and with its
//! own verifier, never under rules a caller picked.

use std::sync::Arc;

use crate::{
    block::{Block, CheckedBlock},
    crypto::Verifier,
    error::Error,
    hash::BlockHash,
    invalid::InvalidBlocks,
    params::{Params, RulesId},
    transaction::{IdentifiedTransaction, TxError, VerifiedTransaction},
};

/// Checks blocks and transactions on their own under one node's rules.
///
/// # Examples
///
/// A block mined on one node, checked on its own by another node's checker (on any
/// thread), then handed to that node:
///
/// ```
/// use gophercoin_core::{Node, Params, RsaSigner, Signer, UnixTime};
/// # let alice: RsaSigner = include_str!("../tests/data/alice.pkcs8.hex").trim().parse()?;
/// let now = UnixTime::from_secs(Params::devnet().genesis_timestamp + 60);
/// let mut miner = Node::devnet();
/// miner.mine_block(&alice.address(), now)?;
/// let block = miner.chain().tip().to_block();
///
/// let mut node = Node::devnet();
/// let checker = node.checker();
/// let checked = std::thread::spawn(move || checker.check_block(block, None, |_| None))
///     .join()
///     .expect("no panic")?;
/// node.handle_checked_block(checked, now)?;
/// assert_eq!(node.height(), 1);
///
/// // A block whose proof of work fails is refused on its own.
/// let mut forged = miner.chain().tip().to_block();
/// forged.header.nonce ^= 1;
/// assert!(node.checker().check_block(forged, None, |_| None).is_err());
/// # Ok::<(), gophercoin_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Checker<V> {
    params: Arc<Params>,
    verifier: V,
    invalid: InvalidBlocks,
    rules: RulesId,
}

/// A block passed [`Node::precheck_block`](crate::Node::precheck_block): its target is
/// the one its height requires, so its proof of work cost real work, and a refusal of it may
/// be remembered in the invalid-block cache. Only the node makes one, for one block, and
/// only its own checker honours it.
#[derive(Debug)]
#[must_use]
pub struct Prechecked {
    hash: BlockHash,
    rules: RulesId,
}

impl Prechecked {
    /// The token for the block with this hash, prechecked by the node of these rules.
    pub(crate) fn new(hash: BlockHash, rules: RulesId) -> Self {
        Prechecked { hash, rules }
    }
}

impl<V: Verifier> Checker<V> {
    /// A checker of a node's rules (only a node makes one).
    pub(crate) fn new(
        params: Arc<Params>,
        verifier: V,
        invalid: InvalidBlocks,
        rules: RulesId,
    ) -> Self {
        Checker { params, verifier, invalid, rules }
    }

    /// The node's consensus parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The node's signature verifier.
    pub fn verifier(&self) -> &V {
        &self.verifier
    }

    /// Checks a transaction on its own: its network, amount, size, addresses and
    /// signature (`IdentifiedTransaction::check_in_isolation`).
    ///
    /// # Errors
    ///
    /// The first [`TxError`] found.
    pub fn check_transaction(
        &self,
        tx: IdentifiedTransaction,
    ) -> Result<VerifiedTransaction, TxError> {
        tx.check_in_isolation(&self.verifier, &self.params, self.rules)
    }

    /// Checks a block on its own, after a look in the node's invalid-block cache, and
    /// remembers a refusal there if the node prechecked this very block (`prechecked`, from
    /// [`Node::precheck_block`](crate::Node::precheck_block)). Each transfer for which
    /// `verified` gives a verified form (identical, signature included, typically the
    /// mempool's) is not verified again.
    ///
    /// # Errors
    ///
    /// The remembered error, [`ChainError::InvalidParent`](crate::ChainError) for a
    /// parent known invalid, or the block's [`BlockError`](crate::BlockError).
    pub fn check_block(
        &self,
        block: Block,
        prechecked: Option<&Prechecked>,
        verified: impl Fn(&IdentifiedTransaction) -> Option<VerifiedTransaction>,
    ) -> Result<CheckedBlock, Error> {
        let prechecked =
            prechecked.is_some_and(|token| token.rules == self.rules && token.hash == block.hash());
        self.invalid.check(block, prechecked, &self.verifier, &self.params, self.rules, verified)
    }

    /// The node's invalid-block cache.
    pub fn invalid_blocks(&self) -> &InvalidBlocks {
        &self.invalid
    }
}
