//! One list of hostile inputs against a real node: each gets its expected status and error
//! kind, and afterwards the tip, the balances, the mempool and the peers are exactly as
//! before and the node still answers.

mod common;

use std::time::Duration;

use common::*;
use gophercoin_core::{
    Amount, Block, BlockTransaction, CompactTarget, Params, Reward, RsaSigner, SignedTransaction,
    Signer, Target, pow,
};
use gophercoin_http::dto::BlockDto;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a request must get back.
struct Case {
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    kind: &'static str,
}

fn case(
    name: &'static str,
    path: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    kind: &'static str,
) -> Case {
    Case { name, path, content_type: "application/json", body: body.into(), status, kind }
}

fn json_case(
    name: &'static str,
    path: &'static str,
    body: &Value,
    status: u16,
    kind: &'static str,
) -> Case {
    case(name, path, serde_json::to_vec(body).unwrap(), status, kind)
}

fn spki(name: &str) -> String {
    let path = format!("{}/tests/data/{name}.spki.hex", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

fn flat(tx: &SignedTransaction) -> Value {
    json!({
        "sender": tx.transaction.sender,
        "recipient": tx.transaction.recipient,
        "amount": tx.transaction.amount,
        "nonce": tx.transaction.nonce,
        "chain_id": tx.transaction.chain_id,
        "signature": tx.signature,
    })
}

fn with(mut value: Value, key: &str, replacement: Value) -> Value {
    value[key] = replacement;
    value
}

/// Everything observable that a rejected input must leave alone.
async fn snapshot(node: &TestNode, who: &[&RsaSigner]) -> Value {
    let mut balances = vec![];
    for signer in who {
        balances.push(node.balance(&signer.address()).await);
    }
    json!({
        "health": node.get("/health").await.1,
        "mempool": node.get("/mempool").await.1,
        "peers": node.get("/nodes/get").await.1,
        "balances": balances,
    })
}

async fn send(node: &TestNode, case: &Case) -> (u16, Value) {
    let response = client()
        .post(format!("{}{}", node.url, case.path))
        .header("content-type", case.content_type)
        .body(case.body.clone())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A template for the next block paying `miner`, as the core's block.
async fn template(node: &TestNode, miner: &RsaSigner) -> Block {
    let (_, answer) = node.get(&format!("/mining/template?address={}", miner.address())).await;
    let dto: BlockDto = serde_json::from_value(answer["block"].clone()).unwrap();
    dto.into_block(Params::devnet().chain_id)
}

fn seal(mut block: Block) -> Block {
    block.header.merkle_root =
        gophercoin_core::block::merkle_root(block.transactions.iter().map(|t| t.id()));
    solve(block)
}

fn solve(mut block: Block) -> Block {
    block.header.nonce = 0;
    assert!(pow::solve(&mut block.header, 100_000_000));
    block
}

fn block_case(name: &'static str, block: &Block, status: u16, kind: &'static str) -> Case {
    json_case(
        name,
        "/blocks",
        &serde_json::to_value(BlockDto::from_block(block)).unwrap(),
        status,
        kind,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_are_refused_with_their_kind_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob, carol) = (key("alice"), key("bob"), key("carol"));
    let node = TestNode::start(config(dir.path(), Some(alice.address()))).await;
    for _ in 0..3 {
        node.mine().await; // alice: 60 coins
    }
    let coin = Amount::UNITS_PER_COIN;
    let good = pay(&alice, &bob, coin, 1);
    let good_json = flat(&good);

    // A transaction already mined, and one pending, for the replay cases.
    let mined = pay(&alice, &bob, coin, 2);
    assert_eq!(node.post("/transactions/new", &flat(&mined)).await.0, 201);
    node.mine().await; // alice: 80 - 1 = 79 coins
    let pending = pay(&alice, &carol, 10 * coin, 3);
    assert_eq!(node.post("/transactions/new", &flat(&pending)).await.0, 201);
    // alice can now spend 69 more coins.

    let mut corrupted = good.clone();
    let mut signature = corrupted.signature.as_bytes().to_vec();
    signature[0] ^= 1;
    corrupted.signature = gophercoin_core::Signature::from_bytes(signature).unwrap();
    let mut foreign = good.clone();
    foreign.signature = bob.sign(&good.transaction.signing_bytes()).unwrap();
    let alice_der = alice.address().to_string();
    let private_der = alice.to_pkcs8_hex();

    let tx = "/transactions/new";
    let mut cases = vec![
        // Transport and encoding.
        case("malformed json", tx, "{\"sender\": ", 400, "malformed"),
        case(
            "truncated json",
            tx,
            &serde_json::to_vec(&good_json).unwrap()[..50],
            400,
            "malformed",
        ),
        case("not an object", tx, "[1, 2, 3]", 400, "malformed"),
        case("empty body", tx, "", 400, "malformed"),
        case("invalid utf-8", tx, vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'], 400, "malformed"),
        Case {
            content_type: "text/plain",
            ..case("wrong content type", tx, "{}", 415, "unsupported_media_type")
        },
        Case {
            content_type: "application/x-www-form-urlencoded",
            ..case("form body", tx, "a=b", 415, "unsupported_media_type")
        },
        case("oversized body", tx, vec![b' '; 1 << 20], 413, "too_large"),
        // Amounts.
        json_case(
            "negative amount",
            tx,
            &with(good_json.clone(), "amount", json!(-5)),
            400,
            "malformed",
        ),
        json_case(
            "zero amount",
            tx,
            &with(good_json.clone(), "amount", json!(0)),
            400,
            "malformed",
        ),
        json_case(
            "fractional amount",
            tx,
            &with(good_json.clone(), "amount", json!(1.5)),
            400,
            "malformed",
        ),
        json_case(
            "string amount",
            tx,
            &with(good_json.clone(), "amount", json!("10")),
            400,
            "malformed",
        ),
        json_case(
            "null amount",
            tx,
            &with(good_json.clone(), "amount", Value::Null),
            400,
            "malformed",
        ),
        json_case(
            "amount beyond u64",
            tx,
            &with(good_json.clone(), "amount", json!(1e20)),
            400,
            "malformed",
        ),
        json_case(
            "amount beyond the supply",
            tx,
            &with(good_json.clone(), "amount", json!(Amount::MAX.to_units() + 1)),
            400,
            "malformed",
        ),
        case(
            "duplicate keys",
            tx,
            format!(
                "{{\"amount\": 1, \"amount\": 2, {}",
                &serde_json::to_string(&good_json).unwrap()[1..]
            ),
            400,
            "malformed",
        ),
        json_case("unknown field", tx, &with(good_json.clone(), "tip", json!(1)), 400, "malformed"),
        json_case(
            "missing signature",
            tx,
            &json!({"sender": alice_der, "recipient": alice_der, "amount": 1, "nonce": 1}),
            400,
            "malformed",
        ),
        // Keys.
        json_case(
            "bad hex sender",
            tx,
            &with(good_json.clone(), "sender", json!("zz")),
            400,
            "malformed",
        ),
        json_case(
            "truncated DER sender",
            tx,
            &with(good_json.clone(), "sender", json!(&alice_der[..200])),
            422,
            "bad_sender",
        ),
        json_case(
            "private key as sender",
            tx,
            &with(good_json.clone(), "sender", json!(private_der)),
            400,
            "malformed",
        ),
        json_case(
            "1024-bit sender",
            tx,
            &with(good_json.clone(), "sender", json!(spki("small1024"))),
            422,
            "bad_sender",
        ),
        json_case(
            "4608-bit sender",
            tx,
            &with(good_json.clone(), "sender", json!(spki("large4608"))),
            422,
            "bad_sender",
        ),
        json_case(
            "exponent-3 sender",
            tx,
            &with(good_json.clone(), "sender", json!(spki("exponent3"))),
            422,
            "bad_sender",
        ),
        json_case(
            "recipient is not a key",
            tx,
            &with(good_json.clone(), "recipient", json!("00")),
            422,
            "bad_recipient",
        ),
        // Signatures.
        json_case("corrupted signature", tx, &flat(&corrupted), 422, "bad_signature"),
        json_case("foreign key's signature", tx, &flat(&foreign), 422, "bad_signature"),
        json_case(
            "empty signature",
            tx,
            &with(good_json.clone(), "signature", json!("")),
            422,
            "bad_signature",
        ),
        json_case(
            "oversized signature",
            tx,
            &with(good_json.clone(), "signature", json!("ab".repeat(600))),
            400,
            "malformed",
        ),
        json_case(
            "changed amount",
            tx,
            &with(good_json.clone(), "amount", json!(2 * coin)),
            422,
            "bad_signature",
        ),
        json_case(
            "other chain",
            tx,
            &with(good_json.clone(), "chain_id", json!(7)),
            422,
            "wrong_chain",
        ),
        // Sentinels: nobody mints by naming the network as sender.
        json_case(
            "reward sender",
            tx,
            &with(good_json.clone(), "sender", json!("GOPHER COIN")),
            400,
            "malformed",
        ),
        json_case(
            "empty sender",
            tx,
            &with(good_json.clone(), "sender", json!("")),
            422,
            "bad_sender",
        ),
        // Replays and overdrafts.
        json_case("replay while pending", tx, &flat(&pending), 409, "already_known"),
        json_case("replay after mining", tx, &flat(&mined), 422, "replay"),
        json_case("overdraft alone", tx, &flat(&pay(&alice, &bob, 80 * coin, 4)), 422, "overdraft"),
        json_case(
            "overdraft with what is pending",
            tx,
            &flat(&pay(&alice, &bob, 70 * coin, 5)),
            422,
            "overdraft",
        ),
        json_case("empty wallet pays", tx, &flat(&pay(&carol, &bob, 1, 6)), 422, "overdraft"),
        // Peers.
        json_case(
            "peer with another scheme",
            "/nodes/register",
            &json!({"nodes": ["file:///etc/passwd"]}),
            400,
            "bad_peer_url",
        ),
        json_case(
            "peer with credentials",
            "/nodes/register",
            &json!({"nodes": ["http://u:p@127.0.0.1:1"]}),
            400,
            "bad_peer_url",
        ),
        json_case(
            "peer as a string",
            "/nodes/register",
            &json!({"nodes": "http://127.0.0.1:1"}),
            400,
            "malformed",
        ),
        json_case("no peers", "/nodes/register", &json!({"nodes": []}), 400, "malformed"),
        json_case("null peers", "/nodes/register", &json!({"nodes": null}), 400, "malformed"),
    ];

    // Blocks: each solved, so that only the flaw named is wrong.
    let base = template(&node, &bob).await;
    let reward_amount = |block: &mut Block, units: u64| {
        let BlockTransaction::Reward(reward) = &mut block.transactions[0] else { unreachable!() };
        reward.amount = Amount::from_units(units).unwrap();
    };
    let mut extra = base.clone();
    reward_amount(&mut extra, 21 * coin);
    cases.push(block_case("extra reward", &seal(extra), 422, "wrong_reward_amount"));
    let mut two = base.clone();
    two.transactions.push(BlockTransaction::Reward(Reward {
        height: two.header.height,
        recipient: carol.address(),
        amount: Params::devnet().block_reward,
    }));
    cases.push(block_case("two rewards", &seal(two), 422, "extra_reward"));
    let mut merkle = base.clone();
    merkle.transactions.push(BlockTransaction::Transfer(pay(&alice, &carol, coin, 7)));
    cases.push(block_case("bad merkle root", &solve(merkle), 422, "bad_merkle_root"));
    let mut easy = base.clone();
    easy.header.bits = CompactTarget::from_consensus(0x2100_ffff);
    cases.push(block_case("too-easy target", &easy, 422, "target_above_limit"));
    let mut above = base.clone();
    let target = Target::from_compact(above.header.bits).unwrap();
    while target.is_met_by(&above.header.hash()) {
        above.header.nonce += 1;
    }
    cases.push(block_case("hash above target", &above, 422, "bad_pow"));
    let mut version = base.clone();
    version.header.version = 2;
    cases.push(block_case("unknown header version", &solve(version), 422, "unknown_version"));
    let mut orphan = base.clone();
    orphan.header.prev = gophercoin_core::BlockHash::from_bytes([9; 32]);
    cases.push(block_case("unknown parent", &solve(orphan), 422, "unknown_parent"));
    let mut future = base.clone();
    future.header.timestamp += 3 * 60 * 60;
    cases.push(block_case("timestamp too far ahead", &solve(future), 422, "timestamp_too_new"));
    let mut old = base.clone();
    old.header.timestamp = Params::devnet().genesis_timestamp;
    cases.push(block_case("timestamp not after the median", &solve(old), 422, "timestamp_too_old"));
    let mut overdraw = base.clone();
    overdraw.transactions.push(BlockTransaction::Transfer(pay(&alice, &bob, 50 * coin, 8)));
    overdraw.transactions.push(BlockTransaction::Transfer(pay(&alice, &carol, 50 * coin, 9)));
    cases.push(block_case("overdraft split inside a block", &seal(overdraw), 422, "overdraft"));
    let mut replayed = base.clone();
    replayed.transactions.push(BlockTransaction::Transfer(mined.clone()));
    cases.push(block_case("replay inside a block", &seal(replayed), 422, "replay"));
    let mut no_reward = base.clone();
    no_reward.transactions.clear();
    cases.push(block_case("block without reward", &seal(no_reward), 422, "missing_reward"));
    let mut bad_target_text = serde_json::to_value(BlockDto::from_block(&base)).unwrap();
    bad_target_text["target"] = json!("zz");
    cases.push(json_case("target not hex", "/blocks", &bad_target_text, 400, "malformed"));

    let who = [&alice, &bob, &carol];
    let before = snapshot(&node, &who).await;
    for case in &cases {
        // Twice: the second answer, from whatever the node remembered, is the first's.
        for _ in 0..2 {
            let (status, body) = send(&node, case).await;
            assert_eq!(status, case.status, "{}: {body}", case.name);
            assert_eq!(body["error"], case.kind, "{}: {body}", case.name);
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", case.name);
            let after = snapshot(&node, &who).await;
            assert_eq!(after, before, "{} changed the node's state", case.name);
        }
    }
    eprintln!("{} hostile inputs refused", cases.len());

    // The pending payment and the good one still go through afterwards.
    assert_eq!(node.post(tx, &good_json).await.0, 201);
    node.mine().await;
    assert_eq!(node.balance(&carol.address()).await, 10 * coin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_ending_body_is_cut_off_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), None)).await;
    let address = node.url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /transactions/new HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("400\r\n{}\r\n", " ".repeat(0x400));
    let mut sent = 0usize;
    for _ in 0..10_000 {
        if socket.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
        sent += 0x400;
        if sent > 256 * 1024 {
            break;
        }
    }
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(node.get("/health").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_of_one_transaction_accept_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let alice = key("alice");
    let node = TestNode::start(config(dir.path(), Some(alice.address()))).await;
    node.mine().await;
    let body = flat(&pay(&alice, &key("bob"), 5, 1));
    let answers =
        futures_util::future::join_all((0..32).map(|_| node.post("/transactions/new", &body)))
            .await;
    let accepted = answers.iter().filter(|(status, _)| *status == 201).count();
    let duplicates = answers
        .iter()
        .filter(|(status, body)| *status == 409 && body["error"] == "already_known")
        .count();
    assert_eq!((accepted, duplicates), (1, 31), "{answers:?}");
    assert_eq!(node.get("/mempool").await.1["count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_refused_for_a_bad_signature_does_not_stop_its_honest_twin() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (key("alice"), key("bob"));
    let node = TestNode::start(config(dir.path(), Some(alice.address()))).await;
    node.mine().await; // alice: 20 coins
    let mut good = template(&node, &bob).await;
    for nonce in 0..2 {
        good.transactions.push(BlockTransaction::Transfer(pay(&alice, &bob, 1_000, nonce)));
    }
    let good = seal(good);
    // The same header, the last signature broken: a block's hash does not cover it.
    let mut bad = good.clone();
    let BlockTransaction::Transfer(tx) = &mut bad.transactions[2] else { unreachable!() };
    let mut signature = tx.signature.as_bytes().to_vec();
    signature[3] ^= 1;
    tx.signature = gophercoin_core::Signature::from_bytes(signature).unwrap();
    assert_eq!(bad.hash(), good.hash());
    let body = |block: &Block| serde_json::to_value(BlockDto::from_block(block)).unwrap();
    for _ in 0..3 {
        let (status, answer) = node.post("/blocks", &body(&bad)).await;
        assert_eq!((status, answer["error"].as_str()), (422, Some("bad_signature")), "{answer}");
    }
    assert_eq!(node.height().await, 1);
    let (status, answer) = node.post("/blocks", &body(&good)).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(node.height().await, 2);
    // bob mined it (the template paid him) and was paid twice.
    assert_eq!(node.balance(&bob.address()).await, 20 * Amount::UNITS_PER_COIN + 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mempool_is_priced_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (key("alice"), key("bob"));
    let mut config = config(dir.path(), Some(alice.address()));
    config.policy.min_relay_fee_rate = gophercoin_core::FeeRate::per_byte(1);
    config.policy.max_pending_per_sender = 2;
    let node = TestNode::start(config).await;
    node.mine().await;
    let with_fee = |fee: u64, nonce: u64| {
        let mut tx = pay(&alice, &bob, 1_000, nonce).transaction;
        tx.fee = Amount::from_units(fee).unwrap();
        serde_json::to_value(tx.sign(&alice).unwrap()).unwrap()
    };
    let (status, answer) = node.post("/transactions/new", &with_fee(0, 1)).await;
    assert_eq!((status, answer["error"].as_str()), (422, Some("fee_too_low")), "{answer}");
    for nonce in 2..4 {
        let (status, answer) = node.post("/transactions/new", &with_fee(2_000, nonce)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let (status, answer) = node.post("/transactions/new", &with_fee(2_000, 4)).await;
    assert_eq!((status, answer["error"].as_str()), (429, Some("too_many_pending")), "{answer}");
    let (_, health) = node.get("/health").await;
    assert_eq!(health["min_relay_fee"], 1);
    assert_eq!(health["mempool"], 2);
    // The miner earns the fees with the subsidy.
    let before = node.balance(&alice.address()).await;
    node.mine().await;
    assert_eq!(node.balance(&alice.address()).await, before + 20 * Amount::UNITS_PER_COIN - 2_000);
    assert_eq!(node.balance(&bob.address()).await, 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_pages_elsewhere_can_neither_mine_nor_reach_the_node_by_another_name() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), Some(key("alice").address()))).await;
    let http = client();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut request = http.get(format!("{}{path}", node.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    // `<img src=http://127.0.0.1:5000/mine>` on another site, and a fetch naming its origin.
    for headers in [
        [("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "no-cors")],
        [("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")],
    ] {
        for path in ["/mine", "/nodes/resolve"] {
            let response = get(path, &headers).await.unwrap();
            assert_eq!(response.status().as_u16(), 403, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "cross_site");
        }
    }
    // A rebound name: refused for every route, reads included.
    for path in ["/chain", "/health", "/mine"] {
        let response = get(path, &[("host", "evil.example:5000")]).await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "forbidden_host");
    }
    assert_eq!(node.height().await, 0, "nothing was mined");
    // The node's own pages may (same origin), and so may clients that are not browsers.
    let own = node.url.clone();
    let response = get("/mine", &[("origin", &own), ("sec-fetch-site", "same-origin")]).await;
    assert_eq!(response.unwrap().status().as_u16(), 200);
    node.mine().await;
    assert_eq!(node.height().await, 2);
    // No CORS header: another origin can't read the answers either.
    let response = get("/chain", &[("origin", "http://evil.example")]).await.unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());
}
