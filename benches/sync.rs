//! Validating and connecting a peer's chain: blocks of signed transfers checked on every
//! core (as the HTTP node does), against the single-core signature verification rate.
//!
//! `cargo bench -p gophercoin-benches --bench sync` (BLOCKS, default 10,000, TXS per
//! block, default 10, and ROUNDS of measurement, default 3); the node's verifier for the
//! build (`gophercoin_http::verifier`), so `--features aws-lc` measures AWS-LC's.

use std::time::Instant;

use gophercoin_core::{
    Block, IdentifiedTransaction, MostWork, Node, Params, Signer, UnixTime, VerifiedTransaction,
    Verifier,
};

fn main() {
    let blocks: u64 = std::env::var("BLOCKS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let per_block: u64 = std::env::var("TXS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let rounds: usize =
        std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let key = gophercoin_benches::test_key();
    let params = Params::devnet();
    // The yardstick verifies the same sample again and again: no signature cache.
    let verifier = gophercoin_http::verifier(&params).without_signature_cache();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // Signing is the slow part of building the chain: sign every transfer first, on every
    // core, then mine them into blocks in nonce order.
    let started = Instant::now();
    let count = blocks.saturating_sub(1) * per_block;
    let signed: Vec<_> = std::thread::scope(|scope| {
        let chunk = count.div_ceil(cores as u64).max(1);
        let workers: Vec<_> = (0..count)
            .step_by(usize::try_from(chunk).expect("fits"))
            .map(|first| {
                let (key, params) = (&key, &params);
                scope.spawn(move || {
                    (first..count.min(first + chunk))
                        .map(|nonce| gophercoin_benches::self_payment(key, params, nonce))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a signer finished")).collect()
    });
    let mut source = Node::devnet();
    let mut now = params.genesis_timestamp;
    let mut pending = signed.into_iter();
    for _ in 0..blocks {
        now += params.target_block_secs;
        if source.height() > 0 {
            for tx in pending.by_ref().take(usize::try_from(per_block).expect("fits")) {
                source.handle_transaction(tx).expect("accepted");
            }
        }
        let _ = source.mine_block(&key.address(), UnixTime::from_secs(now)).expect("mines");
        while source.poll_event().is_some() {}
    }
    let chain: Vec<Block> = source.chain().main_chain_from(0).map(|b| b.to_block()).collect();
    let transfers: Vec<_> =
        source.chain().main_chain_from(1).flat_map(|b| b.transfers().to_vec()).collect();
    println!(
        "built {} blocks with {} transfers in {:.1} s",
        chain.len() - 1,
        transfers.len(),
        started.elapsed().as_secs_f64()
    );

    // Single-core signature verification over a sample, the yardstick; measured before and
    // after each round's syncs, since a VM's speed drifts from one second to the next.
    let sample = &transfers[..transfers.len().min(20_000)];
    let verify_all = |txs: &[VerifiedTransaction]| {
        for tx in txs {
            let bytes = tx.transaction().signing_bytes();
            verifier
                .verify(&tx.transaction().sender, &bytes, &tx.signed().signature)
                .expect("verifies");
        }
    };
    let verify_rate = || {
        let started = Instant::now();
        verify_all(sample);
        sample.len() as f64 / started.elapsed().as_secs_f64()
    };
    // Every core verifying signatures and nothing else: what the cores can give.
    let all_cores_rate = || {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for part in sample.chunks(sample.len().div_ceil(cores)) {
                scope.spawn(|| verify_all(part));
            }
        });
        sample.len() as f64 / started.elapsed().as_secs_f64()
    };

    println!(
        "{:>5} {:>15} {:>12} {:>22} {:>30}",
        "round",
        "verify 1 core/s",
        format!("{cores} cores/s"),
        "sync 1 core/s (ratio)",
        format!("sync {cores} cores/s (ratio)")
    );
    let mut ratios = (vec![], vec![]);
    for round in 1..=rounds {
        let before = verify_rate();
        let all = all_cores_rate();

        // One core, everything: Node::handle_chain, with the verifier the yardstick measures.
        let verifier = gophercoin_http::verifier(&params).without_signature_cache();
        let mut node = Node::new(params.clone(), verifier, MostWork).expect("valid parameters");
        let started = Instant::now();
        let _ = node.handle_chain(chain.clone(), UnixTime::from_secs(now)).expect("adopted");
        let single = transfers.len() as f64 / started.elapsed().as_secs_f64();

        // Every core for the blocks' own checks, then the node: what the HTTP node does.
        // A fresh verifier each round: its signature cache would remember the last round's.
        // The yardstick verifies the same sample again and again: no signature cache.
        let verifier = gophercoin_http::verifier(&params).without_signature_cache();
        let mut node = Node::new(params.clone(), verifier, MostWork).expect("valid parameters");
        let checker = node.checker();
        let started = Instant::now();
        let unknown = node.unknown_blocks(chain.clone()).expect("links up");
        let pending = |tx: &IdentifiedTransaction| node.mempool().get(&tx.id()).cloned();
        let checked =
            gophercoin_http::check_blocks_in_parallel(unknown, &checker, pending).expect("valid");
        let _ = node.handle_checked_chain(checked, UnixTime::from_secs(now)).expect("adopted");
        let parallel = transfers.len() as f64 / started.elapsed().as_secs_f64();

        let one = (before + verify_rate()) / 2.0;
        let (single_ratio, parallel_ratio) = (single / one, parallel / (cores as f64 * one));
        ratios.0.push(single_ratio);
        ratios.1.push(parallel_ratio);
        println!(
            "{round:>5} {one:>15.0} {all:>12.0} {single:>14.0} ({:>3.0}%) {parallel:>22.0} ({:>3.0}%)",
            100.0 * single_ratio,
            100.0 * parallel_ratio
        );
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!(
        "median: chain sync on one core {:.0}% of its verify rate; on {cores} cores {:.0}% of {cores} × the one-core verify rate",
        100.0 * median(&mut ratios.0),
        100.0 * median(&mut ratios.1)
    );
}
