//! The protocol's unit tests: a few nodes wired together in memory, every message
//! carried through its encoding.

use super::*;
use crate::{
    block::{Block, BlockTransaction},
    crypto::{RsaSigner, Signer as _},
    net::message::{MAX_INVENTORY, MessageError},
    params::Params,
};

fn miner() -> RsaSigner {
    include_str!("../../../tests/data/alice.pkcs8.hex").trim().parse().expect("the test key")
}

fn addr(i: usize) -> PeerAddr {
    PeerAddr::new(format!("node-{i}")).expect("a short address")
}

/// When block `height` is mined: its target interval after the one before, from genesis.
fn at(height: u64) -> Duration {
    let params = Params::devnet();
    Duration::from_secs(params.genesis_timestamp + height * params.target_block_secs)
}

/// Nodes wired in memory: node `i` is `PeerId(i)` to every other.
struct Net {
    nodes: Vec<(Node, Protocol)>,
    /// Every message delivered: (from, to, message).
    log: Vec<(usize, usize, Message)>,
    /// Dials asked for: (by, address).
    dials: Vec<(usize, PeerAddr)>,
    /// Disconnections asked for: (by, peer, reason).
    drops: Vec<(usize, usize, DisconnectReason)>,
    now: Duration,
}

impl Net {
    fn new(count: usize, config: Config) -> Net {
        let nodes = (0..count)
            .map(|i| (Node::devnet(), Protocol::new(config.clone(), Some(addr(i)))))
            .collect();
        Net { nodes, log: vec![], dials: vec![], drops: vec![], now: at(1) }
    }

    /// `a` dials `b`.
    fn connect(&mut self, a: usize, b: usize) {
        let now = self.now;
        let (node, protocol) = &mut self.nodes[a];
        assert!(protocol.handle_connected(
            PeerId(b as u64),
            Direction::Outbound,
            Some(addr(b)),
            node,
            now
        ));
        let (node, protocol) = &mut self.nodes[b];
        assert!(protocol.handle_connected(PeerId(a as u64), Direction::Inbound, None, node, now));
    }

    fn mine(&mut self, i: usize) -> crate::hash::BlockHash {
        let (node, _) = &mut self.nodes[i];
        let height = node.height() + 1;
        let _mined = node
            .mine_block(&miner().address(), UnixTime::from_duration(at(height)))
            .expect("mines");
        node.tip().hash()
    }

    /// Delivers everything until nothing is left to do (bounded).
    fn run(&mut self) {
        for _ in 0..10_000 {
            let mut idle = true;
            for i in 0..self.nodes.len() {
                let now = self.now;
                let (node, protocol) = &mut self.nodes[i];
                while let Some(event) = node.poll_event() {
                    protocol.handle_node_event(&event, node, now);
                }
                while let Some(output) = self.nodes[i].1.poll_output() {
                    idle = false;
                    match output {
                        Output::Send { to, message } => {
                            let bytes = message.encode();
                            let message = Message::decode(&bytes).expect("decodes");
                            self.log.push((i, to.0 as usize, message.clone()));
                            let now = self.now;
                            let (node, protocol) = &mut self.nodes[to.0 as usize];
                            protocol.handle_message(PeerId(i as u64), message, node, now);
                        }
                        Output::Connect(addr) => self.dials.push((i, addr)),
                        Output::Disconnect { peer, reason } => {
                            self.drops.push((i, peer.0 as usize, reason));
                            let now = self.now;
                            self.nodes[peer.0 as usize]
                                .1
                                .handle_disconnected(PeerId(i as u64), now);
                        }
                        Output::Banned { .. } => {}
                    }
                }
            }
            if idle {
                return;
            }
        }
        panic!("the network did not settle");
    }

    fn tip(&self, i: usize) -> crate::hash::BlockHash {
        self.nodes[i].0.tip().hash()
    }

    fn sent(&self, from: usize, to: usize, matches: impl Fn(&Message) -> bool) -> usize {
        self.log.iter().filter(|(f, t, m)| *f == from && *t == to && matches(m)).count()
    }
}

#[test]
fn on_connect_the_node_behind_catches_up() {
    let mut net = Net::new(2, Config::default());
    for _ in 0..3 {
        net.mine(0);
    }
    net.connect(1, 0);
    net.run();
    assert_eq!(net.tip(1), net.tip(0));
    assert_eq!(net.nodes[1].0.height(), 3);
}

#[test]
fn a_new_block_is_relayed_hop_by_hop_and_never_back_to_its_sender() {
    for push_blocks in [0, 8] {
        let mut net = Net::new(3, Config { push_blocks, ..Config::default() });
        net.connect(0, 1);
        net.connect(1, 2);
        net.run();
        let hash = net.mine(0);
        net.run();
        assert_eq!((net.tip(1), net.tip(2)), (hash, hash));
        let offers = |m: &Message| match m {
            Message::Inv(items) => items.contains(&Inventory::Block(hash)),
            Message::Block(block) => block.hash() == hash,
            _ => false,
        };
        // Pushed whole once per hop, or announced and then sent once; never back.
        let per_hop = if push_blocks == 0 { 2 } else { 1 };
        assert_eq!(net.sent(0, 1, offers), per_hop, "push to {push_blocks}");
        assert_eq!(net.sent(1, 2, offers), per_hop);
        assert_eq!(net.sent(1, 0, offers), 0, "never back to the sender");
        assert_eq!(net.sent(2, 1, offers), 0);
        let fetches = |m: &Message| matches!(m, Message::GetData(items) if items.contains(&Inventory::Block(hash)));
        let fetched = net.sent(1, 0, fetches) + net.sent(2, 1, fetches);
        assert_eq!(fetched, if push_blocks == 0 { 2 } else { 0 });
    }
}

#[test]
fn catch_up_goes_page_by_page_from_the_fork_point() {
    // One block per page, then all in one page; node 2 hears only from node 1.
    for (page_bytes, expected) in [(1, vec![1, 1, 1]), (Config::default().page_bytes, vec![3])] {
        let mut net = Net::new(3, Config { page_bytes, ..Config::default() });
        for _ in 0..2 {
            net.mine(0);
        }
        net.connect(1, 0);
        net.connect(2, 1);
        net.run();
        assert_eq!((net.tip(1), net.tip(2)), (net.tip(0), net.tip(0)));
        // Node 0 goes on without telling anyone; node 1 then fetches only what it lacks.
        for _ in 0..3 {
            net.mine(0);
        }
        while net.nodes[0].0.poll_event().is_some() {}
        let before = net.log.len();
        let (node, protocol) = &mut net.nodes[1];
        protocol.start_catch_up(PeerId(0), node, at(6));
        net.run();
        assert_eq!((net.nodes[1].0.height(), net.nodes[2].0.height()), (5, 5));
        let pages: Vec<usize> = net.log[before..]
            .iter()
            .filter_map(|(from, _, m)| match m {
                Message::Blocks { blocks, .. } if *from == 0 => Some(blocks.len()),
                _ => None,
            })
            .collect();
        assert_eq!(pages, expected, "none sent again");
        // Node 1 passes on only the tip, not every block of the catch-up.
        let offers = |m: &Message| matches!(m, Message::Inv(_) | Message::Block(_));
        let passed = net.log[before..].iter().filter(|(f, t, m)| (*f, *t) == (1, 2) && offers(m));
        assert_eq!(passed.count(), 1, "pages of {page_bytes} bytes");
    }
}

#[test]
fn an_invalid_block_bans_its_sender_and_unrequested_data_is_scored() {
    let mut net = Net::new(2, Config::default());
    net.connect(1, 0);
    net.run();
    // A block of node 0's making with a wrong merkle root.
    let (node, _) = &mut net.nodes[0];
    let mut bad: Block = node
        .block_template(&miner().address(), UnixTime::from_duration(at(1)))
        .expect("a template");
    bad.header.merkle_root = Default::default();
    while !crate::pow::solve(&mut bad.header, u64::MAX) {
        bad.header.timestamp += 1;
    }
    let now = net.now;
    let (node, protocol) = &mut net.nodes[1];
    // A page nobody asked for is scored and not taken.
    let page = Message::Blocks { blocks: vec![bad.clone()], more: false };
    protocol.handle_message(PeerId(0), page, node, now);
    assert_eq!(protocol.score(PeerId(0)), Some(UNREQUESTED));
    assert_eq!(node.height(), 0);
    // A block pushed as a new tip is checked: invalid, so its sender is banned.
    protocol.handle_message(PeerId(0), Message::Block(Box::new(bad)), node, now);
    assert_eq!(protocol.score(PeerId(0)), None, "dropped");
    assert!(protocol.is_banned(&addr(0), now));
    let outputs: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    let dropped = Output::Disconnect { peer: PeerId(0), reason: DisconnectReason::Misbehaving };
    assert!(outputs.contains(&dropped));
    // A banned address is refused when it connects again, until the ban ends.
    assert!(!protocol.handle_connected(PeerId(7), Direction::Outbound, Some(addr(0)), node, now));
    let later = now + Config::default().ban_time;
    protocol.handle_timeout(later);
    assert!(!protocol.is_banned(&addr(0), later));
}

#[test]
fn a_request_left_unanswered_is_asked_of_another_announcer() {
    let mut net = Net::new(3, Config::default());
    net.connect(2, 0);
    net.connect(2, 1);
    net.run();
    let hash = net.mine(0);
    // Node 1 has it too (by hand), and both announce it to node 2; node 0's answer is lost.
    let block = net.nodes[0].0.block(&hash).expect("mined").to_block();
    let now = net.now;
    let _extended =
        net.nodes[1].0.handle_block(block, UnixTime::from_duration(now)).expect("valid");
    let (node, protocol) = &mut net.nodes[2];
    for from in [0, 1] {
        protocol.handle_message(
            PeerId(from),
            Message::Inv(vec![Inventory::Block(hash)]),
            node,
            now,
        );
    }
    let asked: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    let get = Message::GetData(vec![Inventory::Block(hash)]);
    assert_eq!(asked, [Output::Send { to: PeerId(0), message: get.clone() }], "asked once");
    let deadline = now + Config::default().request_timeout;
    assert!(protocol.poll_timeout().is_some_and(|due| due <= deadline));
    protocol.handle_timeout(deadline);
    let retried: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    assert!(retried.contains(&Output::Send { to: PeerId(1), message: get }), "{retried:?}");
    assert_eq!(protocol.score(PeerId(0)), Some(STALLED));
}

#[test]
fn a_node_that_knows_one_seed_learns_the_others_through_it() {
    let mut net = Net::new(3, Config::default());
    // Nodes 1 and 2 each know only the seed, node 0.
    net.connect(1, 0);
    net.run();
    net.connect(2, 0);
    net.run();
    // Node 2 asked the seed for addresses and got node 1's, so it dials it.
    assert!(net.dials.contains(&(2, addr(1))), "{:?}", net.dials);
    assert!(
        net.nodes[0].1.addresses().any(|a| *a == addr(2)),
        "the seed keeps its peers' addresses"
    );
}

#[test]
fn one_source_fills_no_more_than_its_share_of_the_address_book() {
    let config = Config { addresses_per_source: 50, ..Config::default() };
    let mut net = Net::new(2, config);
    net.connect(1, 0);
    net.run();
    let now = net.now;
    let (node, protocol) = &mut net.nodes[1];
    for round in 0..3 {
        let addresses = (0..100).map(|i| addr(1_000 + round * 100 + i)).collect();
        protocol.handle_message(PeerId(0), Message::Addr(addresses), node, now);
    }
    let from_peer = protocol
        .addresses()
        .filter(|a| a.as_str().starts_with("node-1") && a.as_str().len() == 9)
        .count();
    assert_eq!(from_peer, 50);
    // Past ten messages' worth, the peer is scored.
    for round in 3..11 {
        let addresses = (0..100).map(|i| addr(1_000 + round * 100 + i)).collect();
        protocol.handle_message(PeerId(0), Message::Addr(addresses), node, now);
    }
    assert_eq!(protocol.score(PeerId(0)), Some(UNREQUESTED));
}

#[test]
fn messages_round_trip_and_oversized_lists_are_refused() {
    let node = Node::devnet();
    let genesis = node.tip().hash();
    let block: Block = node
        .block_template(&miner().address(), UnixTime::from_duration(at(1)))
        .expect("a template");
    assert!(matches!(block.transactions.first(), Some(BlockTransaction::Reward(_))));
    // Pages are measured without encoding the blocks into memory.
    assert_eq!(crate::codec::encoded_len(&block), crate::Block::encode(&block).len());
    let every = [
        Message::Hello { genesis, tip: genesis, height: 0, listen: Some(addr(1)) },
        Message::Inv(vec![Inventory::Block(genesis)]),
        Message::GetData(vec![Inventory::Block(genesis)]),
        Message::NotFound(vec![Inventory::Block(genesis)]),
        Message::Block(Box::new(block.clone())),
        Message::GetBlocks { locator: vec![genesis] },
        Message::Blocks { blocks: vec![block], more: false },
        Message::GetAddr,
        Message::Addr(vec![addr(2)]),
    ];
    for message in every {
        assert_eq!(Message::decode(&message.encode()), Ok(message));
    }
    let too_many = Message::Inv(vec![Inventory::Block(genesis); MAX_INVENTORY + 1]);
    assert!(matches!(Message::decode(&too_many.encode()), Err(MessageError::TooMany { .. })));
    let empty = Message::Addr(vec![serde_json::from_str("\"\"").expect("an empty string")]);
    assert_eq!(Message::decode(&empty.encode()), Err(MessageError::BadAddress(0)));
    assert_eq!(Message::decode(&[]), Err(MessageError::Empty));
}

#[test]
fn a_relayed_transaction_that_overdraws_at_our_tip_is_not_its_senders_fault() {
    let mut net = Net::new(2, Config::default());
    net.connect(1, 0);
    net.run();
    // Valid at a tip where the payer has funds, an overdraft at node 1's (genesis).
    let key = miner();
    let tx = crate::transaction::Transaction {
        chain_id: Params::devnet().chain_id,
        sender: key.address(),
        recipient: key.address(),
        amount: crate::amount::Amount::positive(1).expect("positive"),
        fee: crate::amount::Amount::ZERO,
        nonce: 7,
    }
    .sign(&key)
    .expect("signs");
    let now = net.now;
    let (node, protocol) = &mut net.nodes[1];
    protocol.handle_message(PeerId(0), Message::Inv(vec![Inventory::Tx(tx.id())]), node, now);
    protocol.handle_message(PeerId(0), Message::Tx(Box::new(tx.clone())), node, now);
    assert_eq!(protocol.score(PeerId(0)), Some(0));
    // The same transaction, now unasked for, is scored.
    protocol.handle_message(PeerId(0), Message::Tx(Box::new(tx)), node, now);
    assert_eq!(protocol.score(PeerId(0)), Some(UNREQUESTED));
}

#[test]
fn a_full_node_greets_a_newcomer_hands_it_addresses_and_closes() {
    let config = Config { max_inbound: 1, ..Config::default() };
    let mut net = Net::new(4, config);
    net.connect(1, 0); // node 0's one inbound place
    net.run();
    net.nodes[0].1.add_address(addr(3));
    let now = net.now;
    let (node, protocol) = &mut net.nodes[0];
    assert!(!protocol.handle_connected(PeerId(2), Direction::Inbound, None, node, now));
    let outputs: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    assert!(matches!(&outputs[0], Output::Send { to: PeerId(2), message: Message::Hello { .. } }));
    let Output::Send { message: Message::Addr(given), .. } = &outputs[1] else {
        panic!("addresses next: {outputs:?}")
    };
    assert!(given.contains(&addr(3)) && given.contains(&addr(1)), "{given:?}");
    let closed = Output::Disconnect { peer: PeerId(2), reason: DisconnectReason::TooManyPeers };
    assert_eq!(outputs[2], closed);
    // The newcomer takes the greeting and the addresses, and dials them.
    let (node, protocol) = &mut net.nodes[2];
    assert!(protocol.handle_connected(PeerId(0), Direction::Outbound, Some(addr(0)), node, now));
    for output in outputs.into_iter().take(2) {
        let Output::Send { message, .. } = output else { unreachable!() };
        protocol.handle_message(PeerId(0), message, node, now);
    }
    protocol.handle_disconnected(PeerId(0), now);
    protocol.handle_timeout(now);
    let dials: Vec<Output> = std::iter::from_fn(|| protocol.poll_output())
        .filter(|output| matches!(output, Output::Connect(_)))
        .collect();
    assert!(dials.contains(&Output::Connect(addr(3))), "{dials:?}");
    assert_eq!(protocol.score(PeerId(0)), None);
}

#[test]
fn a_request_naming_a_block_many_times_gets_it_once_and_lateness_is_scored_once() {
    let mut net = Net::new(2, Config::default());
    let hash = net.mine(0);
    net.connect(1, 0);
    net.run();
    let now = net.now;
    let (node, protocol) = &mut net.nodes[0];
    let ask = Message::GetData(vec![Inventory::Block(hash); MAX_INVENTORY]);
    protocol.handle_message(PeerId(1), ask, node, now);
    let sent: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    assert_eq!(sent.len(), 1, "the block once: {} outputs", sent.len());
    // Twenty announced transactions left unanswered: one stall, not twenty.
    let (node, protocol) = &mut net.nodes[1];
    let items: Vec<Inventory> =
        (0..20u8).map(|i| Inventory::Tx(crate::hash::TxId::from_bytes([i; 32]))).collect();
    protocol.handle_message(PeerId(0), Message::Inv(items), node, now);
    protocol.handle_timeout(now + Config::default().request_timeout);
    assert_eq!(protocol.score(PeerId(0)), Some(STALLED));
}

#[test]
fn undecodable_bytes_ban_their_sender_and_a_removed_address_is_dropped_and_not_dialled() {
    let mut net = Net::new(3, Config::default());
    net.connect(2, 0);
    net.connect(2, 1);
    net.run();
    let now = net.now;
    let (_, protocol) = &mut net.nodes[2];
    // Bytes that are no message cost the sender its connection and its address.
    protocol.handle_malformed(PeerId(0), now);
    assert_eq!(protocol.score(PeerId(0)), None, "dropped");
    assert!(protocol.is_banned(&addr(0), now));
    // A removed address: its connection closes and it is not dialled again.
    protocol.add_address(addr(1));
    protocol.remove_address(&addr(1), now);
    assert_eq!(protocol.score(PeerId(1)), None, "dropped");
    let outputs: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    let removed = Output::Disconnect { peer: PeerId(1), reason: DisconnectReason::Removed };
    assert!(outputs.contains(&removed), "{outputs:?}");
    protocol.handle_timeout(now + Config::default().retry_interval);
    let dials: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    assert!(!dials.contains(&Output::Connect(addr(1))), "{dials:?}");
    assert!(protocol.addresses().all(|a| *a != addr(1)));
}

#[test]
fn a_node_told_to_dial_only_its_given_peers_does_not_dial_learned_ones() {
    let mut config = Config { dial_learned: false, ..Config::default() };
    config.target_outbound = 4;
    let mut protocol = Protocol::new(config, Some(addr(0)));
    let node = Node::devnet();
    protocol.add_address(addr(1));
    assert!(protocol.handle_connected(
        PeerId(1),
        Direction::Outbound,
        Some(addr(1)),
        &node,
        Duration::ZERO
    ));
    let hello = Message::Hello {
        genesis: node.params().genesis().hash(),
        tip: node.tip().hash(),
        height: 0,
        listen: Some(addr(1)),
    };
    let mut node = node;
    protocol.handle_message(PeerId(1), hello, &mut node, Duration::ZERO);
    protocol.handle_message(
        PeerId(1),
        Message::Addr(vec![addr(2), addr(3)]),
        &mut node,
        Duration::ZERO,
    );
    protocol.add_address(addr(4));
    protocol.handle_timeout(Config::default().retry_interval);
    let dials: Vec<PeerAddr> = std::iter::from_fn(|| protocol.poll_output())
        .filter_map(|output| match output {
            Output::Connect(addr) => Some(addr),
            _ => None,
        })
        .collect();
    assert_eq!(dials, vec![addr(4)], "only the given address is dialled");
    assert!(protocol.addresses().any(|a| *a == addr(2)), "learned ones are still kept");
}

#[test]
fn a_lost_outbound_peer_is_dialled_again_soon_and_a_failing_one_less_and_less_often() {
    let config = Config::default();
    let step = config.top_up_interval;
    let mut protocol = Protocol::new(config.clone(), Some(addr(0)));
    let node = Node::devnet();
    let dials_at = |protocol: &mut Protocol, now: Duration| {
        protocol.handle_timeout(now);
        std::iter::from_fn(|| protocol.poll_output())
            .filter(|output| *output == Output::Connect(addr(1)))
            .count()
    };
    protocol.add_address(addr(1));
    assert_eq!(dials_at(&mut protocol, Duration::ZERO), 1);
    let connected = protocol.handle_connected(
        PeerId(1),
        Direction::Outbound,
        Some(addr(1)),
        &node,
        Duration::ZERO,
    );
    assert!(connected);
    // Lost after a while: dialled again one step later, not before.
    let lost = 10 * config.retry_interval;
    protocol.handle_disconnected(PeerId(1), lost);
    assert!(protocol.poll_timeout() <= Some(lost + step));
    assert_eq!(dials_at(&mut protocol, lost + step - Duration::from_millis(1)), 0);
    assert_eq!(dials_at(&mut protocol, lost + step), 1);
    // Each failure in a row doubles the wait, up to the retry interval.
    let mut now = lost + step;
    let mut waits = vec![];
    for _ in 0..10 {
        protocol.handle_dial_failed(&addr(1));
        let tried = now;
        while dials_at(&mut protocol, now) == 0 {
            now += step;
        }
        waits.push((now - tried).as_millis() / step.as_millis());
    }
    assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60, 60, 60]);
}

#[test]
fn new_transactions_go_out_together_at_the_trickle_and_not_to_peers_that_told_us() {
    let mut net = Net::new(3, Config::default());
    net.connect(1, 0);
    net.connect(2, 0);
    net.run();
    net.mine(0); // the miner's funds
    net.run();
    let key = miner();
    let pay = |nonce| {
        crate::transaction::Transaction {
            chain_id: Params::devnet().chain_id,
            sender: key.address(),
            recipient: key.address(),
            amount: crate::amount::Amount::positive(1).expect("positive"),
            fee: crate::amount::Amount::ZERO,
            nonce,
        }
        .sign(&key)
        .expect("signs")
    };
    let (first, second) = (pay(1), pay(2));
    let now = net.now;
    let trickle = Config::default().tx_trickle;
    let (node, protocol) = &mut net.nodes[0];
    for tx in [&first, &second] {
        node.handle_transaction(tx.clone()).expect("valid");
    }
    while let Some(event) = node.poll_event() {
        protocol.handle_node_event(&event, node, now);
    }
    // Nothing yet; node 2 meanwhile announces the second one to node 0.
    assert_eq!(std::iter::from_fn(|| protocol.poll_output()).count(), 0);
    assert_eq!(protocol.poll_timeout(), Some(now + trickle));
    let told = Message::Inv(vec![Inventory::Tx(second.id())]);
    protocol.handle_message(PeerId(2), told, node, now);
    let _ = std::iter::from_fn(|| protocol.poll_output()).count();
    protocol.handle_timeout(now + trickle);
    let sent: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    let mut both = vec![Inventory::Tx(first.id()), Inventory::Tx(second.id())];
    both.sort_unstable();
    let to = |peer, items| Output::Send { to: PeerId(peer), message: Message::Inv(items) };
    assert!(sent.contains(&to(1, both)), "{sent:?}");
    assert!(sent.contains(&to(2, vec![Inventory::Tx(first.id())])), "{sent:?}");
    assert_eq!(sent.len(), 2, "{sent:?}");
}

#[test]
fn outbound_peers_are_spread_over_network_groups() {
    let config = Config { target_outbound: 3, ..Config::default() };
    let mut protocol = Protocol::new(config, None);
    let url = |host: &str| PeerAddr::new(format!("http://{host}:5000")).expect("short");
    // Ten addresses in one /16 (one operator's), given first, and two elsewhere.
    for i in 0..10 {
        protocol.add_address(url(&format!("203.0.113.{i}")));
    }
    protocol.add_address(url("198.51.100.1"));
    protocol.add_address(url("192.0.2.1"));
    protocol.handle_timeout(Duration::ZERO);
    let dials: Vec<String> = std::iter::from_fn(|| protocol.poll_output())
        .filter_map(|output| match output {
            Output::Connect(addr) => Some(addr.group()),
            _ => None,
        })
        .collect();
    let mut groups = dials.clone();
    groups.sort();
    groups.dedup();
    assert_eq!((dials.len(), groups.len()), (3, 3), "one dial in each group: {dials:?}");
}

#[test]
fn blocks_with_unknown_parents_start_one_catch_up_at_a_time_and_fruitless_ones_are_scored() {
    let mut net = Net::new(2, Config::default());
    net.connect(1, 0);
    net.run();
    // A block whose parent nobody has (a made-up one): it leads nowhere.
    let (node, _) = &mut net.nodes[0];
    let mut orphan = node
        .block_template(&miner().address(), UnixTime::from_duration(at(1)))
        .expect("a template");
    orphan.header.prev = crate::hash::BlockHash::from_bytes([7; 32]);
    let asks = |protocol: &mut Protocol| {
        std::iter::from_fn(|| protocol.poll_output())
            .filter(|o| matches!(o, Output::Send { message: Message::GetBlocks { .. }, .. }))
            .count()
    };
    let now = net.now;
    let (node, protocol) = &mut net.nodes[1];
    // Fifty copies at once: one catch-up.
    for _ in 0..50 {
        protocol.handle_message(PeerId(0), Message::Block(Box::new(orphan.clone())), node, now);
    }
    assert_eq!(asks(protocol), 1);
    // Each brings nothing (an empty last page). Three in a row are free, then each costs
    // the peer as unrequested data would.
    let empty = || Message::Blocks { blocks: vec![], more: false };
    for round in 1..=5u32 {
        protocol.handle_message(PeerId(0), empty(), node, now);
        let expected = round.saturating_sub(FRUITLESS_CATCH_UPS) * UNREQUESTED;
        assert_eq!(protocol.score(PeerId(0)), Some(expected), "after {round}");
        protocol.handle_message(PeerId(0), Message::Block(Box::new(orphan.clone())), node, now);
        assert_eq!(asks(protocol), 1, "a new catch-up once the last ended");
    }
}

#[test]
fn an_authenticated_identity_is_banned_with_its_address_and_cannot_frame_another() {
    let identity = |name: &str| PeerAddr::new(format!("/p2p/{name}")).expect("short");
    let listen = |name: &str| PeerAddr::new(format!("/ip4/10.0.0.1/tcp/1/p2p/{name}")).unwrap();
    let mut node = Node::devnet();
    let genesis = node.params().genesis().hash();
    let hello =
        |listen: Option<PeerAddr>| Message::Hello { genesis, tip: genesis, height: 0, listen };
    let mut protocol = Protocol::new(Config::default(), Some(addr(0)));
    let now = at(1);
    // An inbound peer authenticated as "mallory" claims honest "bob"'s address: the claim
    // is not taken, so its misbehaviour bans mallory and her identity only.
    assert!(protocol.handle_connected_as(
        PeerId(1),
        Direction::Inbound,
        None,
        Some(identity("mallory")),
        &node,
        now
    ));
    protocol.handle_message(PeerId(1), hello(Some(listen("bob"))), &mut node, now);
    assert!(
        protocol.addresses().all(|a| *a != listen("bob")),
        "a claim not its own is not learned"
    );
    protocol.handle_malformed(PeerId(1), now);
    assert!(protocol.is_banned(&identity("mallory"), now));
    assert!(!protocol.is_banned(&listen("bob"), now));
    let banned: Vec<PeerAddr> = std::iter::from_fn(|| protocol.poll_output())
        .filter_map(|o| match o {
            Output::Banned { addr, .. } => Some(addr),
            _ => None,
        })
        .collect();
    assert_eq!(banned, vec![identity("mallory")]);
    // Mallory comes back from a fresh address: her identity is refused.
    assert!(!protocol.handle_connected_as(
        PeerId(2),
        Direction::Outbound,
        Some(addr(9)),
        Some(identity("mallory")),
        &node,
        now
    ));
    // Bob's own claim is taken, and his second connection (both sides dialled) is dropped.
    assert!(protocol.handle_connected_as(
        PeerId(3),
        Direction::Inbound,
        None,
        Some(identity("bob")),
        &node,
        now
    ));
    protocol.handle_message(PeerId(3), hello(Some(listen("bob"))), &mut node, now);
    assert!(protocol.peers().any(|(_, _, a)| a == Some(&listen("bob"))));
    assert!(!protocol.handle_connected_as(
        PeerId(4),
        Direction::Outbound,
        Some(listen("bob")),
        Some(identity("bob")),
        &node,
        now
    ));
    let outputs: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    let duplicate = Output::Disconnect { peer: PeerId(4), reason: DisconnectReason::Duplicate };
    assert!(outputs.contains(&duplicate), "{outputs:?}");
    // Once Bob misbehaves, his identity and his own address are both banned.
    protocol.handle_malformed(PeerId(3), now);
    assert!(protocol.is_banned(&identity("bob"), now));
    assert!(protocol.is_banned(&listen("bob"), now));
}

#[test]
fn an_outbound_peer_named_two_ways_is_not_dialled_again_under_its_other_name() {
    let mut node = Node::devnet();
    let genesis = node.params().genesis().hash();
    let url = PeerAddr::new("http://10.0.0.1:5000").expect("short");
    let multiaddr = PeerAddr::new("/ip4/10.0.0.1/tcp/6000/p2p/bob").expect("short");
    let config = Config { target_outbound: 4, ..Config::default() };
    let mut protocol = Protocol::new(config, Some(addr(0)));
    let now = at(1);
    protocol.add_address(url.clone());
    protocol.handle_timeout(now);
    while protocol.poll_output().is_some() {}
    let bob = Some(PeerAddr::new("/p2p/bob").expect("short"));
    assert!(protocol.handle_connected_as(
        PeerId(1),
        Direction::Outbound,
        Some(url),
        bob,
        &node,
        now
    ));
    let hello =
        Message::Hello { genesis, tip: genesis, height: 0, listen: Some(multiaddr.clone()) };
    protocol.handle_message(PeerId(1), hello, &mut node, now);
    assert!(protocol.addresses().any(|a| *a == multiaddr), "learned");
    protocol.handle_timeout(now + Config::default().retry_interval);
    let dials: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    assert!(!dials.contains(&Output::Connect(multiaddr)), "{dials:?}");
}

#[test]
fn a_peer_that_never_greets_is_dropped_after_the_request_timeout() {
    let node = Node::devnet();
    let mut protocol = Protocol::new(Config::default(), Some(addr(0)));
    let now = at(1);
    assert!(protocol.handle_connected(PeerId(1), Direction::Inbound, None, &node, now));
    assert!(protocol.handle_connected(PeerId(2), Direction::Inbound, None, &node, now));
    while protocol.poll_output().is_some() {}
    let deadline = now + Config::default().request_timeout;
    assert!(protocol.poll_timeout().is_some_and(|at| at <= deadline));
    // Peer 2 greets in time; peer 1 says nothing.
    let mut node = node;
    let genesis = node.params().genesis().hash();
    let hello = Message::Hello { genesis, tip: genesis, height: 0, listen: None };
    protocol.handle_message(PeerId(2), hello, &mut node, now + Duration::from_millis(1));
    protocol.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(protocol.peers().count(), 2, "not before the deadline");
    protocol.handle_timeout(deadline);
    let outputs: Vec<Output> = std::iter::from_fn(|| protocol.poll_output()).collect();
    let silent = Output::Disconnect { peer: PeerId(1), reason: DisconnectReason::Silent };
    assert!(outputs.contains(&silent), "{outputs:?}");
    assert_eq!(protocol.peers().map(|(id, _, _)| id).collect::<Vec<_>>(), vec![PeerId(2)]);
}

#[test]
fn two_nodes_that_dial_each_other_at_once_keep_the_same_connection() {
    let identity = |name: &str| PeerAddr::new(format!("/p2p/{name}")).expect("short");
    let node = Node::devnet();
    let now = at(1);
    // "a" sorts before "b": both keep the connection a dialled.
    let mut a = Protocol::new(Config::default(), None).with_identity(identity("a"));
    let mut b = Protocol::new(Config::default(), None).with_identity(identity("b"));
    // At a, its own dial (stream 1) lands after b's (stream 2); at b, the other way round.
    assert!(a.handle_connected_as(
        PeerId(2),
        Direction::Inbound,
        None,
        Some(identity("b")),
        &node,
        now
    ));
    assert!(a.handle_connected_as(
        PeerId(1),
        Direction::Outbound,
        Some(addr(2)),
        Some(identity("b")),
        &node,
        now
    ));
    assert!(b.handle_connected_as(
        PeerId(1),
        Direction::Inbound,
        None,
        Some(identity("a")),
        &node,
        now
    ));
    assert!(!b.handle_connected_as(
        PeerId(2),
        Direction::Outbound,
        Some(addr(1)),
        Some(identity("a")),
        &node,
        now
    ));
    // a dropped b's stream (2) for its own (1); b dropped its own (2): both keep 1.
    let a_out: Vec<Output> = std::iter::from_fn(|| a.poll_output()).collect();
    let b_out: Vec<Output> = std::iter::from_fn(|| b.poll_output()).collect();
    let dropped =
        |peer| Output::Disconnect { peer: PeerId(peer), reason: DisconnectReason::Duplicate };
    assert!(a_out.contains(&dropped(2)), "{a_out:?}");
    assert!(b_out.contains(&dropped(2)), "{b_out:?}");
    assert_eq!(a.peers().map(|(id, _, _)| id).collect::<Vec<_>>(), vec![PeerId(1)]);
    assert_eq!(b.peers().map(|(id, _, _)| id).collect::<Vec<_>>(), vec![PeerId(1)]);
}
