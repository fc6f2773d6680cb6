//! What clients can make a node hold, against the release node on loopback. The load
//! comes from the standard tools: `slowhttptest` for slow clients and `wrk` for the honest
//! load and its latency (`bash benches/compare/limits.sh` installs both, builds the node
//! and runs this, the node pinned to core 1 and the tools to core 0).
//!
//! - `slow`: 2,000 connections sending a header line every 10 s (slowloris,
//!   `slowhttptest -H`) and 300 POSTs sending their bodies a few bytes every 10 s
//!   (`slowhttptest -B`), while `wrk` sends honest `GET /health` and fresh payments from
//!   other connections: their p99 and how many were not 2xx, against the same `wrk` runs
//!   with no attack.
//! - `readers`: a node whose chain is 40 blocks of 999 transfers (about 75 MB of JSON);
//!   30 clients ask for `GET /chain` and never read: the node's resident memory.
//! - `downloads`: on that node, the p99 of `POST /transactions/new` under `wrk`, alone and
//!   while 8 `/chain` and 8 `/nodes/resolve` downloads of the whole chain run over and over,
//!   by turns, four runs of 2 s each.
//! - `durability`: payments accepted per second under `wrk` from 256 connections (the
//!   node's in-flight limit), the node storing each before its 201 and not
//!   (`--volatile-mempool`), ten rounds of 2 s each, the mode that goes first alternating
//!   (so a drift of the machine's speed during the run weighs on both), with the node's
//!   CPU time per accepted payment beside the rate.
//!
//! The node is GOPHERCOIN_BIN (default `target/release/gophercoin`).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use gophercoin_benches::{CoreTimes, NodeProcess, build_heavy_chain, sign_payments, test_key};
use gophercoin_core::{RsaSigner, Signer};
use gophercoin_http::dto::TransactionDto;
use tokio::io::AsyncWriteExt as _;

/// Signed payments in each file of bodies: each of a round's two runs takes its own half
/// (a 2 s run at 4 connections sends up to about 11,000).
const PAYMENTS_PER_FILE: u64 = 30_000;

fn main() {
    let bin = std::env::var("GOPHERCOIN_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/gophercoin").into()
    });
    let bin = PathBuf::from(bin);
    for tool in ["wrk", "slowhttptest"] {
        if Command::new(tool).arg("-h").output().is_err() {
            eprintln!("{tool} is missing: run benches/compare/limits.sh, which installs it");
            return;
        }
    }
    if !bin.exists() {
        eprintln!("{} is missing: run benches/compare/limits.sh", bin.display());
        return;
    }
    let picked: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |name: &str| picked.is_empty() || picked.iter().any(|p| p == name);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let work = tempfile::tempdir().expect("a temporary directory");
    let key = test_key();
    let script = work.path().join("payments.lua");
    std::fs::write(&script, PAYMENTS_LUA).expect("writes the wrk script");
    let started = Instant::now();
    // Payments from the key to itself: valid on any node where the key has mined a block.
    let cache = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/limits-bench"));
    std::fs::create_dir_all(&cache).expect("a cache directory");
    let payments = |from: u64, count: u64, name: &str| {
        let path = cache.join(format!("{name}-{from}-{count}.txt"));
        if path.exists() {
            return path;
        }
        let lines: Vec<String> = sign_payments(&key, from, count)
            .iter()
            .map(|tx| serde_json::to_string(&TransactionDto::from_signed(tx)).expect("encodes"))
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").expect("writes the bodies");
        path
    };
    let bodies_a = payments(10_000_000, PAYMENTS_PER_FILE, "payments");
    let bodies_b = payments(20_000_000, PAYMENTS_PER_FILE, "payments");
    let (bodies_c, bodies_d) = if wants("downloads") {
        (
            payments(30_000_000, PAYMENTS_PER_FILE, "payments"),
            payments(40_000_000, PAYMENTS_PER_FILE, "payments"),
        )
    } else {
        (bodies_a.clone(), bodies_b.clone())
    };
    println!("signed payments ready in {:.0} s", started.elapsed().as_secs_f64());
    // Payments for `seconds` (a file's 20,000 bodies last 2 s at 10,000 a second).
    let post = |url: &str, bodies: &Path, connections: u32, seconds: &str| {
        let script = script.to_str().expect("utf-8");
        wrk(url, connections, &["-d", seconds, "-s", script, "--", bodies.to_str().expect("utf-8")])
    };
    // The same from the `skip`th body on.
    let post_from = |url: &str, bodies: &Path, skip: usize, seconds: &str| {
        let script = script.to_str().expect("utf-8");
        let skip = skip.to_string();
        let bodies = bodies.to_str().expect("utf-8");
        wrk(url, 4, &["-d", seconds, "-s", script, "--", bodies, &skip])
    };
    if wants("slow") {
        runtime.block_on(slow(&bin, &key, &post, &bodies_a, &bodies_b));
    }
    if wants("readers") || wants("downloads") {
        let data = cache.join("heavy-chain");
        if !data.join("chain.redb").exists() {
            build_heavy_chain(&data, &key);
        }
        if wants("readers") {
            runtime.block_on(readers(&bin, &data));
        }
        if wants("downloads") {
            let files = [&bodies_a, &bodies_b, &bodies_c, &bodies_d];
            runtime.block_on(downloads(&bin, &data, &post_from, &files));
        }
    }
    if wants("durability") {
        // Both files in one, so the runs without durability do not run out in 2 s.
        let both = work.path().join("payments-both.txt");
        let mut text = std::fs::read_to_string(&bodies_a).expect("reads");
        text.push_str(&std::fs::read_to_string(&bodies_b).expect("reads"));
        std::fs::write(&both, text).expect("writes");
        runtime.block_on(durability(&bin, &key, &post, &both));
    }
}

/// A `wrk` script that sends each line of a file once as a payment (a run that uses
/// them all repeats the last, which is refused and counted as not 2xx).
const PAYMENTS_LUA: &str = r#"
local bodies = {}
local sent = 0
init = function(args)
  local skip = tonumber(args[2] or "0")
  for line in io.lines(args[1]) do
    if skip > 0 then skip = skip - 1 else bodies[#bodies + 1] = line end
  end
end
request = function()
  sent = math.min(sent + 1, #bodies)
  return wrk.format("POST", "/transactions/new", {["Content-Type"] = "application/json"}, bodies[sent])
end
"#;

/// What one `wrk` run reported.
#[derive(Debug, Default)]
struct Wrk {
    requests: u64,
    seconds: f64,
    not_2xx: u64,
    socket_errors: String,
    p50_ms: f64,
    p99_ms: f64,
}

impl Wrk {
    fn accepted_per_sec(&self) -> f64 {
        (self.requests - self.not_2xx) as f64 / self.seconds
    }
}

impl std::fmt::Display for Wrk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests in {:.2} s, {} not 2xx, p50 {:.2} ms, p99 {:.2} ms{}",
            self.requests,
            self.seconds,
            self.not_2xx,
            self.p50_ms,
            self.p99_ms,
            if self.socket_errors.is_empty() {
                String::new()
            } else {
                format!(", {}", self.socket_errors)
            }
        )
    }
}

/// A command for a load tool, pinned to TOOLS_CPUS (taskset's list) if that is set.
fn tool(name: &str) -> Command {
    match std::env::var("TOOLS_CPUS") {
        Ok(cpus) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", &cpus, name]);
            taskset
        }
        Err(_) => Command::new(name),
    }
}

/// Runs `wrk` (one thread, `connections`, 5 s unless `extra` says otherwise, latency
/// distribution) on `url`.
fn wrk(url: &str, connections: u32, extra: &[&str]) -> Wrk {
    let connections = connections.to_string();
    // Options before the URL (wrk reads none after it); a script's arguments after `--`.
    let (options, script_args) = match extra.iter().position(|a| *a == "--") {
        Some(at) => extra.split_at(at),
        None => (extra, &[][..]),
    };
    let duration = if options.contains(&"-d") { &[][..] } else { &["-d", "5s"][..] };
    let output = tool("wrk")
        .args(["-t", "1", "-c", &connections, "--timeout", "10s", "--latency"])
        .args(duration)
        .args(options)
        .arg(url)
        .args(script_args)
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout);
    parse_wrk(&text).unwrap_or_else(|| panic!("unreadable wrk output:\n{text}"))
}

fn parse_wrk(text: &str) -> Option<Wrk> {
    let duration = |word: &str| -> Option<f64> {
        let (number, unit) = word.split_at(word.find(|c: char| c.is_ascii_alphabetic())?);
        let number: f64 = number.parse().ok()?;
        Some(match unit {
            "us" => number / 1e3,
            "ms" => number,
            "s" => number * 1e3,
            "m" => number * 60e3,
            _ => return None,
        })
    };
    let mut report = Wrk::default();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => report.p50_ms = duration(value)?,
            ["99%", value] => report.p99_ms = duration(value)?,
            [count, "requests", "in", time, ..] => {
                report.requests = count.parse().ok()?;
                report.seconds = duration(time.trim_end_matches(','))? / 1e3;
            }
            ["Non-2xx", "or", "3xx", "responses:", count] => report.not_2xx = count.parse().ok()?,
            ["Socket", "errors:", ..] => report.socket_errors = line.to_owned(),
            _ => {}
        }
    }
    (report.requests > 0).then_some(report)
}

/// Starts a node that pays `key` and mines one block, so `key`'s payments are valid.
async fn funded_node(bin: &Path, key: &RsaSigner, extra: &[&str]) -> NodeProcess {
    let address = key.address().to_string();
    let mut args = vec![
        "--miner-address",
        &address,
        "--max-pending-per-sender",
        "1000000",
        "--mempool-size",
        "1000000",
    ];
    args.extend_from_slice(extra);
    let node = NodeProcess::start(bin, None, &args);
    node.wait_up().await;
    assert_eq!(node.get("/mine").await.0, 200, "the node mines block 1");
    node
}

async fn slow(
    bin: &Path,
    key: &RsaSigner,
    post: &impl Fn(&str, &Path, u32, &str) -> Wrk,
    bodies_a: &Path,
    bodies_b: &Path,
) {
    let node = funded_node(bin, key, &[]).await;
    let health = format!("{}/health", node.url);
    let honest = || {
        std::thread::scope(|scope| {
            let gets = scope.spawn(|| wrk(&health, 8, &["-d", "2s"]));
            (gets.join().expect("wrk"), post(&node.url, bodies_a, 4, "2s"))
        })
    };
    let (gets, posts) = honest();
    println!("slow: no attack:   GET /health {gets}");
    println!("slow: no attack:   POST        {posts}");
    let rss = node.status_mib("VmRSS:");
    let slowloris = slowhttptest(&[
        "-c", "2000", "-H", "-i", "10", "-r", "2000", "-t", "GET", "-u", &health, "-x", "24", "-p",
        "3", "-l", "40",
    ]);
    let transactions = format!("{}/transactions/new", node.url);
    let trickle = slowhttptest(&[
        "-c",
        "300",
        "-B",
        "-i",
        "10",
        "-r",
        "300",
        "-s",
        "65536",
        "-t",
        "POST",
        "-u",
        &transactions,
        "-x",
        "10",
        "-p",
        "3",
        "-l",
        "40",
    ]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let connections = open_connections(&node);
    let (gets, posts) = std::thread::scope(|scope| {
        let gets = scope.spawn(|| wrk(&health, 8, &["-d", "2s"]));
        (gets.join().expect("wrk"), post(&node.url, bodies_b, 4, "2s"))
    });
    println!(
        "slow: under attack ({connections} connections open to the node when it began): \
         GET /health {gets}"
    );
    println!("slow: under attack: POST        {posts}");
    println!(
        "slow: node resident {rss:.1} MiB before the attack, {:.1} MiB during it, peak {:.1} MiB",
        node.status_mib("VmRSS:"),
        node.status_mib("VmHWM:")
    );
    for (name, attack) in [("slowloris", slowloris), ("slow bodies", trickle)] {
        let output = attack.wait_with_output().expect("slowhttptest ends");
        let text = String::from_utf8_lossy(&output.stdout);
        // Without its colours (ANSI escapes).
        let text: String = text
            .split('\u{1b}')
            .map(|part| part.split_once('m').map_or(part, |(_, rest)| rest))
            .collect();
        let summary: Vec<&str> = text
            .lines()
            .rev()
            .filter(|l| {
                ["closed:", "pending:", "connected:", "service available:"]
                    .iter()
                    .any(|k| l.contains(k))
            })
            .take(4)
            .collect();
        println!(
            "slow: {name}, slowhttptest's last status: {}",
            summary.join("; ").split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    assert_eq!(node.get("/health").await.0, 200, "the node is still up");
}

/// Starts `slowhttptest` with a file limit that lets it open its connections.
fn slowhttptest(args: &[&str]) -> std::process::Child {
    tool("sh")
        .arg("-c")
        .arg("ulimit -n 16384 && exec slowhttptest \"$@\"")
        .arg("slowhttptest")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("slowhttptest starts")
}

/// How many TCP connections the node's process has open (its sockets, less the listener).
fn open_connections(node: &NodeProcess) -> usize {
    let fds = std::fs::read_dir(format!("/proc/{}/fd", node.child.id())).expect("a Linux /proc");
    fds.filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .count()
        .saturating_sub(1)
}

async fn readers(bin: &Path, data: &Path) {
    let copy = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(data.join("chain.redb"), copy.path().join("chain.redb")).expect("copies");
    let node = NodeProcess::start(
        bin,
        Some(copy.path()),
        &["--miner-address", &test_key().address().to_string()],
    );
    node.wait_up().await;
    let whole = node.http.get(format!("{}/chain", node.url)).send().await.expect("answers");
    let bytes = whole.bytes().await.expect("reads").len();
    let start = node.status_mib("VmRSS:");
    let address = node.url.trim_start_matches("http://").to_owned();
    let mut readers = vec![];
    for _ in 0..30 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connects");
        let request = format!("GET /chain HTTP/1.1\r\nhost: {address}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("sends");
        readers.push(stream);
    }
    let mut most = start;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        most = most.max(node.status_mib("VmRSS:"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let open = open_connections(&node);
    println!(
        "readers: /chain is {:.1} MB; 30 clients that never read: node resident {start:.1} MiB \
         before, at most {most:.1} MiB in 30 s (+{:.1} MiB), peak {:.1} MiB; {open} of their \
         connections still open after 30 s",
        bytes as f64 / 1e6,
        most - start,
        node.status_mib("VmHWM:"),
    );
    assert_eq!(node.get("/health").await.0, 200, "the node is still up");
    drop(readers);
}

async fn downloads(
    bin: &Path,
    data: &Path,
    post_from: &impl Fn(&str, &Path, usize, &str) -> Wrk,
    files: &[&PathBuf; 4],
) {
    let copy = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(data.join("chain.redb"), copy.path().join("chain.redb")).expect("copies");
    let node = NodeProcess::start(
        bin,
        Some(copy.path()),
        &[
            "--miner-address",
            &test_key().address().to_string(),
            "--max-pending-per-sender",
            "1000000",
            "--mempool-size",
            "1000000",
        ],
    );
    node.wait_up().await;
    let running = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let downloaded = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for i in 0..16 {
        let url = format!("{}{}", node.url, if i % 2 == 0 { "/chain" } else { "/nodes/resolve" });
        let (running, stop, downloaded, http) =
            (Arc::clone(&running), Arc::clone(&stop), Arc::clone(&downloaded), node.http.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if !running.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                let Ok(mut response) = http.get(&url).send().await else { continue };
                while let Ok(Some(chunk)) = response.chunk().await {
                    downloaded.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    if !running.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
        }));
    }
    // Alone and with the downloads, by turns (a drift of the machine's speed weighs on
    // both), each run with payments of its own.
    let mut p99s = [vec![], vec![]];
    let mut rates = vec![];
    for (round, file) in files.iter().enumerate() {
        for (i, with) in [false, true].into_iter().enumerate() {
            running.store(with, Ordering::Relaxed);
            if with {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let (started, before) = (Instant::now(), downloaded.load(Ordering::Relaxed));
            let (url, bodies) = (node.url.clone(), file.to_path_buf());
            let from = i * PAYMENTS_PER_FILE as usize / 2;
            let report = tokio::task::block_in_place(|| post_from(&url, &bodies, from, "2s"));
            if with {
                let bytes = downloaded.load(Ordering::Relaxed) - before;
                rates.push(bytes as f64 / started.elapsed().as_secs_f64() / 1e6);
            }
            println!(
                "downloads: round {}, POST {}: {report}",
                round + 1,
                if with { "with 16 downloads" } else { "alone            " }
            );
            p99s[i].push(report.p99_ms);
        }
    }
    running.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
    };
    let (alone, with) = (median(&mut p99s[0]), median(&mut p99s[1]));
    println!(
        "downloads: median p99 {alone:.2} ms alone, {with:.2} ms with the downloads (which ran \
         at {:.0} MB/s): ratio {:.2}",
        median(&mut rates),
        with / alone
    );
}

/// The one CPU the node is pinned to (`NODE_CPUS`), if it is one.
fn node_core() -> Option<usize> {
    std::env::var("NODE_CPUS").ok()?.parse().ok()
}

async fn durability(
    bin: &Path,
    key: &RsaSigner,
    post: &impl Fn(&str, &Path, u32, &str) -> Wrk,
    bodies: &Path,
) {
    const MODES: [(&str, &[&str]); 2] =
        [("stored before the 201", &[]), ("--volatile-mempool", &["--volatile-mempool"])];
    let mut rates = [vec![], vec![]];
    let mut cpu_us = [vec![], vec![]];
    let mut ratios = vec![];
    for round in 0..10 {
        let mut this_round = [0.0; 2];
        for turn in 0..2 {
            let i = (round + turn) % 2;
            let node = funded_node(bin, key, MODES[i].1).await;
            let (cpu, writer) = (node.cpu_secs(), node.thread_cpu_secs("store-writer"));
            let commits = node.metric("gophercoin_store_commit_operations").await;
            // The node's core, when it has one of its own: how long it stood idle.
            let core = node_core().and_then(CoreTimes::of);
            let report = post(&node.url, bodies, 256, "2s");
            let idle = core.zip(node_core().and_then(CoreTimes::of));
            let idle = idle.map_or(String::new(), |(before, after)| {
                let (idle, iowait) = after.idle_since(&before);
                format!(", its core {idle:.0} % idle and {iowait:.0} % waiting for the disk")
            });
            let accepted = (report.requests - report.not_2xx) as f64;
            let per_payment = (node.cpu_secs() - cpu) / accepted * 1e6;
            let writer = (node.thread_cpu_secs("store-writer") - writer) / accepted * 1e6;
            let commits = node.metric("gophercoin_store_commit_operations").await.zip(commits);
            let commits = commits.map_or(0.0, |(after, before)| after - before);
            println!(
                "durability: round {}, {}: {report}, {:.0} accepted/s, node CPU {per_payment:.0} µs \
                 per accepted ({writer:.0} µs in the store writer), {commits:.0} commits{idle}",
                round + 1,
                MODES[i].0,
                report.accepted_per_sec()
            );
            this_round[i] = report.accepted_per_sec();
            rates[i].push(report.accepted_per_sec());
            cpu_us[i].push(per_payment);
        }
        ratios.push(this_round[0] / this_round[1]);
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
    };
    let (durable, volatile) = (median(&mut rates[0]), median(&mut rates[1]));
    println!(
        "durability: medians {durable:.0} accepted/s stored, {volatile:.0} volatile: {:.1} % \
         (median of the rounds' ratios {:.1} %); node CPU per accepted payment {:.0} µs stored, \
         {:.0} µs volatile",
        durable / volatile * 100.0,
        median(&mut ratios) * 100.0,
        median(&mut cpu_us[0]),
        median(&mut cpu_us[1]),
    );
}
