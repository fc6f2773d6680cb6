//! `gophercoin sim`: runs the network simulator ([`gophercoin_sim`]) and prints what it
//! measured.

use clap::Args;
use gophercoin_sim::{SimConfig, run as simulate};

/// What to simulate (defaults: [`SimConfig::default`]).
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Nodes in the network.
    #[arg(long, default_value_t = SimConfig::default().nodes)]
    nodes: usize,
    /// The graph's mean degree.
    #[arg(long, default_value_t = SimConfig::default().degree)]
    degree: usize,
    /// Smallest one-way link latency, milliseconds.
    #[arg(long, default_value_t = SimConfig::default().latency_ms.0)]
    min_latency_ms: u64,
    /// Largest one-way link latency, milliseconds.
    #[arg(long, default_value_t = SimConfig::default().latency_ms.1)]
    max_latency_ms: u64,
    /// Each link's bandwidth, bytes a second.
    #[arg(long, default_value_t = SimConfig::default().bandwidth)]
    bandwidth: u64,
    /// Time a node takes to validate a block, milliseconds.
    #[arg(long, default_value_t = SimConfig::default().validation_ms)]
    validation_ms: u64,
    /// Mean time between blocks, milliseconds.
    #[arg(long, default_value_t = SimConfig::default().block_interval_ms)]
    block_interval_ms: u64,
    /// Blocks to mine.
    #[arg(long, default_value_t = SimConfig::default().blocks)]
    blocks: usize,
    /// Transfers a block interval, from miners with funds.
    #[arg(long, default_value_t = SimConfig::default().transfers_per_block)]
    transfers_per_block: usize,
    /// Nodes that mine, with equal shares of the hash power.
    #[arg(long, default_value_t = SimConfig::default().miners)]
    miners: usize,
    /// Peers a new block is pushed to whole (the others get an announcement).
    #[arg(long, default_value_t = SimConfig::default().push_blocks)]
    push_blocks: usize,
    /// Split the network in two halves at this time (milliseconds)...
    #[arg(long, requires = "heal_at_ms")]
    split_at_ms: Option<u64>,
    /// ...and heal it at this one.
    #[arg(long, requires = "split_at_ms")]
    heal_at_ms: Option<u64>,
    /// The share of nodes that are hostile (sending invalid blocks and data nobody asked
    /// for, announcing blocks they withhold, handing out made-up addresses, answering no
    /// request), 0 to 1.
    #[arg(long, default_value_t = SimConfig::default().hostile)]
    hostile: f64,
    /// Let the nodes find each other from one seed (node 0) instead of wiring a random
    /// graph at the start.
    #[arg(long)]
    discovery: bool,
    /// Churn: on average every N milliseconds a node that does not mine goes offline (its
    /// connections close) for --offline-ms, then comes back.
    #[arg(long, value_name = "N")]
    churn_ms: Option<u64>,
    /// How long a node that left stays away, milliseconds.
    #[arg(long, default_value_t = SimConfig::default().offline_ms)]
    offline_ms: u64,
    /// The chance that a message loses a packet on its way, 0 to 1 (sent again after TCP's
    /// retransmission timeout; what follows on the connection waits).
    #[arg(long, default_value_t = SimConfig::default().loss)]
    loss: f64,
    /// Write the report, with its plots, to this HTML file.
    #[arg(long, value_name = "FILE")]
    report: Option<std::path::PathBuf>,
    /// The seed of every random draw: the same seed gives the same run.
    #[arg(long, default_value_t = SimConfig::default().seed)]
    seed: u64,
}

/// Runs the simulation and prints its summary.
pub(crate) fn run(args: SimArgs) -> Result<(), String> {
    if args.nodes == 0 || args.bandwidth == 0 || args.min_latency_ms > args.max_latency_ms {
        return Err("nodes and bandwidth must be positive, latencies min ≤ max".into());
    }
    if !(0.0..=1.0).contains(&args.hostile) {
        return Err("--hostile is a share of the nodes, from 0 to 1".into());
    }
    if !(0.0..1.0).contains(&args.loss) {
        return Err("--loss is a chance, from 0 to below 1".into());
    }
    if args.churn_ms == Some(0) {
        return Err("--churn-ms must be positive".into());
    }
    let config = SimConfig {
        nodes: args.nodes,
        degree: args.degree,
        latency_ms: (args.min_latency_ms, args.max_latency_ms),
        bandwidth: args.bandwidth,
        validation_ms: args.validation_ms,
        block_interval_ms: args.block_interval_ms.max(1),
        blocks: args.blocks,
        transfers_per_block: args.transfers_per_block,
        miners: args.miners,
        push_blocks: args.push_blocks,
        partition: args.split_at_ms.zip(args.heal_at_ms),
        hostile: args.hostile,
        discovery: args.discovery,
        churn_ms: args.churn_ms,
        offline_ms: args.offline_ms,
        loss: args.loss,
        seed: args.seed,
    };
    let started = std::time::Instant::now();
    let report = simulate(&config);
    let stale_rate = report.stale as f64 / report.mined.max(1) as f64;
    let expected = 1.0 - (-report.miner_delay_ms / config.block_interval_ms as f64).exp();
    println!("nodes                     {}", config.nodes);
    println!("blocks mined              {}", report.mined);
    println!("stale blocks              {} ({:.2} %)", report.stale, stale_rate * 100.0);
    println!(
        "transfers                 {} sent, {} mined",
        report.transfers, report.transfers_mined
    );
    println!(
        "1 - e^(-Δ/T)              {:.2} % (Δ = {:.0} ms, the miners' mean delay)",
        expected * 100.0,
        report.miner_delay_ms
    );
    println!("propagation p50           {} ms", report.propagation_p50_ms);
    println!("propagation p95           {} ms", report.propagation_p95_ms);
    println!("shortest-path bound p95   {} ms", report.bound_p95_ms);
    println!(
        "one tip at the end        {}",
        if report.converged { "yes (or a tie the next block settles)" } else { "no" }
    );
    println!(
        "peers per node            {} at least, {:.1} on average",
        report.min_peers, report.mean_peers
    );
    if let Some(healed) = report.healed_after_ms {
        println!("one tip after the heal    {healed} ms");
    }
    if report.rejoins > 0 {
        println!(
            "nodes that came back      {} (caught up in {} ms median, {} ms at most; {} still behind at the end)",
            report.rejoins, report.rejoin_p50_ms, report.rejoin_max_ms, report.rejoins_behind
        );
    }
    if report.lost > 0 {
        println!("messages retransmitted    {}", report.lost);
    }
    if report.hostile > 0 {
        println!(
            "hostile nodes             {} (dropped by honest peers {} times; left in place \
             after earning a ban {} times; honest nodes dropped {} times)",
            report.hostile,
            report.hostile_dropped,
            report.hostile_not_dropped,
            report.honest_dropped
        );
        println!(
            "made-up addresses kept    {} at most by an honest node, {} at most from one hostile node",
            report.poisoned_max, report.poisoned_per_source_max
        );
    }
    println!("messages                  {} ({} bytes)", report.messages, report.bytes);
    println!("trace                     {}", hex::encode(report.trace));
    println!("ran in                    {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = args.report {
        std::fs::write(&path, gophercoin_sim::html::render(&config, &report))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("report                    {}", path.display());
    }
    Ok(())
}
