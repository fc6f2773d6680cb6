//! Proof of work over time: retargeting and a portable nonce search (the fast, SIMD
//! searches are `gophercoin-miner`'s: mining is not consensus).
//!
//! The values (a target, its compact form, the work it proves) are in
//! [`target`](crate::target), re-exported here; the check that a header meets its target
//! is [`BlockHeader::check_pow`].

use core::cmp::Ordering;

use crypto_bigint::{NonZero, U256, U512};

pub use crate::target::{
    CompactTarget, CompactTargetParseError, PowError, Target, Work, compact_hex,
};
use crate::{block::BlockHeader, hash::BlockHash, params::Params};

/// Returns the target a block at `height` must declare, given its parent `parent`.
///
/// Every `params.retarget_interval` blocks the target is scaled by the time the last
/// interval actually took over the time it should have taken (clamped to a factor of 4
/// either way) and capped at the limit; in between it stays the parent's. With a
/// `retarget_interval` of 0 it always stays the parent's (so the genesis block's, the
/// limit). `header_at`
/// returns the ancestor header at a height; only the first header of the interval is
/// asked for, and its error passes through.
///
/// # Consensus
///
/// Rules: [pow-retarget](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-retarget)
///
/// # Errors
///
/// `header_at`'s error, or [`PowError::BadCompactTarget`] if the parent's target is bad.
pub fn next_target<E: From<PowError>>(
    parent: &BlockHeader,
    height: u64,
    params: &Params,
    mut header_at: impl FnMut(u64) -> Result<BlockHeader, E>,
) -> Result<CompactTarget, E> {
    if params.retarget_interval == 0 {
        return Ok(parent.bits);
    }
    let interval = params.retarget_interval.max(2);
    if !height.is_multiple_of(interval) || height < interval {
        return Ok(parent.bits);
    }
    let first = header_at(height - interval)?;
    let expected = (interval - 1).saturating_mul(params.target_block_secs).max(1);
    let actual = parent.timestamp.saturating_sub(first.timestamp);
    // The factor actual / expected, clamped to [1/4, 4].
    let (numerator, denominator) = if actual.saturating_mul(4) < expected {
        (1, 4)
    } else if actual > expected.saturating_mul(4) {
        (4, 1)
    } else {
        (actual, expected)
    };
    let old = Target::from_compact(parent.bits)?.to_u256();
    let scaled: U512 = old.concatenating_mul(&crypto_bigint::U64::from_u64(numerator)).resize();
    let divisor = NonZero::new(U512::from_u64(denominator)).expect("the denominator is at least 1");
    let new = scaled.wrapping_div(&divisor);
    let limit = params.pow_limit_target();
    let new = match new.resize_checked::<{ U256::LIMBS }>().into_option() {
        Some(new) if new.cmp_vartime(&limit.to_u256()) != Ordering::Greater => {
            Target::from_u256(&new)
        }
        _ => limit,
    };
    Ok(new.to_compact())
}

/// Searches nonces from `header.nonce` for at most `max_tries` hashes.
///
/// On success the header's nonce is the one found and `true` is returned; otherwise the
/// nonce is left after the last one tried. Each try costs one SHA-256 compression (see
/// [`NonceSearch`]): portable and plenty for [`Node::mine_block`](crate::Node::mine_block)
/// on a test network; `gophercoin-miner` searches several times faster with SIMD.
///
/// # Examples
///
/// ```
/// use gophercoin_core::{Params, pow};
///
/// let params = Params::devnet();
/// let mut header = params.genesis().header;
/// header.height = 1;
/// assert!(pow::solve(&mut header, 1_000_000));
/// assert!(header.check_pow(&params).is_ok());
/// ```
pub fn solve(header: &mut BlockHeader, max_tries: u64) -> bool {
    let Some(search) = NonceSearch::new(header) else {
        return false;
    };
    let found = search.search(header.nonce, max_tries);
    settle(header, found)
}

/// Moves `header`'s nonce to what a search from it answered: the nonce that meets the
/// target (`true`), or the one after the last tried (`false`). [`solve`] ends so, and so do
/// faster searches (`gophercoin-miner`).
pub fn settle(header: &mut BlockHeader, found: Result<u64, u64>) -> bool {
    let (nonce, hit) = match found {
        Ok(nonce) => (nonce, true),
        Err(next) => (next, false),
    };
    header.nonce = nonce;
    hit
}

/// A nonce search over one header: everything but the last 32 bytes of the header is
/// compressed once (the midstate), and each nonce costs a single compression of the
/// final block, whose padding is constant.
///
/// The hashes are exactly [`BlockHeader::hash`]'s (a property test checks this against
/// `sha2`'s own hasher). This search is portable, one `sha2::compress256` a nonce; the
/// midstate, the final block's words and the target's first word are public so that a
/// faster search (`gophercoin-miner`'s SIMD kernels) can start from them and confirm its
/// candidates with [`NonceSearch::is_hit`].
#[derive(Clone, Debug)]
pub struct NonceSearch {
    midstate: [u32; 8],
    block: [u8; 64],
    words: [u32; 16],
    target: Target,
    target_head: u32,
}

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

impl NonceSearch {
    /// Prepares a search over `header`'s nonces; `None` if its target is not valid.
    pub fn new(header: &BlockHeader) -> Option<NonceSearch> {
        let target = Target::from_compact(header.bits).ok()?;
        let bytes = header.to_bytes();
        let (first, rest) = bytes.split_at(64);
        let mut midstate = SHA256_IV;
        let first: [u8; 64] = first.try_into().expect("the header is 96 bytes");
        sha2::block_api::compress256(&mut midstate, &[first]);
        let mut block = [0u8; 64];
        let (tail, padding) = block.split_at_mut(32);
        tail.copy_from_slice(rest);
        // 0x80, zeros, then the message length in bits (96 * 8) as a big-endian u64.
        let (marker, length) = padding.split_at_mut(24);
        if let Some(first) = marker.first_mut() {
            *first = 0x80;
        }
        length.copy_from_slice(&(BlockHeader::SIZE as u64 * 8).to_be_bytes());
        let mut words = [0u32; 16];
        for (word, chunk) in words.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes(chunk.try_into().expect("chunks of four"));
        }
        let head = target.to_be_bytes();
        let target_head = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        Some(NonceSearch { midstate, block, words, target, target_head })
    }

    /// The SHA-256 state after the header's first 64 bytes, which no nonce changes.
    pub fn midstate(&self) -> &[u32; 8] {
        &self.midstate
    }

    /// The final block (the header's last 32 bytes and SHA-256's padding) as sixteen
    /// big-endian words; words 6 and 7 are the nonce's, shown here as the header's.
    pub fn final_words(&self) -> &[u32; 16] {
        &self.words
    }

    /// The target's first 32 bits: a hash whose first word is above it never meets the
    /// target, one at or below it may (ask [`NonceSearch::is_hit`]).
    pub fn target_head(&self) -> u32 {
        self.target_head
    }

    /// Whether the header with `nonce` meets the target, computed through `sha2`.
    pub fn is_hit(&self, nonce: u64) -> bool {
        self.meets(&self.compress(nonce))
    }

    /// Returns the header hash with this nonce.
    pub fn hash(&self, nonce: u64) -> BlockHash {
        BlockHash::from_bytes(state_bytes(&self.compress(nonce)))
    }

    /// Tries `count` nonces from `start`: `Ok(nonce)` for the first that meets the target,
    /// or `Err(next)` with the nonce after the last one tried.
    ///
    /// # Errors
    ///
    /// `Err(next)` when none of them does.
    pub fn search(&self, start: u64, count: u64) -> Result<u64, u64> {
        let mut nonce = start;
        for _ in 0..count {
            let state = self.compress(nonce);
            if self.meets(&state) {
                return Ok(nonce);
            }
            nonce = nonce.wrapping_add(1);
        }
        Err(nonce)
    }

    /// Whether a final state meets the target: the first word decides almost always, the
    /// rest is compared only on a tie.
    fn meets(&self, state: &[u32; 8]) -> bool {
        state[0] <= self.target_head
            && self.target.is_met_by(&BlockHash::from_bytes(state_bytes(state)))
    }

    fn compress(&self, nonce: u64) -> [u32; 8] {
        compress_nonce(&self.midstate, self.block, nonce)
    }
}

/// The final state with `nonce` in the final `block`: how every candidate is confirmed.
fn compress_nonce(midstate: &[u32; 8], mut block: [u8; 64], nonce: u64) -> [u32; 8] {
    let (_, row) = block.split_at_mut(24);
    let (nonce_bytes, _) = row.split_at_mut(8);
    nonce_bytes.copy_from_slice(&nonce.to_be_bytes());
    let mut state = *midstate;
    sha2::block_api::compress256(&mut state, &[block]);
    state
}

fn state_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockHeader;

    fn header(height: u64, timestamp: u64, bits: CompactTarget) -> BlockHeader {
        BlockHeader { height, timestamp, bits, ..Params::devnet().genesis().header }
    }

    #[test]
    fn compact_form_matches_bitcoins() {
        let target = Target::from_compact(CompactTarget::from_consensus(0x1d00_ffff)).unwrap();
        let mut expected = [0u8; 32];
        expected[4] = 0xff;
        expected[5] = 0xff;
        assert_eq!(target.to_be_bytes(), expected);
        assert_eq!(target.to_compact(), CompactTarget::from_consensus(0x1d00_ffff));
        for bad in [0x0492_3456, 0x0100_0000, 0x2300_0001, 0x2201_0000, 0x0000_0000] {
            let compact = CompactTarget::from_consensus(bad);
            assert_eq!(Target::from_compact(compact), Err(PowError::BadCompactTarget(compact)));
        }
    }

    #[test]
    fn work_grows_as_the_target_shrinks() {
        let limit = Params::devnet().pow_limit_target();
        assert_eq!(limit.work().to_u128_saturating(), 256); // 2^256 / (0x00ffff00.. + 1)
        let harder = Target::from_compact(CompactTarget::from_consensus(0x1f00_ffff)).unwrap();
        assert_eq!(harder.work().to_u128_saturating(), 65_537);
        assert_eq!(limit.work().saturating_add(harder.work()).to_u128_saturating(), 65_793);
    }

    #[test]
    fn retarget_follows_block_times_within_a_factor_of_four() {
        let params = Params::devnet();
        let start = params.genesis_timestamp;
        let interval = params.retarget_interval;
        let spacing = params.target_block_secs;
        let hard = CompactTarget::from_consensus(0x1f00_ffff);
        let retarget = |secs_per_block: u64| {
            let parent = header(interval - 1, start + (interval - 1) * secs_per_block, hard);
            next_target::<PowError>(&parent, interval, &params, |h| {
                Ok(header(h, start + h * secs_per_block, hard))
            })
            .unwrap()
        };
        let value = |bits| Target::from_compact(bits).unwrap().work().to_u128_saturating();
        assert_eq!(retarget(spacing), hard, "on schedule: unchanged");
        assert!(
            (value(retarget(spacing * 2)) * 2).abs_diff(value(hard)) < 4,
            "twice as slow: half the work"
        );
        assert!((value(retarget(0)) / 4).abs_diff(value(hard)) < 4, "instant: four times the work");
        assert!((value(retarget(100 * spacing)) * 4).abs_diff(value(hard)) < 4, "slow: a quarter");
        // Never easier than the limit.
        let parent = header(interval - 1, start + 1_000_000, params.pow_limit);
        let bits = next_target::<PowError>(&parent, interval, &params, |h| {
            Ok(header(h, start, params.pow_limit))
        })
        .unwrap();
        assert_eq!(bits, params.pow_limit);
        // Between retargets the parent's target carries over.
        let parent = header(5, start, hard);
        let bits = next_target::<PowError>(&parent, 6, &params, |_| unreachable!()).unwrap();
        assert_eq!(bits, hard);
    }

    #[test]
    fn regtest_never_retargets_however_fast_blocks_come() {
        let params = Params::regtest();
        let start = params.genesis_timestamp;
        let limit = params.pow_limit;
        assert!(Target::from_compact(limit).is_ok(), "a valid compact target");
        // Blocks one second apart, where the devnet's rule would make it four times harder
        // at each of these heights.
        for height in [2, 20, 40, 2_016, 1_000_000] {
            let parent = header(height - 1, start + height - 1, limit);
            let bits = next_target::<PowError>(&parent, height, &params, |_| unreachable!());
            assert_eq!(bits, Ok(limit), "height {height}");
        }
        let devnet_like = Params { retarget_interval: 20, ..params.clone() };
        let parent = header(19, start + 19, limit);
        let bits =
            next_target::<PowError>(&parent, 20, &devnet_like, |h| Ok(header(h, start + h, limit)));
        assert_ne!(bits, Ok(limit), "the same blocks on a retargeting network get harder");
    }

    proptest::proptest! {
        #[test]
        fn the_search_hashes_exactly_like_the_header(
            height in proptest::prelude::any::<u64>(),
            timestamp in proptest::prelude::any::<u64>(),
            prev in proptest::prelude::any::<[u8; 32]>(),
            root in proptest::prelude::any::<[u8; 32]>(),
            nonce in proptest::prelude::any::<u64>(),
        ) {
            let header = BlockHeader {
                height,
                timestamp,
                prev: BlockHash::from_bytes(prev),
                merkle_root: crate::hash::MerkleRoot::from_bytes(root),
                nonce,
                ..Params::devnet().genesis().header
            };
            let search = NonceSearch::new(&header).unwrap();
            // sha2's own hasher over the encoded header is the reference.
            use sha2::Digest;
            let reference: [u8; 32] = sha2::Sha256::digest(header.to_bytes()).into();
            proptest::prop_assert_eq!(search.hash(nonce).to_bytes(), reference);
            proptest::prop_assert_eq!(search.hash(nonce), header.hash());
        }
    }

    #[test]
    fn solve_finds_a_nonce_that_meets_the_target() {
        let params = Params::devnet();
        let mut header = header(1, params.genesis_timestamp + 5, params.pow_limit);
        assert!(solve(&mut header, 100_000));
        assert!(header.check_pow(&params).is_ok());
        let mut impossible = header;
        impossible.bits = CompactTarget::from_consensus(0x0300_0001);
        impossible.nonce = 0;
        assert!(!solve(&mut impossible, 1_000));
        assert_eq!(impossible.nonce, 1_000);
    }
}
