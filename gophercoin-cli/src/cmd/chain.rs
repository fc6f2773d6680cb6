//! `gophercoin chain`, `gophercoin block`, `gophercoin tx`: read from a node.

use gophercoin_core::TxId;
use gophercoin_http::dto::{
    BlockAnswer, BlockTransactionDto, ChainDto, InclusionProofDto, TransactionAnswer,
};
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
    let path = format!("/chain?from={}&limit=500", args.from);
    if args.json {
        println!("{:#}", client.get::<Value>(&path).await?);
        return Ok(());
    }
    let page: ChainDto = client.get(&path).await?;
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
    if args.json {
        println!("{:#}", client.get::<Value>(&path).await?);
        return Ok(());
    }
    let BlockAnswer { block, main_chain } = client.get(&path).await?;
    let hash = block.hash.map(|hash| hash.to_string()).unwrap_or_default();
    let rows = [
        ("index", block.index.to_string()),
        ("hash", hash),
        ("previous_hash", block.previous_hash.to_string()),
        ("merkle_root", block.merkle_root.to_string()),
        ("time", format!("{} UTC ({})", utc(block.timestamp), block.timestamp)),
        ("target", block.target.to_string()),
        ("nonce", block.nonce.to_string()),
        ("main chain", main_chain.to_string()),
    ];
    for (field, value) in rows {
        println!("{field:>14}  {value}");
    }
    for tx in &block.transactions {
        let (kind, id, amount, recipient) = match tx {
            BlockTransactionDto::Reward { id, recipient, amount, .. } => {
                ("reward", id, amount, recipient)
            }
            BlockTransactionDto::Transfer(transfer) => {
                ("transfer", &transfer.id, &transfer.amount, &transfer.recipient)
            }
        };
        let id = id.map(|id| id.to_string()).unwrap_or_default();
        let recipient = recipient.to_string();
        println!(
            "{kind:>14}  {id} {} coins to {}…",
            amount.coins(),
            recipient.get(..24).unwrap_or(&recipient)
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
    let path = format!("/transactions/{}", args.id);
    if args.json {
        println!("{:#}", client.get::<Value>(&path).await?);
        return Ok(());
    }
    let tx = match client.get(&path).await? {
        TransactionAnswer::Pending { transaction } => {
            println!("{:>13}  pending", "status");
            transaction
        }
        TransactionAnswer::Confirmed { transaction, block, height, confirmations } => {
            println!("{:>13}  confirmed", "status");
            println!("{:>13}  {block} (height {height}, {confirmations} confirmations)", "block");
            match transaction {
                BlockTransactionDto::Transfer(transfer) => transfer,
                BlockTransactionDto::Reward { recipient, amount, .. } => {
                    println!(
                        "{:>13}  {amount} units ({} coins), a block reward",
                        "amount",
                        amount.coins()
                    );
                    println!("{:>13}  {recipient}", "recipient");
                    return Ok(());
                }
            }
        }
    };
    let (amount, fee) = (tx.amount, tx.fee);
    println!("{:>13}  {amount} units ({} coins)", "amount", amount.coins());
    println!("{:>13}  {fee} units ({} coins) to the miner", "fee", fee.coins());
    println!("{:>13}  {}", "sender", tx.sender);
    println!("{:>13}  {}", "recipient", tx.recipient);
    println!("{:>13}  {}", "nonce", tx.nonce);
    Ok(())
}

/// `gophercoin tx ID --proof`: fetches the inclusion proof and checks it against the
/// header the node sends with it.
async fn proof(client: &NodeClient, id: &str, json: bool) -> Result<(), String> {
    let wanted: TxId = id.parse().map_err(|e| format!("{id} is not a transaction id: {e}"))?;
    let answer: Value = client.get(&format!("/transactions/{id}/proof")).await?;
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
