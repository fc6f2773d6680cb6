//! `gophercoin wallet`: make a key pair, show its address and balance, serve the wallet API.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use gophercoin_core::{Address, RsaSigner, Signer, crypto::rsa::DEFAULT_KEY_BITS};
use gophercoin_http::dto::BalanceAnswer;

use crate::client::{DEFAULT_NODE, NodeClient};

/// The default wallet key file.
pub(crate) const DEFAULT_KEY_FILE: &str = "gophercoin-wallet.key";

/// `gophercoin wallet ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum WalletCommand {
    /// Make a new RSA-2048 key pair and save the private key (owner-only permissions).
    #[command(
        after_help = "Examples:\n  gophercoin wallet new\n  gophercoin wallet new --key alice.key"
    )]
    New {
        /// Where to save the private key (hex PKCS#8); an existing file is never overwritten.
        #[arg(long, env = "GOPHERCOIN_KEY", default_value = DEFAULT_KEY_FILE)]
        key: PathBuf,
        /// Also print the private key (keep it secret).
        #[arg(long)]
        print_private_key: bool,
    },
    /// Print a wallet's address (its hex public key).
    #[command(after_help = "Example:\n  gophercoin wallet address --key alice.key")]
    Address {
        /// The private key file.
        #[arg(long, env = "GOPHERCOIN_KEY", default_value = DEFAULT_KEY_FILE)]
        key: PathBuf,
    },
    /// Ask a node for a wallet's balance.
    #[command(
        after_help = "Examples:\n  gophercoin wallet balance\n  gophercoin wallet balance --address 3082... --node http://127.0.0.1:5001"
    )]
    Balance {
        /// The private key file whose address to look up (not read with --address).
        #[arg(long, env = "GOPHERCOIN_KEY", default_value = DEFAULT_KEY_FILE)]
        key: PathBuf,
        /// An address to look up instead of --key's.
        #[arg(long, value_name = "HEX")]
        address: Option<Address>,
        /// The node to ask.
        #[arg(long, env = "GOPHERCOIN_NODE", default_value = DEFAULT_NODE)]
        node: String,
        /// Print the node's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Serve the wallet API: GET /wallet/new, POST /transactions/generate. It handles
    /// private keys: keep it on loopback.
    #[command(after_help = "Example:\n  gophercoin wallet serve -p 8080")]
    Serve {
        /// Port to listen on.
        #[arg(short, long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
    },
}

/// Runs a wallet command.
pub(crate) async fn run(command: WalletCommand) -> Result<(), String> {
    match command {
        WalletCommand::New { key, print_private_key } => {
            let signer = tokio::task::spawn_blocking(|| {
                RsaSigner::generate(&mut getrandom::SysRng, DEFAULT_KEY_BITS)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot make a key: {e}"))?;
            save_key(&key, &signer).map_err(|e| format!("cannot write {}: {e}", key.display()))?;
            println!("saved the private key to {}", key.display());
            println!("address: {}", signer.address());
            if print_private_key {
                println!("private key: {}", signer.to_pkcs8_hex());
            }
            Ok(())
        }
        WalletCommand::Address { key } => {
            println!("{}", load_key(&key)?.address());
            Ok(())
        }
        WalletCommand::Balance { key, address, node, json } => {
            let address = match address {
                Some(address) => address,
                None => load_key(&key)?.address(),
            };
            let client = NodeClient::new(&node)?;
            let path = format!("/balance/{address}");
            if json {
                println!("{:#}", client.get::<serde_json::Value>(&path).await?);
                return Ok(());
            }
            let answer: BalanceAnswer = client.get(&path).await?;
            let balance = answer.balance;
            println!("{} coins ({balance} units) at height {}", balance.coins(), answer.height);
            if !answer.pending_spend.is_zero() {
                println!("{} coins pending to be spent", answer.pending_spend.coins());
            }
            Ok(())
        }
        WalletCommand::Serve { port, bind } => {
            let listener = super::node::bind(bind, port)?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            println!("wallet service on http://{address}");
            gophercoin_http::serve_wallet(listener, super::stop_signal()).await;
            Ok(())
        }
    }
}

/// Writes a new wallet's private key to a new file (never over an old one) that only its
/// owner can read, and syncs it to disk before the address is shown.
fn save_key(path: &Path, signer: &RsaSigner) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{}", signer.to_pkcs8_hex())?;
    file.sync_all()
}

/// Reads a private key file (hex PKCS#8, or the original's PKCS#1).
pub(crate) fn load_key(path: &Path) -> Result<RsaSigner, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
    text.trim().parse().map_err(|e| format!("{} is not a usable private key: {e}", path.display()))
}
