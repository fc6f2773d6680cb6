//! Consensus parameters: every number the rules depend on, in one value.

use crate::{
    amount::Amount,
    pow::{CompactTarget, Target},
};

/// The consensus parameters of one GopherCoin network.
///
/// Rules take `&Params`; two nodes agree only if their `Params` are equal. Start from
/// [`Params::devnet`] and change fields to make a network of your own.
///
/// # Examples
///
/// ```
/// use gophercoin_core::Params;
///
/// let mut params = Params::devnet();
/// params.target_block_secs = 60;
/// assert_ne!(params.genesis().header.hash(), Params::devnet().genesis().header.hash());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Params {
    /// Identifies the network; signed into every transaction so it can't be replayed on
    /// another network.
    pub chain_id: u32,
    /// The amount a block pays its miner.
    pub block_reward: Amount,
    /// The block interval the difficulty aims at, in seconds.
    pub target_block_secs: u64,
    /// The difficulty is adjusted at every height that is a multiple of this.
    pub retarget_interval: u64,
    /// The easiest target there can be, also the genesis block's target.
    pub pow_limit: CompactTarget,
    /// The most transactions in a block, the reward included.
    pub max_block_txs: usize,
    /// The most bytes of a transaction's canonical encoding.
    pub max_tx_bytes: usize,
    /// How far a block's timestamp may be ahead of the receiving node's clock, in seconds.
    pub max_future_drift_secs: u64,
    /// A block's timestamp must be above the median of this many previous blocks'.
    pub median_time_span: usize,
    /// The smallest accepted RSA key, in bits.
    pub min_rsa_bits: usize,
    /// The largest accepted RSA key, in bits.
    pub max_rsa_bits: usize,
    /// The most transactions the mempool holds: each node's own policy, not part of the
    /// genesis commitment.
    pub max_mempool_txs: usize,
    /// The genesis block's timestamp, seconds since the Unix epoch.
    pub genesis_timestamp: u64,
}

impl Params {
    /// A local development network: 5-second blocks, a difficulty a laptop meets in
    /// milliseconds, 20 coins a block (as in the original).
    pub fn devnet() -> Self {
        Params {
            chain_id: 0x6770_6431, // "gpd1"
            block_reward: Amount::from_units(20 * Amount::UNITS_PER_COIN)
                .expect("20 coins is below the maximum"),
            target_block_secs: 5,
            retarget_interval: 20,
            pow_limit: CompactTarget::from_consensus(0x2000_ffff),
            max_block_txs: 1_000,
            max_tx_bytes: 2_048,
            max_future_drift_secs: 2 * 60 * 60,
            median_time_span: 11,
            min_rsa_bits: 2048,
            max_rsa_bits: 4096,
            max_mempool_txs: 5_000,
            genesis_timestamp: 1_767_225_600, // 2026-01-01T00:00:00Z
        }
    }

    /// Returns the easiest target, decoded from [`Params::pow_limit`].
    ///
    /// # Panics
    ///
    /// If `pow_limit` is not a valid compact target: a broken `Params` value is a bug of
    /// whoever built it, not bad input.
    pub fn pow_limit_target(&self) -> Target {
        Target::from_compact(self.pow_limit).expect("Params::pow_limit is a valid target")
    }
}

impl Amount {
    /// How many smallest units make one coin.
    pub const UNITS_PER_COIN: u64 = 100_000_000;
}
