//! `gophercoin node`: run a node.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::ValueEnum;
use gophercoin_core::{Address, CompactTarget, FeeRate, Policy};
use gophercoin_http::{ForkChoiceKind, Limits, Multiaddr, NodeConfig, P2pConfig, PeerPolicy};

/// Arguments of `gophercoin node`.
#[derive(Debug, clap::Args)]
pub(crate) struct NodeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = 5000)]
    pub(crate) port: u16,
    /// Address to listen on (loopback by default: the API has no authentication).
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) bind: IpAddr,
    /// Where the chain and the node's wallet are kept [default: gophercoin-data/node-PORT,
    /// or gophercoin-data/regtest/node-PORT on regtest].
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// The network to join.
    #[arg(long, value_enum, default_value_t = super::NetworkArg::Devnet)]
    pub(crate) network: super::NetworkArg,
    /// A peer to register and sync with at start (repeatable): a node's HTTP URL (its
    /// peer address is asked of its `/health`) or its multiaddr
    /// (`/ip4/HOST/tcp/PORT/p2p/PEER_ID`).
    #[arg(long = "peer", value_name = "URL|MULTIADDR")]
    pub(crate) peers: Vec<gophercoin_http::PeerUrl>,
    /// The TCP port peers connect to, on the `--bind` address [default: the HTTP port +
    /// 1000, or a free one if that is 0].
    #[arg(long, value_name = "PORT")]
    pub(crate) p2p_port: Option<u16>,
    /// Listen for peers on this multiaddr instead (repeatable; e.g.
    /// `/ip4/0.0.0.0/tcp/6000`, `/ip6/::/tcp/6000`).
    #[arg(long = "p2p-listen", value_name = "MULTIADDR")]
    pub(crate) p2p_listen: Vec<Multiaddr>,
    /// The address peers should dial to reach this node, told to them (repeatable; behind
    /// a NAT or a port forward, e.g. `/ip4/203.0.113.7/tcp/6000` or
    /// `/dns4/node.example/tcp/6000`). Without it, a node listening on 0.0.0.0 tells
    /// peers no address.
    #[arg(long = "p2p-external", value_name = "MULTIADDR")]
    pub(crate) p2p_external: Vec<Multiaddr>,
    /// The wallet (hex public key) mining rewards go to [default: a wallet the node
    /// keeps in its data directory].
    #[arg(long, value_name = "HEX")]
    pub(crate) miner_address: Option<Address>,
    /// How to choose between competing chains.
    #[arg(long, value_enum, default_value_t = ForkChoiceArg::MostWork)]
    pub(crate) fork_choice: ForkChoiceArg,
    /// Threads `GET /mine` searches nonces on (`0`: every core).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub(crate) mine_threads: usize,
    /// Requests handled at once; more are answered 503.
    #[arg(long, default_value_t = Limits::default().max_in_flight)]
    pub(crate) max_in_flight: usize,
    /// The most peers kept.
    #[arg(long, default_value_t = Limits::default().max_peers)]
    pub(crate) max_peers: usize,
    /// The largest request body in bytes (blocks excepted).
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    pub(crate) max_body_bytes: usize,
    /// Refuse loopback and private addresses as peers (for a node reachable from the
    /// internet: nobody can make it send requests into its own network).
    #[arg(long)]
    pub(crate) public_peers_only: bool,
    /// Start a separate network with this easiest target (compact hex, e.g. 1f00ffff for
    /// 16 leading zero bits) instead of the devnet's 2000ffff; it has its own genesis.
    #[arg(long, value_name = "HEX", value_parser = parse_compact)]
    pub(crate) pow_limit: Option<CompactTarget>,
    /// Start a separate network whose block reward halves every N blocks instead of the
    /// devnet's 525000; it has its own genesis.
    #[arg(long, value_name = "N")]
    pub(crate) halving_interval: Option<u64>,
    /// The least fee, in units per byte of a transaction, this node's mempool accepts.
    #[arg(long, default_value_t = 0, value_name = "UNITS")]
    pub(crate) min_relay_fee: u64,
    /// The most transactions the mempool holds; when full, a newcomer must pay a higher
    /// fee rate than the lowest pending, which it evicts.
    #[arg(long, default_value_t = Policy::default().max_mempool_txs, value_name = "N")]
    pub(crate) mempool_size: usize,
    /// The most transactions one sender may have pending.
    #[arg(long, default_value_t = Policy::default().max_pending_per_sender, value_name = "N")]
    pub(crate) max_pending_per_sender: usize,
    /// A host name the API answers to (repeatable), besides IP addresses, `localhost` and
    /// the host of `--public-url`; requests naming any other `Host` are refused.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub(crate) allowed_hosts: Vec<String>,
    /// The URL peers and browsers reach this node's HTTP API at, if not http://BIND:PORT
    /// (behind a proxy, say): shown in `/health`; its host is served and its origin may
    /// change state.
    #[arg(long, value_name = "URL")]
    pub(crate) public_url: Option<String>,
    /// Dial only the peers given with `--peer` or registered, never addresses learned from
    /// peers (peers may still dial this node).
    #[arg(long)]
    pub(crate) connect_only: bool,
    /// Keep the mempool in memory only: an acknowledged payment is forgotten by a crash or
    /// a restart (by default every accepted transaction is stored before its 201).
    #[arg(long)]
    pub(crate) volatile_mempool: bool,
    /// Seconds a request to a peer may take.
    #[arg(long, default_value_t = Limits::default().peer_timeout.as_secs())]
    pub(crate) peer_timeout_secs: u64,
    /// MiB a second that all chain answers (`/chain`, `/nodes/resolve`) together may
    /// send while other requests are being served, however many clients download at once
    /// (0: no limit; while nothing else asks, they are not held back).
    #[arg(long, default_value_t = Limits::default().chain_send_rate >> 20, value_name = "MIB")]
    pub(crate) chain_send_rate: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ForkChoiceArg {
    /// Most cumulative proof of work.
    MostWork,
    /// Most blocks (the original's rule).
    LongestChain,
}

/// Runs a node until Ctrl-C.
pub(crate) async fn run(args: NodeArgs) -> Result<(), String> {
    raise_file_limit();
    let listener = bind(args.bind, args.port)?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let data_dir = args.data_dir.unwrap_or_else(|| {
        let node = format!("node-{}", address.port());
        match args.network {
            super::NetworkArg::Devnet => PathBuf::from("gophercoin-data").join(node),
            other => PathBuf::from("gophercoin-data").join(other.name()).join(node),
        }
    });
    let mut config = NodeConfig::new(address, data_dir);
    config.params = args.network.params();
    config.p2p = p2p_config(address, args.p2p_port, args.p2p_listen, args.p2p_external);
    let p2p_listen: Vec<String> = config.p2p.listen.iter().map(ToString::to_string).collect();
    config.peers = args.peers;
    config.allowed_hosts = args.allowed_hosts;
    config.public_url = args.public_url;
    config.miner = args.miner_address;
    config.persist_mempool = !args.volatile_mempool;
    config.network.dial_learned = !args.connect_only;
    config.mine_threads = match args.mine_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    config.fork_choice = match args.fork_choice {
        ForkChoiceArg::MostWork => ForkChoiceKind::MostWork,
        ForkChoiceArg::LongestChain => ForkChoiceKind::LongestChain,
    };
    if let Some(limit) = args.pow_limit {
        config.params.pow_limit = limit;
    }
    if let Some(interval) = args.halving_interval {
        config.params.halving_interval = interval;
    }
    config.policy.min_relay_fee_rate = FeeRate::per_byte(args.min_relay_fee);
    config.policy.max_mempool_txs = args.mempool_size;
    config.policy.max_pending_per_sender = args.max_pending_per_sender;
    config.limits = Limits {
        max_in_flight: args.max_in_flight,
        max_peers: args.max_peers,
        max_body_bytes: args.max_body_bytes,
        peer_timeout: Duration::from_secs(args.peer_timeout_secs),
        chain_send_rate: args.chain_send_rate.saturating_mul(1 << 20),
        peer_policy: if args.public_peers_only {
            PeerPolicy::PublicOnly
        } else {
            PeerPolicy::AllowLocal
        },
        ..Limits::default()
    };
    // One line: scripts read the URL from the first.
    println!(
        "node on http://{address} ({}; peers on {}; data in {}; reward {} coins a block, halving every {} blocks; fees from {} units/byte)",
        args.network.name(),
        p2p_listen.join(" "),
        config.data_dir.display(),
        config.params.reward_at(1).coins(),
        config.params.halving_interval,
        args.min_relay_fee,
    );
    serve_until_stopped(config, listener).await
}

/// How long in-flight requests may take to finish after a stop signal (with the half
/// second `main` gives the rest, a node stops within 5 s).
const DRAIN: Duration = Duration::from_secs(4);

/// Serves until SIGTERM or Ctrl-C, then stops accepting, lets in-flight requests finish
/// for up to [`DRAIN`], and returns once the store has written what was acknowledged (the
/// node's state closes the store when dropped). A second signal exits at once, which is
/// still safe: every acknowledged write is already committed.
async fn serve_until_stopped(
    config: NodeConfig,
    listener: tokio::net::TcpListener,
) -> Result<(), String> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        super::stop_signal().await;
        eprintln!("stopping: finishing requests in flight (a second signal exits now)");
        let _ = stop.send(true);
        super::stop_signal().await;
        eprintln!("stopped at once");
        std::process::exit(130);
    });
    let stopped = |mut stopping: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let drained = stopped(stopping.clone());
    let server = gophercoin_http::serve_node(config, listener, stopped(stopping));
    tokio::pin!(server);
    tokio::pin!(drained);
    tokio::select! {
        result = &mut server => result.map_err(|e| e.to_string()),
        () = async { drained.await; tokio::time::sleep(DRAIN).await } => {
            eprintln!("requests still in flight after {:?}: stopping anyway", DRAIN);
            Ok(())
        }
    }
}

/// Where to listen for peers: the multiaddrs given, else `--bind` with `--p2p-port` (by
/// default the HTTP port + 1000, so nodes on consecutive HTTP ports never collide).
fn p2p_config(
    http: std::net::SocketAddr,
    port: Option<u16>,
    listen: Vec<Multiaddr>,
    external: Vec<Multiaddr>,
) -> P2pConfig {
    use gophercoin_http::MultiaddrPart as Part;
    let listen = if listen.is_empty() {
        let port = port.unwrap_or_else(|| match http.port() {
            0 => 0,
            p => p.checked_add(1000).unwrap_or(0),
        });
        let host = match http.ip() {
            IpAddr::V4(ip) => Part::Ip4(ip),
            IpAddr::V6(ip) => Part::Ip6(ip),
        };
        vec![Multiaddr::empty().with(host).with(Part::Tcp(port))]
    } else {
        listen
    };
    P2pConfig { listen, external }
}

fn parse_compact(text: &str) -> Result<CompactTarget, String> {
    let compact: CompactTarget = text.parse().map_err(|e| format!("{e}"))?;
    gophercoin_core::Target::from_compact(compact).map_err(|e| e.to_string())?;
    Ok(compact)
}

/// Raises the soft limit on open files to the hard one, so the node's connection cap, not
/// the file limit, bounds its connections (a node that can't keeps a lower cap).
pub(crate) fn raise_file_limit() {
    if let Err(error) = gophercoin_http::raise_file_limit() {
        eprintln!("warning: could not raise the open-file limit: {error}");
    }
}

/// Binds a listener, with a readable error.
pub(crate) fn bind(ip: IpAddr, port: u16) -> Result<tokio::net::TcpListener, String> {
    gophercoin_http::listen((ip, port).into())
        .map_err(|e| format!("cannot listen on {ip}:{port}: {e}"))
}
