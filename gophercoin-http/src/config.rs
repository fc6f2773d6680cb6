//! How a node is set up: where it listens, where it keeps its data, who it pays, and its
//! limits.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use gophercoin_core::{Address, ForkChoice, LongestChain, MostWork, Params, Policy};

use crate::peer_url::{PeerPolicy, PeerUrl};

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where the API listens (loopback by default).
    pub listen: SocketAddr,
    /// The directory holding the database and the node's wallet key.
    pub data_dir: PathBuf,
    /// The wallet mining rewards are paid to; `None` means a wallet the node keeps in
    /// `data_dir/wallet.key`, made on first start.
    pub miner: Option<Address>,
    /// Peers to register at start; each is checked again against
    /// [`Limits::peer_policy`] when the node starts.
    pub peers: Vec<PeerUrl>,
    /// How to pick between competing chains.
    pub fork_choice: ForkChoiceKind,
    /// The consensus parameters.
    pub params: Params,
    /// What the node keeps and relays beyond consensus: the mempool's bounds and minimum
    /// fee rate, side branches, caches.
    pub policy: Policy,
    /// The node's own URL as peers reach it (default `http://` + the listen address); its
    /// host is served and its origin may change state.
    pub public_url: Option<String>,
    /// Host names the API answers to besides IP addresses, `localhost` and the public
    /// URL's host (a request naming any other `Host` is refused: DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Resource limits.
    pub limits: Limits,
    /// Whether accepted transactions are stored before they are acknowledged (the
    /// default), so a crash loses none; off, the mempool lives in memory only and a crash
    /// or restart forgets it (for throwaway nodes, and to measure what durability costs).
    pub persist_mempool: bool,
    /// The peer protocol's bounds and timings (how many peers, how long requests may
    /// take, whether learned addresses are dialled).
    pub network: gophercoin_core::net::Config,
    /// Where the node listens for peers and the addresses it tells them.
    pub p2p: P2pConfig,
    /// Threads `GET /mine` searches nonces on (at least one; 1 by default, so a node
    /// mining on a small machine still answers its other requests promptly).
    pub mine_threads: usize,
}

/// The fork choices a node can be started with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForkChoiceKind {
    /// Most cumulative work (the default).
    #[default]
    MostWork,
    /// Most blocks (the original's rule).
    LongestChain,
}

/// Resource limits, with defaults for a small public node.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest request body, except blocks.
    pub max_body_bytes: usize,
    /// The largest block body (`POST /blocks`).
    pub max_block_body_bytes: usize,
    /// Requests handled at once; more get 503. A request takes its slot once its body
    /// has arrived, so a client sending slowly holds none.
    pub max_in_flight: usize,
    /// Requests from one client (an IPv4 address or an IPv6 /64) in flight at once,
    /// bodies still arriving included; more get 429.
    pub max_in_flight_per_ip: usize,
    /// Bytes of request bodies being received at once, over all clients (each request
    /// counts its declared length, or its route's limit): half for block bodies, half for
    /// the rest; past it, 503.
    pub max_body_buffer_bytes: usize,
    /// Bytes of request bodies one client may have arriving at once; past it, 429.
    pub max_body_bytes_per_ip: usize,
    /// How long a request's body may take to arrive, so a client trickling a body can't
    /// hold its place for ever; past it, 408.
    pub body_timeout: Duration,
    /// Open connections at most (lowered at start to fit the process's file limit); a
    /// connection past it is closed when accepted.
    pub max_connections: usize,
    /// Open connections from one client at most.
    pub max_connections_per_ip: usize,
    /// Whether the per-client limits apply to loopback clients too. Off by default:
    /// loopback clients (the operator's tools, a reverse proxy in front of the node) share
    /// one address, so a per-client limit would be a limit on all of them at once.
    pub per_ip_limits_on_loopback: bool,
    /// How long a request's headers may take to arrive; also how long an idle keep-alive
    /// connection is kept waiting for its next request.
    pub header_timeout: Duration,
    /// How long the node waits for a client that takes none of what it is sent before it
    /// drops the connection (a reader that does not read).
    pub send_timeout: Duration,
    /// Bytes a second that all chain answers (`/chain`, `/nodes/resolve`) together may
    /// send while other requests are being served (or were within the last 100 ms),
    /// however many clients download at once: sending the chain then takes a bounded share
    /// of the node's time from them. While nothing else asks, chain answers go at full
    /// speed. 0 for no limit.
    pub chain_send_rate: u64,
    /// Registered peers at most.
    pub max_peers: usize,
    /// Connecting to a peer may take this long.
    pub peer_connect_timeout: Duration,
    /// A whole request to a peer may take this long.
    pub peer_timeout: Duration,
    /// The largest answer read from a peer.
    pub max_peer_response_bytes: usize,
    /// The most blocks fetched from one peer in one sync.
    pub max_sync_blocks: u64,
    /// Which addresses may be peers.
    pub peer_policy: PeerPolicy,
    /// The most peer connections open at once (in and out).
    pub p2p_max_connections: u32,
    /// The most peer connections still in their handshake, each way.
    pub p2p_max_pending: u32,
    /// The most peer connections from or to one IP, open or in their handshake (not
    /// applied to loopback unless [`Limits::per_ip_limits_on_loopback`]).
    pub p2p_max_per_ip: usize,
    /// How long a peer connection may take to set up its encryption and streams.
    pub p2p_handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            max_block_body_bytes: 8 * 1024 * 1024,
            max_in_flight: 256,
            max_in_flight_per_ip: 32,
            max_body_buffer_bytes: 128 * 1024 * 1024,
            max_body_bytes_per_ip: 16 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_ip: 64,
            per_ip_limits_on_loopback: false,
            header_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(20),
            chain_send_rate: 128 * 1024 * 1024,
            max_peers: 32,
            peer_connect_timeout: Duration::from_secs(2),
            peer_timeout: Duration::from_secs(10),
            max_peer_response_bytes: 64 * 1024 * 1024,
            max_sync_blocks: 100_000,
            peer_policy: PeerPolicy::default(),
            p2p_max_connections: 256,
            p2p_max_pending: 64,
            p2p_max_per_ip: 8,
            p2p_handshake_timeout: Duration::from_secs(5),
        }
    }
}

impl NodeConfig {
    /// A devnet node listening on `listen` with its data in `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            listen,
            data_dir: data_dir.into(),
            miner: None,
            peers: vec![],
            fork_choice: ForkChoiceKind::default(),
            params: Params::devnet(),
            policy: Policy::default(),
            public_url: None,
            allowed_hosts: vec![],
            limits: Limits::default(),
            mine_threads: 1,
            persist_mempool: true,
            network: gophercoin_core::net::Config::default(),
            p2p: P2pConfig::default(),
        }
    }
}

impl ForkChoiceKind {
    /// Returns the fork choice as a trait object.
    pub fn boxed(self) -> Box<dyn ForkChoice + Send + Sync> {
        match self {
            ForkChoiceKind::MostWork => Box::new(MostWork),
            ForkChoiceKind::LongestChain => Box::new(LongestChain),
        }
    }
}

/// Where a node listens for peers and what it tells them.
#[derive(Clone, Debug, Default)]
pub struct P2pConfig {
    /// Addresses to listen on (`/ip4/127.0.0.1/tcp/0` if none).
    pub listen: Vec<libp2p::Multiaddr>,
    /// Addresses peers should dial, if not the listening ones (behind a NAT, a public
    /// name); advertised with the node's peer id.
    pub external: Vec<libp2p::Multiaddr>,
}
