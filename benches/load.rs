//! A load run against a real node on loopback (release build): many connections, a mix of
//! reads and pre-signed payments, then requests per second and latency percentiles.
//!
//! `cargo bench -p gophercoin-benches --bench load` (CONNECTIONS and REQUESTS tune it).

use std::time::{Duration, Instant};

use gophercoin_core::{Amount, Params, Signer, Transaction};
use gophercoin_http::NodeConfig;

fn main() {
    let connections: usize = env_or("CONNECTIONS", 200);
    let requests: usize = env_or("REQUESTS", 25);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(run(connections, requests));
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run(connections: usize, requests: usize) {
    let dir = std::env::temp_dir().join(format!("gophercoin-load-{}", std::process::id()));
    let key = gophercoin_benches::test_key();
    let listener = gophercoin_http::listen(([127, 0, 0, 1], 0).into()).expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let mut config = NodeConfig::new(listener.local_addr().expect("an address"), &dir);
    config.miner = Some(key.address());
    // Every payment is the test key's: one sender may fill the pool here.
    config.policy.max_pending_per_sender = config.policy.max_mempool_txs;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gophercoin_http::serve_node(config, listener, async {
        let _ = stopped.await;
    }));
    let http = gophercoin_benches::http_client();
    for _ in 0..200 {
        if http.get(format!("{url}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..5 {
        http.get(format!("{url}/mine")).send().await.expect("mining works");
    }
    let payments: Vec<serde_json::Value> = (0..connections * requests / 4 + 1)
        .map(|nonce| {
            let tx = Transaction {
                chain_id: Params::devnet().chain_id,
                sender: key.address(),
                recipient: key.address(),
                amount: Amount::positive(1).expect("1 is positive"),
                fee: Amount::ZERO,
                nonce: nonce as u64,
            };
            serde_json::to_value(tx.sign(&key).expect("signs")).expect("serialises")
        })
        .collect();
    let payments = std::sync::Arc::new(payments);

    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let (url, payments) = (url.clone(), std::sync::Arc::clone(&payments));
            let address = key.address();
            tokio::spawn(async move {
                let http = gophercoin_benches::http_client();
                let mut samples = vec![];
                for i in 0..requests {
                    let (kind, request) = match i % 4 {
                        0 => (
                            "transactions/new",
                            http.post(format!("{url}/transactions/new"))
                                .json(&payments[(worker * requests + i) / 4]),
                        ),
                        1 => ("chain page", http.get(format!("{url}/chain?from=0&limit=10"))),
                        2 => ("health", http.get(format!("{url}/health"))),
                        _ => ("balance", http.get(format!("{url}/balance/{address}"))),
                    };
                    let sent = Instant::now();
                    let status = request.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                    samples.push((kind, status, sent.elapsed()));
                }
                samples
            })
        })
        .collect();
    let mut samples = vec![];
    for worker in workers {
        samples.extend(worker.await.expect("worker finished"));
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);

    let failed = samples
        .iter()
        .filter(|(_, status, _)| !matches!(status, 200..=299 | 400..=499 | 503))
        .count();
    println!(
        "{} requests over {connections} connections in {:.2} s: {:.0} requests/s, {failed} failed",
        samples.len(),
        elapsed.as_secs_f64(),
        samples.len() as f64 / elapsed.as_secs_f64()
    );
    for kind in ["transactions/new", "chain page", "health", "balance"] {
        let mut latencies: Vec<Duration> =
            samples.iter().filter(|s| s.0 == kind).map(|s| s.2).collect();
        latencies.sort_unstable();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        println!(
            "  {kind:>16}: p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}
