//! Validating and connecting a peer's chain: blocks of signed transfers checked on every
//! core (as the HTTP node does), against the single-core signature verification rate.
//!
//! `cargo bench -p gophercoin-benches --bench sync` (BLOCKS, default 10,000, and TXS per
//! block, default 10).

use std::time::Instant;

use gophercoin_core::{Amount, Block, Node, Params, RsaVerifier, Signer, Transaction, Verifier};

fn main() {
    let blocks: u64 = std::env::var("BLOCKS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let per_block: u64 = std::env::var("TXS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let key = gophercoin_benches::test_key();
    let params = Params::devnet();
    let verifier = RsaVerifier::new(&params);

    let started = Instant::now();
    let mut source = Node::devnet();
    let mut now = params.genesis_timestamp;
    let mut nonce = 0;
    for _ in 0..blocks {
        now += params.target_block_secs;
        if source.height() > 0 {
            for _ in 0..per_block {
                let tx = Transaction {
                    chain_id: params.chain_id,
                    sender: key.address(),
                    recipient: key.address(),
                    amount: Amount::positive(1).expect("positive"),
                    nonce,
                };
                nonce += 1;
                source.handle_transaction(tx.sign(&key).expect("signs")).expect("accepted");
            }
        }
        let _ = source.mine_block(&key.address(), now).expect("mines");
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

    // The single-core signature verification rate.
    let started = Instant::now();
    for tx in &transfers {
        let bytes = tx.transaction().signing_bytes();
        verifier
            .verify(&tx.transaction().sender, &bytes, &tx.signed().signature)
            .expect("verifies");
    }
    let verify_rate = transfers.len() as f64 / started.elapsed().as_secs_f64();

    // Every core verifying signatures and nothing else: what the cores can give.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in transfers.chunks(transfers.len().div_ceil(cores)) {
            let verifier = &verifier;
            scope.spawn(move || {
                for tx in part {
                    let bytes = tx.transaction().signing_bytes();
                    verifier
                        .verify(&tx.transaction().sender, &bytes, &tx.signed().signature)
                        .expect("verifies");
                }
            });
        }
    });
    let all_cores_rate = transfers.len() as f64 / started.elapsed().as_secs_f64();

    // One core, everything: Node::handle_chain.
    let mut node = Node::devnet();
    let started = Instant::now();
    let _ = node.handle_chain(chain.clone(), now).expect("adopted");
    let single = transfers.len() as f64 / started.elapsed().as_secs_f64();

    // Every core for the blocks' own checks, then the node: what the HTTP node does.
    let mut node = Node::devnet();
    let started = Instant::now();
    let unknown = node.unknown_blocks(chain).expect("links up");
    let checked =
        gophercoin_http::state::check_blocks_in_parallel(unknown, &verifier, &params, &[])
            .expect("valid");
    let _ = node.handle_checked_chain(checked, now).expect("adopted");
    let parallel = transfers.len() as f64 / started.elapsed().as_secs_f64();

    println!("signature verification, one core: {verify_rate:.0} /s");
    println!(
        "signature verification, {cores} cores: {all_cores_rate:.0} /s ({:.2}x one core)",
        all_cores_rate / verify_rate
    );
    println!(
        "chain sync, one core (Node::handle_chain): {single:.0} transfers/s ({:.0}% of one core's verify rate)",
        100.0 * single / verify_rate
    );
    println!(
        "chain sync, {cores} cores (check_blocks_in_parallel + handle_checked_chain): {parallel:.0} transfers/s ({:.0}% of {cores} × the verify rate, {:.0}% of the {cores}-core verify rate)",
        100.0 * parallel / (cores as f64 * verify_rate),
        100.0 * parallel / all_cores_rate
    );
}
