//! The original README's walkthrough, step by step, against real nodes and a real wallet
//! service on loopback; then the API's error shapes and the OpenAPI document.

mod common;

use common::*;
use gophercoin_core::{Amount, Signer};
use gophercoin_http::dto::InclusionProofDto;
use serde_json::{Value, json};

async fn wallet_service() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gophercoin_http::serve_wallet(listener, std::future::pending()));
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_walkthrough_works_and_enforces_the_rules() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let wallet = wallet_service().await;
    let http = client();

    // A wallet from the wallet service; node 5000 pays its mining rewards to it.
    let mine_wallet: Value =
        http.get(format!("{wallet}/wallet/new")).send().await.unwrap().json().await.unwrap();
    let friend: Value =
        http.get(format!("{wallet}/wallet/new")).send().await.unwrap().json().await.unwrap();
    let miner_address = mine_wallet["public_key"].as_str().unwrap().parse().unwrap();
    let node_a = TestNode::start(config(dirs[0].path(), Some(miner_address))).await;
    let node_b = TestNode::start(config(dirs[1].path(), None)).await;

    // Mine on one node, more on the other; look at /chain.
    let mined = node_a.mine().await;
    assert_eq!(mined["index"], 1);
    assert_eq!(mined["transactions"][0]["type"], "reward");
    assert_eq!(mined["transactions"][0]["recipient"], mine_wallet["public_key"]);
    for _ in 0..3 {
        node_b.mine().await;
    }
    let (_, chain) = node_b.get("/chain").await;
    assert_eq!(chain["length"], 4);
    assert_eq!(chain["chain"].as_array().unwrap().len(), 4);

    // Register B with A and resolve: A adopts B's longer chain.
    let (status, registered) =
        node_a.post("/nodes/register", &json!({ "nodes": [node_b.url] })).await;
    assert_eq!(status, 201);
    assert_eq!(registered["message"], "New nodes have been added");
    assert_eq!(registered["total_nodes"], json!([node_b.url]));
    let (_, resolved) = node_a.get("/nodes/resolve").await;
    assert_eq!(resolved["message"], "Our chain was replaced");
    assert_eq!(resolved["new_chain"].as_array().unwrap().len(), 4);
    assert_eq!(node_a.tip().await, node_b.tip().await);
    let (_, again) = node_a.get("/nodes/resolve").await;
    assert_eq!(again["message"], "Our chain is authoritative");

    // A's own reward went with its orphaned block; mine again to have coins.
    node_a.mine().await;
    let reward = 20 * Amount::UNITS_PER_COIN;
    assert_eq!(node_a.balance(&miner_address_of(&mine_wallet)).await, reward);
    // Clients show units in coins as the node counts them (the portal does).
    let (_, health) = node_a.get("/health").await;
    assert_eq!(health["units_per_coin"], Amount::UNITS_PER_COIN, "{health}");

    // Sign with the wallet service (the README's hyphenated field name) and submit.
    let generated = post_json(
        &format!("{wallet}/transactions/generate"),
        json!({
            "sender": mine_wallet["public_key"],
            "sender-private-key": mine_wallet["private_key"],
            "recipient": friend["public_key"],
            "amount": 5 * Amount::UNITS_PER_COIN,
        }),
    )
    .await;
    let flat = json!({
        "sender": generated["transaction"]["sender"],
        "recipient": generated["transaction"]["recipient"],
        "amount": generated["transaction"]["amount"],
        "nonce": generated["transaction"]["nonce"],
        "signature": generated["signature"],
    });
    let (status, accepted) = node_a.post("/transactions/new", &flat).await;
    assert_eq!(status, 201, "{accepted}");
    assert_eq!(accepted["message"], "Transaction will be added to Block 5");
    assert_eq!(accepted["id"], generated["id"]);
    let (_, pending) = node_a.get("/transactions/get").await;
    assert_eq!(pending["transactions"].as_array().unwrap().len(), 1);
    let id = generated["id"].as_str().unwrap().to_owned();
    let (status, error) = node_a.get(&format!("/transactions/{id}/proof")).await;
    assert_eq!(status, 404, "a pending transaction is in no block yet: {error}");

    // The same transaction again: already pending (409); the wallet service's own answer
    // is accepted as a body too.
    let (status, error) = node_a.post("/transactions/new", &generated).await;
    assert_eq!((status, error["error"].as_str()), (409, Some("already_known")));

    // Mine it: exact balances; then it can't be replayed.
    let mined = node_a.mine().await;
    assert_eq!(mined["transactions"].as_array().unwrap().len(), 2);
    let friend_address = miner_address_of(&friend);
    assert_eq!(node_a.balance(&friend_address).await, 5 * Amount::UNITS_PER_COIN);
    assert_eq!(
        node_a.balance(&miner_address_of(&mine_wallet)).await,
        2 * reward - 5 * Amount::UNITS_PER_COIN
    );
    let (status, error) = node_a.post("/transactions/new", &flat).await;
    assert_eq!((status, error["error"].as_str()), (422, Some("replay")));

    // The original's holes stay shut: a forged signature, an overdraft, free minting.
    let mut forged = flat.clone();
    forged["amount"] = json!(6 * Amount::UNITS_PER_COIN);
    let (status, error) = node_a.post("/transactions/new", &forged).await;
    assert_eq!((status, error["error"].as_str()), (422, Some("bad_signature")));
    let overdraft = post_json(
        &format!("{wallet}/transactions/generate"),
        json!({
            "sender": friend["public_key"],
            "sender_private_key": friend["private_key"],
            "recipient": mine_wallet["public_key"],
            "amount": 6 * Amount::UNITS_PER_COIN,
        }),
    )
    .await;
    let (status, error) = node_a.post("/transactions/new", &overdraft).await;
    assert_eq!((status, error["error"].as_str()), (422, Some("overdraft")));
    let mint = json!({
        "sender": "GOPHER COIN", "recipient": friend["public_key"], "amount": 20, "nonce": 1, "signature": ""
    });
    let (status, error) = node_a.post("/transactions/new", &mint).await;
    assert_eq!((status, error["error"].as_str()), (400, Some("malformed")));

    // Transactions and blocks can be looked up.
    let (status, found) =
        node_a.get(&format!("/transactions/{}", generated["id"].as_str().unwrap())).await;
    assert_eq!(status, 200);
    assert_eq!(found["status"], "confirmed");
    assert_eq!(found["height"], 5);
    let (_, block) = node_a.get("/blocks/height/5").await;
    let hash = block["block"]["hash"].as_str().unwrap().to_owned();
    let (status, by_hash) = node_a.get(&format!("/blocks/{hash}")).await;
    assert_eq!((status, &by_hash["block"]), (200, &block["block"]));
    assert_eq!((&block["main_chain"], &by_hash["main_chain"]), (&json!(true), &json!(true)));

    // ... and proven in their block: the answer checks against its own header; with a bit
    // of its branch flipped, or another transaction's id, it does not.
    let (status, answer) = node_a.get(&format!("/transactions/{id}/proof")).await;
    assert_eq!(status, 200, "{answer}");
    let proof: InclusionProofDto = serde_json::from_value(answer).unwrap();
    assert_eq!((proof.height, proof.proof.index, proof.proof.count), (5, 1, 2));
    assert_eq!(proof.header.hash.to_string(), hash);
    assert_eq!(
        proof.header.merkle_root.to_string(),
        block["block"]["merkle_root"].as_str().unwrap()
    );
    proof.check().unwrap();
    let mut tampered = proof.clone();
    let mut bytes = tampered.proof.branch[0].to_bytes();
    bytes[31] ^= 1;
    tampered.proof.branch[0] = gophercoin_core::MerkleNode::from_bytes(bytes);
    assert!(tampered.check().is_err());
    let mut other = proof.clone();
    other.transaction = mined["transactions"][0]["id"].as_str().unwrap().parse().unwrap();
    assert!(other.check().is_err(), "the reward's id with the payment's branch");
    let mut moved = proof.clone();
    moved.header.nonce += 1;
    assert!(moved.check().is_err(), "a header that does not hash to the block");
    assert_eq!(node_a.get(&format!("/transactions/{}/proof", "ab".repeat(32))).await.0, 404);
    assert_eq!(node_a.get("/transactions/xyz/proof").await.0, 400);

    // The wallet service signs a fee too (the original's walkthrough sends none, which is
    // fee 0); the amount and the fee together may not overdraw, and the miner earns it.
    let coin = Amount::UNITS_PER_COIN;
    let generate = format!("{wallet}/transactions/generate");
    let with_fee = |fee: u64| {
        post_json(
            &generate,
            json!({
                "sender": friend["public_key"],
                "sender_private_key": friend["private_key"],
                "recipient": mine_wallet["public_key"],
                "amount": 4 * coin,
                "fee": fee,
            }),
        )
    };
    let too_much = with_fee(coin + 1).await;
    let (status, error) = node_a.post("/transactions/new", &too_much).await;
    assert_eq!((status, error["error"].as_str()), (422, Some("overdraft")), "{error}");
    let paying = with_fee(coin).await;
    assert_eq!(paying["transaction"]["fee"], coin);
    let (status, accepted) = node_a.post("/transactions/new", &paying).await;
    assert_eq!(status, 201, "{accepted}");
    let mined = node_a.mine().await;
    assert_eq!(mined["transactions"][0]["amount"], reward + coin, "the subsidy and the fee");
    assert_eq!(node_a.balance(&friend_address).await, 0);
}

async fn post_json(url: &str, body: Value) -> Value {
    client().post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

fn miner_address_of(wallet: &Value) -> gophercoin_core::Address {
    wallet["public_key"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_compressed_for_clients_that_ask() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    let miner = common::key("alice").address();
    let node = common::TestNode::start(common::config(dir.path(), Some(miner))).await;
    node.mine().await;
    node.mine().await;
    let hash = node.tip().await;
    let client = client();
    // A block is deflated only once its JSON has been kept: the first gzip answer of
    // blocks never shown sends their JSON stored (and keeps it), the next deflates it.
    let gunzip = |bytes: &[u8]| {
        let mut plain = vec![];
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut plain).expect("valid gzip");
        serde_json::from_slice::<Value>(&plain).expect("the chain's JSON")
    };
    let gzip_chain = || async {
        let url = format!("{}/chain", node.url);
        let answer = client.get(url).header("accept-encoding", "gzip").send().await.unwrap();
        assert_eq!(answer.headers()["content-encoding"], "gzip");
        answer.bytes().await.unwrap()
    };
    let (stored, deflated) = (gzip_chain().await, gzip_chain().await);
    assert_eq!(gunzip(&stored)["chain"], gunzip(&deflated)["chain"]);
    assert!(deflated.len() < stored.len(), "{} then {}", stored.len(), deflated.len());
    for path in
        ["/chain", "/chain?from=1&limit=1", "/blocks/height/1", &format!("/blocks/{hash}"), "/"]
    {
        let url = format!("{}{path}", node.url);
        let plain = client.get(&url).send().await.unwrap();
        assert_eq!(plain.headers().get("content-encoding"), None, "{path}: none unasked");
        let plain = plain.bytes().await.unwrap();
        for encoding in ["gzip", "br"] {
            let answer = client.get(&url).header("accept-encoding", encoding).send().await.unwrap();
            assert_eq!(answer.status(), 200, "{path}");
            let used = answer.headers().get("content-encoding").map(|v| v.to_str().unwrap());
            if path.starts_with("/chain") {
                // A whole-chain answer is joined from blocks deflated once, in gzip only.
                assert_eq!(answer.headers()["vary"], "accept-encoding", "{path}");
                if encoding == "br" {
                    assert_eq!(used, None, "{path}");
                    assert_eq!(answer.bytes().await.unwrap(), plain, "{path}: plain for br");
                    continue;
                }
            }
            assert_eq!(used, Some(encoding), "{path}");
            let compressed = answer.bytes().await.unwrap();
            let mut decoded = vec![];
            match encoding {
                "gzip" => flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut decoded),
                _ => brotli::Decompressor::new(&compressed[..], 4096).read_to_end(&mut decoded),
            }
            .unwrap();
            assert!(compressed.len() < plain.len(), "{path} {encoding}: smaller");
            if path == "/" {
                assert_eq!(decoded, plain, "{path} {encoding}: the same page");
            } else {
                // The same JSON (a chain answer's `length` may only have grown meanwhile).
                let decoded: Value = serde_json::from_slice(&decoded).unwrap();
                let plain: Value = serde_json::from_slice(&plain).unwrap();
                assert_eq!(decoded, plain, "{path} {encoding}: the same answer");
            }
        }
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_typed_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), Some(key("alice").address()))).await;
    node.mine().await;
    let before = node.get("/health").await.1;
    let http = client();
    let post_raw = |path: &str, content_type: &str, body: Vec<u8>| {
        http.post(format!("{}{path}", node.url))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("/transactions/new", "application/json", b"{not json".to_vec(), 400, "malformed"),
        ("/transactions/new", "text/plain", b"{}".to_vec(), 415, "unsupported_media_type"),
        ("/transactions/new", "application/json", vec![b' '; 200_000], 413, "too_large"),
        ("/transactions/new", "application/json", b"{\"sender\":1}".to_vec(), 400, "malformed"),
        ("/transactions/new", "application/json", vec![0xff, 0xfe], 400, "malformed"),
        ("/nodes/register", "application/json", b"{}".to_vec(), 400, "malformed"),
        (
            "/nodes/register",
            "application/json",
            b"{\"nodes\":[\"ftp://x:1\"]}".to_vec(),
            400,
            "bad_peer_url",
        ),
        ("/nodes/register", "application/json", b"{\"nodes\":\"http\"}".to_vec(), 400, "malformed"),
        ("/blocks", "application/json", b"{\"index\":1}".to_vec(), 400, "malformed"),
    ];
    for (path, content_type, body, status, kind) in cases {
        let response = post_raw(path, content_type, body).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path} {kind}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], kind, "{error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    for (path, status) in [
        ("/nope", 404),
        ("/blocks/zz", 400),
        ("/balance/xyz", 400),
        ("/balance/00", 400),
        ("/blocks/height/99", 404),
        ("/chain?limit=501", 400),
        ("/chain?from=-1", 400),
        ("/mining/template?address=00", 422),
    ] {
        let (got, body) = node.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"].is_string());
    }
    assert_eq!(node.get("/health").await.1, before);
    assert_eq!(node.get("/nodes/get").await.1, json!({ "nodes": [] }));
    node.stop().await;

    // A miner address that is no key stops the node at start, not at its first block.
    let mut bad_miner = config(dir.path(), None);
    bad_miner.miner = Some("00".parse().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = gophercoin_http::serve_node(bad_miner, listener, async {}).await;
    assert!(
        matches!(refused, Err(gophercoin_http::StartError::MinerAddress { .. })),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), Some(key("alice").address()))).await;
    let (status, document) = node.get("/openapi.json").await;
    assert_eq!(status, 200);
    let paths: Vec<&str> =
        document["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    let routes = [
        "/mine",
        "/chain",
        "/transactions/new",
        "/transactions/get",
        "/nodes/register",
        "/nodes/resolve",
        "/nodes/get",
        "/nodes/{url}",
        "/balance/{address}",
        "/blocks/{hash}",
        "/blocks/height/{height}",
        "/transactions/{id}",
        "/transactions/{id}/proof",
        "/mempool",
        "/health",
        "/metrics",
        "/events",
        "/openapi.json",
        "/mining/template",
        "/mining/submit",
        "/blocks",
        "/",
        "/portal/{file}",
    ];
    for route in routes {
        assert!(paths.contains(&route), "{route} is not documented");
    }
    assert_eq!(paths.len(), routes.len(), "documented routes that don't exist: {paths:?}");
    // Every documented GET without parameters answers 2xx.
    for route in
        ["/chain", "/transactions/get", "/nodes/get", "/mempool", "/health", "/mining/template"]
    {
        assert_eq!(node.get(route).await.0, 200, "{route}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_miner_gets_a_template_and_submits_a_solved_block() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), None)).await;
    let bob = key("bob").address();
    let (status, template) = node.get(&format!("/mining/template?address={bob}")).await;
    assert_eq!(status, 200, "{template}");
    let chain_id = gophercoin_core::Params::devnet().chain_id;
    let dto: gophercoin_http::dto::BlockDto =
        serde_json::from_value(template["block"].clone()).unwrap();
    let mut block = dto.into_block(chain_id);
    assert!(gophercoin_core::pow::solve(&mut block.header, 10_000_000));
    let body = serde_json::to_value(gophercoin_http::dto::BlockDto::from_block(&block)).unwrap();
    let (status, accepted) = node.post("/mining/submit", &body).await;
    assert_eq!(status, 201, "{accepted}");
    assert_eq!(node.balance(&bob).await, 20 * Amount::UNITS_PER_COIN);
    let (status, again) = node.post("/mining/submit", &body).await;
    assert_eq!((status, again["error"].as_str()), (409, Some("already_known")));
    // An extra reward is refused.
    let (_, template) = node.get(&format!("/mining/template?address={bob}")).await;
    let mut forged = template["block"].clone();
    forged["transactions"][0]["amount"] = json!(21 * Amount::UNITS_PER_COIN);
    let (status, error) = node.post("/mining/submit", &forged).await;
    assert_eq!(status, 422);
    assert!(matches!(error["error"].as_str(), Some("bad_pow" | "bad_merkle_root")), "{error}");
}
