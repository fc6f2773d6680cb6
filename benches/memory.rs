//! Peak memory of a node holding a long chain: mines BLOCKS (default 100,000) reward-only
//! blocks into a core `Node` and reads the process's peak resident size (Linux).
//!
//! `cargo bench -p gophercoin-benches --bench memory`

use gophercoin_core::{Node, Params, Signer};

fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let blocks: u64 = std::env::var("BLOCKS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let params = Params::devnet();
    let miner = gophercoin_benches::test_key().address();
    let before = peak_kib().unwrap_or(0);
    let mut node = Node::devnet();
    for height in 1..=blocks {
        // On schedule, so the difficulty stays at the devnet's easiest target.
        let now = params.genesis_timestamp + height * params.target_block_secs;
        let _ = node.mine_block(&miner, now).expect("mines");
        while node.poll_event().is_some() {}
    }
    let after = peak_kib().unwrap_or(0);
    let bytes_per_block = (after.saturating_sub(before) * 1024) as f64 / blocks as f64;
    println!(
        "{blocks} blocks: peak resident {:.1} MiB ({:.1} MiB before), {bytes_per_block:.0} bytes per block",
        after as f64 / 1024.0,
        before as f64 / 1024.0
    );
}
