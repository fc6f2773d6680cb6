//! The attacks on the consensus rules for the long run, against a real node process on
//! loopback: what each costs the node, in resident memory or in CPU time per request, read
//! from `/proc/PID` (Linux).
//!
//! - `side`: SIDE_BLOCKS (1,500) blocks at height 1, beside the node's own, each carrying
//!   the same 999 validly signed transfers from a wallet with nothing: the node's resident
//!   size before and after, and its peak.
//! - `bad-signature`: one valid-PoW block with 998 good signatures and a bad one last,
//!   sent REPLAYS (1,000) times: node CPU per request.
//! - `rejected-tip`: a node holding TIP_BLOCKS (100,000) blocks; a block on its tip with a
//!   validly signed transfer from a wallet with nothing (refused when connected), sent
//!   REPLAYS times: node CPU per request.
//! - `flood`: one funded wallet sends 1-unit, zero-fee transfers to itself until the node
//!   refuses them, then another wallet sends a paying transfer: is it accepted, and mined
//!   in the next block?
//!
//! The node is the release `gophercoin` binary (GOPHERCOIN_BIN, default
//! `target/release/gophercoin`): `bash benches/compare/attacks.sh` builds it and runs this.
//! Scenarios can be picked by name as arguments.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use gophercoin_benches::{NodeProcess, block_on, json_of, now};
use gophercoin_core::{
    Amount, Node, Params, RsaSigner, Signature, SignedTransaction, Signer, Transaction, UnixTime,
};
use serde_json::json;

fn main() {
    let bin = std::env::var("GOPHERCOIN_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/gophercoin").into()
    });
    let bin = PathBuf::from(bin);
    if !bin.exists() {
        eprintln!(
            "{} is missing: `cargo build --release -p gophercoin-cli` first, or run \
             benches/compare/attacks.sh",
            bin.display()
        );
        return;
    }
    let picked: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |name: &str| picked.is_empty() || picked.iter().any(|p| p == name);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let attacker = gophercoin_benches::test_key();
    if wants("side") {
        runtime.block_on(side_blocks(&bin, &attacker));
    }
    if wants("bad-signature") {
        runtime.block_on(bad_signature(&bin, &attacker));
    }
    if wants("rejected-tip") {
        runtime.block_on(rejected_tip(&bin, &attacker));
    }
    if wants("flood") {
        runtime.block_on(flood(&bin, &attacker));
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `count` transfers of 1 unit from `from` (who has nothing) to itself, signed.
fn unfunded_transfers(from: &RsaSigner, count: u64) -> Vec<SignedTransaction> {
    let params = Params::devnet();
    (0..count)
        .map(|nonce| {
            Transaction {
                chain_id: params.chain_id,
                sender: from.address(),
                recipient: from.address(),
                amount: Amount::positive(1).expect("positive"),
                fee: Amount::ZERO,
                nonce,
            }
            .sign(from)
            .expect("signs")
        })
        .collect()
}

async fn side_blocks(bin: &Path, attacker: &RsaSigner) {
    let count = env_or("SIDE_BLOCKS", 1_500);
    let params = Params::devnet();
    let node = NodeProcess::start(bin, None, &[]);
    node.wait_up().await;
    assert_eq!(node.get("/mine").await.0, 200, "the node mines block 1");
    let transfers = unfunded_transfers(attacker, 999);
    let genesis = params.genesis().header;
    let start_rss = node.status_mib("VmRSS:");
    let mut statuses = std::collections::BTreeMap::<String, u64>::new();
    let started = Instant::now();
    for i in 0..count {
        let block =
            block_on(&genesis, params.pow_limit, genesis.timestamp + 1 + i, attacker, &transfers);
        let (status, body) = node.post("/blocks", json_of(&block)).await;
        let kind =
            body["error"].as_str().map_or_else(|| status.to_string(), |k| format!("{status} {k}"));
        *statuses.entry(kind).or_default() += 1;
    }
    let elapsed = started.elapsed();
    let (status, health) = node.get("/health").await;
    assert_eq!(status, 200, "the node is still up");
    println!(
        "side: {count} side blocks of 999 transfers at height 1 in {:.1} s; answers {statuses:?}; \
         node resident {start_rss:.1} MiB before, {:.1} MiB after (+{:.1} MiB), peak {:.1} MiB; \
         height {}",
        elapsed.as_secs_f64(),
        node.status_mib("VmRSS:"),
        node.status_mib("VmRSS:") - start_rss,
        node.status_mib("VmHWM:"),
        health["height"],
    );
}

async fn bad_signature(bin: &Path, attacker: &RsaSigner) {
    let replays = env_or("REPLAYS", 1_000);
    let params = Params::devnet();
    let node = NodeProcess::start(bin, None, &[]);
    node.wait_up().await;
    let mut transfers = unfunded_transfers(attacker, 999);
    let last = transfers.last_mut().expect("999 of them");
    let mut signature = last.signature.as_bytes().to_vec();
    signature[7] ^= 1;
    last.signature = Signature::from_bytes(signature).expect("same length");
    let genesis = params.genesis().header;
    let block = block_on(&genesis, params.pow_limit, genesis.timestamp + 1, attacker, &transfers);
    let body = json_of(&block);
    let cpu = node.cpu_secs();
    let (status, answer) = node.post("/blocks", body.clone()).await;
    let first = node.cpu_secs() - cpu;
    assert_eq!(status, 422, "{answer}");
    let cpu = node.cpu_secs();
    let started = Instant::now();
    for _ in 0..replays {
        let (status, answer) = node.post("/blocks", body.clone()).await;
        assert_eq!(answer["error"], "bad_signature", "{status}");
    }
    let per_request = (node.cpu_secs() - cpu) / replays as f64;
    println!(
        "bad-signature: a {:.2} MB block, 998 good signatures and a bad one: the first costs {:.1} ms \
         of node CPU, each of {replays} replays {:.3} ms ({:.1} s in all)",
        body.len() as f64 / 1e6,
        first * 1e3,
        per_request * 1e3,
        started.elapsed().as_secs_f64(),
    );
}

async fn rejected_tip(bin: &Path, attacker: &RsaSigner) {
    let replays = env_or("REPLAYS", 1_000);
    let blocks = env_or("TIP_BLOCKS", 100_000);
    let params = Params::devnet();
    let dir = tempfile::tempdir().expect("a temporary directory");
    // The chain, mined in-process on schedule and written to the node's store.
    let started = Instant::now();
    let miner = gophercoin_benches::other_key().address();
    let mut chain = Node::devnet();
    let store = gophercoin_http::store::Store::open(
        &dir.path().join("chain.redb"),
        params.genesis().hash(),
    )
    .expect("a new store");
    let mut batch = vec![];
    for height in 1..=blocks {
        let at = params.genesis_timestamp + height * params.target_block_secs;
        let _ = chain.mine_block(&miner, UnixTime::from_secs(at)).expect("mines");
        while chain.poll_event().is_some() {}
        batch.push(gophercoin_http::store::StoreOp::Connect(Box::new(
            chain.chain().tip().to_block(),
        )));
        if batch.len() == 5_000 {
            store.apply(&batch).expect("writes");
            batch.clear();
        }
    }
    store.apply(&batch).expect("writes");
    drop(store);
    let node = NodeProcess::start(bin, Some(dir.path()), &[]);
    node.wait_up().await;
    println!(
        "rejected-tip: a node of {blocks} blocks, made and started in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let tip = *chain.tip();
    let transfer = unfunded_transfers(attacker, 1);
    // The reward to another wallet, so the attacker's transfer overdraws when connected.
    let block = block_on(&tip, tip.bits, now(), &gophercoin_benches::other_key(), &transfer);
    let body = json_of(&block);
    let cpu = node.cpu_secs();
    let (status, answer) = node.post("/blocks", body.clone()).await;
    let first = node.cpu_secs() - cpu;
    assert_eq!(answer["error"], "overdraft", "{status} {answer}");
    let cpu = node.cpu_secs();
    for _ in 0..replays {
        let (status, answer) = node.post("/blocks", body.clone()).await;
        assert_eq!(answer["error"], "overdraft", "{status}");
    }
    let per_request = (node.cpu_secs() - cpu) / replays as f64;
    println!(
        "rejected-tip: a {} byte block on the tip, refused when connected: the first costs \
         {:.2} ms of node CPU, each of {replays} replays {:.3} ms",
        body.len(),
        first * 1e3,
        per_request * 1e3,
    );
}

async fn flood(bin: &Path, attacker: &RsaSigner) {
    let sends = env_or("FLOOD", 5_000);
    let params = Params::devnet();
    let honest = gophercoin_benches::other_key();
    let address = attacker.address().to_string();
    let node = NodeProcess::start(bin, None, &["--miner-address", &address]);
    node.wait_up().await;
    for _ in 0..3 {
        assert_eq!(node.get("/mine").await.0, 200);
    }
    let pay = |from: &RsaSigner, to: &RsaSigner, units: u64, fee: u64, nonce: u64| {
        let tx = Transaction {
            chain_id: params.chain_id,
            sender: from.address(),
            recipient: to.address(),
            amount: Amount::positive(units).expect("positive"),
            fee: Amount::from_units(fee).expect("in range"),
            nonce,
        }
        .sign(from)
        .expect("signs");
        (tx.id(), serde_json::to_vec(&tx).expect("serialises"))
    };
    let (_, funding) = pay(attacker, &honest, 10 * Amount::UNITS_PER_COIN, 0, u64::MAX);
    assert_eq!(node.post("/transactions/new", funding).await.0, 201);
    assert_eq!(node.get("/mine").await.0, 200);
    let bodies: Vec<_> = (0..sends).map(|nonce| pay(attacker, attacker, 1, 0, nonce).1).collect();
    let mut statuses = std::collections::BTreeMap::<String, u64>::new();
    let started = Instant::now();
    for body in bodies {
        let (status, answer) = node.post("/transactions/new", body).await;
        let kind = answer["error"]
            .as_str()
            .map_or_else(|| status.to_string(), |k| format!("{status} {k}"));
        *statuses.entry(kind).or_default() += 1;
    }
    let flooded = started.elapsed();
    let (id, paying) = pay(&honest, attacker, Amount::UNITS_PER_COIN, 1_000, 1);
    let (status, answer) = node.post("/transactions/new", paying).await;
    let (_, mined) = node.get("/mine").await;
    let included = mined["transactions"]
        .as_array()
        .is_some_and(|txs| txs.iter().any(|tx| tx["id"] == json!(id.to_string())));
    println!(
        "flood: {sends} 1-unit zero-fee self-transfers from one wallet in {:.1} s: {statuses:?}; \
         then a paying transfer (fee 1,000 units): {status} {}, in the next block: {included}",
        flooded.as_secs_f64(),
        answer["message"].as_str().unwrap_or_default(),
    );
}
