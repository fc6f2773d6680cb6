//! A network split by loopback proxies that the test cuts and heals: both sides mine and
//! take payments; healed, every node follows the heavier side and no payment is lost or
//! included twice.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use common::*;
use gophercoin_core::{SignedTransaction, Signer};
use serde_json::{Value, json};
use tokio::task::AbortHandle;

/// A TCP proxy to one node; cutting it drops every connection and refuses new ones.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    /// A proxy to a node's peer port.
    async fn to(node: &TestNode) -> Proxy {
        let advertised = node.advertised().await;
        let port: u16 = advertised.split('/').nth(4).unwrap().parse().unwrap();
        let upstream = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Mutex::new(vec![]));
        let (cut_c, live_c) = (Arc::clone(&cut), Arc::clone(&live));
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if cut_c.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused in effect
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                live_c.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { port, cut, live }
    }

    /// The node's peer address through the proxy: its identity at the proxy's port.
    async fn addr(&self, node: &TestNode) -> String {
        let advertised = node.advertised().await;
        let peer_id = advertised.rsplit('/').next().unwrap();
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer_id}", self.port)
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.live.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// How many times a transaction appears on a node's main chain.
async fn times_included(node: &TestNode, tx: &SignedTransaction) -> usize {
    let (_, chain) = node.get("/chain").await;
    chain["chain"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["transactions"].as_array().unwrap().clone())
        .filter(|t| t["id"] == json!(tx.id()))
        .count()
}

async fn register(node: &TestNode, peers: &[&str]) {
    let (status, body) = node.post("/nodes/register", &json!({ "nodes": peers })).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_partition_converges_on_the_heavier_side_without_losing_payments() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (alice, bob, carol, dave) = (key("alice"), key("bob"), key("carol"), key("dave"));
    // Each node dials only the peers it is given (the addresses it would learn from the
    // others lead around the proxies).
    // Each dials only what it is given, and redials at least every 2 s after a cut.
    let connect_only = |dir, miner| {
        let mut config = config(dir, Some(miner));
        config.network.dial_learned = false;
        config.network.retry_interval = std::time::Duration::from_secs(2);
        config
    };
    let a = TestNode::start(connect_only(dirs[0].path(), alice.address())).await;
    let b = TestNode::start(connect_only(dirs[1].path(), bob.address())).await;
    let c = TestNode::start(connect_only(dirs[2].path(), carol.address())).await;
    // a and b talk directly; everything between them and c goes through proxies.
    // A and B see each other directly, and C only through proxies that can be cut.
    let (a_to_c, b_to_c) = (Proxy::to(&c).await, Proxy::to(&c).await);
    let (c_to_a, c_to_b) = (Proxy::to(&a).await, Proxy::to(&b).await);
    register(&a, &[&b.url, &a_to_c.addr(&c).await]).await;
    register(&b, &[&a.url, &b_to_c.addr(&c).await]).await;
    register(&c, &[&c_to_a.addr(&a).await, &c_to_b.addr(&b).await]).await;

    // Together: alice and carol earn a reward each.
    a.mine().await;
    eventually("all have block 1", 200, || async {
        c.height().await == 1 && b.height().await == 1
    })
    .await;
    c.mine().await;
    eventually("all have block 2", 200, || async {
        a.height().await == 2 && b.height().await == 2
    })
    .await;

    // Split.
    for proxy in [&a_to_c, &b_to_c, &c_to_a, &c_to_b] {
        proxy.cut();
    }
    // Side one (a, b) mines three blocks and alice pays dave; side two (c) mines one block
    // and carol pays dave.
    let from_alice = pay(&alice, &dave, 7, 1);
    let from_carol = pay(&carol, &dave, 11, 2);
    assert_eq!(
        a.post("/transactions/new", &serde_json::to_value(&from_alice).unwrap()).await.0,
        201
    );
    assert_eq!(
        c.post("/transactions/new", &serde_json::to_value(&from_carol).unwrap()).await.0,
        201
    );
    a.mine().await;
    eventually("b follows a", 200, || async { b.tip().await == a.tip().await }).await;
    b.mine().await;
    eventually("a follows b", 200, || async { a.tip().await == b.tip().await }).await;
    a.mine().await;
    c.mine().await;
    eventually("side one agrees", 200, || async { b.tip().await == a.tip().await }).await;
    assert_eq!(a.height().await, 5);
    assert_eq!(c.height().await, 3);
    assert_ne!(c.tip().await, a.tip().await, "the partition held");
    assert_eq!(c.balance(&dave.address()).await, 11);
    assert_eq!(a.balance(&dave.address()).await, 7);

    // Heal: the nodes dial each other again and c takes the heavier chain on its own;
    // a resolve then says so.
    for proxy in [&a_to_c, &b_to_c, &c_to_a, &c_to_b] {
        proxy.heal();
    }
    eventually("c takes the heavier chain", 200, || async { c.tip().await == a.tip().await }).await;
    let (_, resolved): (u16, Value) = c.get("/nodes/resolve").await;
    assert_eq!(resolved["message"], "Our chain was replaced", "{resolved}");
    assert_eq!(c.tip().await, a.tip().await);
    // Carol's payment left with c's orphaned block and waits in c's mempool; mining it on
    // c spreads it to everyone.
    assert_eq!(c.get("/mempool").await.1["count"], 1);
    c.mine().await;
    eventually("everyone has c's new block", 200, || async {
        a.tip().await == c.tip().await && b.tip().await == c.tip().await
    })
    .await;

    for node in [&a, &b, &c] {
        assert_eq!(node.balance(&dave.address()).await, 18, "{}", node.url);
        assert_eq!(times_included(node, &from_alice).await, 1);
        assert_eq!(times_included(node, &from_carol).await, 1);
        assert_eq!(node.height().await, 6);
    }
}
