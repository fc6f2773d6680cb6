//! Real nodes on 127.0.0.1 (port 0) for integration tests, and an HTTP client for them.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::{path::Path, time::Duration};

use gophercoin_core::{
    Address, Amount, CompactTarget, Params, RsaSigner, SignedTransaction, Signer, Transaction,
};
use gophercoin_http::{Limits, NodeConfig};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};

/// A node serving on a loopback port until stopped.
pub struct TestNode {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), gophercoin_http::StartError>>>,
}

/// Committed test keys (`tests/data` links to the core's test data).
pub fn key(name: &str) -> RsaSigner {
    let path = format!("{}/tests/data/{name}.pkcs8.hex", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

pub fn config(dir: &Path, miner: Option<Address>) -> NodeConfig {
    let mut config = NodeConfig::new("127.0.0.1:0".parse().unwrap(), dir);
    config.miner = miner;
    config.limits = Limits {
        peer_connect_timeout: Duration::from_millis(500),
        peer_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    config
}

impl TestNode {
    pub async fn start(config: NodeConfig) -> TestNode {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(gophercoin_http::serve_node(config, listener, async {
            let _ = stopped.await;
        }));
        let node = TestNode { url, stop: Some(stop), task: Some(task) };
        node.wait_healthy().await;
        node
    }

    async fn wait_healthy(&self) {
        // Up to 20 s: a node making its wallet key on a loaded machine can take seconds.
        for _ in 0..800 {
            let response = client().get(format!("{}/health", self.url)).send().await;
            if response.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("node at {} did not come up", self.url);
    }

    /// Stops the server and waits until its data directory is closed.
    pub async fn stop(mut self) {
        self.stop.take().map(|stop| stop.send(()));
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = client().get(format!("{}{path}", self.url)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response =
            client().post(format!("{}{path}", self.url)).json(body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn mine(&self) -> Value {
        let (status, body) = self.get("/mine").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["message"], "New Block Forged!");
        let target = body["target"].as_str().unwrap_or_default();
        assert!(target.len() == 8 && target.parse::<CompactTarget>().is_ok(), "{body}");
        body
    }

    pub async fn height(&self) -> u64 {
        self.get("/health").await.1["height"].as_u64().unwrap()
    }

    pub async fn tip(&self) -> String {
        self.get("/health").await.1["tip"].as_str().unwrap().to_owned()
    }

    pub async fn balance(&self, address: &Address) -> u64 {
        self.get(&format!("/balance/{address}")).await.1["balance"].as_u64().unwrap()
    }

    /// The multiaddr this node tells peers to dial (`/ip4/127.0.0.1/tcp/PORT/p2p/ID`).
    pub async fn advertised(&self) -> String {
        let (_, health) = self.get("/health").await;
        health["p2p"]["advertised"].as_str().expect("an advertised address").to_owned()
    }

    /// Whether `/nodes/get` lists `peer` (a URL or a multiaddr).
    pub async fn lists(&self, peer: &str) -> bool {
        let (_, answer) = self.get("/nodes/get").await;
        let nodes = answer["nodes"].as_array().cloned().unwrap_or_default();
        nodes.iter().any(|n| n.as_str() == Some(peer))
    }

    pub async fn register(&self, peers: &[&TestNode]) {
        let nodes: Vec<_> = peers.iter().map(|p| p.url.clone()).collect();
        let (status, body) = self.post("/nodes/register", &json!({ "nodes": nodes })).await;
        assert_eq!(status, 201, "{body}");
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.stop.take().map(|stop| stop.send(()));
    }
}

pub fn client() -> reqwest::Client {
    gophercoin_http::tls::install_crypto_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// Polls `check` every 50 ms, at most `tries` times; panics with `what` if it never holds.
pub async fn eventually<F, Fut>(what: &str, tries: usize, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..tries {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

pub fn address(signer: &RsaSigner) -> Address {
    signer.address()
}

/// A devnet payment of `units` from `from` to `to`, signed.
pub fn pay(from: &RsaSigner, to: &RsaSigner, units: u64, nonce: u64) -> SignedTransaction {
    Transaction {
        chain_id: Params::devnet().chain_id,
        sender: from.address(),
        recipient: to.address(),
        amount: Amount::positive(units).unwrap(),
        fee: Amount::ZERO,
        nonce,
    }
    .sign(from)
    .unwrap()
}
