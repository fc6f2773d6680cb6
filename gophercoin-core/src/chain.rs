//! The block tree: every header-valid block we know, the main chain through it, the fork
//! choice that picks the main chain, and the checks a header must pass in its place.
//!
//! The tree holds blocks; it does not judge their transactions. The
//! [`Node`](crate::Node) asks it for a [`ReorgPlan`] and carries it out against the
//! ledger, all or nothing.

use std::{
    cmp::Ordering,
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use crate::{
    block::{BlockHeader, CheckedBlock},
    hash::BlockHash,
    ledger::LedgerError,
    params::Params,
    pow,
    target::{CompactTarget, PowError, Target, Work},
    time::UnixTime,
};

/// What fork choice compares: a chain's tip, height and cumulative work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainSummary {
    /// The tip's hash.
    pub tip: BlockHash,
    /// The tip's height.
    pub height: u64,
    /// The work of every block from genesis to the tip.
    pub work: Work,
}

/// Decides which of two valid chains a node follows.
///
/// # Correctness
///
/// A node switches to `theirs` only when `prefer` returns [`Ordering::Greater`]: on a tie
/// it keeps the chain it saw first, as the original's strict `>` did. An implementation
/// must be a total order that depends only on the summaries, so that every node given the
/// same blocks picks the same chain.
pub trait ForkChoice {
    /// Compares `theirs` to `ours`; `Greater` means switch.
    fn prefer(&self, ours: &ChainSummary, theirs: &ChainSummary) -> Ordering;
}

/// The chain with the most cumulative work wins (the default, as in Bitcoin).
///
/// Length alone can be gamed once difficulty varies: many easy blocks can outnumber fewer
/// hard ones.
///
/// # Consensus
///
/// Rules:
/// - [chain-fork-choice](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-fork-choice)
/// - [pow-work](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-work)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MostWork;

/// The chain with the most blocks wins (the original's rule).
///
/// # Consensus
///
/// Rules: [chain-longest-chain](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-longest-chain)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LongestChain;

impl<T: ForkChoice + ?Sized> ForkChoice for &T {
    fn prefer(&self, ours: &ChainSummary, theirs: &ChainSummary) -> Ordering {
        (**self).prefer(ours, theirs)
    }
}

impl<T: ForkChoice + ?Sized> ForkChoice for Box<T> {
    fn prefer(&self, ours: &ChainSummary, theirs: &ChainSummary) -> Ordering {
        (**self).prefer(ours, theirs)
    }
}

impl ForkChoice for MostWork {
    fn prefer(&self, ours: &ChainSummary, theirs: &ChainSummary) -> Ordering {
        theirs.work.cmp(&ours.work)
    }
}

impl ForkChoice for LongestChain {
    fn prefer(&self, ours: &ChainSummary, theirs: &ChainSummary) -> Ordering {
        theirs.height.cmp(&ours.height)
    }
}

/// The blocks to disconnect (tip first) and connect (oldest first) to move the main chain
/// to a new tip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReorgPlan {
    /// Main-chain blocks to undo, from the current tip down to just above the fork point.
    pub disconnect: Vec<BlockHash>,
    /// Blocks to connect, from just above the fork point up to the new tip.
    pub connect: Vec<BlockHash>,
}

/// Why a block or a candidate chain does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The block's parent is not known.
    #[error("parent block {prev} is unknown")]
    UnknownParent {
        /// The parent hash it names.
        prev: BlockHash,
    },
    /// The block is already known.
    #[error("block {hash} is already known")]
    AlreadyKnown {
        /// Its hash.
        hash: BlockHash,
    },
    /// The height is not the parent's plus one.
    #[error("block height {actual}, expected {expected}")]
    WrongHeight {
        /// The parent's height plus one.
        expected: u64,
        /// The header's.
        actual: u64,
    },
    /// The declared target is not the one the rules require at this height.
    #[error("block declares target {actual}, the rules require {expected}")]
    WrongTarget {
        /// The required target.
        expected: CompactTarget,
        /// The declared one.
        actual: CompactTarget,
    },
    /// The timestamp is not after the median of the previous blocks'.
    #[error("timestamp {timestamp} is not after the median time {median} of recent blocks")]
    TimestampNotAfterMedian {
        /// The header's.
        timestamp: u64,
        /// The median of the previous blocks'.
        median: u64,
    },
    /// The timestamp is too far ahead of the node's clock.
    #[error("timestamp {timestamp} is after the latest allowed {max}")]
    TimestampTooFarAhead {
        /// The header's.
        timestamp: u64,
        /// The node's clock plus the allowed drift.
        max: u64,
    },
    /// The candidate chain starts from another genesis block.
    #[error("genesis block {actual} is not this network's {expected}")]
    ForeignGenesis {
        /// Our genesis hash.
        expected: BlockHash,
        /// Theirs.
        actual: BlockHash,
    },
    /// A block of the candidate chain does not follow the one before it.
    #[error("candidate block at position {index} does not follow the block before it")]
    NotLinked {
        /// Its position in the candidate list.
        index: usize,
    },
    /// A stored target could not be decoded.
    #[error(transparent)]
    Pow(#[from] PowError),
    /// The candidate chain is empty.
    #[error("candidate chain is empty")]
    EmptyChain,
    /// The block's parent was found invalid, so the block is too.
    #[error("parent block {prev} is invalid")]
    InvalidParent {
        /// The parent hash it names.
        prev: BlockHash,
    },
    /// The block is off the main chain and too far below its tip to keep on its own: a
    /// branch that deep is taken only as a whole candidate chain.
    #[error("block at height {height} is more than {max_depth} blocks below the tip {tip}")]
    TooDeep {
        /// The block's height.
        height: u64,
        /// The main chain's height.
        tip: u64,
        /// The deepest a side block may be.
        max_depth: u64,
    },
    /// The side branches hold as much as they may, and the block has no more work than
    /// the least-work branch it would have to evict.
    #[error("side branches are full and this block's branch has the least work")]
    SideBranchesFull,
    /// A transfer in a block can't be applied at its place in the chain.
    #[error("block {hash}, transfer {index}: {source}")]
    Transfer {
        /// The block's hash.
        hash: BlockHash,
        /// The transfer's position among the block's transfers.
        index: usize,
        /// Why it can't be applied.
        source: LedgerError,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    block: Arc<CheckedBlock>,
    work: Work,
    /// The block's transfers' size, what it costs to keep.
    size: usize,
    /// The known blocks built on this one.
    children: Vec<BlockHash>,
}

/// Every header-valid block we know, and the main chain through them.
///
/// Blocks off the main chain are counted (how many, how many bytes of transfers), and
/// those with no child are kept ordered by work, so the least-work branch can be found
/// and removed without walking the tree.
#[derive(Clone, Debug)]
pub struct Chain {
    entries: BTreeMap<BlockHash, Entry>,
    main: Vec<BlockHash>,
    /// Blocks off the main chain with no known child, least work first.
    side_leaves: BTreeSet<(Work, BlockHash)>,
    side_blocks: usize,
    side_bytes: usize,
}

impl Chain {
    /// Makes a chain of just the network's genesis block.
    pub(crate) fn new(params: &Params) -> Self {
        let genesis = CheckedBlock::genesis(params);
        let hash = genesis.hash();
        let work =
            Target::from_compact(genesis.header().bits).map(|t| t.work()).unwrap_or_default();
        let entry = Entry { block: Arc::new(genesis), work, size: 0, children: vec![] };
        Chain {
            entries: BTreeMap::from([(hash, entry)]),
            main: vec![hash],
            side_leaves: BTreeSet::new(),
            side_blocks: 0,
            side_bytes: 0,
        }
    }

    /// Adds a block whose parent is known; it does not join the main chain.
    pub(crate) fn insert(&mut self, block: CheckedBlock) {
        let hash = block.hash();
        let prev = block.header().prev;
        let parent_work = self.entries.get(&prev).map(|e| e.work).unwrap_or_default();
        let work = Target::from_compact(block.header().bits)
            .map(|target| parent_work.saturating_add(target.work()))
            .unwrap_or(parent_work);
        let size = block.transfers_size();
        if let Some(parent) = self.entries.get_mut(&prev) {
            parent.children.push(hash);
            self.side_leaves.remove(&(parent.work, prev));
        }
        self.entries.insert(hash, Entry { block: Arc::new(block), work, size, children: vec![] });
        self.side_blocks += 1;
        self.side_bytes += size;
        self.side_leaves.insert((work, hash));
    }

    /// Forgets a block that is not on the main chain, and every block built on it: a walk
    /// of that branch only.
    pub(crate) fn remove(&mut self, hash: &BlockHash) {
        if self.is_on_main(hash) {
            return;
        }
        let Some(prev) = self.get(hash).map(|b| b.header().prev) else { return };
        let mut stack = vec![*hash];
        while let Some(hash) = stack.pop() {
            if let Some(entry) = self.entries.remove(&hash) {
                self.side_blocks -= 1;
                self.side_bytes -= entry.size;
                self.side_leaves.remove(&(entry.work, hash));
                stack.extend(entry.children);
            }
        }
        let on_main = self.is_on_main(&prev);
        if let Some(parent) = self.entries.get_mut(&prev) {
            parent.children.retain(|child| child != hash);
            if parent.children.is_empty() && !on_main {
                self.side_leaves.insert((parent.work, prev));
            }
        }
    }

    /// Moves the main chain to `new_tip` (the plan's connect list must end there).
    pub(crate) fn set_tip(&mut self, new_tip: BlockHash) {
        let mut path = vec![];
        let mut cursor = Some(new_tip);
        while let Some(hash) = cursor.filter(|h| !self.is_on_main(h)) {
            path.push(hash);
            cursor = self.get(&hash).map(|b| b.header().prev);
        }
        let fork_height = cursor.and_then(|h| self.get(&h)).map_or(0, CheckedBlock::height);
        let left: Vec<BlockHash> = self.main.drain(fork_height as usize + 1..).collect();
        for hash in &left {
            self.count_as_side(hash, true);
        }
        for hash in path.iter().rev() {
            self.count_as_side(hash, false);
            self.main.push(*hash);
        }
    }

    /// Counts a block in or out of the side branches' totals, as it leaves or joins the
    /// main chain.
    fn count_as_side(&mut self, hash: &BlockHash, side: bool) {
        let Some(entry) = self.entries.get(hash) else { return };
        let key = (entry.work, *hash);
        if side {
            self.side_blocks += 1;
            self.side_bytes += entry.size;
            if entry.children.is_empty() {
                self.side_leaves.insert(key);
            }
        } else {
            self.side_blocks -= 1;
            self.side_bytes -= entry.size;
            self.side_leaves.remove(&key);
        }
    }

    /// Returns how many blocks are off the main chain, and the size of their transfers.
    pub fn side_usage(&self) -> (usize, usize) {
        (self.side_blocks, self.side_bytes)
    }

    /// Returns the block off the main chain, with no known child, whose branch has the
    /// least work (the lowest hash first among equals).
    pub(crate) fn least_work_side_leaf(&self) -> Option<(Work, BlockHash)> {
        self.side_leaves.first().copied()
    }

    /// Returns the blocks off the main chain with no known child and less work than
    /// `work`, least work first, each with the size of its transfers.
    pub(crate) fn side_leaves_below(
        &self,
        work: Work,
    ) -> impl Iterator<Item = (BlockHash, usize)> + '_ {
        self.side_leaves
            .iter()
            .take_while(move |(leaf_work, _)| *leaf_work < work)
            .map(|(_, hash)| (*hash, self.entries.get(hash).map_or(0, |e| e.size)))
    }

    /// Returns the main chain's tip.
    pub fn tip(&self) -> &CheckedBlock {
        self.main.last().and_then(|h| self.get(h)).expect("the main chain holds genesis")
    }

    /// Returns the main chain's height (genesis is 0).
    pub fn height(&self) -> u64 {
        self.tip().height()
    }

    /// Returns a known block, on the main chain or not.
    pub fn get(&self, hash: &BlockHash) -> Option<&CheckedBlock> {
        self.entries.get(hash).map(|e| &*e.block)
    }

    /// Returns a known block as a shared handle, cheap to take under a lock around the
    /// node and to read after it is released.
    pub fn get_shared(&self, hash: &BlockHash) -> Option<Arc<CheckedBlock>> {
        self.entries.get(hash).map(|e| Arc::clone(&e.block))
    }

    /// Returns how many blocks the tree holds, main chain and side branches.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns `false`: the tree always holds genesis.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Returns `true` if the block is known.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.entries.contains_key(hash)
    }

    /// Returns `true` if the block is on the main chain.
    pub fn is_on_main(&self, hash: &BlockHash) -> bool {
        self.get(hash).is_some_and(|b| self.main.get(b.height() as usize) == Some(hash))
    }

    /// Returns the main-chain block at `height`.
    pub fn at_height(&self, height: u64) -> Option<&CheckedBlock> {
        usize::try_from(height).ok().and_then(|h| self.main.get(h)).and_then(|h| self.get(h))
    }

    /// Returns the main chain's blocks from `height` up, in order.
    pub fn main_chain_from(&self, height: u64) -> impl Iterator<Item = &CheckedBlock> {
        let start = usize::try_from(height).unwrap_or(usize::MAX).min(self.main.len());
        self.main.get(start..).unwrap_or_default().iter().filter_map(|h| self.get(h))
    }

    /// Returns the main chain's blocks from `height` up, in order, as shared handles: cheap
    /// to take under a lock around the node and to read after it is released.
    pub fn main_chain_shared_from(
        &self,
        height: u64,
    ) -> impl Iterator<Item = Arc<CheckedBlock>> + '_ {
        let start = usize::try_from(height).unwrap_or(usize::MAX).min(self.main.len());
        let hashes = self.main.get(start..).unwrap_or_default().iter();
        hashes.filter_map(|h| self.entries.get(h).map(|e| Arc::clone(&e.block)))
    }

    /// Returns the summary of the chain ending at `hash`.
    pub fn summary(&self, hash: &BlockHash) -> Option<ChainSummary> {
        let entry = self.entries.get(hash)?;
        Some(ChainSummary { tip: *hash, height: entry.block.height(), work: entry.work })
    }

    /// Returns the summary of the main chain.
    pub fn tip_summary(&self) -> ChainSummary {
        self.summary(&self.tip().hash()).expect("the tip is known")
    }

    /// Returns the ancestor at `height` of the block `hash` (or the block itself).
    pub(crate) fn ancestor(&self, hash: &BlockHash, height: u64) -> Option<&CheckedBlock> {
        let mut block = self.get(hash)?;
        loop {
            if block.height() == height {
                return Some(block);
            }
            if block.height() < height {
                return None;
            }
            if self.is_on_main(&block.hash()) {
                return self.at_height(height);
            }
            block = self.get(&block.header().prev)?;
        }
    }

    /// Returns the plan that moves the main chain to `new_tip`, a known block.
    ///
    /// # Consensus
    ///
    /// Rules: [chain-reorg](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-reorg)
    pub(crate) fn reorg_plan(&self, new_tip: &BlockHash) -> ReorgPlan {
        let mut connect = vec![];
        let mut cursor = self.get(new_tip);
        while let Some(block) = cursor.filter(|b| !self.is_on_main(&b.hash())) {
            connect.push(block.hash());
            cursor = self.get(&block.header().prev);
        }
        connect.reverse();
        let fork_height = cursor.map_or(0, CheckedBlock::height);
        let disconnect = self
            .main
            .get(fork_height as usize + 1..)
            .unwrap_or_default()
            .iter()
            .rev()
            .copied()
            .collect();
        ReorgPlan { disconnect, connect }
    }
}

/// Checks a header against its parent and the chain before it, and the node's clock.
///
/// # Consensus
///
/// > the proof-of-work is checked on the header hash against the target the consensus
/// > rules require at that height; timestamps too far in the future or not after the
/// > median of recent blocks are rejected.
///
/// Rules:
/// - [chain-height](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-height)
/// - [chain-target](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-target)
/// - [pow-retarget](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-retarget)
/// - [chain-median-time](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-median-time)
/// - [chain-future-drift](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-future-drift)
///
/// # Errors
///
/// The first [`ChainError`] found.
pub(crate) fn check_header_in_context(
    header: &BlockHeader,
    parent: &CheckedBlock,
    chain: &Chain,
    params: &Params,
    now: UnixTime,
) -> Result<(), ChainError> {
    height_is_valid(header, parent)?;
    target_is_valid(header, parent, chain, params)?;
    timestamp_is_after_median(header, parent, chain, params)?;
    timestamp_is_not_too_far_ahead(header, params, now)
}

/// Checks that the height is the parent's plus one.
///
/// # Consensus
///
/// Rules: [chain-height](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-height)
///
/// # Errors
///
/// [`ChainError::WrongHeight`].
pub(crate) fn height_is_valid(
    header: &BlockHeader,
    parent: &CheckedBlock,
) -> Result<(), ChainError> {
    let expected = parent.height().saturating_add(1);
    if header.height != expected {
        return Err(ChainError::WrongHeight { expected, actual: header.height });
    }
    Ok(())
}

/// Checks that the header declares the target the rules require ([`pow::next_target`]).
///
/// # Consensus
///
/// Rules:
/// - [chain-target](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-target)
/// - [pow-retarget](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-retarget)
///
/// # Errors
///
/// [`ChainError::WrongTarget`].
pub(crate) fn target_is_valid(
    header: &BlockHeader,
    parent: &CheckedBlock,
    chain: &Chain,
    params: &Params,
) -> Result<(), ChainError> {
    let expected = pow::next_target(parent.header(), header.height, params, |height| {
        chain
            .ancestor(&parent.hash(), height)
            .map(|b| *b.header())
            .ok_or(ChainError::UnknownParent { prev: parent.hash() })
    })?;
    if header.bits != expected {
        return Err(ChainError::WrongTarget { expected, actual: header.bits });
    }
    Ok(())
}

/// Checks that the timestamp is after the median of the last
/// [`Params::median_time_span`] blocks' (ending at the parent).
///
/// # Consensus
///
/// Rules: [chain-median-time](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-median-time)
///
/// # Errors
///
/// [`ChainError::TimestampNotAfterMedian`].
pub fn timestamp_is_after_median(
    header: &BlockHeader,
    parent: &CheckedBlock,
    chain: &Chain,
    params: &Params,
) -> Result<(), ChainError> {
    let median = median_time_past(parent, chain, params);
    if header.timestamp <= median {
        return Err(ChainError::TimestampNotAfterMedian { timestamp: header.timestamp, median });
    }
    Ok(())
}

/// Checks that the timestamp is at most `now` plus [`Params::max_future_drift_secs`].
///
/// # Consensus
///
/// Rules: [chain-future-drift](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-future-drift)
///
/// # Errors
///
/// [`ChainError::TimestampTooFarAhead`].
pub fn timestamp_is_not_too_far_ahead(
    header: &BlockHeader,
    params: &Params,
    now: UnixTime,
) -> Result<(), ChainError> {
    let max = now.secs().saturating_add(params.max_future_drift_secs);
    if header.timestamp > max {
        return Err(ChainError::TimestampTooFarAhead { timestamp: header.timestamp, max });
    }
    Ok(())
}

/// Returns the median timestamp of the last [`Params::median_time_span`] blocks up to and
/// including `tip` (fewer near genesis).
///
/// # Consensus
///
/// Rules: [chain-median-time](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#chain-median-time)
pub(crate) fn median_time_past(tip: &CheckedBlock, chain: &Chain, params: &Params) -> u64 {
    let mut times = Vec::with_capacity(params.median_time_span);
    let mut cursor = Some(tip);
    while let Some(block) = cursor.filter(|_| times.len() < params.median_time_span.max(1)) {
        times.push(block.header().timestamp);
        cursor = (block.height() > 0).then(|| chain.get(&block.header().prev)).flatten();
    }
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}
