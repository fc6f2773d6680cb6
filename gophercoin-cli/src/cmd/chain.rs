//! `gophercoin chain`, `gophercoin block`, `gophercoin tx`: read from a node.

use gophercoin_core::TxId;
use gophercoin_http::dto::{BlockDto, InclusionProofDto};
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
    let page: ChainPage = serde_json::from_value(answer)
        .map_err(|e| format!("the node sent a chain this client can't read: {e}"))?;
    let width = page.chain.iter().map(|b| b.index.to_string().len()).max().unwrap_or(1).max(6);
    println!(
        "{:>width$}  {:<64}  {:<23}  {:<8}  {:>4}",
        "height", "hash", "time (UTC)", "target", "txs"
    );
    for block in &page.chain {
        let hash = block.hash.map(|hash| hash.to_string()).unwrap_or_default();
        println!(
            "{:>width$}  {hash:<64}  {:<23}  {:<8}  {:>4}",
            block.index,
            utc(block.timestamp),
            block.target,
            block.transactions.len(),
        );
    }
    println!("{} blocks in the main chain", page.length);
    Ok(())
}

/// A page of `GET /chain`.
#[derive(Debug, serde::Deserialize)]
struct ChainPage {
    chain: Vec<BlockDto>,
    length: u64,
}

/// Seconds since the Unix epoch as a UTC date and time, `2026-12-03 19:36:52`.
fn utc(secs: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(time).to_string().replace('T', " ").replace('Z', "")
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

/// `gophercoin tx ID --proof`: fetches the inclusion proof and checks it against the
/// header the node sends with it.
async fn proof(client: &NodeClient, id: &str, json: bool) -> Result<(), String> {
    let wanted: TxId = id.parse().map_err(|e| format!("{id} is not a transaction id: {e}"))?;
    let answer = client.get(&format!("/transactions/{id}/proof")).await?;
    let proof: InclusionProofDto = serde_json::from_value(answer.clone())
        .map_err(|e| format!("the node sent a proof this client can't read: {e}"))?;
    if proof.transaction != wanted {
        return Err(format!("the node sent a proof for {}, not for {wanted}", proof.transaction));
    }
    proof.check().map_err(|e| format!("the node's proof does not hold: {e}"))?;
    if json {
        println!("{answer:#}");
        return Ok(());
    }
    println!("{:>13}  {}", "transaction", proof.transaction);
    println!(
        "{:>13}  {} (height {}, {} confirmations, as the node says)",
        "block", proof.block, proof.height, proof.confirmations
    );
    println!("{:>13}  {}", "merkle root", proof.header.merkle_root);
    println!(
        "{:>13}  holds: {} hashes lead from the id to the merkle root of that block's header, which hashes to it and meets its target {}",
        "proof",
        proof.proof.branch.len(),
        proof.header.target
    );
    println!(
        "{:>13}  whether that block is on the best chain, only a view of the headers says",
        ""
    );
    Ok(())
}

fn plain(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}
