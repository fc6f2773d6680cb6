//! The `gophercoin` command: run a node or the wallet service.

use std::{net::IpAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use gophercoin_core::Address;
use gophercoin_http::{ForkChoiceKind, NodeConfig};
use tracing_subscriber::EnvFilter;

/// GopherCoin: a small proof-of-work cryptocurrency.
#[derive(Debug, Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node: the original's API (/mine, /chain, /transactions/new, /nodes/register,
    /// /nodes/resolve, ...) backed by an embedded database.
    #[command(
        after_help = "Examples:\n  gophercoin node\n  gophercoin node -p 5001 --peer http://127.0.0.1:5000"
    )]
    Node(NodeArgs),
    /// The wallet service: GET /wallet/new, POST /transactions/generate.
    Wallet {
        #[command(subcommand)]
        command: WalletCommand,
    },
}

#[derive(Debug, clap::Args)]
struct NodeArgs {
    /// Port to listen on.
    #[arg(short, long, default_value_t = 5000)]
    port: u16,
    /// Address to listen on (loopback by default; the API has no authentication).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Where the chain and the node's wallet are kept [default: gophercoin-data/node-PORT].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A peer to register and sync with at start (repeatable).
    #[arg(long = "peer", value_name = "URL")]
    peers: Vec<String>,
    /// The wallet (hex public key) mining rewards go to [default: a wallet the node
    /// keeps in its data directory].
    #[arg(long, value_name = "HEX")]
    miner_address: Option<Address>,
    /// How to choose between competing chains.
    #[arg(long, value_enum, default_value_t = ForkChoiceArg::MostWork)]
    fork_choice: ForkChoiceArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ForkChoiceArg {
    /// Most cumulative proof of work.
    MostWork,
    /// Most blocks (the original's rule).
    LongestChain,
}

#[derive(Debug, Subcommand)]
enum WalletCommand {
    /// Serve the wallet API (it handles private keys: keep it on loopback).
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(format!("cannot start the async runtime: {error}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Node(args) => run_node(args).await,
            Command::Wallet { command: WalletCommand::Serve { port, bind } } => {
                let listener = bind_to(bind, port).await?;
                println!(
                    "wallet service on http://{}",
                    listener.local_addr().map_err(|e| e.to_string())?
                );
                gophercoin_http::serve_wallet(listener, shutdown_signal())
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message),
    }
}

async fn run_node(args: NodeArgs) -> Result<(), String> {
    let listener = bind_to(args.bind, args.port).await?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let data_dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from(format!("gophercoin-data/node-{}", address.port())));
    let mut config = NodeConfig::new(address, data_dir);
    config.peers = args.peers;
    config.miner = args.miner_address;
    config.fork_choice = match args.fork_choice {
        ForkChoiceArg::MostWork => ForkChoiceKind::MostWork,
        ForkChoiceArg::LongestChain => ForkChoiceKind::LongestChain,
    };
    println!("node on http://{address} (data in {})", config.data_dir.display());
    gophercoin_http::serve_node(config, listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn bind_to(ip: IpAddr, port: u16) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind((ip, port))
        .await
        .map_err(|e| format!("cannot listen on {ip}:{port}: {e}"))
}

async fn shutdown_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    tracing::info!("shutting down");
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
