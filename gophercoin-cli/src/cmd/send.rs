//! `gophercoin send`: build and sign a transaction offline, then submit it to a node.

use std::path::PathBuf;

use gophercoin_core::{Address, Amount, Signer, Transaction};
use gophercoin_http::dto::{HealthAnswer, QueuedAnswer};

use crate::client::{DEFAULT_NODE, NodeClient};

/// Arguments of `gophercoin send`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  gophercoin send --to 3082... --amount 5\n  gophercoin send --key alice.key --to 3082... --amount 0.5 --fee 0.00001 --node http://127.0.0.1:5001"
)]
pub(crate) struct SendArgs {
    /// The paying wallet's private key file.
    #[arg(long, env = "GOPHERCOIN_KEY", default_value = super::wallet::DEFAULT_KEY_FILE)]
    key: PathBuf,
    /// The paid wallet's address (hex public key).
    #[arg(long, value_name = "HEX")]
    to: Address,
    /// How much, in coins (up to 8 decimals), e.g. 5 or 0.25.
    #[arg(long, value_parser = parse_coins)]
    amount: Amount,
    /// The fee paid to the miner, in coins (up to 8 decimals), on top of the amount;
    /// blocks take the highest fee per byte first (a transaction is about 620 bytes).
    #[arg(long, value_parser = parse_fee, default_value = "0")]
    fee: Amount,
    /// The node to submit to.
    #[arg(long, env = "GOPHERCOIN_NODE", default_value = DEFAULT_NODE)]
    node: String,
}

/// Parses "5", "0.25" or "12.00000001" coins into a positive amount.
fn parse_coins(text: &str) -> Result<Amount, String> {
    let amount = parse_fee(text)?;
    Amount::positive(amount.to_units()).map_err(|e| e.to_string())
}

/// Parses a fee in coins, zero allowed.
fn parse_fee(text: &str) -> Result<Amount, String> {
    Amount::from_coins(text).map_err(|e| e.to_string())
}

/// Signs offline and submits.
pub(crate) async fn run(args: SendArgs) -> Result<(), String> {
    let signer = super::wallet::load_key(&args.key)?;
    let client = NodeClient::new(&args.node)?;
    let chain_id = client.get::<HealthAnswer>("/health").await?.chain_id;
    let nonce = {
        use rand_core::TryRng;
        getrandom::SysRng.try_next_u64().map_err(|e| format!("no randomness for a nonce: {e}"))?
    };
    let tx = Transaction {
        chain_id,
        sender: signer.address(),
        recipient: args.to,
        amount: args.amount,
        fee: args.fee,
        nonce,
    }
    .sign(&signer)
    .map_err(|e| format!("cannot sign: {e}"))?;
    let answer: QueuedAnswer = client.post("/transactions/new", &tx).await?;
    if answer.id != tx.id() {
        return Err(format!("the node took the payment as {}, not as {}", answer.id, tx.id()));
    }
    println!("transaction {}", answer.id);
    println!("{}", answer.message);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coins_parse_exactly() {
        let units = |s| parse_coins(s).map(Amount::to_units);
        assert_eq!(units("5"), Ok(500_000_000));
        assert_eq!(units("0.25"), Ok(25_000_000));
        assert_eq!(units(".00000001"), Ok(1));
        assert_eq!(units("12.00000001"), Ok(1_200_000_001));
        for bad in ["0", "-1", "1.000000001", "abc", "1.2.3", "", ".", "99999999999999999999"] {
            assert!(parse_coins(bad).is_err(), "{bad}");
        }
        // A fee may be zero, and is otherwise parsed as an amount is.
        assert_eq!(parse_fee("0"), Ok(Amount::ZERO));
        assert_eq!(parse_fee("0.00001").map(Amount::to_units), Ok(1_000));
        for bad in ["-1", "1.000000001", "abc", "", "21000001"] {
            assert!(parse_fee(bad).is_err(), "{bad}");
        }
    }
}
