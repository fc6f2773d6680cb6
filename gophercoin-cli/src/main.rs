//! The `gophercoin` command: run nodes, a local network and the wallet service; make
//! wallets, send coins, mine, and read the chain.

mod client;
mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::cmd::{chain, devnet, mine, node, peers, send, sim, wallet, watch};

/// The version `--version` shows: the crate's, and the commit it was built from when
/// built from a git checkout (`build.rs`).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("GOPHERCOIN_COMMIT"), ")");

/// GopherCoin: a small proof-of-work cryptocurrency.
#[derive(Debug, Parser)]
#[command(name = "gophercoin", version = VERSION, propagate_version = true, arg_required_else_help = true)]
struct Cli {
    /// How log lines are written to stderr: `text` for people, `json` (one JSON object a
    /// line) for log collectors. `RUST_LOG` picks which lines (default `info`).
    #[arg(long, global = true, value_enum, env = "GOPHERCOIN_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Trust the certificates in this PEM file, besides the system's, when talking to a
    /// node over https (one with a certificate of its own).
    #[arg(long, global = true, env = "GOPHERCOIN_CACERT", value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The log line format (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One readable line an event.
    Text,
    /// One JSON object a line: time, level, target, message and fields.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node: the original's API (/mine, /chain, /transactions/new, /nodes/register,
    /// /nodes/resolve, ...) backed by an embedded database.
    #[command(
        after_help = "Examples:\n  gophercoin node\n  gophercoin node -p 5001 --peer http://127.0.0.1:5000"
    )]
    Node(node::NodeArgs),
    /// Start several interconnected nodes on local ports.
    Devnet(devnet::DevnetArgs),
    /// Make a wallet, show its address or balance, or serve the wallet API.
    Wallet {
        #[command(subcommand)]
        command: wallet::WalletCommand,
    },
    /// Sign a payment offline and submit it to a node.
    Send(send::SendArgs),
    /// Mine blocks for a node on all cores.
    Mine(mine::MineArgs),
    /// Register peers with a node.
    Register(peers::RegisterArgs),
    /// Make a node ask its peers and adopt the best valid chain.
    Resolve(peers::ResolveArgs),
    /// Make a node forget peers.
    Unregister(peers::UnregisterArgs),
    /// Show the main chain.
    Chain(chain::ChainArgs),
    /// Show a block by height or hash.
    Block(chain::BlockArgs),
    /// Show a transaction.
    Tx(chain::TxArgs),
    /// Follow a node's live events: new tips, blocks, pending transactions, peers.
    Watch(watch::WatchArgs),
    /// Print a completion script for a shell: `gophercoin completions bash >
    /// ~/.local/share/bash-completion/completions/gophercoin`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Simulate a network of many nodes on a virtual clock and print what it measured.
    #[command(after_help = "Example:\n  gophercoin sim --nodes 1000 --blocks 100")]
    Sim(sim::SimArgs),
}

/// The program's allocator. A node allocates for every request (bodies, keys, answers)
/// and grows its mempool and chain; mimalloc serves that with less work than the system's
/// allocator and does not hand memory back and forth with the kernel under load
/// (`benches/NOTES.md` has the figures). The library crates leave the choice to the
/// program that embeds them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Whole, as clap writes it: what is wrong, the usage, and a hint (--help and
            // --version go to stdout with success).
            let mut text = error.render().to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            if error.use_stderr() {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    if let Some(path) = &cli.cacert
        && let Err(message) = client::trust_certificates(path)
    {
        return fail(&message);
    }
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Node(args) => node::run(args).await,
            Command::Devnet(args) => devnet::run(args).await,
            Command::Wallet { command } => wallet::run(command).await,
            Command::Send(args) => send::run(args).await,
            Command::Mine(args) => mine::run(args).await,
            Command::Register(args) => peers::register(args).await,
            Command::Resolve(args) => peers::resolve(args).await,
            Command::Unregister(args) => peers::unregister(args).await,
            Command::Chain(args) => chain::chain(args).await,
            Command::Block(args) => chain::block(args).await,
            Command::Tx(args) => chain::tx(args).await,
            Command::Watch(args) => watch::run(args).await,
            Command::Completions { shell } => {
                let mut command = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut command, "gophercoin", &mut std::io::stdout());
                Ok(())
            }
            Command::Sim(args) => sim::run(args),
        }
    });
    // Whatever still runs (a nonce search on a blocking thread, a peer request) gets half
    // a second: a stopping node exits within its drain time, and everything it
    // acknowledged is on disk already.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
