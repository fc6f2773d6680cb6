//! `gophercoin chain`, `gophercoin block`, `gophercoin tx`: read from a node.

use gophercoin_http::dto::InclusionProofDto;
use serde_json::Value;

use crate::client::{DEFAULT_NODE, NodeClient};

/// `gophercoin chain`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gophercoin chain\n  gophercoin chain --from 100 --json")]
pub(crate) struct ChainArgs {
    /// The node to ask.
    #[arg(long, env = "GOPHERCOIN_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// The first height to show.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Print the node's JSON.
    #[arg(long)]
    json: bool,
}

/// `gophercoin block`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gophercoin block 3\n  gophercoin block 00a1...")]
pub(crate) struct BlockArgs {
    /// A height or a block hash.
    id: String,
    /// The node to ask.
    #[arg(long, env = "GOPHERCOIN_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// Print the node's JSON.
    #[arg(long)]
    json: bool,
}

/// `gophercoin tx`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gophercoin tx 8f1c...\n  gophercoin tx 8f1c... --proof")]
pub(crate) struct TxArgs {
    /// The transaction id.
    id: String,
    /// Fetch the proof that its block holds it (the block's header and a merkle branch)
    /// and check it here: the header hashes to the block and meets its target, and the
    /// branch leads from the id to the header's merkle root.
    #[arg(long)]
    proof: bool,
    /// The node to ask.
    #[arg(long, env = "GOPHERCOIN_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// Print the node's JSON.
    #[arg(long)]
    json: bool,
}

/// Prints the main chain as a table.
pub(crate) async fn chain(args: ChainArgs) -> Result<(), String> {
    let client = NodeClient::new(&args.node)?;
    let answer = client.get(&format!("/chain?from={}&limit=500", args.from)).await?;
    if args.json {
        println!("{answer:#}");
        return Ok(());
    }
    println!("{:>7}  {:<64}  {:>10}  {:>8}  {:>4}", "height", "hash", "time", "target", "txs");
    for block in answer["chain"].as_array().into_iter().flatten() {
        println!(
            "{:>7}  {:<64}  {:>10}  {:>8}  {:>4}",
            block["index"],
            block["hash"].as_str().unwrap_or("?"),
            block["timestamp"],
            block["target"].as_str().unwrap_or("?"),
            block["transactions"].as_array().map_or(0, Vec::len),
        );
    }
    println!("{} blocks in the main chain", answer["length"]);
    Ok(())
}

/// Prints one block.
pub(crate) async fn block(args: BlockArgs) -> Result<(), String> {
    let client = NodeClient::new(&args.node)?;
    let path = if args.id.bytes().all(|b| b.is_ascii_digit()) {
        format!("/blocks/height/{}", args.id)
    } else {
        format!("/blocks/{}", args.id)
    };
    let answer = client.get(&path).await?;
    if args.json {
        println!("{answer:#}");
        return Ok(());
    }
    let block = &answer["block"];
    for field in ["index", "hash", "previous_hash", "merkle_root", "timestamp", "target", "nonce"] {
        println!("{field:>14}  {}", plain(&block[field]));
    }
    println!("{:>14}  {}", "main chain", answer["main_chain"]);
    for tx in block["transactions"].as_array().into_iter().flatten() {
        println!(
            "{:>14}  {} {} units to {}…",
            plain(&tx["type"]),
            plain(&tx["id"]),
            tx["amount"],
            tx["recipient"].as_str().map_or("?", |r| r.get(..24).unwrap_or(r))
        );
    }
    Ok(())
}

/// Prints one transaction.
pub(crate) async fn tx(args: TxArgs) -> Result<(), String> {
    let client = NodeClient::new(&args.node)?;
    if args.proof {
        return proof(&client, &args.id, args.json).await;
    }
    let answer = client.get(&format!("/transactions/{}", args.id)).await?;
    if args.json {
        println!("{answer:#}");
        return Ok(());
    }
    let tx = &answer["transaction"];
    println!("{:>13}  {}", "status", plain(&answer["status"]));
    if answer["status"] == "confirmed" {
        println!(
            "{:>13}  {} (height {}, {} confirmations)",
            "block",
            plain(&answer["block"]),
            answer["height"],
            answer["confirmations"]
        );
    }
    println!(
        "{:>13}  {} units ({} coins)",
        "amount",
        tx["amount"],
        super::coins(tx["amount"].as_u64().unwrap_or(0))
    );
    if let Some(fee) = tx["fee"].as_u64() {
        println!("{:>13}  {fee} units ({} coins) to the miner", "fee", super::coins(fee));
    }
    for field in ["sender", "recipient", "nonce"] {
        println!("{field:>13}  {}", plain(&tx[field]));
    }
    Ok(())
}

/// `gophercoin tx ID --proof`: fetches the inclusion proof and checks it.
async fn proof(client: &NodeClient, id: &str, json: bool) -> Result<(), String> {
    let answer = client.get(&format!("/transactions/{id}/proof")).await?;
    let proof: InclusionProofDto = serde_json::from_value(answer.clone())
        .map_err(|e| format!("the node sent a proof this client can't read: {e}"))?;
    proof.check().map_err(|e| format!("the node's proof does not hold: {e}"))?;
    if json {
        println!("{answer:#}");
        return Ok(());
    }
    println!("{:>13}  {}", "transaction", proof.transaction);
    println!(
        "{:>13}  {} (height {}, {} confirmations)",
        "block", proof.block, proof.height, proof.confirmations
    );
    println!("{:>13}  {}", "merkle root", proof.header.merkle_root);
    println!(
        "{:>13}  valid: entry {} of {}, {} hashes up to the root",
        "proof",
        proof.proof.index + 1,
        proof.proof.count,
        proof.proof.branch.len()
    );
    Ok(())
}

fn plain(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}
