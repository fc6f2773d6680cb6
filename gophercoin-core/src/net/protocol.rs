//! [`Protocol`]: one node's side of the peer protocol, as a state machine. It holds the
//! node's peers (direction, tip, what each is known to have, a misbehaviour score), the
//! requests in flight with their deadlines, the catch-ups, an address book and a ban list,
//! and decides what to announce, what to fetch and from whom, whom to dial, and whom to
//! drop. Inputs are `handle_*` calls, outputs are drained with [`Protocol::poll_output`];
//! time comes in as `now`, a [`Duration`] since the Unix epoch (a clock reading's
//! `duration_since(UNIX_EPOCH)`, or a simulation's clock), so its unit is named where it
//! is made, and the node is passed in to be read and fed.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    time::Duration,
};

use crate::{
    chain::ForkChoice,
    crypto::Verifier,
    error::ErrorKind,
    hash::BlockHash,
    net::message::{
        Inventory, MAX_ADDRESSES, MAX_INVENTORY, MAX_LOCATOR, MAX_PAGE_BLOCKS, MAX_PAGE_BYTES,
        Message, PeerAddr,
    },
    node::{Event, Node},
    time::UnixTime,
};

/// A connection to a peer, numbered by the driver (unique while it is open).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// Who opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The peer dialled us.
    Inbound,
    /// We dialled the peer.
    Outbound,
}

/// Why the protocol drops a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// Its address is banned.
    Banned,
    /// Its misbehaviour score reached [`Config::ban_score`].
    Misbehaving,
    /// It is on another network (another genesis).
    OtherNetwork,
    /// The node has as many inbound peers as it keeps.
    TooManyPeers,
    /// Its address was removed ([`Protocol::remove_address`]).
    Removed,
    /// A peer with the same identity is connected already (both sides dialled at once).
    Duplicate,
    /// It sent no [`Message::Hello`] within [`Config::request_timeout`] of connecting.
    Silent,
}

/// What the protocol asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send a message to a peer.
    Send {
        /// The peer.
        to: PeerId,
        /// The message.
        message: Message,
    },
    /// Open a connection to an address (then report it with
    /// [`Protocol::handle_connected`] or [`Protocol::handle_dial_failed`]).
    Connect(PeerAddr),
    /// Close a connection (the protocol has already forgotten the peer).
    Disconnect {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: DisconnectReason,
    },
    /// An address or an identity ([`Protocol::handle_connected_as`]) is banned until a
    /// time (since the Unix epoch, as `now`); a driver that can refuse connections from it
    /// early does.
    Banned {
        /// The address or identity.
        addr: PeerAddr,
        /// Until when.
        until: Duration,
    },
}

/// The protocol's bounds and timings; [`Config::default`] gives the node's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Outbound peers the node keeps dialling towards.
    pub target_outbound: usize,
    /// Inbound peers at most; more are refused.
    pub max_inbound: usize,
    /// Addresses kept at most.
    pub address_book: usize,
    /// Addresses one source may have in the book at most, so that no peer can fill it.
    pub addresses_per_source: usize,
    /// Announcements remembered per peer.
    pub known_per_peer: usize,
    /// How long a request may go unanswered.
    pub request_timeout: Duration,
    /// The longest wait before an address that was tried is dialled again: the wait
    /// starts at [`Config::top_up_interval`] and doubles with each failed dial in a row,
    /// up to this.
    pub retry_interval: Duration,
    /// How often the node looks for outbound peers while it has fewer than the target.
    pub top_up_interval: Duration,
    /// Score at which a peer is disconnected and its address banned.
    pub ban_score: u32,
    /// How long a ban lasts.
    pub ban_time: Duration,
    /// Bytes of blocks the node sends in one catch-up page (at most [`MAX_PAGE_BYTES`]).
    pub page_bytes: usize,
    /// Peers a new tip is pushed to whole; the others are sent an announcement. The
    /// default, 128, is more than a node has peers: every peer not known to have the
    /// block gets it at once, which keeps propagation at the shortest-path bound even
    /// through well-connected nodes (a push to only a few peers measured slower in the
    /// simulator: benches/README.md, "The network simulator"), for up to one copy of each
    /// block per peer.
    pub push_blocks: usize,
    /// Whether addresses learned from peers are dialled; `false` dials only those added
    /// with [`Protocol::add_address`] (Bitcoin Core's `-connect`), for a node that must
    /// reach exactly the peers it was given.
    pub dial_learned: bool,
    /// How long new transactions wait before they are announced: what
    /// arrives meanwhile goes out in one `Inv` per peer, and peers that announced it to
    /// us meanwhile are not told (Bitcoin Core trickles likewise, 2 s on average to an
    /// outbound peer).
    pub tx_trickle: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target_outbound: 8,
            max_inbound: 117,
            address_book: 4_096,
            addresses_per_source: 256,
            known_per_peer: 4_096,
            request_timeout: Duration::from_secs(10),
            retry_interval: Duration::from_secs(60),
            top_up_interval: Duration::from_secs(1),
            ban_score: 100,
            ban_time: Duration::from_secs(24 * 3_600),
            page_bytes: 4 * 1024 * 1024,
            push_blocks: 128,
            dial_learned: true,
            tx_trickle: Duration::from_secs(2),
        }
    }
}

/// The most times the wait before a dial doubles ([`Config::retry_interval`] caps it).
const RETRY_DOUBLINGS: u32 = 16;

/// Catch-ups in a row that bring no block a peer may start before each further one is
/// scored as unrequested data.
const FRUITLESS_CATCH_UPS: u32 = 3;

/// Score for data that breaks a consensus rule: one such message bans.
const INVALID: u32 = 100;
/// Score for data nobody asked for, or a message out of turn.
const UNREQUESTED: u32 = 10;
/// Score for a request left unanswered past its deadline.
const STALLED: u32 = 5;

/// What the node knows of one connected peer.
#[derive(Debug)]
struct Peer {
    direction: Direction,
    /// The dialled address (outbound) or the one the peer said it listens on.
    addr: Option<PeerAddr>,
    /// The address the peer said it listens on (for an outbound peer, another name of
    /// `addr`, not dialled while it is connected).
    listen: Option<PeerAddr>,
    /// Who the transport authenticated it as, if it does.
    identity: Option<PeerAddr>,
    /// Its tip, once its [`Message::Hello`] came.
    tip: Option<(BlockHash, u64)>,
    /// When it must have greeted us by ([`DisconnectReason::Silent`]).
    greet_by: Duration,
    /// What it announced or was sent, oldest first, bounded.
    known: Known,
    score: u32,
    /// The deadline of the catch-up from this peer, if one runs.
    catch_up: Option<Duration>,
    /// Blocks the running catch-up has connected so far.
    caught: usize,
    /// Catch-ups in a row from this peer that brought no block.
    fruitless: u32,
    /// Whether it asked for addresses on this connection already.
    sent_addresses: bool,
    /// Addresses it gave on this connection.
    addresses_given: usize,
    /// Transactions to announce to it at the next trickle.
    to_announce: Vec<Inventory>,
}

/// A bounded set remembering insertion order, the oldest forgotten first.
#[derive(Debug, Default)]
struct Known {
    set: BTreeSet<Inventory>,
    order: VecDeque<Inventory>,
}

impl Known {
    fn insert(&mut self, item: Inventory, cap: usize) {
        if self.set.insert(item) {
            self.order.push_back(item);
            while self.order.len() > cap {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    fn contains(&self, item: &Inventory) -> bool {
        self.set.contains(item)
    }
}

/// An address the node may dial.
#[derive(Debug)]
struct AddrEntry {
    /// Who told us (`None`: given by the operator or the driver).
    source: Option<PeerAddr>,
    /// When it was last dialled, or its connection closed.
    last_tried: Option<Duration>,
    /// Failed dials in a row.
    failures: u32,
    /// When it was last handed to a peer (a count of hand-outs, not a time).
    last_shared: u64,
}

/// One node's side of the peer protocol.
///
/// ```
/// use std::time::Duration;
///
/// use gophercoin_core::{Node, net::{Config, Direction, Message, Output, PeerId, Protocol}};
///
/// let mut node = Node::devnet();
/// let mut protocol = Protocol::new(Config::default(), None);
/// protocol.handle_connected(PeerId(1), Direction::Inbound, None, &node, Duration::ZERO);
/// // The node greets every new peer with its network and tip.
/// let Some(Output::Send { to, message: Message::Hello { height, .. } }) =
///     protocol.poll_output()
/// else {
///     panic!("a hello first")
/// };
/// assert_eq!((to, height), (PeerId(1), 0));
/// ```
#[derive(Debug)]
pub struct Protocol {
    config: Config,
    /// Where this node listens, told to peers.
    listen: Option<PeerAddr>,
    /// Who this node is to its transport ([`Protocol::with_identity`]).
    identity: Option<PeerAddr>,
    peers: BTreeMap<PeerId, Peer>,
    /// Requests in flight: what, from whom, until when.
    in_flight: BTreeMap<Inventory, (PeerId, Duration)>,
    /// Who else announced what is in flight, to ask them if the first does not answer.
    announcers: BTreeMap<Inventory, Vec<PeerId>>,
    book: BTreeMap<PeerAddr, AddrEntry>,
    /// Addresses being dialled.
    dialling: BTreeSet<PeerAddr>,
    bans: BTreeMap<PeerAddr, Duration>,
    /// Blocks from catch-up pages with more to come: not announced one by one (the last
    /// page's tip is).
    quiet: BTreeSet<BlockHash>,
    /// Address hand-outs so far ([`AddrEntry::last_shared`]).
    shared: u64,
    /// When to look for outbound peers again, while short of the target.
    next_top_up: Option<Duration>,
    /// When the transactions waiting to be announced go out.
    next_trickle: Option<Duration>,
    outputs: VecDeque<Output>,
}

impl Protocol {
    /// A protocol with no peers; `listen` is where this node accepts connections, if
    /// anywhere.
    pub fn new(config: Config, listen: Option<PeerAddr>) -> Self {
        Protocol {
            config,
            listen,
            identity: None,
            peers: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            announcers: BTreeMap::new(),
            book: BTreeMap::new(),
            dialling: BTreeSet::new(),
            bans: BTreeMap::new(),
            quiet: BTreeSet::new(),
            shared: 0,
            next_top_up: None,
            next_trickle: None,
            outputs: VecDeque::new(),
        }
    }

    /// The same protocol for a node its transport authenticates as `identity` (the form
    /// [`Protocol::handle_connected_as`] is given). When two nodes dial each other at once,
    /// both keep the connection dialled by the one whose identity sorts first.
    #[must_use]
    pub fn with_identity(mut self, identity: PeerAddr) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest deadline (since the Unix epoch) at which [`Protocol::handle_timeout`] has
    /// something to do, if any.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let requests = self.in_flight.values().map(|(_, deadline)| *deadline);
        let catch_ups = self.peers.values().filter_map(|peer| peer.catch_up);
        let greetings = self.peers.values().filter(|p| p.tip.is_none()).map(|p| p.greet_by);
        let bans = self.bans.values().copied();
        requests
            .chain(catch_ups)
            .chain(greetings)
            .chain(bans)
            .chain(self.next_top_up)
            .chain(self.next_trickle)
            .min()
    }

    /// Connected peers, with their direction and address.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, Direction, Option<&PeerAddr>)> {
        self.peers.iter().map(|(id, peer)| (*id, peer.direction, peer.addr.as_ref()))
    }

    /// A peer's misbehaviour score, if it is connected.
    pub fn score(&self, peer: PeerId) -> Option<u32> {
        self.peers.get(&peer).map(|peer| peer.score)
    }

    /// Whether a catch-up from `peer` runs: a page of blocks from it is asked for, and
    /// will be checked (a driver may check its signatures beforehand, off the node's
    /// lock; a page nobody asked for is refused unchecked).
    pub fn is_catching_up_from(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|state| state.catch_up.is_some())
    }

    /// Addresses known.
    pub fn addresses(&self) -> impl Iterator<Item = &PeerAddr> {
        self.book.keys()
    }

    /// Whether an address is banned at `now`.
    pub fn is_banned(&self, addr: &PeerAddr, now: Duration) -> bool {
        self.bans.get(addr).is_some_and(|until| *until > now)
    }

    /// Adds an address to dial (the operator's `--peer`, a registration): kept whatever
    /// the per-source bound, and dialled at the next [`Protocol::handle_timeout`].
    pub fn add_address(&mut self, addr: PeerAddr) {
        self.book.entry(addr).and_modify(|entry| entry.source = None).or_insert(AddrEntry {
            source: None,
            last_tried: None,
            failures: 0,
            last_shared: 0,
        });
    }

    /// Forgets an address (the operator removed a peer): it is no longer dialled, and a
    /// connection to or from it is closed.
    pub fn remove_address(&mut self, addr: &PeerAddr, now: Duration) {
        self.book.remove(addr);
        let gone: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, peer)| peer.addr.as_ref() == Some(addr))
            .map(|(id, _)| *id)
            .collect();
        for peer in gone {
            self.peers.remove(&peer);
            self.forget_requests_of(peer, now);
            self.outputs.push_back(Output::Disconnect { peer, reason: DisconnectReason::Removed });
        }
    }

    /// Bytes from a peer that are not a message ([`Message::decode`] failed): scored as
    /// invalid data, which bans.
    pub fn handle_malformed(&mut self, peer: PeerId, now: Duration) {
        self.misbehaving(peer, INVALID, now);
    }

    /// A connection opened (`addr`: the dialled address for an outbound one).
    /// Returns whether the peer is kept; if not, a [`Output::Disconnect`] is queued.
    pub fn handle_connected<V: Verifier, F: ForkChoice>(
        &mut self,
        peer: PeerId,
        direction: Direction,
        addr: Option<PeerAddr>,
        node: &Node<V, F>,
        now: Duration,
    ) -> bool {
        self.handle_connected_as(peer, direction, addr, None, node, now)
    }

    /// A connection opened to a peer the transport authenticated as `identity` (for
    /// libp2p, `/p2p/<peer id>`), as [`Protocol::handle_connected`] otherwise. A banned
    /// identity is dropped, as is a second connection of one identity; misbehaviour bans
    /// the identity as well as the address, and an address the peer claims as its own
    /// counts only if it names the identity (ends with it), so no peer can have another
    /// one's address banned.
    pub fn handle_connected_as<V: Verifier, F: ForkChoice>(
        &mut self,
        peer: PeerId,
        direction: Direction,
        addr: Option<PeerAddr>,
        identity: Option<PeerAddr>,
        node: &Node<V, F>,
        now: Duration,
    ) -> bool {
        if let Some(addr) = &addr {
            self.dialling.remove(addr);
        }
        let banned = addr.iter().chain(&identity).any(|a| self.is_banned(a, now));
        if banned {
            self.outputs.push_back(Output::Disconnect { peer, reason: DisconnectReason::Banned });
            return false;
        }
        let existing = identity.as_ref().and_then(|identity| {
            self.peers.iter().find(|(_, p)| p.identity.as_ref() == Some(identity))
        });
        if let (Some((&existing, state)), Some(theirs)) = (existing, &identity) {
            // Both dialled at once: each side keeps the connection dialled by the lower
            // identity, so both keep the same one.
            let keep_new = match (&self.identity, state.direction, direction) {
                (Some(ours), Direction::Inbound, Direction::Outbound) => ours < theirs,
                (Some(ours), Direction::Outbound, Direction::Inbound) => theirs < ours,
                _ => false,
            };
            if keep_new {
                self.peers.remove(&existing);
                self.forget_requests_of(existing, now);
                self.outputs.push_back(Output::Disconnect {
                    peer: existing,
                    reason: DisconnectReason::Duplicate,
                });
            } else {
                // Another name of a peer we have: tried less and less often.
                if let Some(entry) = addr.as_ref().and_then(|addr| self.book.get_mut(addr)) {
                    entry.last_tried = Some(now);
                    entry.failures = entry.failures.saturating_add(1);
                }
                self.outputs
                    .push_back(Output::Disconnect { peer, reason: DisconnectReason::Duplicate });
                return false;
            }
        }
        let inbound = self.peers.values().filter(|p| p.direction == Direction::Inbound).count();
        if direction == Direction::Inbound && inbound >= self.config.max_inbound {
            // Full: greet, hand over addresses to try instead, and close, so a newcomer
            // whose only address is a busy seed still learns the network.
            self.send(peer, self.hello(node));
            let addresses = self.sample_addresses(None, now);
            self.send(peer, Message::Addr(addresses));
            self.outputs
                .push_back(Output::Disconnect { peer, reason: DisconnectReason::TooManyPeers });
            return false;
        }
        if direction == Direction::Outbound
            && let Some(entry) = addr.as_ref().and_then(|addr| self.book.get_mut(addr))
        {
            entry.failures = 0;
        }
        self.peers.insert(
            peer,
            Peer {
                direction,
                addr,
                listen: None,
                identity,
                tip: None,
                greet_by: now.saturating_add(self.config.request_timeout),
                known: Known::default(),
                score: 0,
                catch_up: None,
                caught: 0,
                fruitless: 0,
                sent_addresses: false,
                addresses_given: 0,
                to_announce: vec![],
            },
        );
        self.send(peer, self.hello(node));
        if direction == Direction::Outbound {
            self.send(peer, Message::GetAddr);
        }
        true
    }

    /// A dial to `addr` failed; it is tried again later, each time later up to
    /// [`Config::retry_interval`].
    pub fn handle_dial_failed(&mut self, addr: &PeerAddr) {
        self.dialling.remove(addr);
        if let Some(entry) = self.book.get_mut(addr) {
            entry.failures = entry.failures.saturating_add(1);
        }
    }

    /// A connection closed: what was asked of the peer is asked of others that announced
    /// it.
    pub fn handle_disconnected(&mut self, peer: PeerId, now: Duration) {
        let Some(state) = self.peers.remove(&peer) else { return };
        self.forget_requests_of(peer, now);
        if state.direction == Direction::Outbound {
            // Dial again (it, after a wait, or another) to keep the target.
            if let Some(entry) = state.addr.as_ref().and_then(|addr| self.book.get_mut(addr)) {
                entry.last_tried = Some(now);
            }
            let soon = now.saturating_add(self.config.top_up_interval);
            self.next_top_up = Some(self.next_top_up.map_or(soon, |at| at.min(soon)));
        }
    }

    /// A node event the driver drained ([`Node::poll_event`]) at `now`: a new tip is
    /// pushed whole to up to [`Config::push_blocks`] peers not known to have it and
    /// announced to the others (a block then travels at about one link's latency a hop, as
    /// with BIP152's high-bandwidth peers); an accepted transaction is announced at the
    /// next trickle ([`Config::tx_trickle`]). Never back to the peer that sent it, and
    /// blocks of a catch-up page with more to come not at all.
    pub fn handle_node_event<V: Verifier, F: ForkChoice>(
        &mut self,
        event: &Event,
        node: &Node<V, F>,
        now: Duration,
    ) {
        let item = match event {
            Event::RelayBlock(hash) if self.quiet.remove(hash) => return,
            Event::RelayBlock(hash) => Inventory::Block(*hash),
            Event::RelayTransaction(id) => Inventory::Tx(*id),
            _ => return,
        };
        let cap = self.config.known_per_peer;
        if let Inventory::Tx(_) = item {
            let mut full = vec![];
            for (id, peer) in &mut self.peers {
                if peer.tip.is_some() && !peer.known.contains(&item) {
                    peer.to_announce.push(item);
                    if peer.to_announce.len() >= MAX_INVENTORY {
                        full.push(*id);
                    }
                }
            }
            for id in full {
                self.announce(id);
            }
            if self.next_trickle.is_none() {
                self.next_trickle = Some(now.saturating_add(self.config.tx_trickle));
            }
            return;
        }
        let mut to = vec![];
        for (id, peer) in &mut self.peers {
            if peer.tip.is_some() && !peer.known.contains(&item) {
                peer.known.insert(item, cap);
                to.push(*id);
            }
        }
        let block = match item {
            Inventory::Block(hash) => node.block(&hash).map(|block| block.to_block()),
            Inventory::Tx(_) => None,
        };
        for (i, id) in to.into_iter().enumerate() {
            match &block {
                Some(block) if i < self.config.push_blocks => {
                    self.send(id, Message::Block(Box::new(block.clone())));
                }
                _ => self.send(id, Message::Inv(vec![item])),
            }
        }
    }

    /// Sends a peer the transactions waiting for it, less those it has told us of since.
    fn announce(&mut self, id: PeerId) {
        let cap = self.config.known_per_peer;
        let Some(peer) = self.peers.get_mut(&id) else { return };
        let mut items = std::mem::take(&mut peer.to_announce);
        items.retain(|item| !peer.known.contains(item));
        items.sort_unstable();
        items.dedup();
        for item in &items {
            peer.known.insert(*item, cap);
        }
        if !items.is_empty() {
            self.send(id, Message::Inv(items));
        }
    }

    /// Time passed: requests and catch-ups past their deadline are given up (their peer
    /// scored for stalling) and asked of others, bans expire, and outbound connections
    /// are topped up from the address book.
    pub fn handle_timeout(&mut self, now: Duration) {
        let late: Vec<(Inventory, PeerId)> = self
            .in_flight
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(item, (peer, _))| (*item, *peer))
            .collect();
        let mut stalled = BTreeSet::new();
        for (item, peer) in late {
            // Still the request found late (not one re-sent since, to another peer).
            if !self.in_flight.get(&item).is_some_and(|(to, due)| *to == peer && *due <= now) {
                continue;
            }
            self.in_flight.remove(&item);
            self.ask_another(item, peer, now);
            stalled.insert(peer);
        }
        stalled.extend(
            self.peers
                .iter()
                .filter(|(_, peer)| peer.catch_up.is_some_and(|deadline| deadline <= now))
                .map(|(id, _)| *id),
        );
        // Once per peer, however many of its requests were late.
        for peer in stalled {
            if let Some(state) = self.peers.get_mut(&peer)
                && state.catch_up.is_some_and(|deadline| deadline <= now)
            {
                state.catch_up = None;
            }
            self.misbehaving(peer, STALLED, now);
        }
        // A peer that never greets holds a place and does nothing with it.
        let silent: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, peer)| peer.tip.is_none() && peer.greet_by <= now)
            .map(|(id, _)| *id)
            .collect();
        for peer in silent {
            self.peers.remove(&peer);
            self.forget_requests_of(peer, now);
            self.outputs.push_back(Output::Disconnect { peer, reason: DisconnectReason::Silent });
        }
        if self.next_trickle.is_some_and(|at| at <= now) {
            self.next_trickle = None;
            let waiting: Vec<PeerId> = self
                .peers
                .iter()
                .filter(|(_, peer)| !peer.to_announce.is_empty())
                .map(|(id, _)| *id)
                .collect();
            for id in waiting {
                self.announce(id);
            }
        }
        self.bans.retain(|_, until| *until > now);
        self.top_up_outbound(now);
    }

    /// A message from a peer, acted on: the node is fed what was asked for, asked-for
    /// data is answered, and the peer is scored for what breaks the rules.
    pub fn handle_message<V: Verifier, F: ForkChoice>(
        &mut self,
        peer: PeerId,
        message: Message,
        node: &mut Node<V, F>,
        now: Duration,
    ) {
        let Some(state) = self.peers.get(&peer) else { return };
        if let Err(_too_many) = message.check_bounds() {
            self.misbehaving(peer, INVALID, now);
            return;
        }
        let greeted = state.tip.is_some();
        match message {
            Message::Hello { genesis, tip, height, listen } => {
                if greeted {
                    return self.misbehaving(peer, UNREQUESTED, now);
                }
                if genesis != node.params().genesis().hash() {
                    self.peers.remove(&peer);
                    self.forget_requests_of(peer, now);
                    self.outputs.push_back(Output::Disconnect {
                        peer,
                        reason: DisconnectReason::OtherNetwork,
                    });
                    return;
                }
                let mut listen = listen;
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.tip = Some((tip, height));
                    state.known.insert(Inventory::Block(tip), self.config.known_per_peer);
                    // An authenticated peer's claim must name its identity.
                    if let (Some(identity), Some(claim)) = (&state.identity, &listen)
                        && !claim.as_str().ends_with(identity.as_str())
                    {
                        listen = None;
                    }
                    if state.addr.is_none() {
                        state.addr = listen.clone();
                    }
                    state.listen = listen.clone();
                }
                if let Some(listen) = listen {
                    // Its own claim: learned, not given (a source of its own).
                    self.learn_address(listen.clone(), Some(listen));
                }
                if !node.chain().contains(&tip) && !node.invalid_blocks().is_invalid(&tip) {
                    self.start_catch_up(peer, node, now);
                }
            }
            _ if !greeted => self.misbehaving(peer, UNREQUESTED, now),
            Message::Inv(items) => self.handle_inv(peer, items, node, now),
            Message::GetData(items) => self.handle_get_data(peer, items, node),
            Message::NotFound(items) => {
                for item in items {
                    if self.in_flight.get(&item).is_some_and(|(from, _)| *from == peer) {
                        self.in_flight.remove(&item);
                        self.ask_another(item, peer, now);
                    }
                }
            }
            Message::Block(block) => {
                // Asked for, or pushed as a new tip: both welcome, once.
                let item = Inventory::Block(block.hash());
                let _asked = self.take_request(item, peer);
                self.mark_known(peer, item);
                if node.chain().contains(&block.hash()) {
                    return;
                }
                match node.handle_block(*block, UnixTime::from_duration(now)) {
                    Ok(_) => {}
                    Err(error) if matches!(error.kind(), ErrorKind::UnknownParent) => {
                        self.start_catch_up(peer, node, now);
                    }
                    Err(error) if error.is_peer_fault() => self.misbehaving(peer, INVALID, now),
                    Err(_) => {}
                }
            }
            Message::Tx(tx) => {
                let item = Inventory::Tx(tx.id());
                if !self.take_request(item, peer) {
                    return self.misbehaving(peer, UNREQUESTED, now);
                }
                self.mark_known(peer, item);
                // A transaction valid at the sender's tip may be an overdraft or a replay at
                // ours (a block one of us has not seen yet): only what is wrong with the
                // transaction itself is the sender's fault.
                if let Err(error) = node.handle_transaction(*tx)
                    && error.is_peer_fault()
                    && !matches!(
                        error.kind(),
                        ErrorKind::Overdraft | ErrorKind::Replay | ErrorKind::Overflow
                    )
                {
                    self.misbehaving(peer, INVALID, now);
                }
            }
            Message::GetBlocks { locator } => self.handle_get_blocks(peer, &locator, node),
            Message::Blocks { blocks, more } => self.handle_blocks(peer, blocks, more, node, now),
            Message::GetAddr => {
                let Some(state) = self.peers.get_mut(&peer) else { return };
                if std::mem::replace(&mut state.sent_addresses, true) {
                    return self.misbehaving(peer, UNREQUESTED, now);
                }
                let own = state.addr.clone();
                let addresses = self.sample_addresses(own.as_ref(), now);
                self.send(peer, Message::Addr(addresses));
            }
            Message::Addr(addresses) => {
                let Some(state) = self.peers.get_mut(&peer) else { return };
                state.addresses_given += addresses.len();
                if state.addresses_given > MAX_ADDRESSES * 10 {
                    return self.misbehaving(peer, UNREQUESTED, now);
                }
                // A peer that gave no address of its own counts as a source of its own.
                let source =
                    state.addr.clone().or_else(|| PeerAddr::new(format!("#peer-{}", peer.0)));
                for addr in addresses {
                    if !self.is_banned(&addr, now) {
                        self.learn_address(addr, source.clone());
                    }
                }
                self.top_up_outbound(now);
            }
        }
    }

    fn handle_inv<V: Verifier, F: ForkChoice>(
        &mut self,
        peer: PeerId,
        items: Vec<Inventory>,
        node: &Node<V, F>,
        now: Duration,
    ) {
        let mut wanted = vec![];
        let mut asked_of_peer = self.in_flight.values().filter(|(from, _)| *from == peer).count();
        for item in items {
            self.mark_known(peer, item);
            let have = match item {
                Inventory::Block(hash) => {
                    node.chain().contains(&hash) || node.invalid_blocks().is_invalid(&hash)
                }
                Inventory::Tx(id) => node.check_not_known(&id).is_err(),
            };
            if have {
                continue;
            }
            if self.in_flight.contains_key(&item) {
                let others = self.announcers.entry(item).or_default();
                if others.len() < 8 && !others.contains(&peer) {
                    others.push(peer);
                }
                continue;
            }
            if asked_of_peer >= MAX_INVENTORY {
                continue; // at most one message's worth in flight from one peer
            }
            asked_of_peer += 1;
            self.in_flight.insert(item, (peer, now.saturating_add(self.config.request_timeout)));
            wanted.push(item);
        }
        if !wanted.is_empty() {
            self.send(peer, Message::GetData(wanted));
        }
    }

    fn handle_get_data<V: Verifier, F: ForkChoice>(
        &mut self,
        peer: PeerId,
        items: Vec<Inventory>,
        node: &Node<V, F>,
    ) {
        let mut missing = vec![];
        let mut seen = BTreeSet::new();
        let mut budget = self.config.page_bytes;
        for item in items {
            // Each item once, and no more than a page's worth of blocks for one request.
            if !seen.insert(item) {
                continue;
            }
            if budget == 0 {
                missing.push(item);
                continue;
            }
            let message = match item {
                Inventory::Block(hash) => {
                    node.block(&hash).map(|block| Message::Block(Box::new(block.to_block())))
                }
                Inventory::Tx(id) => {
                    node.mempool().get(&id).map(|tx| Message::Tx(Box::new(tx.signed().clone())))
                }
            };
            match message {
                Some(message) => {
                    if let Message::Block(block) = &message {
                        let size = crate::codec::encoded_len(block.as_ref());
                        budget = budget.saturating_sub(size);
                    }
                    self.mark_known(peer, item);
                    self.send(peer, message);
                }
                None => missing.push(item),
            }
        }
        if !missing.is_empty() {
            self.send(peer, Message::NotFound(missing));
        }
    }

    /// Answers a catch-up page: the main-chain blocks after the newest locator hash on
    /// our main chain, bounded by [`Config::page_bytes`] and [`MAX_PAGE_BLOCKS`].
    fn handle_get_blocks<V: Verifier, F: ForkChoice>(
        &mut self,
        peer: PeerId,
        locator: &[BlockHash],
        node: &Node<V, F>,
    ) {
        let chain = node.chain();
        let fork = locator
            .iter()
            .find(|hash| chain.is_on_main(hash))
            .and_then(|hash| chain.get(hash))
            .map_or(0, |block| block.height());
        let budget = self.config.page_bytes.min(MAX_PAGE_BYTES);
        let (mut blocks, mut bytes) = (vec![], 0);
        for block in chain.main_chain_from(fork + 1) {
            let block = block.to_block();
            let size = crate::codec::encoded_len(&block);
            if blocks.len() == MAX_PAGE_BLOCKS || (!blocks.is_empty() && bytes + size > budget) {
                break;
            }
            bytes += size;
            blocks.push(block);
        }
        let last = fork + blocks.len() as u64;
        let more = last < node.height();
        if let Some(block) = blocks.last() {
            self.mark_known(peer, Inventory::Block(block.hash()));
        }
        self.send(peer, Message::Blocks { blocks, more });
    }

    fn handle_blocks<V: Verifier, F: ForkChoice>(
        &mut self,
        peer: PeerId,
        blocks: Vec<crate::block::Block>,
        more: bool,
        node: &mut Node<V, F>,
        now: Duration,
    ) {
        if self.peers.get(&peer).and_then(|state| state.catch_up).is_none() {
            return self.misbehaving(peer, UNREQUESTED, now);
        }
        let mut last = None;
        let last_of_page = blocks.last().map(crate::block::Block::hash);
        for block in blocks {
            let hash = block.hash();
            self.mark_known(peer, Inventory::Block(hash));
            // Only the tip of the last page is announced onwards.
            if more || Some(&hash) != last_of_page.as_ref() {
                if self.quiet.len() >= 2 * MAX_PAGE_BLOCKS {
                    self.quiet.clear();
                }
                self.quiet.insert(hash);
            }
            match node.handle_block(block, UnixTime::from_duration(now)) {
                Ok(_) => {
                    if let Some(state) = self.peers.get_mut(&peer) {
                        state.caught += 1;
                    }
                }
                Err(error) if matches!(error.kind(), ErrorKind::AlreadyKnown) => {}
                Err(error)
                    if error.is_peer_fault()
                        || matches!(error.kind(), ErrorKind::UnknownParent) =>
                {
                    // A page must link to what we hold and to itself.
                    if let Some(state) = self.peers.get_mut(&peer) {
                        state.catch_up = None;
                    }
                    return self.misbehaving(peer, INVALID, now);
                }
                Err(_) => break,
            }
            last = Some(hash);
        }
        match (more, last) {
            (true, Some(last)) => {
                let mut locator = vec![last];
                locator.extend(locator_of(node).into_iter().take(MAX_LOCATOR - 1));
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.catch_up = Some(now.saturating_add(self.config.request_timeout));
                }
                self.send(peer, Message::GetBlocks { locator });
            }
            _ => {
                let Some(state) = self.peers.get_mut(&peer) else { return };
                state.catch_up = None;
                // A catch-up that brought nothing: the blocks that started it (whose
                // parents we lacked) led nowhere. A few in a row happen (what we lacked
                // came from another peer meanwhile); more are scored as unrequested data.
                if state.caught == 0 {
                    state.fruitless += 1;
                    if state.fruitless > FRUITLESS_CATCH_UPS {
                        self.misbehaving(peer, UNREQUESTED, now);
                    }
                } else {
                    state.fruitless = 0;
                }
            }
        }
    }

    /// This node's greeting: its network, its tip, and where it listens.
    fn hello<V: Verifier, F: ForkChoice>(&self, node: &Node<V, F>) -> Message {
        let tip = node.tip();
        Message::Hello {
            genesis: node.params().genesis().hash(),
            tip: tip.hash(),
            height: tip.height,
            listen: self.listen.clone(),
        }
    }

    /// Up to [`MAX_ADDRESSES`] addresses to hand a peer: the least recently handed out
    /// first (so that successive askers learn different parts of the book), never the
    /// asker's own or a banned one.
    fn sample_addresses(&mut self, except: Option<&PeerAddr>, now: Duration) -> Vec<PeerAddr> {
        let mut candidates: Vec<(u64, PeerAddr)> = self
            .book
            .iter()
            .filter(|(addr, _)| Some(*addr) != except && !self.is_banned(addr, now))
            .map(|(addr, entry)| (entry.last_shared, addr.clone()))
            .collect();
        candidates.sort();
        candidates.truncate(MAX_ADDRESSES);
        self.shared += 1;
        for (_, addr) in &candidates {
            if let Some(entry) = self.book.get_mut(addr) {
                entry.last_shared = self.shared;
            }
        }
        candidates.into_iter().map(|(_, addr)| addr).collect()
    }

    /// Starts fetching a peer's chain from the fork point, unless a catch-up from it runs.
    fn start_catch_up<V: Verifier, F: ForkChoice>(
        &mut self,
        peer: PeerId,
        node: &Node<V, F>,
        now: Duration,
    ) {
        let deadline = now.saturating_add(self.config.request_timeout);
        let Some(state) = self.peers.get_mut(&peer) else { return };
        if state.catch_up.is_some() {
            return;
        }
        state.catch_up = Some(deadline);
        state.caught = 0;
        self.send(peer, Message::GetBlocks { locator: locator_of(node) });
    }

    /// Takes `item` off the requests in flight if `peer` was asked for it.
    fn take_request(&mut self, item: Inventory, peer: PeerId) -> bool {
        if self.in_flight.get(&item).is_some_and(|(from, _)| *from == peer) {
            self.in_flight.remove(&item);
            self.announcers.remove(&item);
            true
        } else {
            false
        }
    }

    /// Asks the next peer that announced `item`, other than `failed`, for it.
    fn ask_another(&mut self, item: Inventory, failed: PeerId, now: Duration) {
        let Some(mut others) = self.announcers.remove(&item) else { return };
        others.retain(|other| *other != failed && self.peers.contains_key(other));
        if let Some(next) = others.first().copied() {
            others.remove(0);
            self.in_flight.insert(item, (next, now.saturating_add(self.config.request_timeout)));
            if !others.is_empty() {
                self.announcers.insert(item, others);
            }
            self.send(next, Message::GetData(vec![item]));
        }
    }

    fn forget_requests_of(&mut self, peer: PeerId, now: Duration) {
        let asked: Vec<Inventory> = self
            .in_flight
            .iter()
            .filter(|(_, (from, _))| *from == peer)
            .map(|(item, _)| *item)
            .collect();
        for item in asked {
            self.in_flight.remove(&item);
            self.ask_another(item, peer, now);
        }
    }

    fn mark_known(&mut self, peer: PeerId, item: Inventory) {
        let cap = self.config.known_per_peer;
        if let Some(state) = self.peers.get_mut(&peer) {
            state.known.insert(item, cap);
        }
    }

    /// Adds `points` to a peer's score; at [`Config::ban_score`] its address is banned
    /// and it is dropped.
    fn misbehaving(&mut self, peer: PeerId, points: u32, now: Duration) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        state.score = state.score.saturating_add(points);
        if state.score < self.config.ban_score {
            return;
        }
        // A claimed address is banned only when it names an authenticated identity.
        let claimed = state.listen.iter().filter(|_| state.identity.is_some());
        let names: Vec<PeerAddr> =
            state.addr.iter().chain(claimed).chain(&state.identity).cloned().collect();
        self.peers.remove(&peer);
        self.forget_requests_of(peer, now);
        let until = now.saturating_add(self.config.ban_time);
        for addr in names {
            if self.bans.insert(addr.clone(), until).is_none_or(|before| before != until) {
                self.book.remove(&addr);
                self.outputs.push_back(Output::Banned { addr, until });
            }
        }
        self.outputs.push_back(Output::Disconnect { peer, reason: DisconnectReason::Misbehaving });
    }

    /// Keeps an address, within the book's bound and its source's share of it.
    fn learn_address(&mut self, addr: PeerAddr, source: Option<PeerAddr>) {
        if self.book.contains_key(&addr) || Some(&addr) == self.listen.as_ref() {
            return;
        }
        if self.book.len() >= self.config.address_book {
            return;
        }
        if let Some(source) = &source {
            // Its own address aside.
            let from_source = self
                .book
                .iter()
                .filter(|(known, entry)| entry.source.as_ref() == Some(source) && *known != source)
                .count();
            if from_source >= self.config.addresses_per_source {
                return;
            }
        }
        self.book.insert(addr, AddrEntry { source, last_tried: None, failures: 0, last_shared: 0 });
    }

    /// Dials addresses until the outbound peers and the dials under way reach
    /// [`Config::target_outbound`]: one at a time, from a network group
    /// ([`PeerAddr::group`]) with the fewest outbound peers and dials so far, the least
    /// recently tried within it, so that no one group (one operator's addresses) takes
    /// every slot while others are known.
    fn top_up_outbound(&mut self, now: Duration) {
        let connected: BTreeSet<&PeerAddr> =
            self.peers.values().flat_map(|peer| peer.addr.iter().chain(&peer.listen)).collect();
        let outbound = self.peers.values().filter(|p| p.direction == Direction::Outbound).count();
        let wanted = self.config.target_outbound.saturating_sub(outbound + self.dialling.len());
        let retry = self.config.retry_interval;
        let mut candidates: Vec<(String, Option<Duration>, PeerAddr)> = self
            .book
            .iter()
            .filter(|(addr, entry)| {
                !connected.contains(addr)
                    && (self.config.dial_learned || entry.source.is_none())
                    && !self.dialling.contains(*addr)
                    && self.bans.get(*addr).is_none_or(|until| *until <= now)
                    && entry.last_tried.is_none_or(|tried| {
                        let wait = self
                            .config
                            .top_up_interval
                            .saturating_mul(1 << entry.failures.min(RETRY_DOUBLINGS));
                        tried.saturating_add(wait.min(retry)) <= now
                    })
            })
            .map(|(addr, entry)| (addr.group(), entry.last_tried, addr.clone()))
            .collect();
        let mut groups: BTreeMap<String, usize> = BTreeMap::new();
        let outbound_addrs = self
            .peers
            .values()
            .filter(|p| p.direction == Direction::Outbound)
            .filter_map(|p| p.addr.as_ref());
        for addr in outbound_addrs.chain(&self.dialling) {
            *groups.entry(addr.group()).or_default() += 1;
        }
        let mut chosen = vec![];
        while chosen.len() < wanted {
            let best = candidates
                .iter()
                .enumerate()
                .min_by_key(|(_, (group, tried, addr))| {
                    (groups.get(group).copied().unwrap_or(0), *tried, addr)
                })
                .map(|(i, _)| i);
            let Some(best) = best else { break };
            let (group, _, addr) = candidates.swap_remove(best);
            *groups.entry(group).or_default() += 1;
            chosen.push(addr);
        }
        let dials = chosen.len();
        for addr in chosen {
            if let Some(entry) = self.book.get_mut(&addr) {
                entry.last_tried = Some(now);
            }
            self.dialling.insert(addr.clone());
            self.outputs.push_back(Output::Connect(addr));
        }
        // Short of the target with nothing to dial now: look again later.
        self.next_top_up =
            (dials < wanted).then_some(now.saturating_add(self.config.top_up_interval));
    }

    fn send(&mut self, to: PeerId, message: Message) {
        debug_assert!(message.check_bounds().is_ok(), "the protocol sends within bounds");
        self.outputs.push_back(Output::Send { to, message });
    }
}

/// A locator of the node's main chain: the tip, then back by 1, 2, 4, ... blocks, then
/// genesis; at most [`MAX_LOCATOR`] hashes.
fn locator_of<V: Verifier, F: ForkChoice>(node: &Node<V, F>) -> Vec<BlockHash> {
    let chain = node.chain();
    let mut locator = vec![];
    let (mut height, mut step) = (node.height(), 1u64);
    loop {
        if let Some(block) = chain.at_height(height) {
            locator.push(block.hash());
        }
        if height == 0 || locator.len() + 1 >= MAX_LOCATOR {
            break;
        }
        if locator.len() >= 10 {
            step = step.saturating_mul(2);
        }
        height = height.saturating_sub(step);
    }
    if height != 0
        && let Some(genesis) = chain.at_height(0)
    {
        locator.push(genesis.hash());
    }
    locator
}

#[cfg(test)]
mod tests;
