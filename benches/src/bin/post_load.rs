//! Posts pre-made JSON bodies (a JSON array in a file) to a URL from many connections and
//! prints `accepted_per_second p50_ms p99_ms accepted total requests_per_second`: the load
//! tool of `benches/compare/node.sh`, fast enough not to be the bottleneck.
//!
//! `post_load URL FILE [CONNECTIONS] [--sleep]`

use std::{sync::Arc, time::Instant};

use clap::Parser;

/// Posts pre-made JSON bodies to a URL from many connections.
#[derive(Parser)]
struct Args {
    /// Where to post.
    url: String,
    /// A JSON array of bodies.
    file: std::path::PathBuf,
    /// Connections, each with one request in flight.
    #[arg(default_value_t = 32)]
    connections: usize,
    /// Sleep while waiting for answers instead of polling for them.
    ///
    /// The tool polls by default: it has a core of its own, and over loopback a server's
    /// answer to a sleeping client also pays, on the server's core, for waking the client
    /// (an inter-processor interrupt, a VM exit on a virtual machine), which a server
    /// answering over a network never does.
    #[arg(long)]
    sleep: bool,
}

fn main() {
    let Args { url, file, connections, sleep } = Args::parse();
    let text = std::fs::read_to_string(file).expect("a readable file of bodies");
    let bodies: Vec<serde_json::Value> = serde_json::from_str(&text).expect("a JSON array");
    // Encoded once, before the clock starts: the run measures the server, not our encoder.
    // Shared buffers: sending one costs a reference count, not a copy.
    let bodies: Vec<bytes::Bytes> = bodies
        .iter()
        .map(|body| serde_json::to_vec(body).expect("a JSON value encodes").into())
        .collect();
    let bodies = Arc::new(bodies);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async move {
        if !sleep {
            // Always one task ready: the runtime checks its sockets without ever blocking.
            tokio::spawn(async {
                loop {
                    tokio::task::yield_now().await;
                }
            });
        }
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..connections)
            .map(|_| {
                let (url, bodies, next) = (url.clone(), Arc::clone(&bodies), Arc::clone(&next));
                tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    let mut samples = vec![];
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(body) = bodies.get(i) else { break };
                        let sent = Instant::now();
                        let status = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0);
                        samples.push((status, sent.elapsed()));
                    }
                    samples
                })
            })
            .collect();
        let mut samples = vec![];
        for worker in workers {
            samples.extend(worker.await.expect("a worker finished"));
        }
        let elapsed = started.elapsed().as_secs_f64();
        let accepted = samples.iter().filter(|(status, _)| *status == 201).count();
        let mut latencies: Vec<f64> = samples.iter().map(|(_, d)| d.as_secs_f64() * 1e3).collect();
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| {
            latencies
                .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        println!(
            "{:.0} {:.2} {:.2} {accepted} {} {:.0}",
            accepted as f64 / elapsed,
            at(0.5),
            at(0.99),
            samples.len(),
            samples.len() as f64 / elapsed
        );
    });
}
