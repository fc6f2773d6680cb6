//! `gophercoin devnet`: several interconnected nodes on local ports, in one process.

use std::{net::Ipv4Addr, path::PathBuf};

use gophercoin_http::{
    NodeConfig,
    dto::{HealthAnswer, PeersAnswer},
};
use serde_json::json;

use crate::client::NodeClient;

/// Arguments of `gophercoin devnet`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  gophercoin devnet --nodes 3\n  gophercoin devnet --nodes 4 --base-port 6000"
)]
pub(crate) struct DevnetArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
    nodes: u16,
    /// The first node's port; the others follow (0 picks free ports).
    #[arg(long, default_value_t = 5000)]
    base_port: u16,
    /// Where the nodes keep their data (one directory each) [default:
    /// gophercoin-data/NETWORK].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The network the nodes run.
    #[arg(long, value_enum, default_value_t = super::NetworkArg::Devnet)]
    network: super::NetworkArg,
}

/// Starts the nodes, connects every node to every other, and runs until Ctrl-C.
pub(crate) async fn run(args: DevnetArgs) -> Result<(), String> {
    super::node::raise_file_limit();
    let data_dir =
        args.data_dir.unwrap_or_else(|| PathBuf::from("gophercoin-data").join(args.network.name()));
    let mut listeners = vec![];
    for i in 0..args.nodes {
        let port = if args.base_port == 0 { 0 } else { args.base_port.saturating_add(i) };
        listeners.push(super::node::bind(Ipv4Addr::LOCALHOST.into(), port)?);
    }
    let urls: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| format!("http://{a}")).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut servers = tokio::task::JoinSet::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let mut config = NodeConfig::new(address, data_dir.join(format!("node-{i}")));
        config.params = args.network.params();
        let mut stopped = stop.subscribe();
        servers.spawn(gophercoin_http::serve_node(config, listener, async move {
            let _ = stopped.recv().await;
        }));
    }
    for url in &urls {
        let client = NodeClient::new(url)?;
        wait_up(&client).await?;
        let others: Vec<&String> = urls.iter().filter(|u| *u != url).collect();
        if !others.is_empty() {
            client.post::<PeersAnswer>("/nodes/register", &json!({ "nodes": others })).await?;
        }
    }
    for url in &urls {
        println!("{url}");
    }
    let params = args.network.params();
    println!(
        "{} of {} node(s) running: {} coins a block plus fees, halving every {} blocks; mine with `curl {}/mine`; Ctrl-C stops it",
        args.network.name(),
        urls.len(),
        params.reward_at(1).coins(),
        params.halving_interval,
        urls[0]
    );
    tokio::select! {
        () = super::stop_signal() => {}
        Some(result) = servers.join_next() => {
            let _ = stop.send(());
            return Err(match result {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(())) => "a node stopped".into(),
                Err(e) => e.to_string(),
            });
        }
    }
    let _ = stop.send(());
    while servers.join_next().await.is_some() {}
    Ok(())
}

async fn wait_up(client: &NodeClient) -> Result<(), String> {
    for _ in 0..200 {
        if client.get::<HealthAnswer>("/health").await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(format!("the node at {} did not come up", client.url()))
}
