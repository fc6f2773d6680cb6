//! A node's own policy: what it keeps and relays beyond what consensus requires.
//!
//! Two nodes with different policies still agree on which blocks are valid; they differ
//! only in which pending transactions they hold and which blocks off their main chain
//! they keep. None of these numbers is committed to by the genesis block.

use core::{cmp::Ordering, fmt};

use crate::amount::Amount;

/// What a node keeps and relays: the mempool's bounds and prices, and the bounds on side
/// branches and on the caches that spare it repeated work.
///
/// # Examples
///
/// ```
/// use gophercoin_core::{FeeRate, Node, Params, Policy, MostWork, RsaVerifier};
///
/// let params = Params::devnet();
/// let mut policy = Policy::default();
/// policy.min_relay_fee_rate = FeeRate::per_byte(1);
/// let node = Node::new(params.clone(), params.verifier(), MostWork)?.with_policy(policy);
/// assert_eq!(node.policy().min_relay_fee_rate, FeeRate::per_byte(1));
/// # Ok::<(), gophercoin_core::ParamsError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// The most transactions the mempool holds.
    pub max_mempool_txs: usize,
    /// The most transactions one sender may have pending.
    pub max_pending_per_sender: usize,
    /// The lowest fee rate the mempool accepts.
    pub min_relay_fee_rate: FeeRate,
    /// The most blocks kept off the main chain.
    pub max_side_blocks: usize,
    /// The most bytes (of the blocks' transactions) kept off the main chain.
    pub max_side_bytes: usize,
    /// A block more than this many blocks below the tip, off the main chain, is refused:
    /// a branch that deep comes as a whole candidate chain or not at all.
    pub max_side_depth: u64,
    /// How many invalid blocks are remembered, so the same block is refused again without
    /// checking a signature.
    pub invalid_block_cache: usize,
}

impl Default for Policy {
    /// A mempool of 5,000 transactions, 100 per sender, no minimum fee (the original's
    /// walkthrough sends none); up to 256 side blocks and 16 MiB of their transactions,
    /// none deeper than 100 blocks; 1,000 invalid blocks remembered.
    fn default() -> Self {
        Policy {
            max_mempool_txs: 5_000,
            max_pending_per_sender: 100,
            min_relay_fee_rate: FeeRate::ZERO,
            max_side_blocks: 256,
            max_side_bytes: 16 << 20,
            max_side_depth: 100,
            invalid_block_cache: 1_000,
        }
    }
}

/// A fee per byte of a transaction's encoding, compared exactly (a fraction, never
/// rounded).
///
/// # Examples
///
/// ```
/// use gophercoin_core::{Amount, FeeRate};
///
/// let a = FeeRate::new(Amount::from_units(1_000)?, 600);
/// let b = FeeRate::new(Amount::from_units(500)?, 300);
/// assert_eq!(a, b);
/// assert!(a > FeeRate::per_byte(1));
/// assert!(FeeRate::new(Amount::ZERO, 600) < a);
/// # Ok::<(), gophercoin_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FeeRate {
    fee: u64,
    bytes: u64,
}

impl FeeRate {
    /// No fee at all.
    pub const ZERO: FeeRate = FeeRate { fee: 0, bytes: 1 };

    /// The rate of paying `fee` for `bytes` bytes (a size of zero counts as one byte).
    pub fn new(fee: Amount, bytes: usize) -> Self {
        FeeRate { fee: fee.to_units(), bytes: (bytes as u64).max(1) }
    }

    /// A whole number of units per byte.
    pub const fn per_byte(units: u64) -> Self {
        FeeRate { fee: units, bytes: 1 }
    }

    /// Returns the rate in whole units per byte, rounded up.
    pub fn units_per_byte(self) -> u64 {
        self.fee.div_ceil(self.bytes)
    }

    /// Returns `true` if paying `fee` for `bytes` bytes meets this rate.
    pub fn is_met_by(self, fee: Amount, bytes: usize) -> bool {
        FeeRate::new(fee, bytes) >= self
    }

    fn cross(self, other: FeeRate) -> (u128, u128) {
        (
            u128::from(self.fee) * u128::from(other.bytes),
            u128::from(other.fee) * u128::from(self.bytes),
        )
    }
}

impl Default for FeeRate {
    /// [`FeeRate::ZERO`].
    fn default() -> Self {
        FeeRate::ZERO
    }
}

impl PartialEq for FeeRate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for FeeRate {}

impl PartialOrd for FeeRate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FeeRate {
    fn cmp(&self, other: &Self) -> Ordering {
        let (ours, theirs) = self.cross(*other);
        ours.cmp(&theirs)
    }
}

impl fmt::Display for FeeRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bytes == 1 {
            write!(f, "{} units/byte", self.fee)
        } else {
            write!(f, "{} units per {} bytes", self.fee, self.bytes)
        }
    }
}
