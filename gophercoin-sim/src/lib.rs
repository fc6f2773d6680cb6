//! A deterministic simulator of a GopherCoin network: many core nodes, each driving the
//! core's peer protocol ([`gophercoin_core::net::Protocol`]), on a virtual clock, with an
//! event queue, modelled links (latency and bandwidth), miners finding blocks as a Poisson
//! process, and partitions that open and heal. It runs the same state machine as the real
//! network, with a signature scheme that accepts everything and the easiest proof of work
//! allowed, so a thousand nodes fit in one process. The same seed gives the same run.
//!
//! ```
//! use gophercoin_sim::{SimConfig, run};
//!
//! let report = run(&SimConfig { nodes: 12, blocks: 5, ..SimConfig::default() });
//! assert!(report.converged);
//! assert_eq!(report.trace, run(&SimConfig { nodes: 12, blocks: 5, ..SimConfig::default() }).trace);
//! ```

pub mod graph;
pub mod html;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use gophercoin_core::{
    Address, BlockHash, CompactTarget, CryptoError, MostWork, Node, Params, Signature, UnixTime,
    Verifier,
    net::{Config, Direction, DisconnectReason, Message, Output, PeerAddr, PeerId, Protocol},
};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::graph::Graph;

/// What to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Nodes in the network.
    pub nodes: usize,
    /// The graph's mean degree.
    pub degree: usize,
    /// One-way link latency, uniform between these (milliseconds).
    pub latency_ms: (u64, u64),
    /// Each link's bandwidth, bytes a second each way.
    pub bandwidth: u64,
    /// Time a node takes to validate a block before relaying it (milliseconds).
    pub validation_ms: u64,
    /// Mean time between blocks (milliseconds).
    pub block_interval_ms: u64,
    /// Blocks to mine.
    pub blocks: usize,
    /// Transfers a block interval, sent as a Poisson process from miners with funds, each
    /// to the node of its sender.
    pub transfers_per_block: usize,
    /// Nodes that mine, with equal shares of the hash power (the first ones).
    pub miners: usize,
    /// Peers a new block is pushed to whole ([`Config::push_blocks`]).
    pub push_blocks: usize,
    /// A split of the nodes into two halves, from and until these times (milliseconds).
    pub partition: Option<(u64, u64)>,
    /// The share of nodes (the last ones, never miners) that are hostile: every five
    /// seconds each sends its peers, by turns, a block that breaks a rule, a page of
    /// blocks nobody asked for, a transaction nobody asked for, an announcement of a
    /// block it withholds, or 100 made-up addresses (address-book poisoning); and it
    /// answers no request for data (`GetData`, `GetBlocks`).
    pub hostile: f64,
    /// Whether nodes find each other: node 0 is the seed, every other node starts knowing
    /// only its address and joins 20 ms after the one before, and the protocol's address
    /// exchange and dialling (towards `degree / 2` outbound peers) build the graph.
    /// Otherwise a random graph of the given degree is wired at the start.
    pub discovery: bool,
    /// Churn: on average every this many milliseconds an honest node that does not mine
    /// goes offline (every connection closes, what was in flight is lost) for
    /// [`SimConfig::offline_ms`], then comes back and connects to its peers again.
    pub churn_ms: Option<u64>,
    /// How long a node that left stays away (milliseconds).
    pub offline_ms: u64,
    /// The chance that a message loses a packet on its way, 0 to 1: as over TCP, it is
    /// sent again after the retransmission timeout, and what follows it on the same
    /// connection waits (a peer connection never loses or reorders a message; a lost
    /// connection is churn).
    pub loss: f64,
    /// The seed of every random draw.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 100,
            degree: 8,
            latency_ms: (20, 200),
            bandwidth: 10_000_000,
            validation_ms: 0,
            block_interval_ms: 10_000,
            blocks: 20,
            transfers_per_block: 10,
            miners: 10,
            push_blocks: Config::default().push_blocks,
            partition: None,
            hostile: 0.0,
            discovery: false,
            churn_ms: None,
            offline_ms: 30_000,
            loss: 0.0,
            seed: 1,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Blocks mined.
    pub mined: usize,
    /// Blocks mined that are not on the final main chain of node 0.
    pub stale: usize,
    /// Transfers sent, and those in the final main chain of node 0.
    pub transfers: usize,
    /// See [`Report::transfers`].
    pub transfers_mined: usize,
    /// Delay from a block's mining until each other honest node had it, validated
    /// (milliseconds): median and 95th percentile, over every block that reached them all.
    pub propagation_p50_ms: u64,
    /// See [`Report::propagation_p50_ms`].
    pub propagation_p95_ms: u64,
    /// The 95th percentile of the shortest-path bound for the same blocks and nodes:
    /// latency plus transfer plus validation at each hop, along the fastest path.
    pub bound_p95_ms: u64,
    /// The hash-power-weighted mean delay until a block reached the miners: Δ in the
    /// stale-rate estimate 1 − e^(−Δ/T) (the finder counts with its share and no delay).
    pub miner_delay_ms: f64,
    /// Whether every honest node ended on one tip, or on tips of equal work (a race
    /// between the last blocks mined, which the next block would settle).
    pub converged: bool,
    /// Hostile nodes.
    pub hostile: usize,
    /// Pairs (hostile node, honest peer) where the hostile node sent the peer enough to be
    /// banned under the protocol's scores and was not dropped by it.
    pub hostile_not_dropped: usize,
    /// Pairs (honest node, hostile peer) where the honest node dropped the hostile one.
    pub hostile_dropped: usize,
    /// Honest nodes dropped as misbehaving by honest peers.
    pub honest_dropped: usize,
    /// The most made-up addresses (from hostile nodes) any honest node's address book
    /// held at the end, and the most any one hostile node placed in one honest node's.
    pub poisoned_max: usize,
    /// See [`Report::poisoned_max`].
    pub poisoned_per_source_max: usize,
    /// How long after the partition healed every node was on one tip (milliseconds).
    pub healed_after_ms: Option<u64>,
    /// Nodes that came back after leaving ([`SimConfig::churn_ms`]).
    pub rejoins: usize,
    /// How long each took, after it came back, to reach the height the network had when
    /// it did (milliseconds): median and largest.
    pub rejoin_p50_ms: u64,
    /// See [`Report::rejoin_p50_ms`].
    pub rejoin_max_ms: u64,
    /// Nodes that came back and had not caught up when the run ended.
    pub rejoins_behind: usize,
    /// Messages that lost a packet and were delayed by a retransmission
    /// ([`SimConfig::loss`]).
    pub lost: u64,
    /// The fewest and the mean peers a node had at the end.
    pub min_peers: usize,
    /// See [`Report::min_peers`].
    pub mean_peers: f64,
    /// Messages and bytes sent.
    pub messages: u64,
    /// See [`Report::messages`].
    pub bytes: u64,
    /// SHA-256 of every delivery (time, from, to, message bytes), in order.
    pub trace: [u8; 32],
    /// Every propagation delay measured (milliseconds), sorted: the CDF's points.
    pub delays: Vec<u64>,
    /// Every block mined: when (milliseconds from the start) and whether it went stale.
    pub blocks: Vec<(u64, bool)>,
    /// Bytes each node sent.
    pub bytes_per_node: Vec<u64>,
    /// After a partition healed, every 20 ms until one tip: the milliseconds since the heal
    /// and the share of honest nodes on the tip most of them were on.
    pub convergence: Vec<(u64, f64)>,
}

/// A signature scheme that accepts every key and signature: what it would cost is
/// modelled by [`SimConfig::validation_ms`].
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

impl Verifier for AcceptAll {
    fn check_address(&self, _: &Address) -> Result<(), CryptoError> {
        Ok(())
    }

    fn verify(&self, _: &Address, _: &[u8], _: &Signature) -> Result<(), CryptoError> {
        Ok(())
    }
}

type SimNode = Node<AcceptAll, MostWork>;

/// Something due at a time.
#[derive(Debug)]
enum Due {
    /// A message arrives (its bytes shared by every copy of it sent).
    Deliver {
        from: usize,
        to: usize,
        bytes: std::rc::Rc<Vec<u8>>,
    },
    Mine,
    /// A miner with funds pays someone.
    Pay,
    Timeout(usize),
    /// A hostile node's next attack.
    Attack(usize),
    /// A node joins the network (discovery): it dials what it knows.
    Join(usize),
    /// A node learns that a connection closed (after what was sent before arrives).
    Closed {
        node: usize,
        peer: usize,
    },
    /// A connection's handshake is done: both ends start the protocol (`fresh`: a new
    /// link, forgotten if the connection fails).
    Open {
        from: usize,
        to: usize,
        addr: Option<PeerAddr>,
        fresh: bool,
    },
    /// The partition opens, or heals.
    Partition,
    /// A node goes offline (churn).
    Leave,
    /// A node that left comes back.
    Return(usize),
}

/// Round trips before a new connection carries the protocol's first message, as libp2p
/// sets one up: TCP's handshake, multistream-select, Noise XX (one and a half), and the
/// protocol stream's negotiation (pipelined with Noise's last message and Yamux).
const HANDSHAKE_ROUND_TRIPS: u64 = 3;

struct Sim {
    config: SimConfig,
    rng: ChaCha8Rng,
    graph: Graph,
    nodes: Vec<(SimNode, Protocol)>,
    queue: BTreeMap<(u64, u64), Due>,
    seq: u64,
    now: u64,
    /// The last block encoded, and its bytes.
    last_block: Option<(BlockHash, std::rc::Rc<Vec<u8>>)>,
    /// When each link direction is free to send again.
    link_free: BTreeMap<(usize, usize), u64>,
    /// Links cut by the partition.
    cut: BTreeSet<(usize, usize)>,
    /// When and by whom each block was mined.
    mined: BTreeMap<BlockHash, (u64, usize)>,
    /// When each block first reached each node (validated, for blocks; whether or not it
    /// became the node's tip).
    reached: BTreeMap<BlockHash, BTreeMap<usize, u64>>,
    timers: Vec<Option<u64>>,
    messages: u64,
    bytes: u64,
    bytes_per_node: Vec<u64>,
    start: u64,
    trace: Sha256,
    heal_at: Option<u64>,
    healed_after: Option<u64>,
    /// After the heal: (milliseconds since, share of honest nodes on the commonest tip).
    convergence: Vec<(u64, f64)>,
    addresses: Vec<Address>,
    /// The first hostile node (those from here on are hostile).
    first_hostile: usize,
    /// Attacks made so far, to take turns between their kinds.
    attacks: u64,
    /// Transfers sent.
    transfers: usize,
    /// Links closed by one side: (min, max).
    closed: BTreeSet<(usize, usize)>,
    /// For each (hostile, honest) pair, the score the protocol's rules give what the
    /// hostile node sent (a rule broken 100, data nobody asked for 10).
    misbehaved: BTreeMap<(usize, usize), u32>,
    /// (by, dropped) for each peer dropped as misbehaving.
    dropped: BTreeSet<(usize, usize)>,
    /// Addresses each hostile node handed each honest peer.
    poisoned: BTreeMap<(usize, usize), usize>,
    /// Nodes offline (churn).
    offline: BTreeSet<usize>,
    /// Nodes back from being offline, still catching up: (node, when it came back, the
    /// height to reach).
    rejoining: Vec<(usize, u64, u64)>,
    /// How long each rejoin took to catch up.
    rejoined: Vec<u64>,
    lost: u64,
}

/// Runs a simulation to its end: every block mined, then the network left to settle.
pub fn run(config: &SimConfig) -> Report {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let graph = if config.discovery {
        Graph { neighbours: vec![BTreeMap::new(); config.nodes] }
    } else {
        Graph::random(config.nodes, config.degree, config.latency_ms, &mut rng)
    };
    let params = sim_params(config);
    let protocol_config = if config.discovery {
        Config {
            target_outbound: (config.degree / 2).max(1),
            push_blocks: config.push_blocks,
            ..Config::default()
        }
    } else {
        Config {
            target_outbound: 0,
            max_inbound: usize::MAX,
            push_blocks: config.push_blocks,
            ..Config::default()
        }
    };
    let nodes = (0..config.nodes)
        .map(|i| {
            let node =
                Node::new(params.clone(), AcceptAll, MostWork).expect("the sim's parameters");
            (node, Protocol::new(protocol_config.clone(), PeerAddr::new(format!("sim-{i}"))))
        })
        .collect();
    let addresses = (0..config.nodes)
        .map(|i| Address::from_der(format!("sim-miner-{i}").into_bytes()).expect("a short address"))
        .collect();
    let mut sim = Sim {
        config: config.clone(),
        rng,
        graph,
        nodes,
        queue: BTreeMap::new(),
        seq: 0,
        now: params.genesis_timestamp * 1_000 + 1_000,
        last_block: None,
        link_free: BTreeMap::new(),
        cut: BTreeSet::new(),
        mined: BTreeMap::new(),
        reached: BTreeMap::new(),
        timers: vec![None; config.nodes],
        messages: 0,
        bytes: 0,
        bytes_per_node: vec![0; config.nodes],
        start: params.genesis_timestamp * 1_000 + 1_000,
        trace: Sha256::new(),
        heal_at: None,
        healed_after: None,
        convergence: vec![],
        addresses,
        first_hostile: config.nodes
            - ((config.nodes as f64 * config.hostile.clamp(0.0, 1.0)).round() as usize)
                .min(config.nodes.saturating_sub(config.miners.clamp(1, config.nodes))),
        attacks: 0,
        transfers: 0,
        closed: BTreeSet::new(),
        misbehaved: BTreeMap::new(),
        dropped: BTreeSet::new(),
        poisoned: BTreeMap::new(),
        offline: BTreeSet::new(),
        rejoining: vec![],
        rejoined: vec![],
        lost: 0,
    };
    sim.start();
    sim.run();
    sim.report()
}

/// The least time before a lost packet is sent again (Linux's minimum retransmission
/// timeout).
const RETRANSMIT_MIN_MS: u64 = 200;

/// The devnet's rules with the easiest proof of work and blocks due every
/// [`SimConfig::block_interval_ms`].
fn sim_params(config: &SimConfig) -> Params {
    let mut params = Params::devnet();
    params.pow_limit = CompactTarget::from_consensus(0x207f_ffff);
    params.target_block_secs = (config.block_interval_ms / 1_000).max(1);
    params
}

impl Sim {
    fn start(&mut self) {
        let start = self.now;
        if self.config.discovery {
            for i in 1..self.nodes.len() {
                if let Some(seed) = PeerAddr::new("sim-0") {
                    self.nodes[i].1.add_address(seed);
                }
                self.schedule(start + i as u64 * 20, Due::Join(i));
            }
        }
        for a in 0..self.nodes.len() {
            let outbound: Vec<usize> =
                self.graph.neighbours[a].keys().copied().filter(|b| *b > a).collect();
            for b in outbound {
                let (node, protocol) = &mut self.nodes[a];
                let addr = PeerAddr::new(format!("sim-{b}"));
                protocol.handle_connected(
                    PeerId(b as u64),
                    Direction::Outbound,
                    addr,
                    node,
                    Duration::from_millis(start),
                );
                let (node, protocol) = &mut self.nodes[b];
                protocol.handle_connected(
                    PeerId(a as u64),
                    Direction::Inbound,
                    None,
                    node,
                    Duration::from_millis(start),
                );
            }
        }
        for i in 0..self.nodes.len() {
            self.flush(i);
        }
        if let Some((split, heal)) = self.config.partition {
            self.schedule(start + split, Due::Partition);
            self.heal_at = Some(start + heal);
        }
        let first = self.next_block_in();
        self.schedule(start + first, Due::Mine);
        if let Some(next) = self.next_payment_in() {
            self.schedule(start + next, Due::Pay);
        }
        for i in self.first_hostile..self.nodes.len() {
            let offset = self.rng.next_u64() % 5_000;
            self.schedule(start + offset, Due::Attack(i));
        }
        if let Some(next) = self.next_leave_in() {
            self.schedule(start + next, Due::Leave);
        }
    }

    /// An exponential draw with the mean time between departures, if there is churn.
    fn next_leave_in(&mut self) -> Option<u64> {
        let mean = self.config.churn_ms? as f64;
        let uniform = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        Some((-(1.0 - uniform).ln() * mean) as u64 + 1)
    }

    /// A random honest node that does not mine goes offline: its connections close on
    /// both sides.
    fn leave(&mut self) {
        let first = self.config.miners.min(self.first_hostile);
        let online: Vec<usize> =
            (first..self.first_hostile).filter(|i| !self.offline.contains(i)).collect();
        if online.is_empty() {
            return;
        }
        let i = online[(self.rng.next_u64() % online.len() as u64) as usize];
        self.offline.insert(i);
        self.rejoining.retain(|(node, _, _)| *node != i);
        let now = self.now;
        let peers: Vec<usize> = self.graph.neighbours[i].keys().copied().collect();
        for b in peers {
            self.nodes[b].1.handle_disconnected(PeerId(i as u64), Duration::from_millis(now));
            self.nodes[i].1.handle_disconnected(PeerId(b as u64), Duration::from_millis(now));
            self.flush(b);
        }
        self.schedule(now + self.config.offline_ms, Due::Return(i));
    }

    /// A node comes back and connects to its peers again (as their dialler).
    fn come_back(&mut self, i: usize) {
        if !self.offline.remove(&i) {
            return;
        }
        let now = self.now;
        let height = self.nodes[..self.first_hostile].iter().map(|(node, _)| node.height()).max();
        self.rejoining.push((i, now, height.unwrap_or(0)));
        let peers: Vec<(usize, u64)> =
            self.graph.neighbours[i].iter().map(|(b, latency)| (*b, *latency)).collect();
        for (b, latency) in peers {
            if self.offline.contains(&b) {
                continue;
            }
            let addr = PeerAddr::new(format!("sim-{b}"));
            let open = Due::Open { from: i, to: b, addr, fresh: false };
            self.schedule(now + HANDSHAKE_ROUND_TRIPS * 2 * latency, open);
        }
    }

    /// A connection's handshake finished: both ends start the protocol, unless one of
    /// them went offline meanwhile (then the dial failed).
    fn open(&mut self, from: usize, to: usize, addr: Option<PeerAddr>, fresh: bool) {
        let now = self.now;
        if self.offline.contains(&from) || self.offline.contains(&to) {
            if fresh {
                self.graph.neighbours[from].remove(&to);
                self.graph.neighbours[to].remove(&from);
            }
            if !self.offline.contains(&from)
                && let Some(addr) = &addr
            {
                self.nodes[from].1.handle_dial_failed(addr);
                self.flush(from);
            }
            return;
        }
        let (node, protocol) = &mut self.nodes[from];
        protocol.handle_connected(
            PeerId(to as u64),
            Direction::Outbound,
            addr,
            node,
            Duration::from_millis(now),
        );
        let (node, protocol) = &mut self.nodes[to];
        protocol.handle_connected(
            PeerId(from as u64),
            Direction::Inbound,
            None,
            node,
            Duration::from_millis(now),
        );
        self.flush(to);
        self.flush(from);
    }

    /// Records the rejoined nodes that have reached their target height.
    fn check_rejoins(&mut self) {
        let now = self.now;
        let nodes = &self.nodes;
        let mut done = vec![];
        self.rejoining.retain(|(i, since, height)| {
            let caught_up = nodes[*i].0.height() >= *height;
            if caught_up {
                done.push(now - since);
            }
            !caught_up
        });
        self.rejoined.extend(done);
    }

    fn schedule(&mut self, at: u64, due: Due) {
        self.seq += 1;
        self.queue.insert((at, self.seq), due);
    }

    /// An exponential draw with the block interval as its mean.
    fn next_block_in(&mut self) -> u64 {
        let uniform = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (-(1.0 - uniform).ln() * self.config.block_interval_ms as f64) as u64 + 1
    }

    /// An exponential draw with the mean time between transfers, if there are any.
    fn next_payment_in(&mut self) -> Option<u64> {
        let per_block = self.config.transfers_per_block as u64;
        if per_block == 0 {
            return None;
        }
        let uniform = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mean = self.config.block_interval_ms as f64 / per_block as f64;
        Some((-(1.0 - uniform).ln() * mean) as u64 + 1)
    }

    /// A miner with funds on its own node pays one unit to another miner, with a random
    /// nonce and a signature the simulated verifier accepts.
    fn pay(&mut self) {
        let miners = self.config.miners.clamp(1, self.first_hostile.max(1));
        let from = (self.rng.next_u64() % miners as u64) as usize;
        let to = (self.rng.next_u64() % miners as u64) as usize;
        let (sender, recipient) = (self.addresses[from].clone(), self.addresses[to].clone());
        let nonce = self.rng.next_u64();
        let (node, _) = &mut self.nodes[from];
        if node.balance(&sender).to_units() < 1_000 {
            return;
        }
        let transaction = gophercoin_core::Transaction {
            chain_id: node.params().chain_id,
            sender,
            recipient,
            amount: gophercoin_core::Amount::from_units(1).unwrap_or_default(),
            fee: gophercoin_core::Amount::ZERO,
            nonce,
        };
        let Ok(signature) = Signature::from_bytes(vec![0; 256]) else { return };
        let tx = gophercoin_core::SignedTransaction { transaction, signature };
        if node.handle_transaction(tx).is_ok() {
            self.transfers += 1;
        }
        self.flush(from);
    }

    fn run(&mut self) {
        let settle = 60_000 + self.config.latency_ms.1 * 40;
        let mut last_block = self.now;
        let mut next_check = 0;
        while let Some(((at, _), due)) = self.queue.pop_first() {
            if self.mined.len() >= self.config.blocks && at > last_block + settle {
                break;
            }
            self.now = at;
            match due {
                Due::Deliver { from, to, bytes } => self.deliver(from, to, &bytes),
                Due::Mine => {
                    if self.mined.len() < self.config.blocks {
                        self.mine();
                        last_block = self.now;
                        let next = self.next_block_in();
                        self.schedule(self.now + next, Due::Mine);
                    }
                }
                Due::Pay => {
                    if self.mined.len() < self.config.blocks {
                        self.pay();
                        if let Some(next) = self.next_payment_in() {
                            self.schedule(self.now + next, Due::Pay);
                        }
                    }
                }
                Due::Timeout(i) => {
                    if self.timers[i] == Some(at) {
                        self.timers[i] = None;
                        self.nodes[i].1.handle_timeout(Duration::from_millis(at));
                        self.flush(i);
                    }
                }
                Due::Partition => self.toggle_partition(),
                Due::Join(i) => {
                    self.nodes[i].1.handle_timeout(Duration::from_millis(at));
                    self.flush(i);
                }
                Due::Open { from, to, addr, fresh } => self.open(from, to, addr, fresh),
                Due::Closed { node, peer } => {
                    self.nodes[node]
                        .1
                        .handle_disconnected(PeerId(peer as u64), Duration::from_millis(at));
                    self.graph.neighbours[node].remove(&peer);
                    self.graph.neighbours[peer].remove(&node);
                    self.closed.remove(&(node.min(peer), node.max(peer)));
                    self.flush(node);
                }
                Due::Attack(i) => {
                    if self.mined.len() < self.config.blocks {
                        self.attack(i);
                        self.schedule(self.now + 5_000, Due::Attack(i));
                    }
                }
                Due::Leave => {
                    if self.mined.len() < self.config.blocks {
                        self.leave();
                        if let Some(next) = self.next_leave_in() {
                            self.schedule(self.now + next, Due::Leave);
                        }
                    }
                }
                Due::Return(i) => self.come_back(i),
            }
            if !self.rejoining.is_empty() {
                self.check_rejoins();
            }
            if self.healed_after.is_none()
                && let Some(heal) = self.heal_at
                && self.now >= heal.max(next_check)
                && self.cut.is_empty()
            {
                next_check = self.now + 20;
                let share = self.commonest_tip_share();
                self.convergence.push((self.now - heal, share));
                if self.one_tip() {
                    self.healed_after = Some(self.now - heal);
                }
            }
        }
    }

    /// Splits the network in two halves, or heals the split.
    fn toggle_partition(&mut self) {
        if self.cut.is_empty() {
            let half = self.nodes.len() / 2;
            for a in 0..half {
                for &b in self.graph.neighbours[a].keys() {
                    if b >= half {
                        self.cut.insert((a, b));
                    }
                }
            }
            if let Some(heal) = self.heal_at {
                self.schedule(heal, Due::Partition);
            }
        } else {
            self.cut.clear();
            // Peers that were cut off connect again, as reconnecting peers would.
            let now = self.now;
            let half = self.nodes.len() / 2;
            for a in 0..half {
                let across: Vec<usize> =
                    self.graph.neighbours[a].keys().copied().filter(|b| *b >= half).collect();
                for b in across {
                    for (x, y) in [(a, b), (b, a)] {
                        self.nodes[x]
                            .1
                            .handle_disconnected(PeerId(y as u64), Duration::from_millis(now));
                    }
                    let latency = self.graph.neighbours[a].get(&b).copied().unwrap_or(0);
                    let addr = PeerAddr::new(format!("sim-{b}"));
                    let open = Due::Open { from: a, to: b, addr, fresh: false };
                    self.schedule(now + HANDSHAKE_ROUND_TRIPS * 2 * latency, open);
                    self.flush(a);
                    self.flush(b);
                }
            }
        }
    }

    /// A hostile node sends each of its peers something that breaks the protocol's rules,
    /// by turns: a block with a wrong merkle root, a page of blocks nobody asked for, a
    /// transaction nobody asked for.
    fn attack(&mut self, i: usize) {
        self.attacks += 1;
        let now = self.now;
        let address = self.addresses[i].clone();
        let (node, _) = &self.nodes[i];
        let Ok(mut block) = node.block_template(&address, UnixTime::from_millis(now)) else {
            return;
        };
        match self.attacks % 5 {
            3 => return self.withhold(i),
            4 => return self.poison(i),
            _ => {}
        }
        let points = if self.attacks.is_multiple_of(5) { 100 } else { 10 };
        let message = match self.attacks % 5 {
            0 => {
                block.header.merkle_root = Default::default();
                while !gophercoin_core::pow::solve(&mut block.header, u64::MAX) {
                    block.header.timestamp += 1;
                }
                Message::Block(Box::new(block))
            }
            1 => Message::Blocks { blocks: vec![block], more: true },
            _ => {
                let tx = gophercoin_core::Transaction {
                    chain_id: node.params().chain_id,
                    sender: address.clone(),
                    recipient: address,
                    amount: gophercoin_core::Amount::from_units(1).unwrap_or_default(),
                    fee: gophercoin_core::Amount::ZERO,
                    nonce: self.attacks,
                };
                let signature = Signature::from_bytes(vec![0; 256]).expect("a signature's length");
                Message::Tx(Box::new(gophercoin_core::SignedTransaction {
                    transaction: tx,
                    signature,
                }))
            }
        };
        let peers: Vec<usize> = self.graph.neighbours[i].keys().copied().collect();
        let bytes = std::rc::Rc::new(message.encode());
        for peer in peers {
            if peer < self.first_hostile && !self.closed.contains(&(i.min(peer), i.max(peer))) {
                *self.misbehaved.entry((i, peer)).or_default() += points;
            }
            self.send(i, peer, bytes.clone(), true);
        }
    }

    /// A hostile node announces a block it will never send: each peer asks, waits out the
    /// request's deadline, and scores it for stalling.
    fn withhold(&mut self, i: usize) {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&self.attacks.to_le_bytes());
        hash[8..16].copy_from_slice(&(i as u64).to_le_bytes());
        hash[31] = 0xee;
        let item = gophercoin_core::net::Inventory::Block(BlockHash::from_bytes(hash));
        let bytes = std::rc::Rc::new(Message::Inv(vec![item]).encode());
        let peers: Vec<usize> = self.graph.neighbours[i].keys().copied().collect();
        for peer in peers {
            self.send(i, peer, bytes.clone(), false);
        }
    }

    /// A hostile node hands its peers 100 made-up addresses: each keeps at most its
    /// share of one source, and scores more than 1,000 addresses on a connection.
    fn poison(&mut self, i: usize) {
        let addresses: Vec<PeerAddr> = (0..100)
            .filter_map(|k| PeerAddr::new(format!("evil-{i}-{}-{k}", self.attacks)))
            .collect();
        let bytes = std::rc::Rc::new(Message::Addr(addresses).encode());
        let peers: Vec<usize> = self.graph.neighbours[i].keys().copied().collect();
        for peer in peers {
            if peer < self.first_hostile && !self.closed.contains(&(i.min(peer), i.max(peer))) {
                let sent = self.poisoned.entry((i, peer)).or_default();
                *sent += 100;
                if *sent > 1_000 {
                    *self.misbehaved.entry((i, peer)).or_default() += 10;
                }
            }
            self.send(i, peer, bytes.clone(), false);
        }
    }

    fn mine(&mut self) {
        let miners = self.config.miners.clamp(1, self.nodes.len());
        let miner = (self.rng.next_u64() % miners as u64) as usize;
        let now = self.now;
        let address = self.addresses[miner].clone();
        let (node, _) = &mut self.nodes[miner];
        if node.mine_block(&address, UnixTime::from_millis(now)).is_ok() {
            let hash = node.tip().hash();
            self.mined.insert(hash, (now, miner));
            self.reached.entry(hash).or_default().insert(miner, now);
        }
        self.flush(miner);
    }

    fn deliver(&mut self, from: usize, to: usize, bytes: &[u8]) {
        self.trace.update(self.now.to_le_bytes());
        self.trace.update((from as u64).to_le_bytes());
        self.trace.update((to as u64).to_le_bytes());
        self.trace.update(bytes);
        // What was in flight to or from a node that went offline is lost with its
        // connections.
        if self.offline.contains(&to) || self.offline.contains(&from) {
            return;
        }
        let Ok(message) = Message::decode(bytes) else { return };
        // A hostile node answers no request for data.
        if to >= self.first_hostile
            && matches!(message, Message::GetData(_) | Message::GetBlocks { .. })
        {
            return;
        }
        let now = self.now;
        let mut arrived = |hash: BlockHash| {
            self.reached.entry(hash).or_default().entry(to).or_insert(now);
        };
        match &message {
            Message::Block(block) => arrived(block.hash()),
            Message::Blocks { blocks, .. } => blocks.iter().for_each(|block| arrived(block.hash())),
            _ => {}
        }
        let (node, protocol) = &mut self.nodes[to];
        protocol.handle_message(PeerId(from as u64), message, node, Duration::from_millis(now));
        self.flush(to);
    }

    /// Drains a node's events and its protocol's outputs into the queue.
    fn flush(&mut self, i: usize) {
        let now = self.now;
        let (node, protocol) = &mut self.nodes[i];
        while let Some(event) = node.poll_event() {
            protocol.handle_node_event(&event, node, Duration::from_millis(now));
        }
        let mut sends = vec![];
        let mut closes = vec![];
        let mut dials = vec![];
        while let Some(output) = protocol.poll_output() {
            match output {
                Output::Send { to, message } => {
                    let blocks = matches!(message, Message::Block(_) | Message::Blocks { .. });
                    // A new block goes to every peer: encode it once.
                    let bytes = match &message {
                        Message::Block(block) => {
                            let hash = block.hash();
                            match &self.last_block {
                                Some((cached, bytes)) if *cached == hash => bytes.clone(),
                                _ => {
                                    let bytes = std::rc::Rc::new(message.encode());
                                    self.last_block = Some((hash, std::rc::Rc::clone(&bytes)));
                                    bytes
                                }
                            }
                        }
                        _ => std::rc::Rc::new(message.encode()),
                    };
                    sends.push((to.0 as usize, bytes, blocks));
                }
                Output::Disconnect { peer, reason } => closes.push((peer.0 as usize, reason)),
                Output::Connect(addr) => dials.push(addr),
                Output::Banned { .. } => {}
            }
        }
        if let Some(deadline) =
            // Rounded up: a timer never fires before its deadline.
            protocol
                .poll_timeout()
                .map(|at| u64::try_from(at.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
            && self.timers[i].is_none_or(|t| deadline < t)
        {
            self.timers[i] = Some(deadline);
            self.schedule(deadline, Due::Timeout(i));
        }
        for (to, bytes, blocks) in sends {
            self.send(i, to, bytes, blocks);
        }
        for (peer, reason) in closes {
            if reason == DisconnectReason::Misbehaving {
                self.dropped.insert((i, peer));
            }
            if self.closed.insert((i.min(peer), i.max(peer))) {
                // The peer hears of it once what was sent before has arrived.
                let latency = self.graph.neighbours[i].get(&peer).copied().unwrap_or(0);
                let at = self.link_free.get(&(i, peer)).copied().unwrap_or(0).max(self.now);
                self.schedule(at + latency + 1, Due::Closed { node: peer, peer: i });
            }
        }
        for addr in dials {
            self.dial(i, addr);
        }
    }

    /// Opens a connection from `i` to the node at `addr`, with a new link's latency; the
    /// protocol starts on it once its handshake is done.
    fn dial(&mut self, i: usize, addr: PeerAddr) {
        let target = addr.as_str().strip_prefix("sim-").and_then(|n| n.parse::<usize>().ok());
        let now = self.now;
        let Some(j) = target.filter(|j| *j != i && *j < self.nodes.len()) else {
            self.nodes[i].1.handle_dial_failed(&addr);
            return;
        };
        if self.graph.neighbours[i].contains_key(&j) {
            self.nodes[i].1.handle_dial_failed(&addr);
            return;
        }
        let span = self.config.latency_ms.1.saturating_sub(self.config.latency_ms.0) + 1;
        let latency = self.config.latency_ms.0 + self.rng.next_u64() % span;
        self.graph.neighbours[i].insert(j, latency);
        self.graph.neighbours[j].insert(i, latency);
        let open = Due::Open { from: i, to: j, addr: Some(addr), fresh: true };
        self.schedule(now + HANDSHAKE_ROUND_TRIPS * 2 * latency, open);
    }

    /// Queues a message's delivery after the link's queue, its transfer and latency, and,
    /// for blocks, the receiver's validation.
    fn send(&mut self, from: usize, to: usize, bytes: std::rc::Rc<Vec<u8>>, blocks: bool) {
        let Some(&latency) = self.graph.neighbours[from].get(&to) else { return };
        let link = (from.min(to), from.max(to));
        if self.cut.contains(&link)
            || self.closed.contains(&link)
            || self.offline.contains(&from)
            || self.offline.contains(&to)
        {
            return;
        }
        self.messages += 1;
        self.bytes += bytes.len() as u64;
        self.bytes_per_node[from] += bytes.len() as u64;
        let mut transfer = bytes.len() as u64 * 1_000 / self.config.bandwidth.max(1);
        if self.config.loss > 0.0 {
            let uniform = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            if uniform < self.config.loss {
                // Sent again after TCP's retransmission timeout (at least 200 ms, about
                // two round trips); the connection holds what follows meanwhile.
                self.lost += 1;
                transfer += (4 * latency).max(RETRANSMIT_MIN_MS);
            }
        }
        let free = self.link_free.entry((from, to)).or_insert(0);
        let start = (*free).max(self.now);
        *free = start + transfer;
        let validation = if blocks { self.config.validation_ms } else { 0 };
        let at = start + transfer + latency + validation;
        self.schedule(at, Due::Deliver { from, to, bytes });
    }

    /// Whether every honest node's tip has the same work.
    fn equal_work(&self) -> bool {
        let honest = &self.nodes[..self.first_hostile];
        let work = honest.first().map(|(node, _)| node.chain().tip_summary().work);
        honest.iter().all(|(node, _)| Some(node.chain().tip_summary().work) == work)
    }

    /// The share of honest nodes on the tip most of them are on.
    fn commonest_tip_share(&self) -> f64 {
        let honest = &self.nodes[..self.first_hostile];
        let mut tips: BTreeMap<BlockHash, usize> = BTreeMap::new();
        for (node, _) in honest {
            *tips.entry(node.tip().hash()).or_default() += 1;
        }
        tips.values().copied().max().unwrap_or(0) as f64 / honest.len().max(1) as f64
    }

    /// Whether every honest node is on one tip.
    fn one_tip(&self) -> bool {
        let honest = &self.nodes[..self.first_hostile];
        let tip = honest.first().map(|(node, _)| node.tip().hash());
        honest.iter().all(|(node, _)| Some(node.tip().hash()) == tip)
    }

    fn report(&self) -> Report {
        let main: BTreeSet<BlockHash> = self
            .nodes
            .first()
            .map(|(node, _)| node.chain().main_chain_from(1).map(|b| b.hash()).collect())
            .unwrap_or_default();
        let n = self.nodes.len();
        let block_bytes = self
            .nodes
            .first()
            .and_then(|(node, _)| node.chain().main_chain_from(1).next())
            .map_or(0, |block| gophercoin_core::Block::encode(&block.to_block()).len() as u64 + 1);
        let per_hop =
            block_bytes * 1_000 / self.config.bandwidth.max(1) + self.config.validation_ms;
        let mut delays = vec![];
        let mut bounds = vec![];
        let mut bound_of: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        let miners = self.config.miners.clamp(1, n);
        let mut miner_delays = vec![];
        for (hash, (at, miner)) in &self.mined {
            let Some(reached) = self.reached.get(hash) else { continue };
            let honest = self.first_hostile;
            if reached.range(..honest).count() < honest {
                continue;
            }
            let bound = bound_of
                .entry(*miner)
                .or_insert_with(|| self.graph.shortest_delays(*miner, per_hop, &BTreeSet::new()));
            for (node, when) in reached.range(..honest) {
                if *node < miners {
                    // Equal shares: the plain mean over the miners, the finder included.
                    miner_delays.push((when - at) as f64);
                }
                if node == miner {
                    continue;
                }
                delays.push(when - at);
                bounds.push(bound[*node]);
            }
        }
        let percentile = |values: &mut Vec<u64>, p: f64| -> u64 {
            values.sort_unstable();
            let at = ((values.len() as f64 * p).ceil() as usize).saturating_sub(1);
            values.get(at).copied().unwrap_or(0)
        };
        let miner_delay_ms = if miner_delays.is_empty() {
            0.0
        } else {
            miner_delays.iter().sum::<f64>() / miner_delays.len() as f64
        };
        let transfers_mined = self.nodes.first().map_or(0, |(node, _)| {
            node.chain()
                .main_chain_from(1)
                .map(|block| block.to_block().transactions.len() - 1)
                .sum()
        });
        Report {
            transfers: self.transfers,
            transfers_mined,
            mined: self.mined.len(),
            stale: self.mined.keys().filter(|hash| !main.contains(hash)).count(),
            blocks: self
                .mined
                .iter()
                .map(|(hash, (at, _))| (at - self.start, !main.contains(hash)))
                .collect(),
            bytes_per_node: self.bytes_per_node.clone(),
            convergence: self.convergence.clone(),
            propagation_p50_ms: percentile(&mut delays.clone(), 0.50),
            propagation_p95_ms: percentile(&mut delays, 0.95),
            bound_p95_ms: percentile(&mut bounds, 0.95),
            miner_delay_ms,
            converged: self.one_tip() || self.equal_work(),
            min_peers: self.nodes.iter().map(|(_, p)| p.peers().count()).min().unwrap_or(0),
            mean_peers: self.nodes.iter().map(|(_, p)| p.peers().count()).sum::<usize>() as f64
                / n.max(1) as f64,
            hostile: n - self.first_hostile,
            hostile_not_dropped: self
                .misbehaved
                .iter()
                .filter(|((hostile, honest), points)| {
                    **points >= Config::default().ban_score
                        && !self.dropped.contains(&(*honest, *hostile))
                })
                .count(),
            hostile_dropped: self
                .dropped
                .iter()
                .filter(|(by, peer)| *by < self.first_hostile && *peer >= self.first_hostile)
                .count(),
            honest_dropped: self
                .dropped
                .iter()
                .filter(|(by, peer)| *by < self.first_hostile && *peer < self.first_hostile)
                .count(),
            poisoned_max: self.nodes[..self.first_hostile]
                .iter()
                .map(|(_, protocol)| {
                    protocol.addresses().filter(|a| a.as_str().starts_with("evil-")).count()
                })
                .max()
                .unwrap_or(0),
            poisoned_per_source_max: self.nodes[..self.first_hostile]
                .iter()
                .map(|(_, protocol)| {
                    let mut per_source: BTreeMap<&str, usize> = BTreeMap::new();
                    for addr in protocol.addresses() {
                        if let Some(rest) = addr.as_str().strip_prefix("evil-") {
                            let source = rest.split('-').next().unwrap_or(rest);
                            *per_source.entry(source).or_default() += 1;
                        }
                    }
                    per_source.into_values().max().unwrap_or(0)
                })
                .max()
                .unwrap_or(0),
            healed_after_ms: self.healed_after,
            rejoins: self.rejoined.len() + self.rejoining.len(),
            rejoin_p50_ms: percentile(&mut self.rejoined.clone(), 0.5),
            rejoin_max_ms: self.rejoined.iter().copied().max().unwrap_or(0),
            rejoins_behind: self.rejoining.len(),
            lost: self.lost,
            messages: self.messages,
            bytes: self.bytes,
            trace: self.trace.clone().finalize().into(),
            delays,
        }
    }
}

/// The crate README's code examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
