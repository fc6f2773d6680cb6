//! The peer network's driver: runs the core's sans-IO [`Protocol`] and carries its
//! messages between nodes over WebSocket connections on the node's own HTTP port
//! ([`P2P_PATH`]), one binary frame per [`Message`] in its canonical encoding.
//!
//! It decides nothing. The protocol says what to send, whom to dial and whom to drop;
//! this module opens and accepts the connections, encodes and decodes, reads the clock,
//! and feeds back what happened:
//!
//! - one task (the driver) owns the protocol; every step that reads or feeds the node
//!   runs on a blocking thread with the node locked (a block from a peer is checked
//!   there), and the store writes it causes are queued in order, as a request's are;
//! - each connection has a reader (frames in, decoded and handed to the driver, which
//!   waits for its turn: a fast sender is slowed to the driver's pace) and a writer (a
//!   bounded queue of frames out: a peer that does not take what it is sent is dropped);
//! - addresses are dialled only as [`PeerPolicy`] allows, checked again at every dial
//!   (a name is resolved and each of its addresses checked).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::body::Bytes;
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _, future};
use gophercoin_core::{
    Event,
    net::{
        Config, Direction, Message, Output, PeerAddr, PeerId, Protocol, message::MAX_MESSAGE_BYTES,
    },
};
use tokio::sync::mpsc;

use crate::{
    peers::{PeerPolicy, PeerUrlError},
    state::{AppState, now_ms},
};

/// The path peers connect to (a WebSocket upgrade).
pub const P2P_PATH: &str = "/p2p";

/// Frames queued for one peer; a peer that lets more pile up is too slow and is dropped.
const OUTBOX: usize = 1_024;
/// Messages from all peers waiting for the driver; readers wait while it is full.
const INBOX: usize = 256;
/// The longest the driver sleeps without looking whether the node is still there.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// What the driver is told by connections and by the rest of the node.
enum Control {
    /// A connection is open; `outbox` takes the frames for it.
    Connected {
        peer: PeerId,
        direction: Direction,
        addr: Option<PeerAddr>,
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
    policy: PeerPolicy,
    connect_timeout: Duration,
    /// The connected peers' addresses (if known) and directions, as of the driver's last
    /// step.
    connected: Mutex<Vec<(Option<String>, Direction)>>,
}

impl Shared {
    fn tell(&self, control: Control) {
        // Only fails once the driver has stopped, and then nobody listens.
        let _ = self.control.send(control);
    }
}

/// The node's side of the peer network: a handle to the driver.
#[derive(Debug)]
pub struct Network {
    shared: Arc<Shared>,
    /// The driver's receiving ends, until [`Network::start`] takes them.
    pending: Mutex<Option<Receivers>>,
}

#[derive(Debug)]
struct Receivers {
    control: mpsc::UnboundedReceiver<Control>,
    inbox: mpsc::Receiver<(PeerId, Message)>,
    protocol: Protocol,
}

impl Network {
    /// A network not yet started; `listen` is the address this node tells peers to dial.
    pub fn new(config: Config, listen: Option<PeerAddr>, limits: &crate::Limits) -> Self {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (inbox, inbox_rx) = mpsc::channel(INBOX);
        Network {
            shared: Arc::new(Shared {
                control,
                inbox,
                next_peer: AtomicU64::new(1),
                policy: limits.peer_policy,
                connect_timeout: limits.peer_connect_timeout,
                connected: Mutex::default(),
            }),
            pending: Mutex::new(Some(Receivers {
                control: control_rx,
                inbox: inbox_rx,
                protocol: Protocol::new(config, listen),
            })),
        }
    }

    /// Starts the driver for `state` (once; later calls return `None`). It ends when told
    /// to ([`Network::stop`]) or when the state is dropped, closing every connection; the
    /// handle resolves then, and the driver holds the state no longer.
    pub fn start(state: &Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
        let pending = state.network.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        let receivers = pending?;
        let addresses: Vec<PeerAddr> =
            state.peers.list().into_iter().filter_map(PeerAddr::new).collect();
        state.network.shared.tell(Control::Add(addresses));
        let driver = Driver {
            state: Arc::downgrade(state),
            shared: Arc::clone(&state.network.shared),
            protocol: receivers.protocol,
            links: HashMap::new(),
        };
        Some(tokio::spawn(driver.run(receivers.control, receivers.inbox)))
    }

    /// Tells the driver to close every connection and end.
    pub fn stop(&self) {
        self.shared.tell(Control::Stop);
    }

    /// Tells peers about the node's new blocks and transactions (the relay events of a
    /// request's core call, after its writes are stored).
    pub fn relay(&self, events: Vec<Event>) {
        if !events.is_empty() {
            self.shared.tell(Control::Events(events));
        }
    }

    /// Adds addresses to dial (normalised peer URLs).
    pub fn add(&self, urls: &[String]) {
        let addresses: Vec<PeerAddr> = urls.iter().cloned().filter_map(PeerAddr::new).collect();
        self.shared.tell(Control::Add(addresses));
    }

    /// Forgets an address and closes connections to it.
    pub fn remove(&self, url: &str) {
        if let Some(addr) = PeerAddr::new(url) {
            self.shared.tell(Control::Remove(addr));
        }
    }

    /// The connected peers' addresses (the dialled one, or the one an inbound peer says
    /// it listens on), sorted.
    pub fn connected(&self) -> Vec<String> {
        let connected = self.shared.connected.lock().unwrap_or_else(|e| e.into_inner());
        let mut addresses: Vec<String> =
            connected.iter().filter_map(|(addr, _)| addr.clone()).collect();
        addresses.sort();
        addresses.dedup();
        addresses
    }

    /// How many peers are connected, (inbound, outbound).
    pub fn counts(&self) -> (usize, usize) {
        let connected = self.shared.connected.lock().unwrap_or_else(|e| e.into_inner());
        let inbound = connected.iter().filter(|(_, d)| *d == Direction::Inbound).count();
        (inbound, connected.len() - inbound)
    }

    /// A handle for serving inbound connections that does not keep the node alive.
    pub fn inbound(&self) -> Inbound {
        Inbound(Arc::clone(&self.shared))
    }

    /// The limits an inbound WebSocket is accepted with.
    pub fn upgrade(ws: axum::extract::ws::WebSocketUpgrade) -> axum::extract::ws::WebSocketUpgrade {
        ws.max_message_size(MAX_MESSAGE_BYTES).max_frame_size(MAX_MESSAGE_BYTES)
    }
}

/// Serves connections peers open to this node ([`Network::inbound`]).
#[derive(Debug)]
pub struct Inbound(Arc<Shared>);

impl Inbound {
    /// Serves an accepted WebSocket connection from a peer until it closes.
    pub async fn serve(self, socket: axum::extract::ws::WebSocket) {
        use axum::extract::ws::Message as Frame;
        let peer = PeerId(self.0.next_peer.fetch_add(1, Ordering::Relaxed));
        let (sink, stream) = socket.split();
        let sink = sink.with(|bytes| future::ready(Ok::<_, axum::Error>(Frame::Binary(bytes))));
        let stream = stream.map(|frame| match frame {
            Ok(Frame::Binary(bytes)) => Incoming::Data(bytes),
            Ok(Frame::Close(_)) | Err(_) => Incoming::End,
            Ok(Frame::Ping(_) | Frame::Pong(_)) => Incoming::Skip,
            Ok(Frame::Text(_)) => Incoming::Junk,
        });
        connection(self.0, peer, Direction::Inbound, None, sink, stream).await;
    }
}

/// A frame, as the reader sees it.
enum Incoming {
    Data(Bytes),
    Skip,
    Junk,
    End,
}

/// Runs one connection: tells the driver it is open, then reads frames into the driver
/// and writes the driver's frames out until either side ends it.
async fn connection<Si, St>(
    shared: Arc<Shared>,
    peer: PeerId,
    direction: Direction,
    addr: Option<PeerAddr>,
    mut sink: Si,
    mut stream: St,
) where
    Si: Sink<Bytes> + Unpin + Send,
    St: Stream<Item = Incoming> + Unpin + Send,
{
    let (outbox, mut frames) = mpsc::channel::<Bytes>(OUTBOX);
    shared.tell(Control::Connected { peer, direction, addr, outbox });
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
                Incoming::Skip => {}
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

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error("not a peer URL: {0}")]
    Url(String),
    #[error(transparent)]
    Policy(#[from] PeerUrlError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not connect: {0}")]
    Io(#[from] std::io::Error),
    #[error("the WebSocket handshake failed: {0}")]
    Handshake(#[from] tokio_tungstenite::tungstenite::Error),
}

/// Dials a peer's URL (`http://host:port`): every address its host stands for is
/// checked against the policy, then the first is connected to and upgraded.
async fn dial(shared: Arc<Shared>, addr: PeerAddr) {
    use tokio_tungstenite::tungstenite::{Message as Frame, protocol::WebSocketConfig};
    let timeout = shared.connect_timeout;
    let connect = async {
        let url = url::Url::parse(addr.as_str()).map_err(|e| DialError::Url(e.to_string()))?;
        let port = url.port_or_known_default().ok_or_else(|| DialError::Url("no port".into()))?;
        let targets: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => {
                shared.policy.check(ip.into())?;
                vec![SocketAddr::new(ip.into(), port)]
            }
            Some(url::Host::Ipv6(ip)) => {
                shared.policy.check(ip.into())?;
                vec![SocketAddr::new(ip.into(), port)]
            }
            Some(url::Host::Domain(name)) => shared
                .policy
                .resolve(name)
                .await?
                .into_iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect(),
            None => return Err(DialError::Url("no host".into())),
        };
        let stream = tokio::net::TcpStream::connect(&targets[..]).await?;
        stream.set_nodelay(true)?;
        let host = url.host_str().unwrap_or_default();
        let ws_url = format!("ws://{host}:{port}{P2P_PATH}");
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let (socket, _) =
            tokio_tungstenite::client_async_with_config(ws_url, stream, Some(config)).await?;
        Ok::<_, DialError>(socket)
    };
    let socket = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(error)) => {
            tracing::debug!(%addr, %error, "dial failed");
            shared.tell(Control::DialFailed(addr));
            return;
        }
        Err(_) => {
            tracing::debug!(%addr, error = %DialError::Timeout(timeout), "dial failed");
            shared.tell(Control::DialFailed(addr));
            return;
        }
    };
    let peer = PeerId(shared.next_peer.fetch_add(1, Ordering::Relaxed));
    let (sink, stream) = socket.split();
    let sink = sink.with(|bytes| {
        future::ready(Ok::<_, tokio_tungstenite::tungstenite::Error>(Frame::Binary(bytes)))
    });
    let stream = stream.map(|frame| match frame {
        Ok(Frame::Binary(bytes)) => Incoming::Data(bytes),
        Ok(Frame::Close(_)) | Err(_) => Incoming::End,
        Ok(Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_)) => Incoming::Skip,
        Ok(Frame::Text(_)) => Incoming::Junk,
    });
    connection(Arc::clone(&shared), peer, Direction::Outbound, Some(addr), sink, stream).await;
}

/// The task that owns the protocol.
struct Driver {
    state: Weak<AppState>,
    shared: Arc<Shared>,
    protocol: Protocol,
    /// The open connections' outboxes.
    links: HashMap<PeerId, mpsc::Sender<Bytes>>,
}

/// One thing for the driver to act on.
enum Step {
    Control(Control),
    Message(PeerId, Message),
    Timeout,
}

impl Driver {
    async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut inbox: mpsc::Receiver<(PeerId, Message)>,
    ) {
        loop {
            let now = now_ms();
            let wait = self
                .protocol
                .poll_timeout()
                .map_or(IDLE_WAKE, |at| Duration::from_millis(at.saturating_sub(now)))
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
                let dials = self.step(&state, step);
                (self, dials)
            })
            .await;
            // A panic in a step ends the driver, closing every connection with it.
            let Ok((driver, dials)) = result else { return };
            self = driver;
            for addr in dials {
                tokio::spawn(dial(Arc::clone(&self.shared), addr));
            }
        }
        // Dropping the outboxes closes every connection.
        self.links.clear();
    }

    /// Acts on one step and carries out what the protocol asks; returns the addresses to
    /// dial.
    fn step(&mut self, state: &AppState, step: Step) -> Vec<PeerAddr> {
        let now = now_ms();
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
                Control::Connected { peer, direction, addr, outbox } => {
                    self.links.insert(peer, outbox);
                    let node = state.node();
                    protocol.handle_connected(peer, direction, addr, &node, now);
                }
                Control::Malformed(peer) => protocol.handle_malformed(peer, now),
                Control::Closed(peer) => {
                    self.links.remove(&peer);
                    protocol.handle_disconnected(peer, now);
                }
                Control::DialFailed(addr) => protocol.handle_dial_failed(&addr),
                Control::Events(events) => {
                    let node = state.node();
                    for event in &events {
                        protocol.handle_node_event(event, &node, now);
                    }
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
        let dials = self.carry_out(now);
        let connected = self
            .protocol
            .peers()
            .map(|(_, direction, addr)| (addr.map(|a| a.as_str().to_owned()), direction))
            .collect();
        *self.shared.connected.lock().unwrap_or_else(|e| e.into_inner()) = connected;
        dials
    }

    /// Drains the protocol's outputs: frames to outboxes, connections to close, dials.
    fn carry_out(&mut self, now: u64) -> Vec<PeerAddr> {
        let mut dials = vec![];
        while let Some(output) = self.protocol.poll_output() {
            match output {
                Output::Send { to, message } => {
                    let Some(outbox) = self.links.get(&to) else { continue };
                    if outbox.try_send(Bytes::from(message.encode())).is_err() {
                        tracing::debug!(peer = ?to, "a peer does not take what it is sent; dropped");
                        self.links.remove(&to);
                        self.protocol.handle_disconnected(to, now);
                    }
                }
                Output::Connect(addr) => dials.push(addr),
                Output::Disconnect { peer, reason } => {
                    tracing::debug!(?peer, ?reason, "peer dropped");
                    self.links.remove(&peer);
                }
                Output::Banned { addr, until } => {
                    tracing::info!(%addr, until, "peer banned");
                }
            }
        }
        dials
    }
}
