//! A bounded load run on loopback: hundreds of connections, thousands of requests, a mix
//! of reads, valid and invalid writes and mining. Every answer is 2xx, 4xx or 503, never a
//! hang or a dropped connection, and `/health` keeps answering throughout.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::*;
use gophercoin_core::Signer;
use serde_json::json;

const CONNECTIONS: usize = 200;
const REQUESTS_PER_CONNECTION: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_stays_up_and_answers_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let alice = key("alice");
    let mut config = config(dir.path(), Some(alice.address()));
    config.limits.max_in_flight = 64;
    let node = TestNode::start(config).await;
    node.mine().await;
    // Pre-signed payments, so the load is on the node, not on signing.
    let payments: Arc<Vec<_>> = Arc::new(
        (0..100)
            .map(|nonce| serde_json::to_value(pay(&alice, &key("bob"), 1, nonce)).unwrap())
            .collect(),
    );

    // A prober: /health must keep answering while the load runs.
    let running = Arc::new(AtomicBool::new(true));
    let prober = {
        let (url, running) = (node.url.clone(), Arc::clone(&running));
        tokio::spawn(async move {
            let http = {
                gophercoin_http::tls::install_crypto_provider();
                reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
            };
            let mut worst = Duration::ZERO;
            let mut answered = 0;
            while running.load(Ordering::Relaxed) {
                let started = Instant::now();
                let status =
                    http.get(format!("{url}/health")).send().await.map(|r| r.status().as_u16());
                assert!(matches!(status, Ok(200 | 503)), "health: {status:?}");
                worst = worst.max(started.elapsed());
                answered += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (answered, worst)
        })
    };

    let started = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|worker| {
            let url = node.url.clone();
            let payments = Arc::clone(&payments);
            tokio::spawn(async move {
                // One client each: its own connection.
                let http = client();
                let mut statuses = vec![];
                for i in 0..REQUESTS_PER_CONNECTION {
                    let request = match (worker + i) % 6 {
                        0 => http.get(format!("{url}/chain?from=0&limit=50")),
                        1 => http.get(format!("{url}/mempool")),
                        2 => http
                            .post(format!("{url}/transactions/new"))
                            .json(&payments[(worker * 7 + i) % payments.len()]),
                        3 => http
                            .post(format!("{url}/transactions/new"))
                            .json(&json!({ "sender": "zz" })),
                        4 => http.get(format!("{url}/balance/00")),
                        _ if worker % 50 == 0 => http.get(format!("{url}/mine")),
                        _ => http.get(format!("{url}/health")),
                    };
                    let status = request.send().await.map(|r| r.status().as_u16());
                    statuses.push(status.unwrap_or_else(|e| panic!("request failed: {e}")));
                }
                statuses
            })
        })
        .collect();
    let mut statuses = vec![];
    for worker in workers {
        statuses.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let (probes, worst_health) = prober.await.unwrap();

    assert_eq!(statuses.len(), CONNECTIONS * REQUESTS_PER_CONNECTION);
    for status in &statuses {
        assert!(matches!(status, 200..=299 | 400..=499 | 503), "unexpected status {status}");
    }
    let ok = statuses.iter().filter(|s| (200..300).contains(*s)).count();
    let shed = statuses.iter().filter(|s| **s == 503).count();
    assert!(ok > statuses.len() / 4, "most requests should be served: {ok} ok, {shed} shed");
    assert!(probes > 0);
    assert!(worst_health < Duration::from_secs(5), "health took {worst_health:?}");
    eprintln!(
        "{} requests in {elapsed:?}: {ok} 2xx, {shed} 503; health answered {probes} times, worst {worst_health:?}",
        statuses.len()
    );
    // Still consistent afterwards: every accepted payment is pending or mined, once.
    node.mine().await;
    let (_, mempool) = node.get("/mempool").await;
    assert_eq!(mempool["count"], 0);
    let bob = node.balance(&key("bob").address()).await;
    assert!(bob > 0 && bob <= payments.len() as u64, "bob got {bob}");
}
