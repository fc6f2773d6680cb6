//! Property tests over random histories of valid and invalid inputs.
//!
//! After every step an independent model recomputes the ledger from the main chain with
//! signed arithmetic and checks the core's invariants: each block's reward is the subsidy
//! at its height plus its fees, supply is the sum of the subsidies paid (on a network whose
//! reward halves every few blocks, so histories run through halvings and past the last),
//! no balance ever goes negative, no transaction is included twice, the core's balances
//! are the model's, and a rejected input changed nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use gophercoin_core::{
    Address, Amount, Block, BlockTransaction, ChainOutcome, ErrorKind, Event, Node, Signature,
    SignedTransaction, Signer, UnixTime,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    /// Mine a block for `miner`, `gap` seconds after the last.
    Mine { miner: usize, gap: u64 },
    /// A signed payment with a fee; may overdraw.
    Pay { from: usize, to: usize, units: u64, fee: u64, nonce: u64 },
    /// Submit an earlier payment again.
    Replay { pick: usize },
    /// A payment whose signature was tampered with.
    Tamper { from: usize, to: usize, units: u64 },
    /// A block that pays its miner more than the reward.
    ForgeReward { miner: usize, extra: u64 },
}

fn action() -> impl Strategy<Value = Action> {
    let who = 0..4usize;
    prop_oneof![
        3 => (who.clone(), 1..12u64).prop_map(|(miner, gap)| Action::Mine { miner, gap }),
        4 => (who.clone(), who.clone(), 1..30 * Amount::UNITS_PER_COIN, 0..100_000u64, any::<u64>())
            .prop_map(|(from, to, units, fee, nonce)| Action::Pay { from, to, units, fee, nonce }),
        1 => any::<usize>().prop_map(|pick| Action::Replay { pick }),
        1 => (who.clone(), who.clone(), 1..1000u64)
            .prop_map(|(from, to, units)| Action::Tamper { from, to, units }),
        1 => (who, 1..1000u64).prop_map(|(miner, extra)| Action::ForgeReward { miner, extra }),
    ]
}

/// Runs actions on a node, checking invariants after each; returns the events seen.
struct Run {
    node: Node,
    now: u64,
    sent: Vec<SignedTransaction>,
    events: Vec<Event>,
}

impl Run {
    fn new(node: Node) -> Self {
        let now = node.tip().timestamp;
        Run { node, now, sent: vec![], events: vec![] }
    }

    fn step(&mut self, action: &Action) {
        let before = snapshot(&self.node);
        let accepted = match action {
            Action::Mine { miner, gap } => {
                self.now += gap;
                self.node
                    .mine_block(&keys()[*miner].address(), UnixTime::from_secs(self.now))
                    .is_ok()
            }
            Action::Pay { from, to, units, fee, nonce } => {
                let fee = Amount::from_units(*fee).unwrap();
                let tx = transfer_with_fee(
                    &keys()[*from],
                    &keys()[*to],
                    self.units(*units),
                    fee,
                    *nonce,
                );
                self.sent.push(tx.clone());
                self.node.handle_transaction(tx).is_ok()
            }
            Action::Replay { pick } => match self.sent.len() {
                0 => false,
                n => self.node.handle_transaction(self.sent[pick % n].clone()).is_ok(),
            },
            Action::Tamper { from, to, units } => {
                let mut tx = transfer(&keys()[*from], &keys()[*to], self.units(*units), 0);
                let mut sig = tx.signature.as_bytes().to_vec();
                sig[0] ^= 0x80;
                tx.signature = Signature::from_bytes(sig).unwrap();
                let result = self.node.handle_transaction(tx);
                assert_eq!(result.unwrap_err().kind(), ErrorKind::BadSignature);
                false
            }
            Action::ForgeReward { miner, extra } => {
                let mut block = self
                    .node
                    .block_template(&keys()[*miner].address(), UnixTime::from_secs(self.now))
                    .unwrap();
                let BlockTransaction::Reward(reward) = &mut block.transactions[0] else {
                    unreachable!("templates start with the reward")
                };
                reward.amount = reward.amount.checked_add(units(*extra)).unwrap();
                let result = self.node.handle_block(seal(block), UnixTime::from_secs(self.now));
                assert_eq!(result.unwrap_err().kind(), ErrorKind::WrongRewardAmount);
                false
            }
        };
        self.events.extend(drain(&mut self.node));
        if !accepted {
            assert_eq!(snapshot(&self.node), before, "{action:?} was rejected but changed state");
        }
        check_invariants(&self.node);
    }

    fn units(&self, units: u64) -> Amount {
        Amount::positive(units).unwrap()
    }
}

/// Recomputes the ledger from the main chain with signed arithmetic and compares.
fn check_invariants(node: &Node) {
    let params = node.params();
    let mut balances: BTreeMap<Address, i128> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut supply = 0i128;
    for block in node.chain().main_chain_from(1) {
        // The model's own schedule: the first reward shifted right once per interval.
        let halvings = block.height() / params.halving_interval;
        let subsidy =
            i128::from(params.block_reward.to_units().checked_shr(halvings as u32).unwrap_or(0));
        let fees: i128 =
            block.transfers().iter().map(|tx| i128::from(tx.transaction().fee.to_units())).sum();
        let r = block.reward().expect("every block after genesis has a reward");
        assert_eq!(
            i128::from(r.amount.to_units()),
            subsidy + fees,
            "the reward at height {}",
            block.height()
        );
        supply += subsidy;
        *balances.entry(r.recipient.clone()).or_default() += i128::from(r.amount.to_units());
        for tx in block.transfers() {
            assert!(seen.insert(tx.id()), "transaction {} included twice", tx.id());
            let t = tx.transaction();
            let amount = i128::from(t.amount.to_units());
            let sender = balances.entry(t.sender.clone()).or_default();
            *sender -= amount + i128::from(t.fee.to_units());
            assert!(*sender >= 0, "a balance went negative at height {}", block.height());
            *balances.entry(t.recipient.clone()).or_default() += amount;
        }
    }
    balances.retain(|_, b| *b != 0);
    assert_eq!(i128::from(params.supply_at(node.height()).to_units()), supply);
    assert_eq!(balances.values().sum::<i128>(), supply);
    assert_eq!(i128::from(node.ledger().supply().to_units()), supply);
    let core: BTreeMap<Address, i128> =
        node.ledger().balances().map(|(a, b)| (a.clone(), i128::from(b.to_units()))).collect();
    assert_eq!(core, balances);
    // Pending transactions never overdraw on top of each other.
    for (address, _) in node.ledger().balances() {
        assert!(node.mempool().spending(address) <= node.balance(address));
    }
    for tx in node.mempool().iter() {
        assert!(!node.ledger().is_included(&tx.id()));
    }
    // Every block off the main chain is counted as a side block, and within the policy.
    let (side, _) = node.chain().side_usage();
    assert_eq!(side, node.chain().len() - (node.height() as usize + 1));
    assert!(side <= node.policy().max_side_blocks);
}

/// A devnet whose reward halves every 3 blocks, so a history of a few dozen blocks runs
/// through several halvings (tests/long_run.rs runs past the last).
fn halving_node() -> Node {
    let mut params = params();
    params.halving_interval = 3;
    let verifier = params.verifier();
    Node::new(params, verifier, gophercoin_core::MostWork).expect("valid parameters")
}

fn run(actions: &[Action]) -> Run {
    let mut run = Run::new(halving_node());
    for action in actions {
        run.step(action);
    }
    run
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_histories(actions in prop::collection::vec(action(), 1..40)) {
        run(&actions);
    }

    #[test]
    fn same_inputs_give_the_same_state_and_events(actions in prop::collection::vec(action(), 1..25)) {
        let first = run(&actions);
        let second = run(&actions);
        prop_assert_eq!(snapshot(&first.node), snapshot(&second.node));
        prop_assert_eq!(first.node.ledger(), second.node.ledger());
        prop_assert_eq!(first.events, second.events);
    }

    #[test]
    fn encodings_round_trip(actions in prop::collection::vec(action(), 1..25)) {
        let run = run(&actions);
        for block in main_chain(&run.node) {
            let bytes = gophercoin_core::Block::encode(&block);
            prop_assert_eq!(&gophercoin_core::Block::decode(&bytes, bytes.len()).unwrap(), &block);
            let json = serde_json::to_string(&block).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Block>(&json).unwrap(), &block);
        }
        for tx in &run.sent {
            let bytes = gophercoin_core::SignedTransaction::encode(tx);
            prop_assert_eq!(&gophercoin_core::SignedTransaction::decode(&bytes, bytes.len()).unwrap(), tx);
            let json = serde_json::to_string(tx).unwrap();
            prop_assert_eq!(&serde_json::from_str::<SignedTransaction>(&json).unwrap(), tx);
        }
    }

    #[test]
    fn reorg_to_a_heavier_fork_and_back_restores_the_exact_ledger(
        prefix in prop::collection::vec(action(), 0..12),
        ours in prop::collection::vec(action(), 1..12),
        theirs in prop::collection::vec(action(), 1..12),
    ) {
        let base = run(&prefix);
        let mut a = Run { sent: vec![], events: vec![], ..Run::new(base.node.clone()) };
        a.now = base.now;
        let mut b = Run { sent: vec![], events: vec![], ..Run::new(base.node.clone()) };
        b.now = base.now;
        for action in &ours { a.step(action); }
        for action in &theirs { b.step(action); }
        // Make b strictly heavier than a, then a's branch heavier than b again.
        while b.node.chain().tip_summary().work <= a.node.chain().tip_summary().work {
            b.step(&Action::Mine { miner: 3, gap: 5 });
        }
        let mut node = a.node.clone();
        let later = a.now.max(b.now) + 1;
        let outcome = node.handle_chain(main_chain(&b.node), UnixTime::from_secs(later)).unwrap();
        prop_assert!(matches!(outcome, ChainOutcome::Adopted { .. }), "{:?}", outcome);
        prop_assert_eq!(node.ledger(), b.node.ledger());
        check_invariants(&node);

        while a.node.chain().tip_summary().work <= b.node.chain().tip_summary().work {
            a.step(&Action::Mine { miner: 2, gap: 5 });
        }
        let later = a.now.max(b.now) + 1;
        let outcome = node.handle_chain(main_chain(&a.node), UnixTime::from_secs(later)).unwrap();
        prop_assert!(matches!(outcome, ChainOutcome::Adopted { .. }), "{:?}", outcome);
        prop_assert_eq!(node.ledger(), a.node.ledger());
        prop_assert_eq!(node.tip(), a.node.tip());
        check_invariants(&node);
    }
}

#[test]
fn compact_targets_round_trip() {
    use gophercoin_core::{CompactTarget, Target};
    proptest!(|(size in 1u32..=32, mantissa in 1u32..0x0080_0000)| {
        let compact = CompactTarget::from_consensus((size << 24) | mantissa);
        if let Ok(target) = Target::from_compact(compact) {
            // Re-encoding normalises; decoding the normal form gives the same target.
            prop_assert_eq!(Target::from_compact(target.to_compact()).unwrap(), target);
        }
    });
}

/// Signed transfers from the three funded test keys, with a spread of fees, made once.
fn priced_transfers() -> &'static [SignedTransaction] {
    static TXS: std::sync::OnceLock<Vec<SignedTransaction>> = std::sync::OnceLock::new();
    TXS.get_or_init(|| {
        (0..24u64)
            .map(|i| {
                let from = &keys()[(i % 3) as usize];
                let fee = Amount::from_units((i * 7_919) % 5_000).unwrap();
                transfer_with_fee(from, &keys()[3], units(1_000 + i), fee, i)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever arrives in whatever order, the pool stays within its bounds, its
    /// bookkeeping matches its contents, an eviction only ever makes room for a higher fee
    /// rate, and templates take the best rates first.
    #[test]
    fn the_priced_mempool_keeps_its_bounds_and_its_books(
        capacity in 1..8usize,
        per_sender in 1..5usize,
        order in Just((0..24usize).collect::<Vec<_>>()).prop_shuffle(),
        arrivals in 1..24usize,
    ) {
        let mut policy = gophercoin_core::Policy::default();
        policy.max_mempool_txs = capacity;
        policy.max_pending_per_sender = per_sender;
        let mut node = Node::devnet().with_policy(policy);
        for miner in 0..3 {
            mine(&mut node, &keys()[miner], 1);
        }
        for &i in order.iter().take(arrivals) {
            let tx = priced_transfers()[i].clone();
            let before: Vec<_> = node.mempool().iter().map(|t| (t.id(), t.fee_rate())).collect();
            match node.handle_transaction(tx.clone()) {
                Ok(_) => {
                    let rate = node.mempool().get(&tx.id()).unwrap().fee_rate();
                    for (id, old_rate) in &before {
                        if !node.mempool().contains(id) {
                            prop_assert!(*old_rate < rate, "evicted a rate no lower");
                        }
                    }
                    prop_assert!(before.len() + 1 - node.mempool().len() <= 1, "evicted at most one");
                }
                Err(error) => {
                    let now: Vec<_> = node.mempool().iter().map(|t| (t.id(), t.fee_rate())).collect();
                    prop_assert_eq!(&now, &before, "a refusal changed the pool ({})", error);
                    prop_assert!(
                        matches!(error.kind(), ErrorKind::MempoolFull | ErrorKind::TooManyPending),
                        "{}", error
                    );
                }
            }
            let pool = node.mempool();
            prop_assert!(pool.len() <= capacity);
            for key in keys() {
                let mine: Vec<_> = pool.iter().filter(|t| t.transaction().sender == key.address()).collect();
                prop_assert!(mine.len() <= per_sender);
                prop_assert_eq!(pool.pending_count(&key.address()), mine.len());
                let spent = mine.iter().map(|t| t.spend().to_units()).sum::<u64>();
                prop_assert_eq!(pool.spending(&key.address()).to_units(), spent);
            }
            let selected = pool.select(usize::MAX);
            prop_assert_eq!(selected.len(), pool.len());
            prop_assert!(selected.windows(2).all(|w| w[0].fee_rate() >= w[1].fee_rate()));
            prop_assert_eq!(pool.lowest_fee_rate(), selected.last().map(|t| t.fee_rate()));
        }
        // What the pool holds is what the next block takes, and pays for.
        let fees: u64 = node.mempool().iter().map(|t| t.transaction().fee.to_units()).sum();
        let template = node.block_template(&keys()[3].address(), clock(4)).unwrap();
        let BlockTransaction::Reward(reward) = &template.transactions[0] else { unreachable!() };
        prop_assert_eq!(reward.amount.to_units(), node.params().reward_at(4).to_units() + fees);
        check_invariants(&node);
    }
}
