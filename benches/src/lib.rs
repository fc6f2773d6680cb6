//! Criterion benchmarks for GopherCoin; the benchmarks are the `benches/*.rs` targets
//! (`cargo bench -p gophercoin-benches`), this library only holds their shared fixtures.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use gophercoin_core::Node;
use gophercoin_core::{
    Amount, Block, BlockHeader, BlockTransaction, Params, Reward, RsaSigner, SignedTransaction,
    Signer, Transaction, UnixTime, block,
};
use gophercoin_http::{
    dto::BlockDto,
    store::{Store, StoreOp},
};
use serde_json::Value;

/// Returns a committed RSA-2048 test key (the core's `tests/data/alice.pkcs8.hex`).
pub fn test_key() -> RsaSigner {
    include_str!("../../gophercoin-core/tests/data/alice.pkcs8.hex")
        .trim()
        .parse()
        .expect("the committed test key parses")
}

/// Returns another committed RSA-2048 test key (the core's `tests/data/bob.pkcs8.hex`).
pub fn other_key() -> RsaSigner {
    include_str!("../../gophercoin-core/tests/data/bob.pkcs8.hex")
        .trim()
        .parse()
        .expect("the committed test key parses")
}

/// Returns a payment of 1 from `key` to itself with `nonce`, signed.
pub fn self_payment(key: &RsaSigner, params: &Params, nonce: u64) -> SignedTransaction {
    Transaction {
        chain_id: params.chain_id,
        sender: key.address(),
        recipient: key.address(),
        amount: Amount::positive(1).expect("positive"),
        fee: Amount::ZERO,
        nonce,
    }
    .sign(key)
    .expect("the test key signs")
}

/// An HTTP client for the benches: reqwest is built with `rustls-no-provider`, so the
/// process's TLS provider is installed first.
pub fn http_client() -> reqwest::Client {
    gophercoin_http::tls::install_crypto_provider();
    reqwest::Client::new()
}

/// The time now, in seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A node process on a loopback port of its own, with its data in a temporary directory.
pub struct NodeProcess {
    /// The node's process.
    pub child: Child,
    /// Its API's base URL.
    pub url: String,
    /// A client for it.
    pub http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

impl NodeProcess {
    /// Starts `bin node` on a free loopback port with `args`, its data in `data_dir` or a
    /// temporary directory, and reads its URL from the first line it prints.
    pub fn start(bin: &Path, data_dir: Option<&Path>, args: &[&str]) -> NodeProcess {
        let dir = match data_dir {
            Some(_) => None,
            None => Some(tempfile::tempdir().expect("a temporary directory")),
        };
        let data = data_dir.unwrap_or_else(|| dir.as_ref().expect("made above").path());
        // NODE_CPUS pins the node (taskset's list, e.g. `1`), so a load generator on the
        // other core does not compete with it.
        let mut command = match std::env::var("NODE_CPUS") {
            Ok(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.args(["-c", &cpus]).arg(bin);
                taskset
            }
            Err(_) => Command::new(bin),
        };
        let mut child = command
            .args(["node", "-p", "0", "--data-dir"])
            .arg(data)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the node starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the node prints its URL");
        // Keep reading, so the node never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .expect("a loopback URL")
            .to_owned();
        NodeProcess { child, url, http: http_client(), _dir: dir }
    }

    /// Waits until the node answers `/health`.
    pub async fn wait_up(&self) {
        for _ in 0..6_000 {
            if self.get("/health").await.0 == 200 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the node at {} did not come up", self.url);
    }

    /// `GET path`: the status and the JSON answer (`(0, Null)` if the request failed).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (status, text) = self.get_text(path).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GET path`: the status and the answer as text (`(0, "")` if the request failed).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        match self.http.get(format!("{}{path}", self.url)).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    }

    /// The value of the metric `name` in the node's `GET /metrics` (a histogram's: how
    /// many it observed), or `None` if the node does not show it.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let (_, text) = self.get_text("/metrics").await;
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).ok()?;
        let sample = scrape.samples.iter().find(|sample| sample.metric == name)?;
        match &sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(*v),
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map(|b| b.count),
            prometheus_parse::Value::Summary(_) => None,
        }
    }

    /// `POST path` with a JSON body: the status and the JSON answer.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the node answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The node's user and system CPU time so far, in seconds.
    pub fn cpu_secs(&self) -> f64 {
        cpu_secs_of(&format!("/proc/{}/stat", self.child.id())).expect("a Linux /proc")
    }

    /// The user and system CPU time so far of the node's threads named `name`, in seconds.
    pub fn thread_cpu_secs(&self, name: &str) -> f64 {
        let tasks =
            std::fs::read_dir(format!("/proc/{}/task", self.child.id())).expect("a Linux /proc");
        tasks
            .filter_map(|task| {
                let path = task.ok()?.path();
                let comm = std::fs::read_to_string(path.join("comm")).ok()?;
                (comm.trim() == name).then(|| cpu_secs_of(&path.join("stat").to_string_lossy()))?
            })
            .sum()
    }

    /// A line of the node's /proc status, in MiB: `VmRSS:` (now) or `VmHWM:` (the peak).
    pub fn status_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("a Linux /proc");
        let line = status.lines().find(|l| l.starts_with(field)).expect("the field");
        line.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()).unwrap() / 1024.0
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User and system CPU time from a /proc `stat` file, in seconds.
/// Where one CPU's time went, in clock ticks (`/proc/stat`'s line for it).
#[derive(Clone, Copy, Debug, Default)]
pub struct CoreTimes {
    /// User time, niced or not.
    pub user: u64,
    /// System time, interrupts included.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Idle with a disk request outstanding.
    pub iowait: u64,
}

impl CoreTimes {
    /// The time of `cpu` so far, if this is Linux and the CPU exists.
    pub fn of(cpu: usize) -> Option<CoreTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().find(|line| line.starts_with(&format!("cpu{cpu} ")))?;
        let ticks: Vec<u64> =
            line.split_whitespace().skip(1).map_while(|field| field.parse().ok()).collect();
        let [user, nice, system, idle, iowait, irq, softirq, ..] = ticks[..] else { return None };
        Some(CoreTimes { user: user + nice, system: system + irq + softirq, idle, iowait })
    }

    /// The shares of idle and disk-wait time between `self` and a later reading, in per
    /// cent.
    pub fn idle_since(&self, before: &CoreTimes) -> (f64, f64) {
        let delta = |a: u64, b: u64| a.saturating_sub(b) as f64;
        let idle = delta(self.idle, before.idle);
        let iowait = delta(self.iowait, before.iowait);
        let total =
            delta(self.user, before.user) + delta(self.system, before.system) + idle + iowait;
        if total == 0.0 { (0.0, 0.0) } else { (100.0 * idle / total, 100.0 * iowait / total) }
    }
}

fn cpu_secs_of(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) close with ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
    Some(ticks / clock_ticks_per_sec())
}

fn clock_ticks_per_sec() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().expect("getconf");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(100.0)
}

/// A solved block on `prev` at `height`, paying `miner` the reward, carrying `transfers`.
pub fn block_on(
    prev: &BlockHeader,
    bits: gophercoin_core::CompactTarget,
    timestamp: u64,
    miner: &RsaSigner,
    transfers: &[SignedTransaction],
) -> Block {
    let params = Params::devnet();
    let height = prev.height + 1;
    let reward = Reward { height, recipient: miner.address(), amount: params.reward_at(height) };
    let transactions: Vec<BlockTransaction> = std::iter::once(BlockTransaction::Reward(reward))
        .chain(transfers.iter().cloned().map(BlockTransaction::Transfer))
        .collect();
    let mut header = BlockHeader {
        version: BlockHeader::VERSION,
        height,
        prev: prev.hash(),
        merkle_root: block::merkle_root(transactions.iter().map(BlockTransaction::id)),
        timestamp,
        bits,
        nonce: 0,
    };
    while !gophercoin_miner::solve(&mut header, u64::MAX) {
        header.timestamp += 1;
    }
    Block { header, transactions }
}

/// A block's JSON as the API takes it.
pub fn json_of(block: &Block) -> Vec<u8> {
    serde_json::to_vec(&BlockDto::from_block(block)).expect("serialises")
}

/// Signs `count` payments of 1 from `key` to itself with nonces from `from`, on every core.
pub fn sign_payments(key: &RsaSigner, from: u64, count: u64) -> Vec<SignedTransaction> {
    let params = Params::devnet();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let params = &params;
                scope.spawn(move || {
                    (from + t..from + count)
                        .step_by(threads as usize)
                        .map(|nonce| self_payment(key, params, nonce))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts.into_iter().flat_map(|part| part.join().expect("signs")).collect()
    })
}

/// Writes a store holding block 1 (paying `key`) and 40 blocks of 999 of `key`'s
/// payments, checked by an in-process node as they are made.
pub fn build_heavy_chain(data: &Path, key: &RsaSigner) {
    build_chain(data, key, 40, 999);
}

/// Writes a store holding block 1 (paying `key`) and `blocks` blocks of `per_block` of
/// `key`'s payments (nonces from 0), a block every target interval from genesis, checked
/// by an in-process node as they are made.
pub fn build_chain(data: &Path, key: &RsaSigner, blocks: u64, per_block: u64) {
    let started = Instant::now();
    let params = Params::devnet();
    let building = data.with_extension("partial");
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building).expect("a data directory");
    let store =
        Store::open(&building.join("chain.redb"), params.genesis().hash()).expect("a new store");
    let mut chain = Node::devnet();
    let transfers = sign_payments(key, 0, blocks * per_block);
    let per_block = usize::try_from(per_block).expect("a block's count fits");
    let mut batches = std::iter::once(&[][..]).chain(transfers.chunks(per_block.max(1)));
    for height in 1..=blocks + 1 {
        let at = params.genesis_timestamp + height * params.target_block_secs;
        let tip = *chain.tip();
        let batch = batches.next().unwrap_or_default();
        let block = block_on(&tip, tip.bits, at, key, batch);
        let _connected = chain.handle_block(block, UnixTime::from_secs(at)).expect("a valid block");
        while chain.poll_event().is_some() {}
        store.apply(&[StoreOp::Connect(Box::new(chain.chain().tip().to_block()))]).expect("writes");
    }
    drop(store);
    std::fs::rename(&building, data).expect("moves the finished chain in place");
    println!(
        "a chain of {} blocks above genesis, {} transfers, made in {:.0} s",
        blocks + 1,
        transfers.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Writes a store holding `blocks` blocks of nothing but their rewards to `key`, mined
/// by an in-process node (a devnet chain of that length), in batches of 10,000 a commit.
pub fn build_long_chain(data: &Path, key: &RsaSigner, blocks: u64) {
    let started = Instant::now();
    let params = Params::devnet();
    let building = data.with_extension("partial");
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building).expect("a data directory");
    let store =
        Store::open(&building.join("chain.redb"), params.genesis().hash()).expect("a new store");
    let mut chain = Node::devnet();
    let mut batch = vec![];
    for height in 1..=blocks {
        let at = params.genesis_timestamp + height * params.target_block_secs;
        let _mined = chain.mine_block(&key.address(), UnixTime::from_secs(at)).expect("mines");
        while chain.poll_event().is_some() {}
        batch.push(StoreOp::Connect(Box::new(chain.chain().tip().to_block())));
        if batch.len() == 10_000 || height == blocks {
            store.apply(&batch).expect("writes");
            batch.clear();
        }
    }
    drop(store);
    std::fs::rename(&building, data).expect("moves the finished chain in place");
    println!("a chain of {blocks} blocks made in {:.0} s", started.elapsed().as_secs_f64());
}
