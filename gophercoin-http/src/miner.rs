//! The nonce search on several threads: the core owns the search (`pow::solve` and its
//! kernels), the adapter owns the threads. The node's `/mine` and the CLI's external miner
//! both use it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gophercoin_core::{BlockHeader, pow};

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
                        let hit = pow::solve(&mut header, chunk);
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

    #[test]
    fn every_thread_count_finds_a_valid_nonce() {
        let params = Params::devnet();
        let mut header = params.genesis().header;
        header.height = 1;
        for threads in [1, 2, 3] {
            let hashes = AtomicU64::new(0);
            let solved = search_on_threads(header, threads, 1 << 12, &|| false, &hashes)
                .expect("the devnet target is met within a few thousand tries");
            assert!(pow::pow_is_valid(&solved, &params).is_ok());
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
