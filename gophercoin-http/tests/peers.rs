//! Networks of real nodes on loopback: convergence by relay, fork resolution, restarts,
//! and hostile peers served by in-test HTTP servers.

mod common;

use std::time::{Duration, Instant};

use common::*;
use gophercoin_core::{Amount, Params, Signer, UnixTime};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_converge_by_relay_alone() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = vec![];
    for (i, dir) in dirs.iter().enumerate() {
        let miner = key(["alice", "bob", "carol"][i]).address();
        nodes.push(TestNode::start(config(dir.path(), Some(miner))).await);
    }
    for node in &nodes {
        let others: Vec<&TestNode> = nodes.iter().filter(|n| n.url != node.url).collect();
        node.register(&others).await;
    }
    // Blocks mined on different nodes, one after the other, reach everyone.
    for round in 0..2 {
        for (i, node) in nodes.iter().enumerate() {
            node.mine().await;
            let height = (round * 3 + i + 1) as u64;
            eventually("every node has the new block", 200, || async {
                let mut tips = vec![];
                for n in &nodes {
                    tips.push((n.height().await, n.tip().await));
                }
                tips.iter().all(|t| t.0 == height && t.1 == tips[0].1)
            })
            .await;
        }
    }
    // A transaction submitted to one node reaches every mempool.
    let alice = key("alice");
    let tx = pay(&alice, &key("dave"), 7, 11);
    let (status, _) = nodes[0].post("/transactions/new", &serde_json::to_value(&tx).unwrap()).await;
    assert_eq!(status, 201);
    eventually("every mempool has the transaction", 200, || async {
        let mut all = true;
        for n in &nodes {
            all &= n.get("/mempool").await.1["count"] == 1;
        }
        all
    })
    .await;
    nodes[2].mine().await;
    eventually("the transaction is mined everywhere", 200, || async {
        let mut all = true;
        for n in &nodes {
            all &= n.balance(&key("dave").address()).await == 7
                && n.get("/mempool").await.1["count"] == 0;
        }
        all
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_resolves_to_the_heavier_chain_and_returns_the_losers_transactions() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let alice = key("alice");
    let a = TestNode::start(config(dirs[0].path(), Some(alice.address()))).await;
    let b = TestNode::start(config(dirs[1].path(), Some(key("bob").address()))).await;
    // Shared history: two blocks paying alice, handed to b through POST /blocks; the
    // nodes don't know each other yet, so nothing is relayed.
    a.mine().await;
    a.mine().await;
    let (_, shared) = a.get("/chain").await;
    for block in &shared["chain"].as_array().unwrap()[1..] {
        assert_eq!(b.post("/blocks", block).await.0, 201);
    }
    assert_eq!(b.tip().await, a.tip().await);

    // Apart: a mines alice's payment to carol in one block; b mines three blocks.
    let tx = pay(&alice, &key("carol"), 9, 3);
    let (status, _) = a.post("/transactions/new", &serde_json::to_value(&tx).unwrap()).await;
    assert_eq!(status, 201);
    a.mine().await;
    for _ in 0..3 {
        b.mine().await;
    }
    assert_eq!(a.balance(&key("carol").address()).await, 9);

    // Resolve: a adopts b's heavier chain; the payment is pending again on a.
    a.register(&[&b]).await;
    let (_, resolved) = a.get("/nodes/resolve").await;
    assert_eq!(resolved["message"], "Our chain was replaced", "{resolved}");
    assert_eq!(a.tip().await, b.tip().await);
    assert_eq!(a.balance(&key("carol").address()).await, 0);
    let (_, pending) = a.get("/transactions/get").await;
    assert_eq!(pending["transactions"][0]["id"], json!(tx.id()));

    // Mined once, and only once.
    a.mine().await;
    assert_eq!(a.balance(&key("carol").address()).await, 9);
    assert_eq!(a.get("/mempool").await.1["count"], 0);
    let (_, chain) = a.get("/chain").await;
    let mentions = chain["chain"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["transactions"].as_array().unwrap().clone())
        .filter(|t| t["id"] == json!(tx.id()))
        .count();
    assert_eq!(mentions, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_keeps_its_chain_and_peers() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), None)).await;
    for _ in 0..3 {
        node.mine().await;
    }
    node.post("/nodes/register", &json!({ "nodes": ["http://127.0.0.1:9"] })).await;
    let (_, chain_before) = node.get("/chain").await;
    let wallet_before = chain_before["chain"][1]["transactions"][0]["recipient"].clone();
    node.stop().await;

    let node = TestNode::start(config(dir.path(), None)).await;
    let (_, chain_after) = node.get("/chain").await;
    assert_eq!(chain_after, chain_before);
    assert_eq!(node.get("/nodes/get").await.1["nodes"], json!(["http://127.0.0.1:9"]));
    // The node's own wallet survived too: new rewards go to the same address.
    let mined = node.mine().await;
    assert_eq!(mined["transactions"][0]["recipient"], wallet_before);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_is_a_clear_error_not_a_wrong_chain() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), None)).await;
    node.mine().await;
    node.stop().await;
    let path = dir.path().join("chain.redb");
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    for byte in &mut bytes[len / 4..len / 2] {
        *byte ^= 0x5a;
    }
    std::fs::write(&path, bytes).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = gophercoin_http::serve_node(config(dir.path(), None), listener, async {}).await;
    let error = result.expect_err("a damaged store must not start");
    assert!(
        matches!(
            error,
            gophercoin_http::StartError::Store(_)
                | gophercoin_http::StartError::InvalidStoredChain(_)
        ),
        "not a store error: {error}"
    );
}

/// A peer that answers `/chain` with headers and then misbehaves.
async fn hostile_peer(behaviour: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                match behaviour {
                    "huge" => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n";
                        let _ = socket.write_all(head.as_bytes()).await;
                        let chunk = vec![b' '; 1 << 16];
                        for _ in 0..20_000 {
                            if socket.write_all(&chunk).await.is_err() {
                                break;
                            }
                        }
                    }
                    "trickle" => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
                        let _ = socket.write_all(head.as_bytes()).await;
                        for _ in 0..60 {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            if socket.write_all(b" ").await.is_err() {
                                break;
                            }
                        }
                    }
                    "silent" => tokio::time::sleep(Duration::from_secs(30)).await,
                    "redirect" => {
                        let head = "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/chain\r\ncontent-length: 0\r\n\r\n";
                        let _ = socket.write_all(head.as_bytes()).await;
                    }
                    _ => {}
                }
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_fail_alone_within_the_timeout_while_an_honest_peer_is_adopted() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let honest = TestNode::start(config(dirs[1].path(), None)).await;
    for _ in 0..3 {
        honest.mine().await;
    }
    let node = TestNode::start(config(dirs[0].path(), None)).await;
    let mut peers = vec![honest.url.clone()];
    for behaviour in ["huge", "trickle", "silent", "redirect"] {
        peers.push(hostile_peer(behaviour).await);
    }
    let (status, _) = node.post("/nodes/register", &json!({ "nodes": peers })).await;
    assert_eq!(status, 201);

    let started = Instant::now();
    let (status, resolved) = node.get("/nodes/resolve").await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(resolved["message"], "Our chain was replaced", "{resolved}");
    assert!(took < Duration::from_secs(8), "resolve took {took:?} with a 2 s peer timeout");
    let reports = resolved["peers"].as_array().unwrap();
    let outcome = |url: &str| reports.iter().find(|r| r["peer"] == url).unwrap()["outcome"].clone();
    // Adopted by the resolve, or already by the connection registering it opened.
    let honest_outcome = outcome(&honest.url);
    assert!(honest_outcome == "adopted" || honest_outcome == "in_sync", "{resolved}");
    for hostile in &peers[1..] {
        assert_eq!(outcome(hostile), "rejected", "{resolved}");
    }
    // Each says what kind of failure it was, as a program reads it.
    let error = |url: &str| reports.iter().find(|r| r["peer"] == url).unwrap()["error"].clone();
    assert_eq!(error(&peers[1]), "too_large", "{resolved}");
    for slow_or_away in &peers[2..] {
        assert!(
            error(slow_or_away) == "peer_unreachable" || error(slow_or_away) == "peer_status",
            "{resolved}"
        );
    }
    assert_eq!(node.tip().await, honest.tip().await);
    // Still answering.
    assert_eq!(node.get("/health").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serving_an_invalid_chain_is_not_adopted() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let liar_source = TestNode::start(config(dirs[1].path(), None)).await;
    for _ in 0..4 {
        liar_source.mine().await;
    }
    // Serve that chain with a doubled reward in block 2 from a fake peer.
    let (_, mut chain) = liar_source.get("/chain").await;
    chain["chain"][2]["transactions"][0]["amount"] = json!(40 * Amount::UNITS_PER_COIN);
    let liar = fake_peer(serde_json::to_string(&chain).unwrap()).await;
    let node = TestNode::start(config(dirs[0].path(), None)).await;
    node.mine().await;
    let tip = node.tip().await;
    node.post("/nodes/register", &json!({ "nodes": [liar] })).await;
    let (_, resolved): (u16, Value) = node.get("/nodes/resolve").await;
    assert_eq!(resolved["message"], "Our chain is authoritative");
    let report = &resolved["peers"][0];
    assert_eq!(report["outcome"], "rejected");
    assert_eq!(report["error"], "bad_merkle_root", "{report}");
    assert!(!report["reason"].as_str().unwrap().is_empty(), "{report}");
    assert_eq!(node.tip().await, tip);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_peer_is_connected_to_and_caught_up_with_and_new_blocks_follow() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = TestNode::start(config(dirs[0].path(), None)).await;
    let b = TestNode::start(config(dirs[1].path(), None)).await;
    for _ in 0..3 {
        a.mine().await; // a has no peers: nothing is relayed
    }
    assert_eq!(b.height().await, 0);
    // Registering a peer connects to it; the node behind catches up, unasked.
    b.register(&[&a]).await;
    eventually("b caught up with a", 200, || async { b.height().await == 3 }).await;
    assert_eq!(b.tip().await, a.tip().await);
    // Both list each other: b dialled a, a learned where b listens.
    let b_addr = b.advertised().await;
    eventually("a lists b", 200, || async { a.lists(&b_addr).await }).await;
    // New blocks travel both ways over the connection.
    a.mine().await;
    eventually("b has a's block", 200, || async { b.height().await == 4 }).await;
    b.mine().await;
    eventually("a has b's block", 200, || async { a.height().await == 5 }).await;
    assert_eq!(a.tip().await, b.tip().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mine_requests_never_mine_the_same_height_twice() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), None)).await;
    let mined = futures_util::future::join_all((0..6).map(|_| node.get("/mine"))).await;
    let mut heights: Vec<u64> = mined
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["index"].as_u64().unwrap()
        })
        .collect();
    heights.sort_unstable();
    assert_eq!(heights, (1..=6).collect::<Vec<_>>());
    assert_eq!(node.height().await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mine_on_several_threads_connects_valid_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), None);
    config.mine_threads = 3;
    let node = TestNode::start(config).await;
    for height in 1..=4 {
        let (status, body) = node.get("/mine").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["index"], height);
        // The block on record is the one mined, and the core accepted its proof of work.
        let (status, block) = node.get(&format!("/blocks/height/{height}")).await;
        assert_eq!(status, 200, "{block}");
        assert_eq!(block["block"]["hash"], body["hash"]);
        assert_eq!(block["block"]["nonce"], body["nonce"]);
    }
    assert_eq!(node.height().await, 4);
    node.stop().await;
}

/// A peer that answers every request with the same JSON body.
async fn fake_peer(body: String) -> String {
    counting_peer(body).await.0
}

/// Connections made to a [`counting_peer`], and the requests for its chain among them.
#[derive(Clone, Default)]
struct Counts {
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    chain_requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// A [`fake_peer`] that counts what is asked of it.
async fn counting_peer(body: String) -> (String, Counts) {
    use std::sync::atomic::Ordering::SeqCst;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let counts = Counts::default();
    let counter = counts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            counter.connections.fetch_add(1, SeqCst);
            let body = body.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let read = socket.read(&mut request).await.unwrap_or(0);
                if request[..read].starts_with(b"GET /chain") {
                    counter.chain_requests.fetch_add(1, SeqCst);
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            });
        }
    });
    (url, counts)
}

/// The JSON a peer serves for `/chain`, from blocks made by the core.
fn chain_json(blocks: &[gophercoin_core::Block]) -> String {
    let chain: Vec<_> = blocks.iter().map(gophercoin_http::dto::BlockDto::from_block).collect();
    serde_json::to_string(&json!({ "chain": chain, "length": blocks.len() })).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_chain_with_less_work_and_a_foreign_chain_are_not_adopted() {
    // Their chain: 55 blocks on schedule, all at the easiest target.
    let params = Params::devnet();
    let mut theirs = gophercoin_core::Node::devnet();
    for height in 1..=55 {
        let now = params.genesis_timestamp + height * params.target_block_secs;
        let _ = theirs.mine_block(&key("bob").address(), UnixTime::from_secs(now)).unwrap();
    }
    let long: Vec<_> = theirs.chain().main_chain_from(0).map(|b| b.to_block()).collect();
    // Another network's chain (other chain id, so another genesis).
    let mut other = params.clone();
    other.chain_id += 1;
    let mut foreign =
        gophercoin_core::Node::new(other.clone(), other.verifier(), gophercoin_core::MostWork)
            .expect("valid parameters");
    for height in 1..=60 {
        let _ = foreign
            .mine_block(
                &key("bob").address(),
                UnixTime::from_secs(other.genesis_timestamp + height * 5),
            )
            .unwrap();
    }
    let foreign: Vec<_> = foreign.chain().main_chain_from(0).map(|b| b.to_block()).collect();

    // Ours: 45 blocks mined back to back, so the retarget at height 40 made the last five
    // four times harder: fewer blocks, more work.
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), None)).await;
    for _ in 0..45 {
        node.mine().await;
    }
    let tip = node.tip().await;
    let long_peer = fake_peer(chain_json(&long)).await;
    let foreign_peer = fake_peer(chain_json(&foreign)).await;
    node.post("/nodes/register", &json!({ "nodes": [long_peer, foreign_peer] })).await;
    let (_, resolved) = node.get("/nodes/resolve").await;
    assert_eq!(resolved["message"], "Our chain is authoritative", "{resolved}");
    let reports = resolved["peers"].as_array().unwrap();
    let report = |url: &str| reports.iter().find(|r| r["peer"] == url).unwrap().clone();
    assert_eq!(report(&long_peer)["outcome"], "kept_ours", "{resolved}");
    assert_eq!(report(&foreign_peer)["outcome"], "rejected");
    assert_eq!(report(&foreign_peer)["error"], "foreign_genesis", "{resolved}");
    assert_eq!(node.tip().await, tip);
    assert_eq!(node.height().await, 45);

    // The same long chain wins on a node that follows the original's longest-chain rule.
    let dir = tempfile::tempdir().unwrap();
    let mut longest = config(dir.path(), None);
    longest.fork_choice = gophercoin_http::ForkChoiceKind::LongestChain;
    let original_rule = TestNode::start(longest).await;
    for _ in 0..45 {
        original_rule.mine().await;
    }
    original_rule.post("/nodes/register", &json!({ "nodes": [long_peer] })).await;
    assert_eq!(original_rule.get("/nodes/resolve").await.1["message"], "Our chain was replaced");
    assert_eq!(original_rule.height().await, 55);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_peer_urls_are_never_dialed() {
    let (url, counts) = counting_peer("{}".into()).await;
    let connections = counts.connections;
    let port = url.rsplit(':').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let mut public = config(dir.path(), None);
    public.limits.peer_policy = gophercoin_http::PeerPolicy::PublicOnly;
    let node = TestNode::start(public).await;
    for refused in [
        format!("http://user:secret@127.0.0.1:{port}"),
        format!("ftp://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/chain"),
        format!("http://127.0.0.1:{port}"),
        "http://169.254.169.254".to_owned(),
    ] {
        let (status, body) = node.post("/nodes/register", &json!({ "nodes": [refused] })).await;
        assert_eq!(status, 400, "{refused}: {body}");
        assert_eq!(body["error"], "bad_peer_url");
    }
    // Registration is all or nothing: one bad URL keeps the good ones out too.
    let (status, _) = node
        .post("/nodes/register", &json!({ "nodes": ["http://8.8.8.8:5000", "http://0.0.0.0:1"] }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(node.get("/nodes/get").await.1["nodes"], json!([]));
    let _ = node.get("/nodes/resolve").await;
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0);

    // More peers than the limit are refused.
    let dir = tempfile::tempdir().unwrap();
    let mut small = config(dir.path(), None);
    small.limits.max_peers = 2;
    let node = TestNode::start(small).await;
    let three: Vec<String> = (1..=3).map(|i| format!("http://127.0.0.1:{i}")).collect();
    let (status, body) = node.post("/nodes/register", &json!({ "nodes": three })).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("too_many_peers")));
    assert_eq!(node.get("/nodes/get").await.1["nodes"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_deeper_than_the_sync_overlap_is_fetched_from_genesis() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = TestNode::start(config(dirs[0].path(), Some(key("alice").address()))).await;
    let b = TestNode::start(config(dirs[1].path(), Some(key("bob").address()))).await;
    // Apart from genesis on: a's 70 blocks, b's 75 (more work, as difficulty rose alike).
    for _ in 0..70 {
        a.mine().await;
        b.mine().await;
    }
    for _ in 0..5 {
        b.mine().await;
    }
    a.register(&[&b]).await;
    let (_, resolved) = a.get("/nodes/resolve").await;
    assert_eq!(resolved["message"], "Our chain was replaced", "{}", resolved["peers"]);
    assert_eq!(a.tip().await, b.tip().await);
    assert_eq!(a.height().await, 75);
    assert_eq!(a.balance(&key("alice").address()).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_is_cut_off_and_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), None);
    config.limits.max_in_flight = 1;
    config.limits.body_timeout = std::time::Duration::from_millis(500);
    let node = TestNode::start(config).await;
    let address = node.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /transactions/new HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    eventually("the slot is free again", 100, || async { node.get("/health").await.0 == 200 })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_can_clean_a_full_peer_table_and_start_past_it() {
    let dir = tempfile::tempdir().unwrap();
    // A given miner: no RSA key to make at start, which a loaded machine may take seconds for.
    let mut small = config(dir.path(), Some(key("alice").address()));
    small.limits.max_peers = 3;
    let node = TestNode::start(small.clone()).await;
    // Filled with junk by one request, kept across a restart.
    let junk: Vec<String> = (1..=3).map(|i| format!("http://127.0.0.1:{i}")).collect();
    assert_eq!(node.post("/nodes/register", &json!({ "nodes": junk })).await.0, 201);
    let (status, body) =
        node.post("/nodes/register", &json!({ "nodes": ["http://127.0.0.1:9"] })).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("too_many_peers")));
    // Deleted by its URL, percent-encoded as one path segment; twice is 404.
    let delete = |peer: &str| {
        let mut url = reqwest::Url::parse(&node.url).unwrap();
        url.path_segments_mut().unwrap().pop_if_empty().extend(["nodes", peer]);
        client().delete(url).send()
    };
    let response = delete("http://127.0.0.1:2").await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(delete("http://127.0.0.1:2").await.unwrap().status().as_u16(), 404);
    assert_eq!(delete("not a url").await.unwrap().status().as_u16(), 400);
    let listed = json!(["http://127.0.0.1:1", "http://127.0.0.1:3"]);
    assert_eq!(node.get("/nodes/get").await.1["nodes"], listed);
    assert_eq!(
        node.post("/nodes/register", &json!({ "nodes": ["http://127.0.0.1:9"] })).await.0,
        201
    );
    node.stop().await;

    // A restart with a peer on the command line, past the limit of what is stored: the
    // command line's peer is kept, the stored ones fill the rest, the node starts.
    small.limits.max_peers = 2;
    small.peers = vec!["http://127.0.0.1:7".parse().unwrap()];
    let node = TestNode::start(small).await;
    let nodes = node.get("/nodes/get").await.1["nodes"].clone();
    let nodes: Vec<&str> = nodes.as_array().unwrap().iter().filter_map(|n| n.as_str()).collect();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(nodes.contains(&"http://127.0.0.1:7"), "{nodes:?}");
    // The deleted peer is gone from the store too.
    assert!(!nodes.contains(&"http://127.0.0.1:2"), "{nodes:?}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_payments_survive_a_restart_and_a_block_that_mined_them_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (key("alice"), key("bob"));
    let node = TestNode::start(config(dir.path(), Some(alice.address()))).await;
    node.mine().await;
    let txs: Vec<_> = (1..=3).map(|nonce| pay(&alice, &bob, 1_000, nonce)).collect();
    for tx in &txs {
        let (status, answer) = node.post("/transactions/new", &json!(tx)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let (_, chain) = node.get("/chain").await;
    node.stop().await;

    // Restarted: every acknowledged payment is pending again.
    let node = TestNode::start(config(dir.path(), Some(alice.address()))).await;
    let (_, pending) = node.get("/transactions/get").await;
    let ids: Vec<&str> = pending["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    for tx in &txs {
        assert!(ids.contains(&tx.id().to_string().as_str()), "{} lost", tx.id());
    }
    node.stop().await;

    // Meanwhile a block mined the first payment (as a peer's block would arrive): the store
    // now holds it on the main chain, so at the next start it is no longer pending.
    let blocks: Vec<gophercoin_core::Block> = chain["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let dto: gophercoin_http::dto::BlockDto = serde_json::from_value(b.clone()).unwrap();
            dto.into_block(Params::devnet().chain_id)
        })
        .collect();
    let mut core = gophercoin_core::Node::devnet();
    let now = Params::devnet().genesis_timestamp + 1_000_000_000;
    let _ = core.handle_chain(blocks, UnixTime::from_secs(now)).unwrap();
    core.handle_transaction(txs[0].clone()).unwrap();
    let _ = core.mine_block(&bob.address(), UnixTime::from_secs(blocks_time(&core))).unwrap();
    let store = gophercoin_http::store::Store::open(
        &dir.path().join("chain.redb"),
        Params::devnet().genesis().hash(),
    )
    .unwrap();
    let mined = core.chain().tip().to_block();
    store.apply(&[gophercoin_http::store::StoreOp::Connect(Box::new(mined))]).unwrap();
    drop(store);

    let node = TestNode::start(config(dir.path(), Some(alice.address()))).await;
    assert_eq!(node.height().await, 2);
    let (_, pending) = node.get("/transactions/get").await;
    let pending = pending["transactions"].as_array().unwrap().clone();
    assert_eq!(pending.len(), 2, "the mined payment is no longer pending");
    assert!(pending.iter().all(|t| t["id"] != json!(txs[0].id())));
    node.stop().await;
    // And it is gone from the store, not checked again at every start.
    let store = gophercoin_http::store::Store::open(
        &dir.path().join("chain.redb"),
        Params::devnet().genesis().hash(),
    )
    .unwrap();
    assert_eq!(store.pending().unwrap().len(), 2);
}

/// A timestamp for the next block of `core`: a second after its tip's.
fn blocks_time(core: &gophercoin_core::Node) -> u64 {
    core.tip().timestamp + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_with_unknown_parents_fetch_nothing_over_http() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = TestNode::start(config(dirs[0].path(), None)).await;
    let b = TestNode::start(config(dirs[1].path(), None)).await;
    a.mine().await;
    a.mine().await;
    let (_, chain) = a.get("/chain").await;
    let orphan = chain["chain"][2].clone(); // b lacks its parent
    // A registered peer that answers nothing useful, and counts what is asked of it.
    let (peer, counts) = counting_peer("{}".into()).await;
    assert_eq!(b.post("/nodes/register", &json!({ "nodes": [peer] })).await.0, 201);
    for _ in 0..50 {
        let response = client()
            .post(format!("{}/blocks", b.url))
            .header("x-gophercoin-origin", &peer)
            .json(&orphan)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 422);
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "unknown_parent");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Catching up is the peer network's: a posted block, whoever it names, starts none.
    let made = counts.chain_requests.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(made, 0, "50 blocks naming the peer fetched from it");
}
