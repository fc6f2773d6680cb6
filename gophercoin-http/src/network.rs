//! The peer network's driver: runs the core's sans-IO [`Protocol`] and carries its
//! messages between nodes over the libp2p transport ([`crate::p2p`]), one
//! length-prefixed frame per [`Message`] in its canonical encoding.
//!
//! It decides nothing. The protocol says what to send, whom to dial, whom to drop and
//! whom to ban; this module hands the transport its dials, drops and bans, encodes and
//! decodes, reads the clock, and feeds back what happened:
//!
//! - one task (the driver) owns the protocol; every step that reads or feeds the node
//!   runs on a blocking thread with the node locked (a block from a peer is checked
//!   there), and the store writes it causes are queued in order, as a request's are;
//! - each peer stream has a reader (frames in, decoded and handed to the driver, which
//!   waits for its turn: a fast sender is slowed to the driver's pace) and a writer (a
//!   bounded queue of frames out: a peer that does not take what it is sent is dropped);
//! - a peer is known to the protocol by its authenticated libp2p identity
//!   (`/p2p/<peer id>`) as well as by its address, so a ban holds whatever address it
//!   comes back from.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::body::Bytes;
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _};
use gophercoin_core::{
    Block, Event,
    net::{Config, Direction, DisconnectReason, Message, Output, PeerAddr, PeerId, Protocol},
};
use tokio::sync::mpsc;

use crate::{
    config::NodeConfig,
    effects::CoreNode,
    events::LiveEvent,
    os::since_epoch,
    p2p::{self, LocalPeer, Report, Transport, TransportError},
    peers::PeerUrl,
};

/// What the driver needs of the node it carries messages for (the node's shared state).
pub(crate) trait Host: Send + Sync + 'static {
    /// The configuration the node started with.
    fn config(&self) -> &NodeConfig;
    /// The handle to the driver the node keeps.
    fn network(&self) -> &Network;
    /// The registered peers' URLs, dialled at start.
    fn peer_urls(&self) -> Vec<PeerUrl>;
    /// Runs `read` on the core node under its lock (never across an `await`).
    fn read_node<T>(&self, read: impl FnOnce(&CoreNode) -> T) -> T;
    /// Checks blocks off the node's lock for what it leaves in the verifier's cache, so
    /// the same blocks' check under the lock costs a look-up per signature.
    fn check_ahead(&self, blocks: &[Block]);
    /// Runs `call` under the node's lock, queues the store writes it caused in order, and
    /// hands its relay events to `relay` with the node still locked.
    fn apply_now<C>(
        &self,
        context: &mut C,
        call: impl FnOnce(&mut C, &mut CoreNode),
        relay: impl FnOnce(&mut C, &CoreNode, &[Event]),
    );
    /// Tells `/events` what happened to peers.
    fn publish(&self, live: Vec<LiveEvent>);
}

/// Frames queued for one peer; a peer that lets more pile up is too slow and is dropped.
const OUTBOX: usize = 1_024;
/// Messages from all peers waiting for the driver; readers wait while it is full.
const INBOX: usize = 256;
/// The longest the driver sleeps without looking whether the node is still there.
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// The longest ban the transport is told of at once, for a ban longer than its clock
/// can hold.
const BAN_CAP: Duration = Duration::from_secs(365 * 24 * 3_600);
/// Reports from the transport waiting for the driver.
const REPORTS: usize = 256;

/// What the driver is told by connections and by the rest of the node.
enum Control {
    /// A stream to a peer is open; `outbox` takes the frames for it.
    Connected {
        peer: PeerId,
        direction: Direction,
        addr: Option<PeerAddr>,
        remote: libp2p::PeerId,
        outbox: mpsc::Sender<Bytes>,
    },
    /// A peer sent bytes that are not a message.
    Malformed(PeerId),
    /// A connection closed.
    Closed(PeerId),
    /// A dial failed.
    DialFailed(PeerAddr),
    /// The node made events to tell peers about (a request's new block or transaction).
    Events(Vec<Event>),
    /// Addresses to dial (the operator's `--peer`, a registration).
    Add(Vec<PeerAddr>),
    /// An address the operator removed.
    Remove(PeerAddr),
    /// The node is stopping: close every connection and end.
    Stop,
}

/// What connections and the driver share.
#[derive(Debug)]
struct Shared {
    control: mpsc::UnboundedSender<Control>,
    inbox: mpsc::Sender<(PeerId, Message)>,
    next_peer: AtomicU64,
    /// The connected peers' addresses (if known) and directions, as of the driver's last
    /// step.
    connected: Mutex<Vec<(Option<String>, Direction)>>,
    /// This node's peer id and addresses, once the transport is up.
    local: Mutex<Option<LocalPeer>>,
}

impl Shared {
    fn tell(&self, control: Control) {
        // Only fails once the driver has stopped, and then nobody listens.
        let _ = self.control.send(control);
    }
}

/// The node's side of the peer network: a handle to the driver.
#[derive(Debug)]
pub(crate) struct Network {
    shared: Arc<Shared>,
    /// The driver's receiving ends, until [`Network::start`] takes them.
    pending: Mutex<Option<Receivers>>,
}

#[derive(Debug)]
struct Receivers {
    control: mpsc::UnboundedReceiver<Control>,
    inbox: mpsc::Receiver<(PeerId, Message)>,
    config: Config,
}

impl Network {
    /// A network not yet started.
    pub(crate) fn new(config: Config) -> Self {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (inbox, inbox_rx) = mpsc::channel(INBOX);
        Network {
            shared: Arc::new(Shared {
                control,
                inbox,
                next_peer: AtomicU64::new(1),
                connected: Mutex::default(),
                local: Mutex::default(),
            }),
            pending: Mutex::new(Some(Receivers { control: control_rx, inbox: inbox_rx, config })),
        }
    }

    /// Starts the transport (the node's identity from its data directory, listening on
    /// its peer addresses) and the driver for `state`, once; later calls return
    /// `Ok(None)`. The driver ends when told to ([`Network::stop`]) or when the state is
    /// dropped, closing every connection and the transport; the handle resolves then,
    /// and the driver holds the state no longer.
    ///
    /// # Errors
    ///
    /// The identity key cannot be loaded or made, or an address cannot be listened on.
    pub(crate) async fn start<H: Host>(
        state: &Arc<H>,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, TransportError> {
        let pending = state.network().pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(receivers) = pending else { return Ok(None) };
        let key_path = state.config().data_dir.join(p2p::KEY_FILE);
        let key = tokio::task::spawn_blocking(move || p2p::load_or_make_key(&key_path))
            .await
            .expect("reading a key does not panic")?;
        let (reports, reports_rx) = mpsc::channel(REPORTS);
        let (transport, swarm) =
            p2p::start(key, &state.config().p2p, &state.config().limits, reports).await?;
        let local = transport.local().clone();
        tracing::info!(peer_id = %local.peer_id, listen = ?local.listen, advertised = ?local.advertised, "listening for peers");
        if local.advertised.is_none() {
            tracing::warn!(
                "listening for peers on every interface with no --p2p-external: peers learn of this node only when it dials them or is registered by its URL"
            );
        }
        let listen = local.advertised.clone().and_then(PeerAddr::new);
        let local_id = local.peer_id.clone();
        *state.network().shared.local.lock().unwrap_or_else(|e| e.into_inner()) = Some(local);
        tokio::spawn(take_reports(Arc::clone(&state.network().shared), reports_rx));
        let addresses: Vec<PeerAddr> =
            state.peer_urls().into_iter().map(String::from).filter_map(PeerAddr::new).collect();
        state.network().shared.tell(Control::Add(addresses));
        let driver = Driver {
            state: Arc::downgrade(state),
            shared: Arc::clone(&state.network().shared),
            protocol: protocol(receivers.config, listen, &local_id),
            links: HashMap::new(),
            transport,
            peers: std::collections::BTreeSet::new(),
        };
        Ok(Some(tokio::spawn(driver.run(receivers.control, receivers.inbox, swarm))))
    }

    /// This node's peer id and addresses, once started.
    pub(crate) fn local(&self) -> Option<LocalPeer> {
        self.shared.local.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Tells the driver to close every connection and end.
    pub(crate) fn stop(&self) {
        self.shared.tell(Control::Stop);
    }

    /// Tells peers about the node's new blocks and transactions (the relay events of a
    /// request's core call, after its writes are stored).
    pub(crate) fn relay(&self, events: Vec<Event>) {
        if !events.is_empty() {
            self.shared.tell(Control::Events(events));
        }
    }

    /// Adds addresses to dial.
    pub(crate) fn add(&self, urls: &[PeerUrl]) {
        let addresses: Vec<PeerAddr> =
            urls.iter().map(|url| url.to_string()).filter_map(PeerAddr::new).collect();
        self.shared.tell(Control::Add(addresses));
    }

    /// Forgets an address and closes connections to it.
    pub(crate) fn remove(&self, url: &PeerUrl) {
        if let Some(addr) = PeerAddr::new(url.as_str()) {
            self.shared.tell(Control::Remove(addr));
        }
    }

    /// The connected peers' addresses (the dialled one, or the one an inbound peer says
    /// it listens on), sorted.
    pub(crate) fn connected(&self) -> Vec<String> {
        let connected = self.shared.connected.lock().unwrap_or_else(|e| e.into_inner());
        let mut addresses: Vec<String> =
            connected.iter().filter_map(|(addr, _)| addr.clone()).collect();
        addresses.sort();
        addresses.dedup();
        addresses
    }

    /// How many peers are connected, (inbound, outbound).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let connected = self.shared.connected.lock().unwrap_or_else(|e| e.into_inner());
        let inbound = connected.iter().filter(|(_, d)| *d == Direction::Inbound).count();
        (inbound, connected.len() - inbound)
    }
}

/// The protocol for a node with peer id `local_id`, advertising `listen`.
fn protocol(config: Config, listen: Option<PeerAddr>, local_id: &str) -> Protocol {
    let protocol = Protocol::new(config, listen);
    match PeerAddr::new(format!("/p2p/{local_id}")) {
        Some(identity) => protocol.with_identity(identity),
        None => protocol,
    }
}

/// Turns the transport's reports into connections and failed dials.
async fn take_reports(shared: Arc<Shared>, mut reports: mpsc::Receiver<Report>) {
    while let Some(report) = reports.recv().await {
        match report {
            Report::Stream { remote, outbound, stream } => {
                let peer = PeerId(shared.next_peer.fetch_add(1, Ordering::Relaxed));
                let direction =
                    if outbound.is_some() { Direction::Outbound } else { Direction::Inbound };
                let (sink, frames) = p2p::framed(*stream).split();
                let frames = frames.map(|frame| match frame {
                    Ok(bytes) => Incoming::Data(bytes.freeze()),
                    // Longer than a message can be.
                    Err(error) if matches!(error.kind(), std::io::ErrorKind::InvalidData) => {
                        Incoming::Junk
                    }
                    Err(_) => Incoming::End,
                });
                let link = Link { peer, direction, addr: outbound, remote };
                tokio::spawn(connection(Arc::clone(&shared), link, sink, frames));
            }
            Report::DialFailed(addr) => shared.tell(Control::DialFailed(addr)),
        }
    }
}

/// Who a connection is with.
struct Link {
    peer: PeerId,
    direction: Direction,
    addr: Option<PeerAddr>,
    remote: libp2p::PeerId,
}

/// A frame, as the reader sees it.
enum Incoming {
    Data(Bytes),
    Junk,
    End,
}

/// Runs one connection: tells the driver it is open, then reads frames into the driver
/// and writes the driver's frames out until either side ends it.
async fn connection<Si, St>(shared: Arc<Shared>, link: Link, mut sink: Si, mut stream: St)
where
    Si: Sink<Bytes> + Unpin + Send,
    St: Stream<Item = Incoming> + Unpin + Send,
{
    let (outbox, mut frames) = mpsc::channel::<Bytes>(OUTBOX);
    let Link { peer, direction, addr, remote } = link;
    shared.tell(Control::Connected { peer, direction, addr, remote, outbox });
    let write = async {
        while let Some(bytes) = frames.recv().await {
            if sink.send(bytes).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    };
    let read = async {
        while let Some(frame) = stream.next().await {
            match frame {
                Incoming::Data(bytes) => match Message::decode(&bytes) {
                    Ok(message) => {
                        if shared.inbox.send((peer, message)).await.is_err() {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::debug!(?peer, %error, "a peer sent an undecodable message");
                        shared.tell(Control::Malformed(peer));
                        break;
                    }
                },
                Incoming::Junk => {
                    shared.tell(Control::Malformed(peer));
                    break;
                }
                Incoming::End => break,
            }
        }
    };
    // Whichever ends first ends the connection: the driver dropped the peer (the outbox
    // closed), or the peer went away.
    tokio::select! {
        () = write => {}
        () = read => {}
    }
    shared.tell(Control::Closed(peer));
}

/// The task that owns the protocol.
struct Driver<H> {
    state: Weak<H>,
    shared: Arc<Shared>,
    protocol: Protocol,
    /// The open connections' outboxes and peer ids.
    links: HashMap<PeerId, (mpsc::Sender<Bytes>, libp2p::PeerId)>,
    transport: Transport,
    /// The peers the protocol had after the last step, for `/events`.
    peers: std::collections::BTreeSet<PeerId>,
}

/// One thing for the driver to act on.
enum Step {
    Control(Control),
    Message(PeerId, Message),
    Timeout,
}

impl<H: Host> Driver<H> {
    async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut inbox: mpsc::Receiver<(PeerId, Message)>,
        swarm: tokio::task::JoinHandle<()>,
    ) {
        loop {
            let now = since_epoch();
            let wait = self
                .protocol
                .poll_timeout()
                .map_or(IDLE_WAKE, |at| at.saturating_sub(now))
                .min(IDLE_WAKE);
            let step = tokio::select! {
                biased;
                Some(c) = control.recv() => Step::Control(c),
                Some((peer, message)) = inbox.recv() => Step::Message(peer, message),
                () = tokio::time::sleep(wait) => Step::Timeout,
            };
            // With no peer, there is nobody to tell about what the node made.
            if matches!(step, Step::Control(Control::Events(_)))
                && self.protocol.peers().next().is_none()
            {
                continue;
            }
            if matches!(step, Step::Control(Control::Stop)) {
                break;
            }
            let Some(state) = self.state.upgrade() else { break };
            // The node is locked and blocks are checked on a blocking thread; blocks the
            // protocol will check have their signatures checked first, on every core
            // and off the lock.
            let ahead = match &step {
                Step::Message(_, Message::Block(_)) => true,
                Step::Message(peer, Message::Blocks { .. }) => {
                    self.protocol.is_catching_up_from(*peer)
                }
                _ => false,
            };
            let result = tokio::task::spawn_blocking(move || {
                if ahead && let Step::Message(_, message) = &step {
                    match message {
                        Message::Block(block) => state.check_ahead(std::slice::from_ref(block)),
                        Message::Blocks { blocks, .. } => state.check_ahead(blocks),
                        _ => {}
                    }
                }
                self.step(&state, step);
                self
            })
            .await;
            // A panic in a step ends the driver (the transport stops when its handle
            // is dropped with it).
            let Ok(driver) = result else { return };
            self = driver;
        }
        // Dropping the outboxes closes every stream; the transport closes the rest.
        self.links.clear();
        self.transport.stop();
        let _ = swarm.await;
    }

    /// Acts on one step and carries out what the protocol asks.
    fn step(&mut self, state: &H, step: Step) {
        let now = since_epoch();
        let protocol = &mut self.protocol;
        match step {
            Step::Message(peer, message) => state.apply_now(
                protocol,
                |protocol, node| protocol.handle_message(peer, message, node, now),
                |protocol, node, events| {
                    for event in events {
                        protocol.handle_node_event(event, node, now);
                    }
                },
            ),
            Step::Timeout => protocol.handle_timeout(now),
            Step::Control(control) => match control {
                Control::Connected { peer, direction, addr, remote, outbox } => {
                    self.links.insert(peer, (outbox, remote));
                    let identity = p2p::identity_of(&remote);
                    state.read_node(|node| {
                        protocol.handle_connected_as(peer, direction, addr, identity, node, now);
                    });
                }
                Control::Malformed(peer) => protocol.handle_malformed(peer, now),
                Control::Closed(peer) => {
                    self.links.remove(&peer);
                    protocol.handle_disconnected(peer, now);
                }
                Control::DialFailed(addr) => protocol.handle_dial_failed(&addr),
                Control::Events(events) => {
                    state.read_node(|node| {
                        for event in &events {
                            protocol.handle_node_event(event, node, now);
                        }
                    });
                }
                Control::Add(addresses) => {
                    for addr in addresses {
                        protocol.add_address(addr);
                    }
                    protocol.handle_timeout(now);
                }
                Control::Remove(addr) => protocol.remove_address(&addr, now),
                Control::Stop => {}
            },
        }
        self.carry_out(now);
        let connected = self
            .protocol
            .peers()
            .map(|(_, direction, addr)| (addr.map(|a| a.as_str().to_owned()), direction))
            .collect();
        *self.shared.connected.lock().unwrap_or_else(|e| e.into_inner()) = connected;
        self.report_peers(state);
    }

    /// Tells `/events` which peers the protocol took on or let go in the last step.
    fn report_peers(&mut self, state: &H) {
        let mut live = vec![];
        let now: std::collections::BTreeSet<PeerId> =
            self.protocol.peers().map(|(peer, _, _)| peer).collect();
        for (peer, direction, addr) in self.protocol.peers() {
            if !self.peers.contains(&peer) {
                live.push(LiveEvent::PeerConnected {
                    peer: peer.0,
                    direction: match direction {
                        Direction::Inbound => crate::dto::PeerDirection::Inbound,
                        Direction::Outbound => crate::dto::PeerDirection::Outbound,
                    },
                    address: addr.map(|a| a.as_str().to_owned()),
                });
            }
        }
        live.extend(self.peers.difference(&now).map(|peer| LiveEvent::PeerGone { peer: peer.0 }));
        self.peers = now;
        if !live.is_empty() {
            state.publish(live);
        }
    }

    /// Drains the protocol's outputs: frames to outboxes, and dials, drops and bans to
    /// the transport.
    fn carry_out(&mut self, now: Duration) {
        while let Some(output) = self.protocol.poll_output() {
            match output {
                Output::Send { to, message } => {
                    let Some((outbox, remote)) = self.links.get(&to) else { continue };
                    if outbox.try_send(Bytes::from(message.encode())).is_err() {
                        tracing::debug!(peer = ?to, "a peer does not take what it is sent; dropped");
                        self.transport.disconnect(*remote, None);
                        self.links.remove(&to);
                        self.protocol.handle_disconnected(to, now);
                    }
                }
                Output::Connect(addr) => self.transport.dial(addr),
                Output::Disconnect { peer, reason } => {
                    tracing::debug!(?peer, ?reason, "peer dropped");
                    // Closing the stream lets what was queued for it go first (an inbound
                    // peer turned away still gets addresses to try); a misbehaving peer
                    // loses every connection at once.
                    if let Some((outbox, remote)) = self.links.remove(&peer)
                        && matches!(
                            reason,
                            DisconnectReason::Misbehaving | DisconnectReason::Banned
                        )
                    {
                        // The stream ends when the transport has closed the connection,
                        // after the ban the protocol output before this.
                        self.transport.disconnect(remote, Some(outbox));
                    }
                }
                Output::Banned { addr, until } => {
                    tracing::info!(%addr, until_ms = until.as_millis(), "peer banned");
                    if let Some(remote) = p2p::peer_of(&addr) {
                        let left = until.saturating_sub(now);
                        // A ban past what the clock can hold lasts a year at a time.
                        let now = Instant::now();
                        let until = now.checked_add(left).unwrap_or(now + BAN_CAP);
                        self.transport.ban(remote, until);
                    }
                }
            }
        }
    }
}
