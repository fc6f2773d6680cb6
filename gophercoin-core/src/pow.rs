//! Proof of work: targets, their compact encoding, work, retargeting and the nonce search.
//!
//! A block is valid work if its header hash, read as a 256-bit big-endian number, is at
//! most the target. The header carries the target in Bitcoin's compact form
//! ([`CompactTarget`]); the work a block proves is `2^256 / (target + 1)`, summed along a
//! chain for the [`MostWork`](crate::chain::MostWork) fork choice.

use core::{cmp::Ordering, fmt};

use crypto_bigint::{NonZero, U256, U512};
use serde::{Deserialize, Serialize};

use crate::{block::BlockHeader, hash::BlockHash, params::Params};

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod sha_ni;

/// A target in its 32-bit compact form, as the block header carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompactTarget(u32);

impl CompactTarget {
    /// Wraps the 32-bit compact value (one size byte, three mantissa bytes).
    pub const fn from_consensus(bits: u32) -> Self {
        CompactTarget(bits)
    }

    /// Returns the 32-bit compact value.
    pub const fn to_consensus(self) -> u32 {
        self.0
    }
}

impl fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// A 256-bit proof-of-work target; a header hash must be at most this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target([u8; 32]);

/// The work a block proves, or a chain's sum of it: the expected number of hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Work([u8; 32]);

/// Why a target is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PowError {
    /// The compact value has the sign bit set, a zero mantissa, or does not fit 256 bits.
    #[error("compact target {0} is not a valid positive 256-bit number")]
    BadCompactTarget(CompactTarget),
    /// The target is easier than the network's limit.
    #[error("target {bits} is easier than the limit {limit}")]
    AboveLimit {
        /// The declared target.
        bits: CompactTarget,
        /// The easiest allowed.
        limit: CompactTarget,
    },
    /// The header hash is above its target.
    #[error("block hash {hash} is above its target {bits}")]
    HashAboveTarget {
        /// The header hash.
        hash: BlockHash,
        /// The declared target.
        bits: CompactTarget,
    },
}

impl Target {
    /// Decodes a compact target.
    ///
    /// # Errors
    ///
    /// [`PowError::BadCompactTarget`] if negative, zero or wider than 256 bits.
    pub fn from_compact(compact: CompactTarget) -> Result<Target, PowError> {
        let bits = compact.0;
        let size = (bits >> 24) as usize;
        let mantissa = bits & 0x00ff_ffff;
        if mantissa & 0x0080_0000 != 0 || mantissa == 0 {
            return Err(PowError::BadCompactTarget(compact));
        }
        // value = mantissa * 256^(size - 3); mantissa byte i (0 = most significant) has
        // weight 256^(size - 1 - i), so it sits at big-endian index 31 - (size - 1 - i).
        let mut out = [0u8; 32];
        let mantissa_bytes = [(mantissa >> 16) as u8, (mantissa >> 8) as u8, mantissa as u8];
        for (i, byte) in mantissa_bytes.into_iter().enumerate() {
            // Byte i has weight 256^(size - 1 - i); below 256^0 it is shifted out.
            let Some(exponent) = size.checked_sub(1 + i) else {
                continue;
            };
            match 31usize.checked_sub(exponent).and_then(|index| out.get_mut(index)) {
                Some(slot) => *slot = byte,
                None if byte != 0 => return Err(PowError::BadCompactTarget(compact)),
                None => {}
            }
        }
        if out == [0; 32] {
            return Err(PowError::BadCompactTarget(compact));
        }
        Ok(Target(out))
    }

    /// Encodes the target in compact form, rounding down to three significant bytes.
    pub fn to_compact(self) -> CompactTarget {
        let first = self.0.iter().position(|&b| b != 0).unwrap_or(31);
        let mut size = (32 - first) as u32;
        let byte = |i: usize| u32::from(self.0.get(i).copied().unwrap_or(0));
        let mut mantissa = (byte(first) << 16) | (byte(first + 1) << 8) | byte(first + 2);
        if mantissa & 0x0080_0000 != 0 {
            mantissa >>= 8;
            size += 1;
        }
        CompactTarget((size << 24) | mantissa)
    }

    /// Returns `true` if `hash` meets this target (is at most it, as a big-endian number).
    pub fn is_met_by(&self, hash: &BlockHash) -> bool {
        hash.as_bytes() <= &self.0
    }

    /// Returns the work a block at this target proves: `2^256 / (target + 1)`.
    pub fn work(&self) -> Work {
        let target = U256::from_be_slice(&self.0);
        // 2^256 / (t + 1) == (!t / (t + 1)) + 1, computed without a 257-bit number.
        let Some(divisor) = NonZero::new(target.wrapping_add(&U256::ONE)).into_option() else {
            return Work::from_u256(U256::ONE); // target == 2^256 - 1
        };
        Work::from_u256(target.not().wrapping_div(&divisor).wrapping_add(&U256::ONE))
    }

    /// Returns the target as 32 big-endian bytes.
    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0
    }

    fn to_u256(self) -> U256 {
        U256::from_be_slice(&self.0)
    }

    fn from_u256(value: &U256) -> Target {
        let mut out = [0u8; 32];
        out.copy_from_slice(value.to_be_bytes().as_ref());
        Target(out)
    }
}

impl Work {
    /// No work at all.
    pub const ZERO: Work = Work([0; 32]);

    /// Adds two amounts of work, saturating at `2^256 - 1`.
    #[must_use]
    pub fn saturating_add(self, other: Work) -> Work {
        Work::from_u256(self.to_u256().saturating_add(&other.to_u256()))
    }

    /// Multiplies the work by a count, saturating at `2^256 - 1`.
    #[must_use]
    pub fn saturating_mul(self, count: u64) -> Work {
        Work::from_u256(self.to_u256().saturating_mul(&U256::from_u64(count)))
    }

    /// Returns the work as 32 big-endian bytes.
    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0
    }

    /// Returns the work as a `u128`, saturating (for display and estimates).
    pub fn to_u128_saturating(self) -> u128 {
        let (high, low) = self.0.split_at(16);
        if high.iter().any(|&b| b != 0) {
            return u128::MAX;
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(low);
        u128::from_be_bytes(bytes)
    }

    fn to_u256(self) -> U256 {
        U256::from_be_slice(&self.0)
    }

    fn from_u256(value: U256) -> Work {
        let mut out = [0u8; 32];
        out.copy_from_slice(value.to_be_bytes().as_ref());
        Work(out)
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_u128_saturating() {
            u128::MAX => write!(f, "0x{}", hex::encode(self.0)),
            n => write!(f, "{n}"),
        }
    }
}

/// Checks that a header's declared target is valid, within the limit, and met by its hash.
///
/// # Consensus
///
/// > the proof-of-work is checked on the header hash against the target
///
/// This is the context-free half; [`chain`](crate::chain) checks that the declared target
/// is the one the rules require at this height.
///
/// # Errors
///
/// [`PowError::BadCompactTarget`], [`PowError::AboveLimit`] or [`PowError::HashAboveTarget`].
pub fn pow_is_valid(header: &BlockHeader, params: &Params) -> Result<(), PowError> {
    let target = Target::from_compact(header.bits)?;
    if target > params.pow_limit_target() {
        return Err(PowError::AboveLimit { bits: header.bits, limit: params.pow_limit });
    }
    let hash = header.hash();
    if !target.is_met_by(&hash) {
        return Err(PowError::HashAboveTarget { hash, bits: header.bits });
    }
    Ok(())
}

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
/// [`NonceSearch`]).
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
/// assert!(pow::pow_is_valid(&header, &params).is_ok());
/// ```
pub fn solve(header: &mut BlockHeader, max_tries: u64) -> bool {
    let Some(search) = NonceSearch::new(header) else {
        return false;
    };
    match search.search(header.nonce, max_tries) {
        Ok(nonce) => {
            header.nonce = nonce;
            true
        }
        Err(next) => {
            header.nonce = next;
            false
        }
    }
}

/// A nonce search over one header: everything but the last 32 bytes of the header is
/// compressed once (the midstate), and each nonce costs a single compression of the
/// final block, whose padding is constant.
///
/// The hashes are exactly [`BlockHeader::hash`]'s (a property test checks this against
/// `sha2`'s own hasher). The kernel is picked at run time: on x86-64 with AVX-512, sixteen
/// nonces at a time in the lanes of 512-bit registers (`pow/avx512.rs`); with the SHA
/// extensions, two at a time (`pow/sha_ni.rs`); otherwise `sha2::compress256`, one at a
/// time. Every kernel's candidate is confirmed through `sha2` before it is returned.
#[derive(Clone, Debug)]
pub struct NonceSearch {
    midstate: [u32; 8],
    block: [u8; 64],
    words: [u32; 16],
    target: Target,
    target_head: u32,
    kernel: Kernel,
}

/// The code a [`NonceSearch`] compresses nonces with. [`Kernel::detect`] picks the fastest
/// one this CPU has; every kernel finds exactly the same nonces.
///
/// ```
/// use gophercoin_core::{Params, pow::{Kernel, NonceSearch}};
///
/// let mut header = Params::devnet().genesis().header;
/// header.height = 1;
/// let search = NonceSearch::new(&header).unwrap();
/// assert_eq!(search.kernel(), Kernel::detect());
/// let portable = search.clone().with_kernel(Kernel::Portable).unwrap();
/// assert_eq!(portable.search(0, 100_000), search.search(0, 100_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Sixteen nonces at a time in the lanes of AVX-512 registers (x86-64).
    Avx512,
    /// Two nonces at a time on the SHA extensions (x86-64).
    ShaNi,
    /// `sha2::compress256`, one nonce at a time, on every CPU.
    Portable,
}

impl Kernel {
    /// The kernel a new search uses: AVX-512 where the CPU has it, else the SHA
    /// extensions, else the portable one.
    pub fn detect() -> Kernel {
        [Kernel::Avx512, Kernel::ShaNi]
            .into_iter()
            .find(|kernel| kernel.is_available())
            .unwrap_or(Kernel::Portable)
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => avx512::available(),
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => sha_ni::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx512 | Kernel::ShaNi => false,
            Kernel::Portable => true,
        }
    }
}

/// SHA-256's round constants (FIPS 180-4, 4.2.2).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, reason = "used by the x86-64 kernels"))]
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

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
        let head = target.0;
        let target_head = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        Some(NonceSearch { midstate, block, words, target, target_head, kernel: Kernel::detect() })
    }

    /// The same search on `kernel`; `None` if this CPU can't run it.
    pub fn with_kernel(self, kernel: Kernel) -> Option<NonceSearch> {
        kernel.is_available().then_some(NonceSearch { kernel, ..self })
    }

    /// The kernel this search runs on.
    pub fn kernel(&self) -> Kernel {
        self.kernel
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
        let mut left = count;
        #[cfg(target_arch = "x86_64")]
        {
            let (midstate, words, head) = (self.midstate, self.words, self.target_head);
            // A kernel's candidate (its first word passes) is hashed again through sha2
            // before it counts.
            let mut is_hit = |nonce: u64| self.meets(&self.compress(nonce));
            // Both kernels search a whole number of their lanes; the rest is done below.
            type LaneSearch = fn(
                &[u32; 8],
                &[u32; 16],
                u64,
                u64,
                u32,
                &mut dyn FnMut(u64) -> bool,
            ) -> Option<Result<u64, u64>>;
            let kernel: Option<(u64, LaneSearch)> = match self.kernel {
                Kernel::Avx512 => Some((avx512::LANES, avx512::search)),
                Kernel::ShaNi => Some((sha_ni::LANES, sha_ni::search)),
                Kernel::Portable => None,
            };
            if let Some((lanes, lane_search)) = kernel {
                let whole = count - count % lanes;
                match lane_search(&midstate, &words, start, whole, head, &mut is_hit) {
                    Some(Ok(found)) => return Ok(found),
                    Some(Err(next)) => {
                        nonce = next;
                        left = count % lanes;
                    }
                    None => {}
                }
            }
        }
        for _ in 0..left {
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

/// The final state with `nonce` in the final `block`: the reference every kernel is checked
/// against, and how a kernel's candidate is confirmed.
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

    #[cfg(target_arch = "x86_64")]
    proptest::proptest! {
        #[test]
        fn every_sha_ni_lane_matches_sha2(
            state in proptest::prelude::any::<[u32; 8]>(),
            a in proptest::prelude::any::<[u32; 16]>(),
            b in proptest::prelude::any::<[u32; 16]>(),
        ) {
            let Some(lanes) = super::sha_ni::compress2(&state, &[a, b]) else {
                return Ok(()); // no SHA extensions on this CPU: the fallback is sha2 itself
            };
            for (lane, words) in lanes.iter().zip([a, b]) {
                let mut block = [0u8; 64];
                for (chunk, word) in block.chunks_exact_mut(4).zip(words) {
                    chunk.copy_from_slice(&word.to_be_bytes());
                }
                let mut reference = state;
                sha2::block_api::compress256(&mut reference, &[block]);
                proptest::prop_assert_eq!(*lane, reference);
            }
        }
    }

    /// The words of a final block, as the kernels take them (they ignore words 6 and 7, the
    /// nonce's).
    #[cfg(target_arch = "x86_64")]
    fn block_words(block: &[u8; 64]) -> [u32; 16] {
        let mut words = [0u32; 16];
        for (word, chunk) in words.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes(chunk.try_into().unwrap());
        }
        words
    }

    /// Runs `kernel` with a loose first-word filter (one lane in 16 passes) and a stricter
    /// hit rule (one in 256), and checks it against the one-nonce-at-a-time loop over
    /// sha2: the same first hit, only passing lanes asked about, in order.
    #[cfg(target_arch = "x86_64")]
    fn check_kernel(
        midstate: [u32; 8],
        block: [u8; 64],
        start: u64,
        count: u64,
        kernel: impl FnOnce(
            &[u32; 8],
            &[u32; 16],
            &mut dyn FnMut(u64) -> bool,
        ) -> Option<Result<u64, u64>>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        const HEAD: u32 = u32::MAX >> 4;
        const HIT: u32 = u32::MAX >> 8;
        let first = |nonce: u64| compress_nonce(&midstate, block, nonce)[0];
        let mut asked = Vec::new();
        let mut is_hit = |nonce: u64| {
            asked.push(nonce);
            first(nonce) <= HIT
        };
        let Some(found) = kernel(&midstate, &block_words(&block), &mut is_hit) else {
            return Ok(()); // this CPU lacks the kernel's instructions
        };
        let mut expected_asked = Vec::new();
        let mut expected = Err(start.wrapping_add(count));
        for i in 0..count {
            let nonce = start.wrapping_add(i);
            if first(nonce) <= HEAD {
                expected_asked.push(nonce);
                if first(nonce) <= HIT {
                    expected = Ok(nonce);
                    break;
                }
            }
        }
        proptest::prop_assert_eq!(found, expected);
        proptest::prop_assert_eq!(asked, expected_asked);
        Ok(())
    }

    #[cfg(target_arch = "x86_64")]
    proptest::proptest! {
        #[test]
        fn every_avx512_lane_matches_sha2(
            midstate in proptest::prelude::any::<[u32; 8]>(),
            block in proptest::prelude::any::<[u8; 64]>(),
            start in proptest::prop_oneof![
                proptest::prelude::any::<u64>(),
                // Across a carry into the high nonce word, and across the end of the range.
                proptest::prelude::Strategy::prop_map(0u64..16, |back| 0x1_0000_0000 - back),
                proptest::prelude::Strategy::prop_map(0u64..16, |back| u64::MAX - back),
            ],
        ) {
            let Some(lanes) = super::avx512::first_words(&midstate, &block_words(&block), start)
            else {
                return Ok(()); // no AVX-512 on this CPU: the other kernels are checked instead
            };
            for (lane, first) in (0u64..).zip(lanes) {
                let reference = compress_nonce(&midstate, block, start.wrapping_add(lane));
                proptest::prop_assert_eq!(first, reference[0], "lane {}", lane);
            }
        }

        #[test]
        fn the_avx512_search_finds_what_one_lane_finds(
            midstate in proptest::prelude::any::<[u32; 8]>(),
            block in proptest::prelude::any::<[u8; 64]>(),
            start in proptest::prelude::any::<u64>(),
            iterations in 0u64..40,
        ) {
            let count = iterations * super::avx512::LANES;
            check_kernel(midstate, block, start, count, |midstate, words, is_hit| {
                super::avx512::search(midstate, words, start, count, u32::MAX >> 4, is_hit)
            })?;
        }

        #[test]
        fn the_sha_ni_search_finds_what_one_lane_finds(
            midstate in proptest::prelude::any::<[u32; 8]>(),
            block in proptest::prelude::any::<[u8; 64]>(),
            start in proptest::prelude::any::<u64>(),
            iterations in 0u64..200,
        ) {
            let count = iterations * super::sha_ni::LANES;
            check_kernel(midstate, block, start, count, |midstate, words, is_hit| {
                super::sha_ni::search(midstate, words, start, count, u32::MAX >> 4, is_hit)
            })?;
        }

        #[test]
        fn the_search_finds_what_one_lane_finds(
            height in proptest::prelude::any::<u64>(),
            start in proptest::prelude::any::<u64>(),
            count in 0u64..5_000,
        ) {
            let header = BlockHeader { height, ..Params::devnet().genesis().header };
            let search = NonceSearch::new(&header).unwrap();
            let mut expected = Err(start.wrapping_add(count));
            for i in 0..count {
                let nonce = start.wrapping_add(i);
                if search.meets(&search.compress(nonce)) {
                    expected = Ok(nonce);
                    break;
                }
            }
            for kernel in [Kernel::Avx512, Kernel::ShaNi, Kernel::Portable] {
                let Some(on_kernel) = search.clone().with_kernel(kernel) else {
                    continue; // not on this CPU
                };
                proptest::prop_assert_eq!(on_kernel.search(start, count), expected, "{:?}", kernel);
            }
        }
    }

    #[test]
    fn solve_finds_a_nonce_that_meets_the_target() {
        let params = Params::devnet();
        let mut header = header(1, params.genesis_timestamp + 5, params.pow_limit);
        assert!(solve(&mut header, 100_000));
        assert!(pow_is_valid(&header, &params).is_ok());
        let mut impossible = header;
        impossible.bits = CompactTarget::from_consensus(0x0300_0001);
        impossible.nonce = 0;
        assert!(!solve(&mut impossible, 1_000));
        assert_eq!(impossible.nonce, 1_000);
    }
}
