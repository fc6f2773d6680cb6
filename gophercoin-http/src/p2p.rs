//! The peer network's transport: a libp2p swarm (TCP, Noise, Yamux, `identify`) that
//! carries the core's peer protocol between nodes, one length-prefixed [`Message`] after
//! another on a stream of [`PROTOCOL`].
//!
//! The swarm runs in its own task (`Transport`). It decides nothing about peers: the
//! protocol's driver ([`crate::network`]) tells it whom to dial, drop and ban, and it
//! reports what happened. What it does on its own is what keeps a hostile dialler cheap:
//!
//! - a connection is encrypted and its peer authenticated by Noise before anything of
//!   ours reads from it, within [`Limits::p2p_handshake_timeout`]; garbage fails the
//!   handshake and is dropped;
//! - connections are bounded in total, while pending, per peer and per IP
//!   ([`Limits::p2p_max_connections`], [`Limits::p2p_max_pending`],
//!   [`Limits::p2p_max_per_ip`]); a banned identity is refused as soon as it is known;
//! - every address dialled passes the node's [`PeerPolicy`]: a name is resolved first and
//!   each of its addresses checked, so the swarm itself never resolves a name;
//! - a frame longer than [`MAX_MESSAGE_BYTES`] is refused before it is read.
//!
//! [`Message`]: gophercoin_core::net::Message

use std::{
    collections::HashMap,
    net::IpAddr,
    path::Path,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures_util::StreamExt as _;
use gophercoin_core::net::{PeerAddr, message::MAX_MESSAGE_BYTES};
use libp2p::{
    PeerId, StreamProtocol, Transport as _,
    core::{Endpoint, transport::PortUse, upgrade},
    identify, identity,
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, Swarm, SwarmEvent, THandler,
        THandlerInEvent, THandlerOutEvent, ToSwarm, dial_opts::DialOpts, dummy,
    },
};
use tokio::sync::mpsc;

pub use libp2p::{Multiaddr, multiaddr::Protocol as Part};

use crate::{
    Limits,
    peers::{PeerPolicy, PeerUrlError},
};

pub(crate) use crate::{config::P2pConfig, dto::LocalPeer};

/// The stream protocol peers speak, versioned with the core's
/// [`gophercoin_core::net::PROTOCOL_VERSION`].
pub(crate) const PROTOCOL: StreamProtocol = StreamProtocol::new("/gophercoin/peer/1");
/// What `identify` says this node runs.
pub(crate) const IDENTIFY_PROTOCOL: &str = "/gophercoin/1";
/// The file in the data directory that holds the node's identity key.
pub(crate) const KEY_FILE: &str = "p2p.key";
/// How long a connection with no stream is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The node's libp2p identity: its Ed25519 key, from `path` (hex of libp2p's protobuf
/// encoding), made and written there (mode 0600) if there is none yet.
///
/// # Errors
///
/// A key file that cannot be read or written, or that holds no key.
pub(crate) fn load_or_make_key(path: &Path) -> Result<identity::Keypair, KeyError> {
    let error = |reason: String| KeyError { path: path.display().to_string(), reason };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| error(e.to_string()))?;
            identity::Keypair::from_protobuf_encoding(&bytes).map_err(|e| error(e.to_string()))
        }
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound) => {
            let key = identity::Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().map_err(|e| error(e.to_string()))?;
            crate::keyfile::write_private(path, &hex::encode(bytes))
                .map_err(|e| error(e.to_string()))?;
            tracing::info!(peer_id = %key.public().to_peer_id(), "made a peer identity in {}", path.display());
            Ok(key)
        }
        Err(e) => Err(error(e.to_string())),
    }
}

/// A node identity key that could not be loaded or made.
#[derive(Debug, thiserror::Error)]
#[error("peer identity key {path}: {reason}")]
pub struct KeyError {
    /// The key file.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// Why the transport did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The identity key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A listening address the transport cannot use.
    #[error("cannot listen for peers on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
}

/// What the transport reports to the protocol's driver.
#[derive(Debug)]
pub(crate) enum Report {
    /// A stream to a peer is open (`addr`: the address dialled, for an outbound one).
    Stream { remote: PeerId, outbound: Option<PeerAddr>, stream: Box<libp2p::Stream> },
    /// A dial failed.
    DialFailed(PeerAddr),
}

/// What the driver tells the transport.
#[derive(Debug)]
enum Command {
    Dial(PeerAddr),
    /// Closes a peer's connections, then drops what the driver held for it.
    Disconnect(PeerId, Option<mpsc::Sender<axum::body::Bytes>>),
    Ban(PeerId, Instant),
    Stop,
}

/// A handle to the swarm's task.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    commands: mpsc::UnboundedSender<Command>,
    local: LocalPeer,
}

impl Transport {
    /// The node's peer id and addresses.
    pub(crate) fn local(&self) -> &LocalPeer {
        &self.local
    }

    /// Dials an address (a node's HTTP URL, or a multiaddr with `/p2p/<peer id>`).
    pub(crate) fn dial(&self, addr: PeerAddr) {
        let _ = self.commands.send(Command::Dial(addr));
    }

    /// Closes every connection to a peer. `outbox`, the driver's sender of the peer's
    /// stream, is dropped only then: a stream the driver ended at once could close before
    /// a ban sent just before this (commands are handled in order) is in force, and the peer
    /// could come back in between.
    pub(crate) fn disconnect(&self, peer: PeerId, outbox: Option<mpsc::Sender<axum::body::Bytes>>) {
        let _ = self.commands.send(Command::Disconnect(peer, outbox));
    }

    /// Refuses connections from and to a peer until a time, and closes those open.
    pub(crate) fn ban(&self, peer: PeerId, until: Instant) {
        let _ = self.commands.send(Command::Ban(peer, until));
    }

    /// Stops the swarm, closing every connection.
    pub(crate) fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }
}

/// The identity a peer id stands for in the protocol: `/p2p/<peer id>`.
pub(crate) fn identity_of(peer: &PeerId) -> Option<PeerAddr> {
    PeerAddr::new(format!("/p2p/{peer}"))
}

/// The peer id an identity or an address names (its `/p2p/` part), if any.
pub(crate) fn peer_of(addr: &PeerAddr) -> Option<PeerId> {
    let addr: Multiaddr = addr.as_str().parse().ok()?;
    addr.iter().find_map(|part| match part {
        Part::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// The behaviours a node runs.
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Behaviour {
    gate: Gate,
    limits: libp2p::connection_limits::Behaviour,
    identify: identify::Behaviour,
    stream: libp2p_stream::Behaviour,
}

/// Starts the swarm: listens on `config.listen` (waiting until each is bound), then runs
/// it in a task that reports to `reports`.
///
/// # Errors
///
/// A listening address that cannot be bound.
pub(crate) async fn start(
    key: identity::Keypair,
    config: &P2pConfig,
    limits: &Limits,
    reports: mpsc::Sender<Report>,
) -> Result<(Transport, tokio::task::JoinHandle<()>), TransportError> {
    let local_id = key.public().to_peer_id();
    let noise = libp2p::noise::Config::new(&key)
        .map_err(|e| KeyError { path: KEY_FILE.into(), reason: e.to_string() })?;
    let transport = libp2p::tcp::tokio::Transport::new(libp2p::tcp::Config::new().nodelay(true))
        .upgrade(upgrade::Version::V1)
        .authenticate(noise)
        .multiplex(libp2p::yamux::Config::default())
        .timeout(limits.p2p_handshake_timeout)
        .boxed();
    let connection_limits = libp2p::connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(limits.p2p_max_pending))
        .with_max_pending_outgoing(Some(limits.p2p_max_pending))
        .with_max_established(Some(limits.p2p_max_connections))
        .with_max_established_per_peer(Some(2));
    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
            .with_agent_version(concat!("gophercoin/", env!("CARGO_PKG_VERSION")).into())
            // Dials use only the addresses the driver resolved and checked.
            .with_cache_size(0),
    );
    let behaviour = Behaviour {
        gate: Gate::new(limits),
        limits: libp2p::connection_limits::Behaviour::new(connection_limits),
        identify,
        stream: libp2p_stream::Behaviour::new(),
    };
    let mut swarm = Swarm::new(
        transport,
        behaviour,
        local_id,
        libp2p::swarm::Config::with_tokio_executor().with_idle_connection_timeout(IDLE_TIMEOUT),
    );
    let listen = if config.listen.is_empty() {
        vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a multiaddr")]
    } else {
        config.listen.clone()
    };
    let mut bound = vec![];
    for addr in &listen {
        let listen_error = |reason: String| TransportError::Listen { addr: addr.clone(), reason };
        let id = swarm.listen_on(addr.clone()).map_err(|e| listen_error(e.to_string()))?;
        // Bound once the listener says where (port 0 picks one); a failure says why.
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                event = swarm.select_next_some() => match event {
                    SwarmEvent::NewListenAddr { listener_id, address } if listener_id == id => {
                        bound.push(address);
                        break;
                    }
                    SwarmEvent::ListenerClosed { listener_id, reason, .. } if listener_id == id => {
                        let reason = reason.err().map_or("closed".into(), |e| e.to_string());
                        return Err(listen_error(reason));
                    }
                    SwarmEvent::ListenerError { listener_id, error } if listener_id == id => {
                        return Err(listen_error(error.to_string()));
                    }
                    _ => {}
                },
                () = &mut deadline => return Err(listen_error("not bound within 5 s".into())),
            }
        }
    }
    let advertised = advertised(&listen, &config.external, &bound, &local_id);
    for addr in &config.external {
        swarm.add_external_address(addr.clone());
    }
    let local = LocalPeer {
        peer_id: local_id.to_string(),
        listen: listen.iter().zip(&bound).map(|(c, b)| with_port_of(c, b).to_string()).collect(),
        advertised: advertised.map(|a| a.to_string()),
    };
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let incoming = swarm
        .behaviour()
        .stream
        .new_control()
        .accept(PROTOCOL)
        .expect("the protocol is accepted once");
    let (resolved, resolved_rx) = mpsc::unbounded_channel();
    let task = SwarmTask {
        swarm,
        resolved,
        reports,
        dials: HashMap::new(),
        policy: limits.peer_policy,
        client: crate::peers::PeerClient::new(limits),
        bound,
    };
    let handle = tokio::spawn(task.run(commands_rx, resolved_rx, incoming));
    Ok((Transport { commands, local }, handle))
}

/// The address to tell peers: the first external one, else the first listening one
/// that names an address they can dial (not unspecified), with the peer id.
fn advertised(
    listen: &[Multiaddr],
    external: &[Multiaddr],
    bound: &[Multiaddr],
    local: &PeerId,
) -> Option<Multiaddr> {
    let specified = |addr: &&Multiaddr| {
        addr.iter().any(|part| match part {
            Part::Ip4(ip) => !ip.is_unspecified(),
            Part::Ip6(ip) => !ip.is_unspecified(),
            Part::Dns(_) | Part::Dns4(_) | Part::Dns6(_) => true,
            _ => false,
        })
    };
    let chosen = match external.first() {
        Some(addr) => addr.clone(),
        None => {
            // A listener on a specific address: the bound one (its port picked, if 0).
            let configured = listen.iter().position(|addr| specified(&addr))?;
            bound.get(configured).or_else(|| bound.iter().find(specified))?.clone()
        }
    };
    // Whatever peer id an external address was given with, it is ours that peers meet.
    let without_id: Multiaddr =
        chosen.iter().filter(|part| !matches!(part, Part::P2p(_))).collect();
    Some(without_id.with(Part::P2p(*local)))
}

/// An address resolved for a dial: the peer id expected and where to reach it.
struct Resolved {
    addr: PeerAddr,
    peer: PeerId,
    targets: Vec<Multiaddr>,
}

/// `configured` with the TCP port of `bound` (the port picked for port 0).
fn with_port_of(configured: &Multiaddr, bound: &Multiaddr) -> Multiaddr {
    let port = bound.iter().find_map(|part| match part {
        Part::Tcp(port) => Some(port),
        _ => None,
    });
    configured
        .iter()
        .map(|part| match (part, port) {
            (Part::Tcp(_), Some(port)) => Part::Tcp(port),
            (part, _) => part,
        })
        .collect()
}

/// The task that owns the swarm; it ends when told to or when the driver's handle is
/// dropped.
struct SwarmTask {
    swarm: Swarm<Behaviour>,
    resolved: mpsc::UnboundedSender<Resolved>,
    reports: mpsc::Sender<Report>,
    /// Our dials in progress: the address the driver asked for, by connection.
    dials: HashMap<ConnectionId, PeerAddr>,
    policy: PeerPolicy,
    client: crate::peers::PeerClient,
    bound: Vec<Multiaddr>,
}

impl SwarmTask {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut resolved: mpsc::UnboundedReceiver<Resolved>,
        mut incoming: libp2p_stream::IncomingStreams,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Stop) => break,
                    Some(command) => self.command(command),
                },
                Some(dial) = resolved.recv() => self.dial(dial),
                Some((remote, stream)) = incoming.next() => {
                    let report = Report::Stream { remote, outbound: None, stream: Box::new(stream) };
                    if self.reports.send(report).await.is_err() {
                        break;
                    }
                }
                event = self.swarm.select_next_some() => self.event(event).await,
            }
        }
        tracing::debug!(listen = ?self.bound, "peer transport stopped");
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Dial(addr) => {
                let resolved = self.resolved.clone();
                let reports = self.reports.clone();
                let policy = self.policy;
                let client = self.client.clone();
                tokio::spawn(async move {
                    match resolve(&addr, policy, &client).await {
                        Ok((peer, targets)) => {
                            let _ = resolved.send(Resolved { addr, peer, targets });
                        }
                        Err(error) => {
                            tracing::debug!(%addr, %error, "dial failed");
                            let _ = reports.send(Report::DialFailed(addr)).await;
                        }
                    }
                });
            }
            Command::Disconnect(peer, outbox) => {
                let _ = self.swarm.disconnect_peer_id(peer);
                drop(outbox);
            }
            Command::Ban(peer, until) => {
                self.swarm.behaviour_mut().gate.ban(peer, until);
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Stop => {}
        }
    }

    /// Dials a resolved address, expecting its peer id.
    fn dial(&mut self, Resolved { addr, peer, targets }: Resolved) {
        if peer == *self.swarm.local_peer_id() {
            tracing::debug!(%addr, "an address of this node; not dialled");
            self.report_failed(addr);
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(targets)
            .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
            .build();
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(id, addr);
            }
            Err(error) => {
                tracing::debug!(%addr, %error, "dial refused");
                self.report_failed(addr);
            }
        }
    }

    fn report_failed(&self, addr: PeerAddr) {
        let reports = self.reports.clone();
        tokio::spawn(async move {
            let _ = reports.send(Report::DialFailed(addr)).await;
        });
    }

    async fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, .. } => {
                let Some(addr) = self.dials.remove(&connection_id) else { return };
                // The dialler opens the one stream both sides talk on.
                let mut control = self.swarm.behaviour().stream.new_control();
                let reports = self.reports.clone();
                tokio::spawn(async move {
                    match control.open_stream(peer_id, PROTOCOL).await {
                        Ok(stream) => {
                            let (outbound, stream) = (Some(addr), Box::new(stream));
                            let report = Report::Stream { remote: peer_id, outbound, stream };
                            let _ = reports.send(report).await;
                        }
                        Err(error) => {
                            tracing::debug!(%addr, %error, "the peer refused our protocol");
                            let _ = reports.send(Report::DialFailed(addr)).await;
                        }
                    }
                });
            }
            SwarmEvent::OutgoingConnectionError { connection_id, error, .. } => {
                if let Some(addr) = self.dials.remove(&connection_id) {
                    tracing::debug!(%addr, %error, "dial failed");
                    let _ = self.reports.send(Report::DialFailed(addr)).await;
                }
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                tracing::debug!(%send_back_addr, %error, "an inbound connection failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                tracing::debug!(%peer_id, agent = %info.agent_version, "peer identified");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::debug!(%address, "listening for peers");
            }
            _ => {}
        }
    }
}

/// Why an address could not be dialled.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error("not a peer address: {0}")]
    Address(String),
    #[error(transparent)]
    Policy(#[from] PeerUrlError),
    #[error("the node at this URL did not say its peer address: {0}")]
    Health(String),
}

/// Where to dial `addr` and whom to expect there: a multiaddr's own parts (each name
/// resolved and every address checked against the policy), or, for a node's HTTP URL,
/// the peer id and port its `GET /health` gives, at the URL's host.
async fn resolve(
    addr: &PeerAddr,
    policy: PeerPolicy,
    client: &crate::peers::PeerClient,
) -> Result<(PeerId, Vec<Multiaddr>), ResolveError> {
    let text = addr.as_str();
    if text.starts_with('/') {
        let multiaddr: Multiaddr = text
            .parse()
            .map_err(|e: libp2p::multiaddr::Error| ResolveError::Address(e.to_string()))?;
        let peer = peer_of(addr).ok_or_else(|| ResolveError::Address("no /p2p/ part".into()))?;
        let targets = checked_targets(&multiaddr, policy).await?;
        return Ok((peer, targets));
    }
    let health = client.health(text).await.map_err(|e| ResolveError::Health(e.to_string()))?;
    let p2p = health.p2p.ok_or_else(|| ResolveError::Health("no p2p section".into()))?;
    let peer: PeerId =
        p2p.peer_id.parse().map_err(|_| ResolveError::Health("a bad peer id".into()))?;
    let url = url::Url::parse(text).map_err(|e| ResolveError::Address(e.to_string()))?;
    let host = match url.host() {
        Some(url::Host::Ipv4(ip)) => Part::Ip4(ip),
        Some(url::Host::Ipv6(ip)) => Part::Ip6(ip),
        Some(url::Host::Domain(name)) => Part::Dns(name.to_owned().into()),
        None => return Err(ResolveError::Address("no host".into())),
    };
    // The URL's host with each port the node listens on, then what it advertises.
    let mut candidates: Vec<Multiaddr> = vec![];
    for listen in
        p2p.listen.iter().chain(&p2p.advertised).filter_map(|a| a.parse::<Multiaddr>().ok())
    {
        if let Some(port) = listen.iter().find_map(|part| match part {
            Part::Tcp(port) => Some(port),
            _ => None,
        }) {
            let at_host = Multiaddr::empty().with(host.clone()).with(Part::Tcp(port));
            if !candidates.contains(&at_host) {
                candidates.push(at_host);
            }
        }
    }
    if let Some(advertised) = p2p.advertised.as_ref().and_then(|a| a.parse::<Multiaddr>().ok()) {
        candidates.push(advertised);
    }
    let mut targets = vec![];
    for candidate in &candidates {
        if let Ok(mut checked) = checked_targets(candidate, policy).await {
            targets.append(&mut checked);
        }
    }
    targets.dedup();
    if targets.is_empty() {
        return Err(ResolveError::Health("no address the policy allows".into()));
    }
    Ok((peer, targets))
}

/// A multiaddr's TCP addresses with their names resolved, each checked against the
/// policy, without their `/p2p/` part.
async fn checked_targets(
    addr: &Multiaddr,
    policy: PeerPolicy,
) -> Result<Vec<Multiaddr>, ResolveError> {
    let mut parts = addr.iter();
    let host = parts.next();
    let port = match parts.next() {
        Some(Part::Tcp(port)) => port,
        _ => return Err(ResolveError::Address(format!("{addr}: not /HOST/tcp/PORT"))),
    };
    if !matches!(parts.next(), None | Some(Part::P2p(_))) || parts.next().is_some() {
        return Err(ResolveError::Address(format!("{addr}: not /HOST/tcp/PORT/p2p/ID")));
    }
    let ips: Vec<IpAddr> = match host {
        Some(Part::Ip4(ip)) => vec![ip.into()],
        Some(Part::Ip6(ip)) => vec![ip.into()],
        Some(Part::Dns(name) | Part::Dns4(name) | Part::Dns6(name)) => {
            policy.resolve(&name).await?.into_iter().map(|a| a.ip()).collect()
        }
        _ => return Err(ResolveError::Address(format!("{addr}: no IP or name"))),
    };
    let mut targets = vec![];
    for ip in ips {
        policy.check(ip)?;
        let host = match ip {
            IpAddr::V4(ip) => Part::Ip4(ip),
            IpAddr::V6(ip) => Part::Ip6(ip),
        };
        targets.push(Multiaddr::empty().with(host).with(Part::Tcp(port)));
    }
    Ok(targets)
}

/// Connection gating: per-IP caps, banned identities, and the dial policy as a last
/// check on every address the swarm dials.
struct Gate {
    per_ip: usize,
    exempt_loopback: bool,
    policy: PeerPolicy,
    /// Open and pending connections, by their remote IP.
    connections: HashMap<ConnectionId, IpAddr>,
    per_ip_count: HashMap<IpAddr, usize>,
    banned: HashMap<PeerId, Instant>,
}

impl Gate {
    fn new(limits: &Limits) -> Self {
        Gate {
            per_ip: limits.p2p_max_per_ip,
            exempt_loopback: !limits.per_ip_limits_on_loopback,
            policy: limits.peer_policy,
            connections: HashMap::new(),
            per_ip_count: HashMap::new(),
            banned: HashMap::new(),
        }
    }

    fn ban(&mut self, peer: PeerId, until: Instant) {
        let now = Instant::now();
        self.banned.retain(|_, until| *until > now);
        self.banned.insert(peer, until);
    }

    fn check_banned(&self, peer: &PeerId) -> Result<(), ConnectionDenied> {
        match self.banned.get(peer) {
            Some(until) if *until > Instant::now() => Err(ConnectionDenied::new(Refused::Banned)),
            _ => Ok(()),
        }
    }

    fn count(&mut self, connection: ConnectionId, ip: IpAddr) -> Result<(), ConnectionDenied> {
        let count = self.per_ip_count.entry(ip).or_default();
        if *count >= self.per_ip && !(self.exempt_loopback && ip.is_loopback()) {
            return Err(ConnectionDenied::new(Refused::PerIp(self.per_ip)));
        }
        *count += 1;
        self.connections.insert(connection, ip);
        Ok(())
    }

    fn forget(&mut self, connection: ConnectionId) {
        if let Some(ip) = self.connections.remove(&connection)
            && let Some(count) = self.per_ip_count.get_mut(&ip)
        {
            *count -= 1;
            if *count == 0 {
                self.per_ip_count.remove(&ip);
            }
        }
    }
}

/// Why the gate refused a connection.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("the peer is banned")]
    Banned,
    #[error("more than {0} connections from one IP")]
    PerIp(usize),
    #[error("not a TCP address: {0}")]
    NotIp(Multiaddr),
    #[error(transparent)]
    Policy(#[from] PeerUrlError),
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|part| match part {
        Part::Ip4(ip) => Some(ip.into()),
        Part::Ip6(ip) => Some(ip.into()),
        _ => None,
    })
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let ip =
            ip_of(remote).ok_or_else(|| ConnectionDenied::new(Refused::NotIp(remote.clone())))?;
        self.count(connection, ip)
    }

    fn handle_established_inbound_connection(
        &mut self,
        _connection: ConnectionId,
        peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check_banned(&peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _connection: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        _role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Some(peer) = &peer {
            self.check_banned(peer)?;
        }
        for addr in addresses {
            let ip =
                ip_of(addr).ok_or_else(|| ConnectionDenied::new(Refused::NotIp(addr.clone())))?;
            self.policy.check(ip).map_err(|e| ConnectionDenied::new(Refused::from(e)))?;
        }
        Ok(vec![])
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check_banned(&peer)?;
        if let Some(ip) = ip_of(addr) {
            self.count(connection, ip)?;
        }
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(closed) => self.forget(closed.connection_id),
            FromSwarm::ListenFailure(failure) => self.forget(failure.connection_id),
            FromSwarm::DialFailure(failure) => self.forget(failure.connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// Frames a stream: a 4-byte length before each message, at most [`MAX_MESSAGE_BYTES`].
pub(crate) fn framed(
    stream: libp2p::Stream,
) -> tokio_util::codec::Framed<
    tokio_util::compat::Compat<libp2p::Stream>,
    tokio_util::codec::LengthDelimitedCodec,
> {
    use tokio_util::compat::FuturesAsyncReadCompatExt as _;
    let codec = tokio_util::codec::LengthDelimitedCodec::builder()
        .max_frame_length(MAX_MESSAGE_BYTES)
        .new_codec();
    tokio_util::codec::Framed::new(stream.compat(), codec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_advertises_an_address_peers_can_dial_with_its_own_peer_id() {
        let local = PeerId::random();
        let other = PeerId::random();
        let addr = |s: &str| s.parse::<Multiaddr>().unwrap();
        let ours = |s: &str| addr(s).with(Part::P2p(local));
        // A specific listening address, with the port picked for port 0.
        let listen = [addr("/ip4/127.0.0.1/tcp/0")];
        let bound = [addr("/ip4/127.0.0.1/tcp/41234")];
        assert_eq!(
            advertised(&listen, &[], &bound, &local),
            Some(ours("/ip4/127.0.0.1/tcp/41234"))
        );
        // Every interface: nothing, unless an external address is given.
        let listen = [addr("/ip4/0.0.0.0/tcp/6000"), addr("/ip6/::/tcp/6000")];
        let bound = [addr("/ip4/10.0.0.5/tcp/6000"), addr("/ip6/::1/tcp/6000")];
        assert_eq!(advertised(&listen, &[], &bound, &local), None);
        let external = [addr(&format!("/dns4/node.example/tcp/7000/p2p/{other}"))];
        assert_eq!(
            advertised(&listen, &external, &bound, &local),
            Some(ours("/dns4/node.example/tcp/7000")),
            "the external address, with our peer id"
        );
        assert_eq!(
            with_port_of(&addr("/ip4/0.0.0.0/tcp/0"), &addr("/ip4/10.0.0.5/tcp/6001")),
            addr("/ip4/0.0.0.0/tcp/6001")
        );
    }

    #[test]
    fn identities_and_the_peer_ids_addresses_name_agree() {
        let peer = PeerId::random();
        let identity = identity_of(&peer).unwrap();
        assert_eq!(peer_of(&identity), Some(peer));
        let addr = PeerAddr::new(format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}")).unwrap();
        assert_eq!(peer_of(&addr), Some(peer));
        assert!(addr.as_str().ends_with(identity.as_str()), "the protocol's claim rule holds");
        assert_eq!(peer_of(&PeerAddr::new("http://127.0.0.1:5000").unwrap()), None);
    }

    #[test]
    fn a_key_file_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let made = load_or_make_key(&path).unwrap();
        let read = load_or_make_key(&path).unwrap();
        assert_eq!(made.public(), read.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        assert!(load_or_make_key(&path).is_err(), "a damaged key is an error, not a new key");
    }
}
