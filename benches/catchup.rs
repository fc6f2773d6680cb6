//! A fresh node catching up over the peer protocol, against release nodes on loopback: a
//! source node holds a chain, and a new node started with only `--peer SOURCE` fetches it
//! (locator pages from the fork point, bounded by bytes and blocks). Reported: how long
//! until it holds the source's tip, its peak resident memory, its open sockets at the
//! end, and how its own API answered meanwhile (`GET /health` every 10 ms: p50, p99 and
//! the slowest answer).
//!
//! - `heavy`: 40 blocks of 999 signed transfers (about 75 MB of JSON).
//! - `long`: BLOCKS blocks of rewards only (default 1,000,000), past the 100,000 blocks
//!   the old HTTP sync refused.
//! - `orphans`: 1,000 `POST /blocks` whose parent is unknown, each naming a registered
//!   peer in the `X-GopherCoin-Origin` header the HTTP relay once honoured: how many
//!   catch-ups (requests for its chain) the peer saw, and the node's sockets and memory
//!   after.
//!
//! `cargo build --release -p gophercoin-cli && cargo bench -p gophercoin-benches --bench
//! catchup -- [heavy] [long] [orphans]`; the chains are built once, into
//! `target/limits-bench`. The node is GOPHERCOIN_BIN (default `target/release/gophercoin`).

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use gophercoin_benches::{NodeProcess, build_heavy_chain, build_long_chain, test_key};
use gophercoin_core::Signer as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn main() {
    let bin = std::env::var("GOPHERCOIN_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/gophercoin").into()
    });
    let bin = PathBuf::from(bin);
    if !bin.exists() {
        eprintln!("{} is missing: cargo build --release -p gophercoin-cli", bin.display());
        return;
    }
    let picked: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |name: &str| picked.is_empty() || picked.iter().any(|p| p == name);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let cache = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/limits-bench"));
    std::fs::create_dir_all(&cache).expect("a cache directory");
    let key = test_key();
    if wants("heavy") {
        let data = cache.join("heavy-chain");
        if !data.join("chain.redb").exists() {
            build_heavy_chain(&data, &key);
        }
        runtime.block_on(catch_up(&bin, &data, "40 blocks of 999 transfers"));
    }
    if wants("long") {
        let blocks: u64 =
            std::env::var("BLOCKS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
        let data = cache.join(format!("long-chain-{blocks}"));
        if !data.join("chain.redb").exists() {
            build_long_chain(&data, &key, blocks);
        }
        runtime.block_on(catch_up(&bin, &data, &format!("{blocks} blocks")));
    }
    if wants("orphans") {
        runtime.block_on(orphans(&bin));
    }
}

/// Starts a source node on a copy of `data`, then a fresh node given only the source, and
/// measures the fresh node's catch-up.
async fn catch_up(bin: &Path, data: &Path, what: &str) {
    let copy = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(data.join("chain.redb"), copy.path().join("chain.redb")).expect("copies");
    let miner = test_key().address().to_string();
    let loading = Instant::now();
    let source = NodeProcess::start(bin, Some(copy.path()), &["--miner-address", &miner]);
    source.wait_up().await;
    let height = source.get("/health").await.1["height"].as_u64().expect("a height");
    println!("{what}: the source node loaded {height} blocks in {:.1} s", secs(loading));
    let fresh = NodeProcess::start(bin, None, &["--peer", &source.url]);
    fresh.wait_up().await;
    let started = Instant::now();
    let mut answers = vec![];
    let mut reached = 0;
    while started.elapsed() < Duration::from_secs(1_800) {
        let asked = Instant::now();
        let (status, health) = fresh.get("/health").await;
        answers.push(asked.elapsed());
        if status == 200 {
            reached = health["height"].as_u64().unwrap_or(0);
            if reached >= height {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = secs(started);
    answers.sort_unstable();
    let at = |p: f64| answers[((answers.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "{what}: caught up to {reached} of {height} in {took:.1} s ({:.0} blocks/s); \
         peak RSS {:.0} MiB, {} sockets open; /health meanwhile p50 {:.1} ms, p99 {:.1} ms, \
         slowest {:.1} ms ({} answers)",
        reached as f64 / took,
        fresh.status_mib("VmHWM:"),
        sockets(&fresh),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*answers.last().expect("asked once at least")),
        answers.len(),
    );
}

/// 1,000 blocks with an unknown parent, each naming a registered peer as where it came
/// from: how many times the node asked that peer for its chain.
async fn orphans(bin: &Path) {
    let miner = test_key().address().to_string();
    let source = NodeProcess::start(bin, None, &["--miner-address", &miner]);
    source.wait_up().await;
    for _ in 0..2 {
        source.get("/mine").await;
    }
    let orphan = source.get("/chain").await.1["chain"][2].to_string();
    // A peer that counts requests for its chain and answers each with an empty one.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let peer = format!("http://{}", listener.local_addr().expect("an address"));
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let read = socket.read(&mut request).await.unwrap_or(0);
                if request[..read].starts_with(b"GET /chain") {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                let body = r#"{"chain":[],"length":0}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            });
        }
    });
    let node = NodeProcess::start(bin, None, &[]);
    node.wait_up().await;
    let register = serde_json::json!({ "nodes": [peer] }).to_string().into_bytes();
    assert_eq!(node.post("/nodes/register", register).await.0, 201);
    let before = node.status_mib("VmRSS:");
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..1_000 {
        let answer = node
            .http
            .post(format!("{}/blocks", node.url))
            .header("content-type", "application/json")
            .header("x-gophercoin-origin", &peer)
            .body(orphan.clone())
            .send()
            .await
            .expect("answers");
        if answer.status().as_u16() == 422 {
            refused += 1;
        }
    }
    let took = secs(started);
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "1,000 POST /blocks with an unknown parent naming a registered peer: {refused} answered \
         422 in {took:.1} s; the peer was asked for its chain {} times; the node has {} sockets \
         open, RSS {before:.0} → {:.0} MiB",
        asked.load(Ordering::SeqCst),
        sockets(&node),
        node.status_mib("VmRSS:"),
    );
}

/// The node's open sockets (connections, the listener among them).
fn sockets(node: &NodeProcess) -> usize {
    let fds = std::fs::read_dir(format!("/proc/{}/fd", node.child.id())).expect("a Linux /proc");
    fds.filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
