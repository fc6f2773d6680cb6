//! The load tool of `benches/compare/node.sh`, fast enough not to be the bottleneck: many
//! connections, each with one request in flight, against one URL.
//!
//! `http_load post URL FILE [CONNECTIONS] [--sleep]` posts pre-made JSON bodies (a JSON
//! array in a file), one request per body; `http_load get URL COUNT [CONNECTIONS]
//! [--sleep]` sends `COUNT` GET requests. Either prints `ok_per_second p50_ms p99_ms ok
//! total requests_per_second`, where a POST is ok when it is answered `201 Created` and a
//! GET when it is answered `200 OK` with a body that was read to its end.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use clap::{Args, Parser, Subcommand};

/// Loads one URL from many connections.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    load: Load,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Load {
    /// Posts each body of a JSON array once.
    Post {
        /// Where to post.
        url: String,
        /// A JSON array of bodies.
        file: std::path::PathBuf,
        /// Connections, each with one request in flight.
        #[arg(default_value_t = 32)]
        connections: usize,
    },
    /// Sends GET requests.
    Get {
        /// What to get.
        url: String,
        /// How many requests.
        count: usize,
        /// Connections, each with one request in flight.
        #[arg(default_value_t = 32)]
        connections: usize,
    },
}

#[derive(Args)]
struct Options {
    /// Sleep while waiting for answers instead of polling for them.
    ///
    /// The tool polls by default: it has a core of its own, and over loopback a server's
    /// answer to a sleeping client also pays, on the server's core, for waking the client
    /// (an inter-processor interrupt, a VM exit on a virtual machine), which a server
    /// answering over a network never does.
    #[arg(long, global = true)]
    sleep: bool,
}

/// Request `i` of a run.
enum Requests {
    Post { url: String, bodies: Vec<bytes::Bytes> },
    Get { url: String, count: usize },
}

impl Requests {
    fn len(&self) -> usize {
        match self {
            Self::Post { bodies, .. } => bodies.len(),
            Self::Get { count, .. } => *count,
        }
    }

    /// Sends request `i` and answers whether it was ok.
    async fn send(&self, http: &reqwest::Client, i: usize) -> bool {
        match self {
            Self::Post { url, bodies } => {
                let Some(body) = bodies.get(i) else { return false };
                let sent = http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                sent.is_ok_and(|r| r.status() == reqwest::StatusCode::CREATED)
            }
            Self::Get { url, .. } => match http.get(url).send().await {
                Ok(r) if r.status() == reqwest::StatusCode::OK => r.bytes().await.is_ok(),
                _ => false,
            },
        }
    }
}

fn main() {
    let Cli { load, options } = Cli::parse();
    let (requests, connections) = match load {
        Load::Post { url, file, connections } => {
            let text = std::fs::read_to_string(file).expect("a readable file of bodies");
            let bodies: Vec<serde_json::Value> = serde_json::from_str(&text).expect("a JSON array");
            // Encoded once, before the clock starts: the run measures the server, not our
            // encoder. Shared buffers: sending one costs a reference count, not a copy.
            let bodies = bodies
                .iter()
                .map(|body| serde_json::to_vec(body).expect("a JSON value encodes").into())
                .collect();
            (Requests::Post { url, bodies }, connections)
        }
        Load::Get { url, count, connections } => (Requests::Get { url, count }, connections),
    };
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let (samples, elapsed) = runtime.block_on(run(Arc::new(requests), connections, options.sleep));
    let ok = samples.iter().filter(|(ok, _)| *ok).count();
    let mut latencies: Vec<f64> = samples.iter().map(|(_, d)| d.as_secs_f64() * 1e3).collect();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies.get(((latencies.len().max(1) - 1) as f64 * q) as usize).copied().unwrap_or(0.0)
    };
    let seconds = elapsed.as_secs_f64();
    println!(
        "{:.0} {:.2} {:.2} {ok} {} {:.0}",
        ok as f64 / seconds,
        at(0.5),
        at(0.99),
        samples.len(),
        samples.len() as f64 / seconds
    );
}

/// Sends every request, `connections` at a time; each one's outcome and latency, and how
/// long they all took.
async fn run(
    requests: Arc<Requests>,
    connections: usize,
    sleep: bool,
) -> (Vec<(bool, Duration)>, Duration) {
    if !sleep {
        // Always one task ready: the runtime checks its sockets without ever blocking.
        tokio::spawn(async {
            loop {
                tokio::task::yield_now().await;
            }
        });
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (requests, next) = (Arc::clone(&requests), Arc::clone(&next));
            tokio::spawn(async move {
                let http = gophercoin_benches::http_client();
                let mut samples = vec![];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests.len() {
                        break;
                    }
                    let sent = Instant::now();
                    let ok = requests.send(&http, i).await;
                    samples.push((ok, sent.elapsed()));
                }
                samples
            })
        })
        .collect();
    let mut samples = vec![];
    for worker in workers {
        samples.extend(worker.await.expect("a worker finished"));
    }
    (samples, started.elapsed())
}
