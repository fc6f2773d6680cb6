//! Peak memory of a node holding a long chain: mines BLOCKS (default 100,000) reward-only
//! blocks into a core `Node` and reads the process's peak resident size (Linux). Then a
//! second node takes the same chain as a peer's would arrive, each block decoded from its
//! bytes, and the growth of the process's resident size is that node's footprint.
//!
//! `cargo bench -p gophercoin-benches --bench memory`

use gophercoin_core::{Node, Params, Signer, UnixTime};

/// A line of /proc/self/status, in KiB: `VmHWM:` (the peak) or `VmRSS:` (now).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn peak_kib() -> Option<u64> {
    status_kib("VmHWM:")
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
        let _ = node.mine_block(&miner, UnixTime::from_secs(now)).expect("mines");
        while node.poll_event().is_some() {}
    }
    let after = peak_kib().unwrap_or(0);
    let bytes_per_block = (after.saturating_sub(before) * 1024) as f64 / blocks as f64;
    println!(
        "{blocks} blocks: peak resident {:.1} MiB ({:.1} MiB before), {bytes_per_block:.0} bytes per block",
        after as f64 / 1024.0,
        before as f64 / 1024.0
    );

    let encoded: Vec<Vec<u8>> = node
        .chain()
        .main_chain_from(1)
        .map(|b| gophercoin_core::Block::encode(&b.to_block()))
        .collect();
    let before = status_kib("VmRSS:").unwrap_or(0);
    let mut synced = Node::devnet();
    let end = params.genesis_timestamp + (blocks + 1) * params.target_block_secs;
    for bytes in encoded.chunks(1_000) {
        let chain = bytes
            .iter()
            .map(|b| gophercoin_core::Block::decode(b, b.len()).expect("decodes"))
            .collect();
        let _ = synced.handle_chain(chain, UnixTime::from_secs(end)).expect("adopted");
        while synced.poll_event().is_some() {}
    }
    assert_eq!(synced.height(), blocks);
    let grown = status_kib("VmRSS:").unwrap_or(0).saturating_sub(before);
    println!(
        "the same chain from a peer, decoded block by block: the second node grew the process \
         by {:.1} MiB, {:.0} bytes per block",
        grown as f64 / 1024.0,
        (grown * 1024) as f64 / blocks as f64
    );
}
