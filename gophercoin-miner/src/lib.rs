//! # gophercoin-miner
//!
//! The GopherCoin nonce search at the speed of the hardware. Mining is not consensus: the
//! rules (what a valid proof of work is) are `gophercoin-core`'s, and the core's portable
//! [`pow::solve`] finds nonces for tests and small networks. This crate finds the same
//! nonces several times faster:
//!
//! - [`FastSearch`] runs a [`pow::NonceSearch`]'s midstate on the fastest [`Kernel`] this
//!   CPU has: sixteen nonces at a time in the lanes of AVX-512 registers, two at a time on
//!   the SHA extensions, or `sha2` one at a time; every candidate is confirmed through
//!   `sha2` ([`pow::NonceSearch::is_hit`]) before it is returned;
//! - [`solve`] is [`pow::solve`] on it;
//! - [`search_on_threads`] splits the nonce space between threads.
//!
//! The kernels are the only `unsafe` code of the project: each is a `#[target_feature]`
//! function called after the CPU was seen to have the feature.
//!
//! ```
//! use gophercoin_core::Params;
//!
//! let params = Params::devnet();
//! let mut header = params.genesis().header;
//! header.height = 1;
//! assert!(gophercoin_miner::solve(&mut header, 1_000_000));
//! assert!(header.check_pow(&params).is_ok());
//! ```
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod sha_ni;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gophercoin_core::{BlockHash, BlockHeader, pow};

/// The code a [`FastSearch`] compresses nonces with. [`Kernel::detect`] picks the fastest
/// one this CPU has; every kernel finds exactly the same nonces.
///
/// ```
/// use gophercoin_core::Params;
/// use gophercoin_miner::{FastSearch, Kernel};
///
/// let mut header = Params::devnet().genesis().header;
/// header.height = 1;
/// let search = FastSearch::new(&header).unwrap();
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

/// A nonce search over one header on a [`Kernel`]: the core's [`pow::NonceSearch`]
/// (midstate, final block, target) with the lanes of a SIMD kernel in front of it.
#[derive(Clone, Debug)]
pub struct FastSearch {
    search: pow::NonceSearch,
    kernel: Kernel,
}

impl FastSearch {
    /// Prepares a search over `header`'s nonces on [`Kernel::detect`]'s kernel; `None` if
    /// its target is not valid.
    pub fn new(header: &BlockHeader) -> Option<FastSearch> {
        let search = pow::NonceSearch::new(header)?;
        Some(FastSearch { search, kernel: Kernel::detect() })
    }

    /// The same search on `kernel`; `None` if this CPU can't run it.
    pub fn with_kernel(self, kernel: Kernel) -> Option<FastSearch> {
        kernel.is_available().then_some(FastSearch { kernel, ..self })
    }

    /// The kernel this search runs on.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Returns the header hash with this nonce.
    pub fn hash(&self, nonce: u64) -> BlockHash {
        self.search.hash(nonce)
    }

    /// Tries `count` nonces from `start`: `Ok(nonce)` for the first that meets the target,
    /// or `Err(next)` with the nonce after the last one tried; the same answer as
    /// [`pow::NonceSearch::search`], sooner.
    ///
    /// # Errors
    ///
    /// `Err(next)` when none of them does.
    pub fn search(&self, start: u64, count: u64) -> Result<u64, u64> {
        #[cfg(target_arch = "x86_64")]
        {
            let search = &self.search;
            // A kernel's candidate (its first word passes) is hashed again through sha2
            // before it counts.
            let mut is_hit = |nonce: u64| search.is_hit(nonce);
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
                let (midstate, words) = (search.midstate(), search.final_words());
                match lane_search(midstate, words, start, whole, search.target_head(), &mut is_hit)
                {
                    Some(Ok(found)) => return Ok(found),
                    Some(Err(next)) => return self.search.search(next, count % lanes),
                    None => {}
                }
            }
        }
        self.search.search(start, count)
    }
}

/// Searches nonces from `header.nonce` for at most `max_tries` hashes on the fastest
/// kernel: [`pow::solve`], sooner. On success the header's nonce is the one found and
/// `true` is returned; otherwise the nonce is left after the last one tried.
pub fn solve(header: &mut BlockHeader, max_tries: u64) -> bool {
    let Some(search) = FastSearch::new(header) else {
        return false;
    };
    let found = search.search(header.nonce, max_tries);
    pow::settle(header, found)
}

/// Searches `header`'s nonces on `threads` threads (at least one), each from its own share
/// of the nonce space, `chunk` nonces at a time, until one meets the target or `stop`
/// answers `true` (asked by each thread between chunks). Adds every hash tried to
/// `hashes`. Returns the solved header, or `None` if it stopped first.
pub fn search_on_threads(
    header: BlockHeader,
    threads: usize,
    chunk: u64,
    stop: &(dyn Fn() -> bool + Sync),
    hashes: &AtomicU64,
) -> Option<BlockHeader> {
    let threads = threads.max(1) as u64;
    let done = AtomicBool::new(false);
    let share = u64::MAX / threads;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let done = &done;
                scope.spawn(move || {
                    let mut header = header;
                    header.nonce = header.nonce.wrapping_add(i * share);
                    while !done.load(Ordering::Relaxed) && !stop() {
                        let start = header.nonce;
                        let hit = solve(&mut header, chunk);
                        hashes.fetch_add(
                            header.nonce.wrapping_sub(start) + u64::from(hit),
                            Ordering::Relaxed,
                        );
                        if hit {
                            done.store(true, Ordering::Relaxed);
                            return Some(header);
                        }
                    }
                    None
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok().flatten()).next()
    })
}

#[cfg(test)]
mod tests {
    use gophercoin_core::{CompactTarget, Params};

    use super::*;

    /// The final state with `nonce` in the final `block` (words 6 and 7), through `sha2`:
    /// the reference for every lane.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn compress_nonce(midstate: &[u32; 8], mut block: [u8; 64], nonce: u64) -> [u32; 8] {
        block[24..32].copy_from_slice(&nonce.to_be_bytes());
        let mut state = *midstate;
        sha2::block_api::compress256(&mut state, &[block]);
        state
    }

    #[cfg(target_arch = "x86_64")]
    proptest::proptest! {
        #[test]
        #[cfg_attr(not(cpu_has_sha_ni), ignore = "this CPU has no SHA extensions")]
        fn every_sha_ni_lane_matches_sha2(
            state in proptest::prelude::any::<[u32; 8]>(),
            a in proptest::prelude::any::<[u32; 16]>(),
            b in proptest::prelude::any::<[u32; 16]>(),
        ) {
            let lanes = crate::sha_ni::compress2(&state, &[a, b])
                .expect("the build saw the SHA extensions on this CPU");
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
        let found = kernel(&midstate, &block_words(&block), &mut is_hit)
            .expect("the build saw the kernel's instructions on this CPU");
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
        #[cfg_attr(not(cpu_has_avx512), ignore = "this CPU has no AVX-512")]
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
            let lanes = crate::avx512::first_words(&midstate, &block_words(&block), start)
                .expect("the build saw AVX-512 on this CPU");
            for (lane, first) in (0u64..).zip(lanes) {
                let reference = compress_nonce(&midstate, block, start.wrapping_add(lane));
                proptest::prop_assert_eq!(first, reference[0], "lane {}", lane);
            }
        }

        #[test]
        #[cfg_attr(not(cpu_has_avx512), ignore = "this CPU has no AVX-512")]
        fn the_avx512_search_finds_what_one_lane_finds(
            midstate in proptest::prelude::any::<[u32; 8]>(),
            block in proptest::prelude::any::<[u8; 64]>(),
            start in proptest::prelude::any::<u64>(),
            iterations in 0u64..40,
        ) {
            let count = iterations * crate::avx512::LANES;
            check_kernel(midstate, block, start, count, |midstate, words, is_hit| {
                crate::avx512::search(midstate, words, start, count, u32::MAX >> 4, is_hit)
            })?;
        }

        #[test]
        #[cfg_attr(not(cpu_has_sha_ni), ignore = "this CPU has no SHA extensions")]
        fn the_sha_ni_search_finds_what_one_lane_finds(
            midstate in proptest::prelude::any::<[u32; 8]>(),
            block in proptest::prelude::any::<[u8; 64]>(),
            start in proptest::prelude::any::<u64>(),
            iterations in 0u64..200,
        ) {
            let count = iterations * crate::sha_ni::LANES;
            check_kernel(midstate, block, start, count, |midstate, words, is_hit| {
                crate::sha_ni::search(midstate, words, start, count, u32::MAX >> 4, is_hit)
            })?;
        }

        #[test]
        fn the_search_finds_what_one_lane_finds(
            height in proptest::prelude::any::<u64>(),
            start in proptest::prelude::any::<u64>(),
            count in 0u64..5_000,
        ) {
            let header = BlockHeader { height, ..Params::devnet().genesis().header };
            let search = FastSearch::new(&header).unwrap();
            // The core's portable search is the reference.
            let expected = pow::NonceSearch::new(&header).unwrap().search(start, count);
            for kernel in [Kernel::Avx512, Kernel::ShaNi, Kernel::Portable] {
                let Some(on_kernel) = search.clone().with_kernel(kernel) else {
                    continue; // not on this CPU
                };
                proptest::prop_assert_eq!(on_kernel.search(start, count), expected, "{:?}", kernel);
            }
        }
    }

    #[test]
    fn solve_finds_what_the_portable_search_finds() {
        let params = Params::devnet();
        let mut header = params.genesis().header;
        header.height = 1;
        let mut portable = header;
        assert!(solve(&mut header, 1_000_000));
        assert!(pow::solve(&mut portable, 1_000_000));
        assert_eq!(header.nonce, portable.nonce);
        assert!(header.check_pow(&params).is_ok());
        let mut impossible = header;
        impossible.bits = CompactTarget::from_consensus(0x0300_0001);
        impossible.nonce = 0;
        assert!(!solve(&mut impossible, 1_000));
        assert_eq!(impossible.nonce, 1_000);
    }

    #[test]
    fn every_thread_count_finds_a_valid_nonce() {
        let params = Params::devnet();
        let mut header = params.genesis().header;
        header.height = 1;
        for threads in [1, 2, 3] {
            let hashes = AtomicU64::new(0);
            let solved = search_on_threads(header, threads, 1 << 12, &|| false, &hashes)
                .expect("the devnet target is met within a few thousand tries");
            assert!(solved.check_pow(&params).is_ok());
            assert!(hashes.load(Ordering::Relaxed) > 0);
        }
    }

    #[test]
    fn stop_ends_a_search_that_cannot_succeed() {
        let mut header = Params::devnet().genesis().header;
        header.bits = CompactTarget::from_consensus(0x0300_0001); // no nonce meets it
        let hashes = AtomicU64::new(0);
        let stop = || hashes.load(Ordering::Relaxed) >= 1 << 16;
        assert_eq!(search_on_threads(header, 2, 1 << 12, &stop, &hashes), None);
        assert!(hashes.load(Ordering::Relaxed) >= 1 << 16);
    }
}

/// The crate README's code examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
