//! Consensus parameters: every number the rules depend on, in one value.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{
    amount::Amount,
    crypto::rsa::{MAX_KEY_BITS, MIN_KEY_BITS, RsaVerifier},
    target::{CompactTarget, Target},
};

/// The consensus parameters of one GopherCoin network.
///
/// Rules take `&Params`; two nodes agree only if their `Params` are equal. Start from
/// [`Params::devnet`] and change fields to make a network of your own.
///
/// # Consensus
///
/// Rules: [genesis-params](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#genesis-params)
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
    /// The new coins a block mints before the first halving; see [`Params::reward_at`].
    pub block_reward: Amount,
    /// The reward halves at every height that is a multiple of this, until it is zero;
    /// `0` means it never halves (and the supply runs out).
    pub halving_interval: u64,
    /// The block interval the difficulty aims at, in seconds.
    pub target_block_secs: u64,
    /// The difficulty is adjusted at every height that is a multiple of this; `0` means it
    /// never is (every block keeps [`Params::pow_limit`], as on [`Params::regtest`]).
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
    /// The genesis block's timestamp, seconds since the Unix epoch.
    pub genesis_timestamp: u64,
}

impl Params {
    /// A local development network: 5-second blocks, a difficulty a laptop meets in
    /// milliseconds, 20 coins a block (as in the original), halving every 525,000 blocks
    /// (about 30 days), so the supply converges to 21 million coins as Bitcoin's does.
    ///
    /// # Consensus
    ///
    /// Rules: [genesis-devnet](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#genesis-devnet)
    pub fn devnet() -> Self {
        Params {
            chain_id: 0x6770_6431, // "gpd1"
            block_reward: Amount::from_units(20 * Amount::UNITS_PER_COIN)
                .expect("20 coins is below the maximum"),
            halving_interval: 525_000,
            target_block_secs: 5,
            retarget_interval: 20,
            pow_limit: CompactTarget::from_consensus(0x2000_ffff),
            max_block_txs: 1_000,
            max_tx_bytes: 2_048,
            max_future_drift_secs: 2 * 60 * 60,
            median_time_span: 11,
            min_rsa_bits: MIN_KEY_BITS,
            max_rsa_bits: MAX_KEY_BITS,
            genesis_timestamp: 1_767_225_600, // 2026-01-01T00:00:00Z
        }
    }

    /// A network for tests and scripts, as Bitcoin Core's regtest: the difficulty never
    /// retargets and stays at a limit that one hash in two meets, so a block is mined at
    /// once however many come in a row; the reward halves every 150 blocks, so a script
    /// reaches a halving quickly. Its own chain id and genesis: it never mixes with the
    /// devnet.
    ///
    /// ```
    /// use gophercoin_core::Params;
    ///
    /// let regtest = Params::regtest();
    /// assert_eq!(regtest.retarget_interval, 0);
    /// assert_ne!(regtest.chain_id, Params::devnet().chain_id);
    /// assert_ne!(regtest.genesis().hash(), Params::devnet().genesis().hash());
    /// ```
    ///
    /// # Consensus
    ///
    /// Rules: [genesis-regtest](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#genesis-regtest)
    pub fn regtest() -> Self {
        Params {
            chain_id: 0x6770_7231, // "gpr1"
            halving_interval: 150,
            retarget_interval: 0,
            pow_limit: CompactTarget::from_consensus(0x207f_ffff),
            ..Params::devnet()
        }
    }

    /// Returns the new coins the block at `height` mints: [`Params::block_reward`] halved
    /// once for every [`Params::halving_interval`] blocks below it, zero once it has halved
    /// away (genesis, at height 0, mints nothing). A block's reward entry pays this plus
    /// the fees of its transfers.
    ///
    /// # Consensus
    ///
    /// > The miner's reward goes to the miner's wallet address, once per block: exactly
    /// > the subsidy at that height (a halving schedule, so the supply converges and the
    /// > chain never halts) plus the fees of the block's transactions.
    ///
    /// Rules:
    /// - [reward-schedule](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#reward-schedule)
    /// - [reward-supply](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#reward-supply)
    ///
    /// # Examples
    ///
    /// ```
    /// use gophercoin_core::{Amount, Params};
    ///
    /// let params = Params::devnet();
    /// let twenty = params.block_reward;
    /// assert_eq!(params.reward_at(1), twenty);
    /// assert_eq!(params.reward_at(525_000).to_units(), twenty.to_units() / 2);
    /// assert_eq!(params.reward_at(64 * 525_000), Amount::ZERO);
    /// ```
    pub fn reward_at(&self, height: u64) -> Amount {
        if height == 0 {
            return Amount::ZERO;
        }
        let halvings = height.checked_div(self.halving_interval).unwrap_or(0);
        let units = u32::try_from(halvings)
            .ok()
            .and_then(|halvings| self.block_reward.to_units().checked_shr(halvings))
            .unwrap_or(0);
        Amount::from_units(units).expect("a halved amount is below the unhalved one")
    }

    /// Returns every coin the blocks up to and including `height` mint: the supply of a
    /// chain of that height.
    pub fn supply_at(&self, height: u64) -> Amount {
        let mut supply = 0u64;
        let mut start = 1u64;
        while start <= height {
            let reward = self.reward_at(start).to_units();
            if reward == 0 {
                break;
            }
            let era_end = match self.halving_interval {
                0 => height,
                interval => (start / interval + 1).saturating_mul(interval).saturating_sub(1),
            };
            let end = era_end.max(start).min(height);
            supply = supply.saturating_add(reward.saturating_mul(end - start + 1));
            if end == height {
                break;
            }
            start = end + 1;
        }
        Amount::from_units(supply).unwrap_or(Amount::MAX)
    }

    /// Checks that the parameters make a network whose rules can be applied: a node
    /// checks them once, when it is made ([`Node::new`](crate::Node::new)), so no rule
    /// meets a value it cannot use.
    ///
    /// # Errors
    ///
    /// A [`ParamsError`] naming the first field that is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use gophercoin_core::{Params, params::ParamsError};
    ///
    /// assert_eq!(Params::devnet().validate(), Ok(()));
    /// let mut params = Params::devnet();
    /// params.target_block_secs = 0;
    /// assert_eq!(params.validate(), Err(ParamsError::ZeroBlockInterval));
    /// ```
    pub fn validate(&self) -> Result<(), ParamsError> {
        Target::from_compact(self.pow_limit)
            .map_err(|_| ParamsError::PowLimit { pow_limit: self.pow_limit })?;
        if self.target_block_secs == 0 {
            return Err(ParamsError::ZeroBlockInterval);
        }
        if self.max_block_txs == 0 {
            return Err(ParamsError::NoRoomForReward);
        }
        if self.max_tx_bytes == 0 {
            return Err(ParamsError::ZeroTransactionSize);
        }
        if self.median_time_span == 0 {
            return Err(ParamsError::ZeroMedianTimeSpan);
        }
        let (min, max) = (self.min_rsa_bits, self.max_rsa_bits);
        if min > max || min < MIN_KEY_BITS || max > MAX_KEY_BITS {
            return Err(ParamsError::KeySizes { min, max });
        }
        Ok(())
    }

    /// Returns the easiest target, decoded from [`Params::pow_limit`].
    ///
    /// # Panics
    ///
    /// If `pow_limit` is not a valid compact target, which [`Params::validate`] refuses: a
    /// node's parameters never are.
    pub fn pow_limit_target(&self) -> Target {
        Target::from_compact(self.pow_limit).expect("Params::pow_limit is a valid target")
    }

    /// The shipped signature verifier with this network's key sizes
    /// ([`Params::min_rsa_bits`] to [`Params::max_rsa_bits`]).
    pub fn verifier(&self) -> RsaVerifier {
        RsaVerifier::with_key_bits(self.min_rsa_bits, self.max_rsa_bits)
    }
}

/// Which node's rules a value was checked under: each node made by
/// [`Node::new`](crate::Node::new) has its own (its clones share it), and every
/// `CheckedBlock` and `VerifiedTransaction` carries the one it was checked under, so a
/// node refuses what another node's checker made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RulesId(u64);

impl RulesId {
    /// The genesis block's, which no node's checker makes (every node has genesis already).
    pub(crate) const GENESIS: RulesId = RulesId(0);

    /// A new node's: unique in the process.
    pub(crate) fn next() -> RulesId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        RulesId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Why a [`Params`] value makes no usable network ([`Params::validate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// `pow_limit` is not a valid compact target.
    #[error("pow_limit {pow_limit} is not a valid target")]
    PowLimit {
        /// The value given.
        pow_limit: CompactTarget,
    },
    /// `target_block_secs` is zero: the difficulty would aim at no interval.
    #[error("target_block_secs is 0")]
    ZeroBlockInterval,
    /// `max_block_txs` is zero: no block could hold its reward.
    #[error("max_block_txs is 0: a block holds at least its reward")]
    NoRoomForReward,
    /// `max_tx_bytes` is zero: no transaction could be valid.
    #[error("max_tx_bytes is 0")]
    ZeroTransactionSize,
    /// `median_time_span` is zero: no median time past to compare a timestamp with.
    #[error("median_time_span is 0")]
    ZeroMedianTimeSpan,
    /// The RSA key sizes are not a range within what the verifier supports.
    #[error(
        "RSA key sizes {min} to {max} bits: not a range within {MIN_KEY_BITS} to {MAX_KEY_BITS}"
    )]
    KeySizes {
        /// `min_rsa_bits`.
        min: usize,
        /// `max_rsa_bits`.
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MostWork, Node};

    #[test]
    fn a_node_is_made_only_from_parameters_that_validate() {
        assert_eq!(Params::devnet().validate(), Ok(()));
        assert_eq!(Params::regtest().validate(), Ok(()));
        type Breaks = fn(&mut Params);
        let broken: [(Breaks, ParamsError); 7] = [
            (
                |p| p.pow_limit = CompactTarget::from_consensus(0x2300_0001),
                ParamsError::PowLimit { pow_limit: CompactTarget::from_consensus(0x2300_0001) },
            ),
            (|p| p.target_block_secs = 0, ParamsError::ZeroBlockInterval),
            (|p| p.max_block_txs = 0, ParamsError::NoRoomForReward),
            (|p| p.max_tx_bytes = 0, ParamsError::ZeroTransactionSize),
            (|p| p.median_time_span = 0, ParamsError::ZeroMedianTimeSpan),
            (
                |p| (p.min_rsa_bits, p.max_rsa_bits) = (4096, 2048),
                ParamsError::KeySizes { min: 4096, max: 2048 },
            ),
            (
                |p| p.max_rsa_bits = MAX_KEY_BITS + 1,
                ParamsError::KeySizes { min: 2048, max: MAX_KEY_BITS + 1 },
            ),
        ];
        for (breaks, expected) in broken {
            let mut params = Params::devnet();
            breaks(&mut params);
            assert_eq!(params.validate(), Err(expected));
            let verifier = Params::devnet().verifier();
            assert_eq!(Node::new(params, verifier, MostWork).err(), Some(expected));
        }
    }
}
