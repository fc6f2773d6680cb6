//! The [`Node`] state machine: where transactions, blocks and candidate chains come in,
//! and decisions and events go out.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::Arc,
};

use crate::{
    amount::Amount,
    block::{self, Block, BlockError, BlockHeader, BlockTransaction, CheckedBlock},
    chain::{self, Chain, ChainError, ChainSummary, ForkChoice, MostWork, ReorgPlan},
    checker::{Checker, Prechecked},
    crypto::{Address, RsaVerifier, Verifier},
    error::Error,
    hash::{BlockHash, TxId},
    invalid::InvalidBlocks,
    ledger::{Ledger, LedgerDiff},
    mempool::{Mempool, MempoolError},
    params::{Params, ParamsError, RulesId},
    policy::Policy,
    pow,
    time::UnixTime,
    transaction::{Reward, SignedTransaction, VerifiedTransaction},
};

/// What a candidate chain can be made of: plain or checked blocks.
trait HasHeader {
    fn header(&self) -> &BlockHeader;
}

impl HasHeader for Block {
    fn header(&self) -> &BlockHeader {
        &self.header
    }
}

impl HasHeader for CheckedBlock {
    fn header(&self) -> &BlockHeader {
        CheckedBlock::header(self)
    }
}

/// The consensus state machine of one GopherCoin node.
///
/// It performs no IO: time comes in as `now` (a [`UnixTime`]) and it owns no
/// randomness. Each `handle_*` call returns its verdict at once; a rejected input leaves
/// the node exactly as it was. Side effects for the adapter (persist this block, relay
/// that transaction) are queued as [`Event`]s: **after every `handle_*` call, drain
/// [`Node::poll_event`] until it returns `None`.**
///
/// # Examples
///
/// ```
/// use gophercoin_core::{Amount, Event, Node, Params, RsaSigner, Signer, Transaction, UnixTime};
/// # let alice: RsaSigner = include_str!("../tests/data/alice.pkcs8.hex").trim().parse()?;
/// # let bob: RsaSigner = include_str!("../tests/data/bob.pkcs8.hex").trim().parse()?;
/// let params = Params::devnet();
/// let mut node = Node::devnet();
/// let now = UnixTime::from_secs(params.genesis_timestamp + 60);
///
/// node.mine_block(&alice.address(), now)?; // alice earns the block reward
/// assert_eq!(node.balance(&alice.address()), params.reward_at(1));
///
/// let tx = Transaction {
///     chain_id: params.chain_id,
///     sender: alice.address(),
///     recipient: bob.address(),
///     amount: Amount::positive(5)?,
///     fee: Amount::ZERO,
///     nonce: 1,
/// };
/// let id = node.handle_transaction(tx.sign(&alice)?)?;
/// node.mine_block(&alice.address(), now.add_secs(5))?;
/// assert_eq!(node.balance(&bob.address()), Amount::positive(5)?);
///
/// while let Some(event) = node.poll_event() {
///     // persist connected blocks, relay blocks and transactions...
/// #   let _ = (event, id);
/// }
/// # Ok::<(), gophercoin_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Node<V: Verifier = RsaVerifier, F: ForkChoice = MostWork> {
    /// Validated when the node was made.
    params: Arc<Params>,
    /// Which node's rules these are (what its checker's values carry).
    rules: RulesId,
    policy: Policy,
    verifier: V,
    fork_choice: F,
    invalid: InvalidBlocks,
    chain: Chain,
    ledger: Ledger,
    mempool: Mempool,
    undo: BTreeMap<BlockHash, LedgerDiff>,
    events: VecDeque<Event>,
}

/// A side effect for the adapter, drained with [`Node::poll_event`].
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A block joined the main chain (persist it).
    BlockConnected {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
    },
    /// A block left the main chain in a reorg (its transactions went back to the mempool
    /// where still valid).
    BlockDisconnected {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
    },
    /// The main chain has a new tip.
    TipChanged {
        /// The new tip's hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
    },
    /// A new block worth sending to peers.
    RelayBlock(BlockHash),
    /// A transaction worth sending to peers, now pending (for an adapter that keeps its
    /// mempool: store it): newly accepted, or back from a block a reorg disconnected.
    RelayTransaction(TxId),
    /// A pending transaction left the mempool: mined into a block just connected, no
    /// longer valid at a new tip, or evicted by a better fee rate (forget it where it is
    /// kept; it comes after the block events of the same call).
    TransactionDropped(TxId),
}

/// What became of an accepted block.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockOutcome {
    /// It extended the main chain.
    Extended {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
    },
    /// It made a side branch the main chain.
    Reorganized {
        /// Its hash, the new tip.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// How many blocks left the main chain.
        disconnected: usize,
        /// How many joined it.
        connected: usize,
    },
    /// It is valid but on a side branch that fork choice does not prefer.
    SideBranch {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
    },
}

/// What became of a valid candidate chain.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainOutcome {
    /// It replaced our main chain (the original's "Our chain was replaced").
    Adopted {
        /// The new tip.
        tip: BlockHash,
        /// Its height.
        height: u64,
        /// How many of our blocks left the main chain.
        disconnected: usize,
        /// How many of theirs joined it.
        connected: usize,
    },
    /// Ours is preferred or equal, or theirs had nothing new ("Our chain is
    /// authoritative"). Nothing changed.
    KeptOurs {
        /// Our tip.
        tip: BlockHash,
        /// Its height.
        height: u64,
    },
}

impl Node {
    /// Makes a node of the devnet ([`Params::devnet`]) with RSA signatures and
    /// most-work fork choice.
    pub fn devnet() -> Self {
        let params = Params::devnet();
        let verifier = params.verifier();
        Node::new(params, verifier, MostWork).expect("the devnet's parameters are valid")
    }
}

impl<V: Verifier, F: ForkChoice> Node<V, F> {
    /// Makes a node at the genesis block of `params`, with the default [`Policy`]. The
    /// parameters are validated here, once ([`Params::validate`]).
    ///
    /// # Errors
    ///
    /// The [`ParamsError`] of parameters that make no usable network.
    pub fn new(params: Params, verifier: V, fork_choice: F) -> Result<Self, ParamsError> {
        params.validate()?;
        let policy = Policy::default();
        Ok(Node {
            chain: Chain::new(&params),
            ledger: Ledger::new(),
            mempool: Mempool::new(&policy),
            invalid: InvalidBlocks::new(policy.invalid_block_cache),
            undo: BTreeMap::new(),
            events: VecDeque::new(),
            params: Arc::new(params),
            rules: RulesId::next(),
            policy,
            verifier,
            fork_choice,
        })
    }

    /// The node's checker: what checks blocks and transactions on their own under its
    /// rules, on any thread, for [`Node::handle_checked_block`],
    /// [`Node::handle_checked_chain`] and [`Node::handle_verified_transaction`]. It shares
    /// the node's invalid-block cache (the one it has now: take the checker after
    /// [`Node::with_policy`], which starts a new cache). What it makes, only this node (and
    /// its clones) takes.
    pub fn checker(&self) -> Checker<V>
    where
        V: Clone,
    {
        Checker::new(
            Arc::clone(&self.params),
            self.verifier.clone(),
            self.invalid.clone(),
            self.rules,
        )
    }

    /// Sets the node's [`Policy`]; pending transactions are checked against it again (and
    /// dropped if it refuses them), and the invalid-block cache starts afresh.
    #[must_use]
    pub fn with_policy(mut self, policy: Policy) -> Self {
        let pending: Vec<_> = self.mempool.iter().cloned().collect();
        self.mempool = Mempool::new(&policy);
        let _ = self.mempool.reconcile(&self.ledger, pending);
        self.queue_dropped();
        self.invalid = InvalidBlocks::new(policy.invalid_block_cache);
        self.policy = policy;
        self
    }

    /// Checks a transaction and adds it to the mempool.
    ///
    /// Queues [`Event::RelayTransaction`] on success.
    ///
    /// # Errors
    ///
    /// [`MempoolError::AlreadyPending`],
    /// [`LedgerError::Replay`](crate::LedgerError::Replay), the transaction's
    /// [`TxError`](crate::TxError),
    /// [`LedgerError::Overdraft`](crate::LedgerError::Overdraft) (counting what the sender's
    /// pending transactions already spend) or [`MempoolError::Full`].
    pub fn handle_transaction(&mut self, tx: SignedTransaction) -> Result<TxId, Error> {
        let tx = tx.identify();
        self.check_not_known(&tx.id())?;
        let tx = tx.check_in_isolation(&self.verifier, &self.params, self.rules)?;
        self.handle_verified_transaction(tx)
    }

    /// Adds a transaction verified beforehand (with [`Checker::check_transaction`], for
    /// instance outside a lock around the node) to the mempool, after the checks against the chain and the pending
    /// transactions.
    ///
    /// # Errors
    ///
    /// As [`Node::handle_transaction`], except the transaction's own checks.
    ///
    /// # Panics
    ///
    /// If another node's checker made `tx` (a bug of the caller: it was checked under
    /// rules this node may not share).
    pub fn handle_verified_transaction(&mut self, tx: VerifiedTransaction) -> Result<TxId, Error> {
        self.assert_checked_here(tx.rules());
        let id = tx.id();
        self.check_not_known(&id)?;
        self.mempool.insert(tx, &self.ledger)?;
        self.events.push_back(Event::RelayTransaction(id));
        self.queue_dropped();
        Ok(id)
    }

    /// Panics unless a value was checked under this node's rules (by its checker, or a
    /// checker of a clone of it): a checked value from elsewhere may have been checked
    /// under other parameters or with a verifier that accepts anything.
    fn assert_checked_here(&self, rules: RulesId) {
        assert_eq!(rules, self.rules, "a value checked by another node's checker");
    }

    /// Fails if the transaction is already pending or included (cheap, so it goes before
    /// any signature check).
    ///
    /// # Errors
    ///
    /// [`MempoolError::AlreadyPending`] or
    /// [`LedgerError::Replay`](crate::LedgerError::Replay).
    pub fn check_not_known(&self, id: &TxId) -> Result<(), Error> {
        if self.mempool.contains(id) {
            return Err(MempoolError::AlreadyPending { id: *id }.into());
        }
        // The cheap early form of the context rule's replay check, the same rule.
        Ok(crate::ledger::not_replayed(self.ledger.is_included(id), *id)?)
    }

    /// Checks a block whose parent we know and adds it to the tree; if fork choice then
    /// prefers its branch, it becomes the main chain (a reorg if it wasn't our tip's
    /// child).
    ///
    /// Queues block, tip and relay events on success.
    ///
    /// # Consensus
    ///
    /// > a reorg disconnects blocks back to the fork point and returns their
    /// > transactions to the mempool where still valid.
    ///
    /// Rules:
    /// - [chain-parent](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-parent)
    /// - [chain-fork-choice](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-fork-choice)
    /// - [chain-reorg](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-reorg)
    ///
    /// # Errors
    ///
    /// [`ChainError::AlreadyKnown`], [`ChainError::UnknownParent`] (the adapter should fetch
    /// the missing blocks), a [`BlockError`], a header [`ChainError`], or
    /// [`ChainError::Transfer`] if connecting its branch fails; the node is unchanged.
    pub fn handle_block(&mut self, block: Block, now: UnixTime) -> Result<BlockOutcome, Error> {
        let _prechecked = self.precheck_block(&block)?;
        let checked = self.check_block_with(block, true)?;
        self.handle_checked_block(checked, now)
    }

    /// The checks of a block from a miner or a peer that cost no signature or proof of
    /// work beyond one hash, to run before [`Node::check_block`]: not known, not known
    /// invalid, a known parent, the right height, the header's version and proof of work,
    /// the target its height requires, and, off the main chain, not too deep below the tip
    /// to keep on its own.
    ///
    /// # Errors
    ///
    /// [`ChainError::AlreadyKnown`], the error the block was refused with before,
    /// [`ChainError::InvalidParent`], [`ChainError::UnknownParent`],
    /// [`ChainError::WrongHeight`], [`BlockError::UnknownVersion`], a [`BlockError::Pow`],
    /// [`ChainError::WrongTarget`] or [`ChainError::TooDeep`].
    pub fn precheck_block(&self, block: &Block) -> Result<Prechecked, Error> {
        if let Some(error) = self.invalid.lookup(&block.header, &block.transactions) {
            return Err(error);
        }
        if self.invalid.is_invalid(&block.header.prev) {
            return Err(ChainError::InvalidParent { prev: block.header.prev }.into());
        }
        self.check_placeable(&block.header)?;
        // The header's own checks (one hash), then the target its height requires.
        block::version_is_valid(&block.header)?;
        block.header.check_pow(&self.params).map_err(BlockError::Pow)?;
        let parent = self.chain.get(&block.header.prev).expect("placeable: the parent is known");
        chain::target_is_valid(&block.header, parent, &self.chain, &self.params)?;
        self.side_block_is_admissible(&block.header)?;
        Ok(Prechecked::new(block.hash(), self.rules))
    }

    /// Refuses a block that would stay off the main chain too far below the tip: more
    /// than [`Policy::max_side_depth`] blocks below it, or on a branch that even that many
    /// more blocks of the tip's difficulty would leave behind the tip's work. A block fork
    /// choice would make the tip is always admitted.
    fn side_block_is_admissible(&self, header: &BlockHeader) -> Result<(), ChainError> {
        let tip = self.chain.tip();
        if header.prev == tip.hash() {
            return Ok(());
        }
        let parent = self.chain.summary(&header.prev).map(|s| s.work).unwrap_or_default();
        let work = parent.saturating_add(pow::Target::from_compact(header.bits)?.work());
        let theirs = ChainSummary { tip: header.hash(), height: header.height, work };
        if self.prefers(&theirs) {
            return Ok(());
        }
        let max_depth = self.policy.max_side_depth;
        let too_deep = ChainError::TooDeep { height: header.height, tip: tip.height(), max_depth };
        if header.height.saturating_add(max_depth) < tip.height() {
            return Err(too_deep);
        }
        let per_block = pow::Target::from_compact(tip.header().bits)?.work();
        let reach = per_block.saturating_mul(max_depth.saturating_add(1));
        if parent.saturating_add(reach) < self.chain.tip_summary().work {
            return Err(too_deep);
        }
        Ok(())
    }

    /// Returns the invalid-block cache, shared with its clones: blocks checked outside a
    /// lock around the node with its [`Checker`] are remembered here.
    pub fn invalid_blocks(&self) -> &InvalidBlocks {
        &self.invalid
    }

    /// Returns the node's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Remembers a block refused in its place, if every block with its hash would be and
    /// its target was the one required (found after the target check, so its proof of work
    /// cost real work; a wrong height or target costs nothing and is not remembered).
    fn remember_invalid(&self, hash: BlockHash, error: &Error) {
        let permanent = matches!(error, Error::Chain(ChainError::TimestampNotAfterMedian { .. }));
        if permanent {
            self.invalid.remember(hash, error.clone(), None);
        }
    }

    /// Adds a block checked beforehand (with [`Checker::check_block`] or
    /// [`Node::check_block`], for instance outside a lock around the node): the checks in
    /// its place, then as [`Node::handle_block`].
    ///
    /// # Errors
    ///
    /// As [`Node::handle_block`], except the block's own checks.
    ///
    /// # Panics
    ///
    /// If another node's checker made `checked`.
    pub fn handle_checked_block(
        &mut self,
        mut checked: CheckedBlock,
        now: UnixTime,
    ) -> Result<BlockOutcome, Error> {
        self.assert_checked_here(checked.rules());
        let hash = checked.hash();
        let height = checked.height();
        if let Err(error) = self.check_in_place(&checked, now) {
            self.remember_invalid(hash, &error);
            return Err(error);
        }
        self.side_block_is_admissible(checked.header())?;
        let mut held = BTreeSet::new();
        checked.share_addresses(|a| self.ledger.shared_address(a, &mut held));
        self.chain.insert(checked);
        let theirs = self.chain.summary(&hash).expect("just inserted");
        if !self.prefers(&theirs) {
            if let Err(error) = self.make_room_for_side_block(&hash) {
                self.chain.remove(&hash);
                return Err(error.into());
            }
            return Ok(BlockOutcome::SideBranch { hash, height });
        }
        let plan = self.chain.reorg_plan(&hash);
        if let Err(error) = self.reorganize(&plan) {
            self.chain.remove(&hash);
            return Err(error.into());
        }
        self.prune_side_branches();
        self.events.push_back(Event::RelayBlock(hash));
        Ok(match plan.disconnect.len() {
            0 => BlockOutcome::Extended { hash, height },
            disconnected => BlockOutcome::Reorganized {
                hash,
                height,
                disconnected,
                connected: plan.connect.len(),
            },
        })
    }

    /// Validates a peer's candidate chain in full and adopts it if fork choice prefers it.
    ///
    /// `blocks` is a run of consecutive blocks, oldest first; it may start at genesis (which
    /// must be ours) or anywhere, and blocks we already have are skipped. Every new block is
    /// checked like [`Node::handle_block`] checks one, in order; the first invalid block
    /// rejects the whole candidate. Nothing changes unless the whole candidate is valid
    /// and preferred.
    ///
    /// # Consensus
    ///
    /// > A chain received from a peer is validated in full before it replaces ours
    ///
    /// Rules:
    /// - [chain-candidate](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-candidate)
    /// - [chain-candidate-whole](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-candidate-whole)
    /// - [chain-fork-choice](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-fork-choice)
    /// - [chain-reorg](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-reorg)
    ///
    /// # Errors
    ///
    /// [`ChainError::EmptyChain`], [`ChainError::ForeignGenesis`],
    /// [`ChainError::NotLinked`], or the first invalid block's error.
    pub fn handle_chain(
        &mut self,
        blocks: Vec<Block>,
        now: UnixTime,
    ) -> Result<ChainOutcome, Error> {
        let new = self.new_blocks_of(blocks)?;
        if new.is_empty() {
            return Ok(self.kept_ours());
        }
        let checked =
            new.into_iter().map(|block| self.check_block(block)).collect::<Result<Vec<_>, _>>()?;
        self.handle_checked_chain(checked, now)
    }

    /// [`Node::handle_chain`] for blocks checked beforehand (for instance in parallel,
    /// outside a lock around the node). Known blocks are skipped as there.
    ///
    /// # Errors
    ///
    /// As [`Node::handle_chain`], except the blocks' own checks.
    ///
    /// # Panics
    ///
    /// If another node's checker made one of the blocks.
    pub fn handle_checked_chain(
        &mut self,
        blocks: Vec<CheckedBlock>,
        now: UnixTime,
    ) -> Result<ChainOutcome, Error> {
        for block in &blocks {
            self.assert_checked_here(block.rules());
        }
        let new = self.new_blocks_of(blocks)?;
        let mut inserted = Vec::with_capacity(new.len());
        // One copy of each address for all the blocks (a miner's, a busy wallet's).
        let mut held = BTreeSet::new();
        for mut block in new {
            match self.check_in_place(&block, now) {
                Ok(()) => {
                    block.share_addresses(|a| self.ledger.shared_address(a, &mut held));
                    inserted.push(block.hash());
                    self.chain.insert(block);
                }
                Err(error) => {
                    self.remember_invalid(block.hash(), &error);
                    self.forget(&inserted);
                    return Err(error);
                }
            }
        }
        let Some(tip) = inserted.last().copied() else {
            return Ok(self.kept_ours());
        };
        let theirs = self.chain.summary(&tip).expect("just inserted");
        if !self.prefers(&theirs) {
            self.forget(&inserted);
            return Ok(self.kept_ours());
        }
        let plan = self.chain.reorg_plan(&tip);
        if let Err(error) = self.reorganize(&plan) {
            self.forget(&inserted);
            return Err(error.into());
        }
        self.prune_side_branches();
        self.events.push_back(Event::RelayBlock(tip));
        Ok(ChainOutcome::Adopted {
            tip,
            height: theirs.height,
            disconnected: plan.disconnect.len(),
            connected: plan.connect.len(),
        })
    }

    /// Builds a block on our tip that carries the best-paying pending transactions (by fee
    /// rate) and pays `miner` the subsidy at its height and their fees, with nonce 0.
    /// Solve it with [`pow::solve`] and hand it to [`Node::handle_block`].
    ///
    /// The timestamp is `now`, or one second after the median time past if that is later.
    ///
    /// # Errors
    ///
    /// [`BlockError::BadRewardRecipient`] if `miner` is not an acceptable key.
    pub fn block_template(&self, miner: &Address, now: UnixTime) -> Result<Block, Error> {
        self.verifier.check_address(miner).map_err(BlockError::BadRewardRecipient)?;
        let tip = self.chain.tip();
        let height = tip.height() + 1;
        let bits = pow::next_target(tip.header(), height, &self.params, |h| {
            self.chain
                .at_height(h)
                .map(|b| *b.header())
                .ok_or(ChainError::UnknownParent { prev: tip.hash() })
        })?;
        let median = chain::median_time_past(tip, &self.chain, &self.params);
        let transfers = self.mempool.select(self.params.max_block_txs.saturating_sub(1));
        let amount = transfers
            .iter()
            .try_fold(self.params.reward_at(height), |sum, tx| {
                sum.checked_add(tx.transaction().fee)
            })
            .ok_or(BlockError::FeesTooLarge)?;
        let reward = Reward { height, recipient: miner.clone(), amount };
        let transactions: Vec<_> = std::iter::once(BlockTransaction::Reward(reward))
            .chain(transfers.into_iter().map(|tx| BlockTransaction::Transfer(tx.into_signed())))
            .collect();
        let merkle_root = block::merkle_root(transactions.iter().map(BlockTransaction::id));
        let header = BlockHeader {
            version: BlockHeader::VERSION,
            height,
            prev: tip.hash(),
            merkle_root,
            timestamp: now.secs().max(median + 1),
            bits,
            nonce: 0,
        };
        Ok(Block { header, transactions })
    }

    /// Builds a template, searches nonces until it meets the target and hands the block to
    /// [`Node::handle_block`]. For tests, examples and devnets: it does not return until a
    /// nonce is found (the extra-nonce is the timestamp, bumped when the nonces run out).
    ///
    /// # Errors
    ///
    /// As [`Node::block_template`] and [`Node::handle_block`].
    pub fn mine_block(&mut self, miner: &Address, now: UnixTime) -> Result<BlockOutcome, Error> {
        let mut block = self.block_template(miner, now)?;
        while !pow::solve(&mut block.header, u64::MAX) {
            block.header.timestamp += 1;
        }
        self.handle_block(block, now)
    }

    /// Returns the next queued event; drain until `None` after every `handle_*` call.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Returns the consensus parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Returns the signature verifier.
    pub fn verifier(&self) -> &V {
        &self.verifier
    }

    /// Returns the block tree and main chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Returns the ledger at our tip.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Returns the mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// Returns the tip's header.
    pub fn tip(&self) -> &BlockHeader {
        self.chain.tip().header()
    }

    /// Returns the main chain's height.
    pub fn height(&self) -> u64 {
        self.chain.height()
    }

    /// Returns a wallet's balance at our tip.
    pub fn balance(&self, address: &Address) -> Amount {
        self.ledger.balance(address)
    }

    /// Returns a block of the tree by hash.
    pub fn block(&self, hash: &BlockHash) -> Option<&CheckedBlock> {
        self.chain.get(hash)
    }

    /// Checks a block on its own, reusing the mempool's verified transfers so that a
    /// signature already checked is not checked again. It reads the node but changes
    /// nothing.
    ///
    /// # Errors
    ///
    /// The block's [`BlockError`].
    pub fn check_block(&self, block: Block) -> Result<CheckedBlock, Error> {
        self.check_block_with(block, false)
    }

    /// [`Node::check_block`], remembering a refusal if the block passed
    /// [`Node::precheck_block`] (see [`InvalidBlocks::check`]).
    fn check_block_with(&self, block: Block, prechecked: bool) -> Result<CheckedBlock, Error> {
        let known = |tx: &crate::IdentifiedTransaction| self.mempool.get(&tx.id()).cloned();
        self.invalid.check(block, prechecked, &self.verifier, &self.params, self.rules, known)
    }

    /// Fails early, before any signature check, for a block we have or can't place.
    ///
    /// # Consensus
    ///
    /// Rules:
    /// - [chain-parent](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-parent)
    /// - [chain-height](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-height)
    ///
    /// # Errors
    ///
    /// [`ChainError::AlreadyKnown`], [`ChainError::UnknownParent`] or
    /// [`ChainError::WrongHeight`].
    pub(crate) fn check_placeable(&self, header: &BlockHeader) -> Result<(), Error> {
        let hash = header.hash();
        if self.chain.contains(&hash) {
            return Err(ChainError::AlreadyKnown { hash }.into());
        }
        let Some(parent) = self.chain.get(&header.prev) else {
            return Err(ChainError::UnknownParent { prev: header.prev }.into());
        };
        Ok(chain::height_is_valid(header, parent)?)
    }

    /// The checks of a checked block in its place: known, parent, height, target, times.
    fn check_in_place(&self, block: &CheckedBlock, now: UnixTime) -> Result<(), Error> {
        self.check_placeable(block.header())?;
        let parent = self.chain.get(&block.header().prev).expect("checked just above");
        Ok(chain::check_header_in_context(block.header(), parent, &self.chain, &self.params, now)?)
    }

    /// Returns the blocks of a candidate chain that we don't have, after checking that it
    /// starts from our genesis (if it includes one) and that each block follows the one
    /// before: the cheap checks, to run before any signature is checked.
    ///
    /// # Errors
    ///
    /// [`ChainError::EmptyChain`], [`ChainError::ForeignGenesis`] or
    /// [`ChainError::NotLinked`].
    pub fn unknown_blocks(&self, blocks: Vec<Block>) -> Result<Vec<Block>, Error> {
        Ok(self.new_blocks_of(blocks)?)
    }

    fn new_blocks_of<B: HasHeader>(&self, blocks: Vec<B>) -> Result<Vec<B>, ChainError> {
        if blocks.is_empty() {
            return Err(ChainError::EmptyChain);
        }
        let genesis = self.chain.at_height(0).expect("genesis is on the main chain").hash();
        let mut new = vec![];
        let mut prev = None;
        for (index, block) in blocks.into_iter().enumerate() {
            let header = block.header();
            let hash = header.hash();
            if prev.is_some_and(|prev| header.prev != prev) {
                return Err(ChainError::NotLinked { index });
            }
            prev = Some(hash);
            if header.height == 0 && hash != genesis {
                return Err(ChainError::ForeignGenesis { expected: genesis, actual: hash });
            }
            if new.is_empty() && self.chain.contains(&hash) {
                continue;
            }
            new.push(block);
        }
        Ok(new)
    }

    fn prefers(&self, theirs: &ChainSummary) -> bool {
        self.fork_choice.prefer(&self.chain.tip_summary(), theirs).is_gt()
    }

    fn kept_ours(&self) -> ChainOutcome {
        let tip = self.chain.tip_summary();
        ChainOutcome::KeptOurs { tip: tip.tip, height: tip.height }
    }

    /// Makes room for a new block off the main chain within the policy's bounds, by
    /// forgetting branches of less work than the new block's (least work first). Nothing
    /// is forgotten unless enough can be.
    ///
    /// # Errors
    ///
    /// [`ChainError::SideBranchesFull`] if the branches of less work don't free enough.
    fn make_room_for_side_block(&mut self, new: &BlockHash) -> Result<(), ChainError> {
        let (blocks, bytes) = self.chain.side_usage();
        let mut excess_blocks = blocks.saturating_sub(self.policy.max_side_blocks);
        let mut excess_bytes = bytes.saturating_sub(self.policy.max_side_bytes);
        if excess_blocks == 0 && excess_bytes == 0 {
            return Ok(());
        }
        let work = self.chain.summary(new).map(|s| s.work).unwrap_or_default();
        let mut evict = vec![];
        for (leaf, size) in self.chain.side_leaves_below(work) {
            if excess_blocks == 0 && excess_bytes == 0 {
                break;
            }
            if leaf == *new {
                continue;
            }
            excess_blocks = excess_blocks.saturating_sub(1);
            excess_bytes = excess_bytes.saturating_sub(size);
            evict.push(leaf);
        }
        if excess_blocks > 0 || excess_bytes > 0 {
            return Err(ChainError::SideBranchesFull);
        }
        for leaf in &evict {
            self.chain.remove(leaf);
        }
        Ok(())
    }

    /// Forgets the least-work branches off the main chain until they are within the
    /// policy's bounds again (after a reorg moved blocks off the main chain).
    fn prune_side_branches(&mut self) {
        loop {
            let (blocks, bytes) = self.chain.side_usage();
            if blocks <= self.policy.max_side_blocks && bytes <= self.policy.max_side_bytes {
                return;
            }
            match self.chain.least_work_side_leaf() {
                Some((_, leaf)) => self.chain.remove(&leaf),
                None => return,
            }
        }
    }

    /// Forgets the blocks of a rejected candidate (each is built on the first).
    fn forget(&mut self, inserted: &[BlockHash]) {
        if let Some(first) = inserted.first() {
            self.chain.remove(first);
        }
    }

    /// Carries out a reorg plan against the ledger, all or nothing: on the first block
    /// that fails, everything is put back and the failing block is forgotten.
    fn reorganize(&mut self, plan: &ReorgPlan) -> Result<(), ChainError> {
        let mut disconnected = Vec::with_capacity(plan.disconnect.len());
        for hash in &plan.disconnect {
            let diff = self.undo.remove(hash).expect("every main-chain block has an undo diff");
            self.ledger.disconnect(&diff);
            disconnected.push((*hash, diff));
        }
        let mut connected: Vec<(BlockHash, LedgerDiff)> = Vec::with_capacity(plan.connect.len());
        for hash in &plan.connect {
            let block = self.chain.get(hash).expect("plans name known blocks");
            match self.ledger.connect(block) {
                Ok(diff) => {
                    self.ledger.apply(&diff);
                    connected.push((*hash, diff));
                }
                Err((index, source)) => {
                    for (_, diff) in connected.iter().rev() {
                        self.ledger.disconnect(diff);
                    }
                    for (hash, diff) in disconnected.into_iter().rev() {
                        self.ledger.apply(&diff);
                        self.undo.insert(hash, diff);
                    }
                    let error = ChainError::Transfer { hash: *hash, index, source };
                    self.invalid.remember(*hash, error.clone().into(), None);
                    self.chain.remove(hash);
                    return Err(error);
                }
            }
        }
        let new_tip = connected.last().map(|(hash, _)| *hash);
        let mut returned = vec![];
        for (hash, _) in disconnected.iter().rev() {
            let block = self.chain.get(hash).expect("disconnected blocks stay in the tree");
            returned.extend(block.transfers().iter().cloned());
        }
        for (hash, diff) in connected {
            self.undo.insert(hash, diff);
        }
        if let Some(new_tip) = new_tip {
            self.chain.set_tip(new_tip);
        }
        let returned_ids: Vec<TxId> = returned.iter().map(VerifiedTransaction::id).collect();
        self.mempool.reconcile(&self.ledger, returned);
        self.queue_reorg_events(plan, &disconnected);
        self.queue_dropped();
        // Transfers of disconnected blocks that are pending again: relayed (peers may
        // have dropped them with the block) and, where the mempool is kept, kept again.
        for id in returned_ids.into_iter().filter(|id| self.mempool.contains(id)) {
            self.events.push_back(Event::RelayTransaction(id));
        }
        Ok(())
    }

    /// Queues [`Event::TransactionDropped`] for what left the mempool.
    fn queue_dropped(&mut self) {
        for id in self.mempool.take_dropped() {
            self.events.push_back(Event::TransactionDropped(id));
        }
    }

    fn queue_reorg_events(&mut self, plan: &ReorgPlan, disconnected: &[(BlockHash, LedgerDiff)]) {
        for (hash, _) in disconnected {
            let height = self.chain.get(hash).map_or(0, CheckedBlock::height);
            self.events.push_back(Event::BlockDisconnected { hash: *hash, height });
        }
        for hash in &plan.connect {
            let height = self.chain.get(hash).map_or(0, CheckedBlock::height);
            self.events.push_back(Event::BlockConnected { hash: *hash, height });
        }
        let tip = self.chain.tip();
        self.events.push_back(Event::TipChanged { hash: tip.hash(), height: tip.height() });
    }
}
