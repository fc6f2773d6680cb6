//! `gophercoin mine`: an external miner. It fetches a block template from a node, searches
//! nonces on several threads, submits what it finds, and repeats.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use gophercoin_core::{Address, BlockHash, BlockHeader, CompactTarget, Params, Signer, Target};
use gophercoin_http::dto::{BlockDto, HealthAnswer, SubmitAnswer, TemplateAnswer};
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::{DEFAULT_NODE, NodeClient};

/// Nonces one thread tries between looks at the stop flag.
const CHUNK: u64 = 1 << 16;

/// Arguments of `gophercoin mine`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  gophercoin mine --blocks 3\n  gophercoin mine --threads 2 --address 3082... --node http://127.0.0.1:5001\n  gophercoin mine --benchmark 5 --threads 2"
)]
pub(crate) struct MineArgs {
    /// The node to mine for.
    #[arg(long, env = "GOPHERCOIN_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// The private key file of the wallet to pay (only its address is used; not read
    /// with --address).
    #[arg(long, env = "GOPHERCOIN_KEY", default_value = super::wallet::DEFAULT_KEY_FILE)]
    key: PathBuf,
    /// The wallet to pay, instead of --key.
    #[arg(long, value_name = "HEX")]
    address: Option<Address>,
    /// Threads searching nonces [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
    /// Stop after this many blocks are accepted.
    #[arg(long)]
    blocks: Option<u64>,
    /// Measure the hash rate for this many seconds, without a node.
    #[arg(long, value_name = "SECS", conflicts_with_all = ["blocks", "address"])]
    benchmark: Option<u64>,
}

/// Runs the miner until Ctrl-C or `--blocks`.
pub(crate) async fn run(args: MineArgs) -> Result<(), String> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    if let Some(secs) = args.benchmark {
        return benchmark(threads, Duration::from_secs(secs)).await;
    }
    let address = match args.address {
        Some(address) => address,
        None => super::wallet::load_key(&args.key)?.address(),
    };
    let client = NodeClient::new(&args.node)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            super::ctrl_c().await;
            stop.store(true, Ordering::Relaxed);
        });
    }
    let hashes = Arc::new(AtomicU64::new(0));
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").map_err(|e| e.to_string())?,
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let mut found = 0u64;
    let mut last_height = 0;
    while !stop.load(Ordering::Relaxed) && args.blocks.is_none_or(|n| found < n) {
        let template: TemplateAnswer =
            client.get(&format!("/mining/template?address={address}")).await?;
        let tip = template.block.previous_hash;
        let block = template.block.into_block(0);
        last_height = block.header.height;
        let expected = Target::from_compact(block.header.bits)
            .map(|t| t.work().to_u128_saturating())
            .unwrap_or(0);
        progress.set_message(format!(
            "mining block {} · {expected} hashes expected · {} · {found} found",
            block.header.height,
            rate(hashes.load(Ordering::Relaxed), started.elapsed())
        ));
        let stale = Arc::new(AtomicBool::new(false));
        let watcher = watch_tip(client.clone(), tip, Arc::clone(&stale));
        let header = block.header;
        let (stop_c, stale_c, hashes_c) =
            (Arc::clone(&stop), Arc::clone(&stale), Arc::clone(&hashes));
        let solved = tokio::task::spawn_blocking(move || {
            search(header, threads, &[&stop_c, &stale_c], &hashes_c)
        })
        .await
        .map_err(|e| e.to_string())?;
        watcher.abort();
        let Some(header) = solved else { continue };
        let mut block = block;
        block.header = header;
        match client.post::<SubmitAnswer>("/mining/submit", &BlockDto::from_block(&block)).await {
            Ok(_) => found += 1,
            Err(error) => {
                progress.println(format!("block {} not accepted: {error}", header.height))
            }
        }
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed();
    println!(
        "mined {found} block(s) up to height {last_height} in {:.1} s: {} hashes, {} on {threads} thread(s)",
        elapsed.as_secs_f64(),
        hashes.load(Ordering::Relaxed),
        rate(hashes.load(Ordering::Relaxed), elapsed)
    );
    Ok(())
}

/// Marks the template stale when the node's tip moves on (another miner won the block).
fn watch_tip(
    client: NodeClient,
    tip: BlockHash,
    stale: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let health = client.get::<HealthAnswer>("/health").await;
            let moved = health.is_ok_and(|health| health.tip != tip);
            if moved {
                stale.store(true, Ordering::Relaxed);
                return;
            }
        }
    })
}

/// Searches nonces on `threads` threads until one meets the target or a flag is raised,
/// counting every hash in `hashes`.
pub(crate) fn search(
    header: BlockHeader,
    threads: usize,
    flags: &[&AtomicBool],
    hashes: &AtomicU64,
) -> Option<BlockHeader> {
    let stop = || flags.iter().any(|f| f.load(Ordering::Relaxed));
    gophercoin_miner::search_on_threads(header, threads, CHUNK, &stop, hashes)
}

/// Hashes against a target no nonce meets, to measure the hash rate.
async fn benchmark(threads: usize, duration: Duration) -> Result<(), String> {
    let mut header = Params::devnet().genesis().header;
    header.height = 1;
    header.bits = CompactTarget::from_consensus(0x0300_0001);
    let hashes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (stop_c, hashes_c) = (Arc::clone(&stop), Arc::clone(&hashes));
    let started = Instant::now();
    let worker =
        tokio::task::spawn_blocking(move || search(header, threads, &[&stop_c], &hashes_c));
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    worker.await.map_err(|e| e.to_string())?;
    println!(
        "{threads} thread(s), {:?} kernel: {} ({} hashes in {:.2} s)",
        gophercoin_miner::Kernel::detect(),
        rate(hashes.load(Ordering::Relaxed), started.elapsed()),
        hashes.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn rate(hashes: u64, elapsed: Duration) -> String {
    let per_sec = hashes as f64 / elapsed.as_secs_f64().max(1e-9);
    format!("{:.2} MH/s", per_sec / 1e6)
}
