//! `gophercoin register` and `gophercoin resolve`: the original's peer routes.

use gophercoin_http::dto::{PeersAnswer, ResolveAnswer};
use serde_json::json;

use crate::client::{DEFAULT_NODE, NodeClient};

/// `gophercoin register`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  gophercoin register http://127.0.0.1:5001 --node http://127.0.0.1:5000"
)]
pub(crate) struct RegisterArgs {
    /// The peers' URLs.
    #[arg(required = true, value_name = "URL")]
    peers: Vec<String>,
    /// The node that registers them.
    #[arg(long, env = "GOPHERCOIN_NODE", default_value = DEFAULT_NODE)]
    node: String,
}

/// `gophercoin unregister`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  gophercoin unregister http://127.0.0.1:5001 --node http://127.0.0.1:5000"
)]
pub(crate) struct UnregisterArgs {
    /// The peers' URLs.
    #[arg(required = true, value_name = "URL")]
    peers: Vec<String>,
    /// The node that forgets them.
    #[arg(long, env = "GOPHERCOIN_NODE", default_value = DEFAULT_NODE)]
    node: String,
}

/// `gophercoin resolve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  gophercoin resolve --node http://127.0.0.1:5000")]
pub(crate) struct ResolveArgs {
    /// The node that asks its peers.
    #[arg(long, env = "GOPHERCOIN_NODE", default_value = DEFAULT_NODE)]
    node: String,
}

/// Registers peers with a node.
pub(crate) async fn register(args: RegisterArgs) -> Result<(), String> {
    // The node's own check, made before asking it: a URL it would refuse is named here.
    for peer in &args.peers {
        peer.parse::<gophercoin_http::PeerUrl>()
            .map_err(|e| format!("{peer} is not a peer the node would take: {e}"))?;
    }
    let answer: PeersAnswer = NodeClient::new(&args.node)?
        .post("/nodes/register", &json!({ "nodes": args.peers }))
        .await?;
    println!("{}", answer.message);
    for peer in &answer.total_nodes {
        println!("  {peer}");
    }
    Ok(())
}

/// Makes a node forget peers.
pub(crate) async fn unregister(args: UnregisterArgs) -> Result<(), String> {
    let client = NodeClient::new(&args.node)?;
    for peer in &args.peers {
        let answer: PeersAnswer = client.delete(&["nodes", peer]).await?;
        println!("{}", answer.message);
    }
    Ok(())
}

/// Makes a node ask its peers and adopt the best valid chain.
pub(crate) async fn resolve(args: ResolveArgs) -> Result<(), String> {
    let answer: ResolveAnswer = NodeClient::new(&args.node)?.get("/nodes/resolve").await?;
    println!("{} ({} blocks)", answer.message, answer.length);
    for report in &answer.peers {
        let reason = report.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        println!("  {} {}{reason}", report.peer, report.outcome.as_str());
    }
    Ok(())
}
