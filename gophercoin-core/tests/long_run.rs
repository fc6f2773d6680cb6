//! The rules for the long run: the reward schedule, fees, the priced mempool, bounded side
//! branches, the invalid-block cache and the header version. Each refusal is typed and
//! leaves the node as it was.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use gophercoin_core::{
    Address, Amount, Block, BlockError, BlockOutcome, BlockTransaction, ChainError, ChainOutcome,
    CryptoError, ErrorKind, FeeRate, LedgerError, MempoolError, MostWork, Node, Params, Policy,
    RsaVerifier, Signature, Signer, TxError, UnixTime, Verifier,
};

/// A devnet node with its own parameters and policy, where alice has mined 3 blocks.
fn node_with(edit_params: impl FnOnce(&mut Params), edit_policy: impl FnOnce(&mut Policy)) -> Node {
    let mut params = params();
    edit_params(&mut params);
    let mut policy = Policy::default();
    edit_policy(&mut policy);
    let verifier = params.verifier();
    let mut node =
        Node::new(params, verifier, MostWork).expect("valid parameters").with_policy(policy);
    mine(&mut node, alice(), 3);
    node
}

fn funded() -> Node {
    node_with(|_| {}, |_| {})
}

fn reward_of(block: &Block) -> Amount {
    match &block.transactions[0] {
        BlockTransaction::Reward(reward) => reward.amount,
        BlockTransaction::Transfer(_) => unreachable!("a block starts with its reward"),
    }
}

fn set_reward(block: &mut Block, amount: Amount) {
    let BlockTransaction::Reward(reward) = &mut block.transactions[0] else { unreachable!() };
    reward.amount = amount;
}

// --- the reward schedule ----------------------------------------------------------------

#[test]
fn the_reward_halves_and_the_supply_converges_below_the_cap() {
    let params = params();
    let twenty = coins(20);
    assert_eq!(params.reward_at(0), Amount::ZERO, "genesis mints nothing");
    assert_eq!(params.reward_at(1), twenty);
    assert_eq!(params.reward_at(524_999), twenty);
    assert_eq!(params.reward_at(525_000), coins(10));
    assert_eq!(params.reward_at(1_050_000), coins(5));
    // The old rule (20 coins for ever, capped at 21 million) refused this block: now it
    // mints 5 coins, and blocks go on after the reward has halved away.
    assert_eq!(params.reward_at(1_050_001), coins(5));
    assert_eq!(params.reward_at(34 * 525_000), Amount::ZERO);
    assert_eq!(params.reward_at(u64::MAX), Amount::ZERO);
    // Σ 20 × 525,000 × 2⁻ᵏ, less genesis's slot and the units the halvings round away:
    // just below 21 million, as Bitcoin's 50 × 210,000 schedule is.
    let total = params.supply_at(u64::MAX);
    assert!(total <= Amount::MAX, "{total}");
    assert_eq!(total, units(2_099_997_993_175_000));
    assert_eq!(params.supply_at(1_050_000), coins(20 * 524_999 + 10 * 525_000 + 5));
    // supply_at is the sum of reward_at, on a schedule small enough to add up.
    let mut small = params.clone();
    small.halving_interval = 3;
    let mut sum = Amount::ZERO;
    for height in 0..=120 {
        sum = sum.checked_add(small.reward_at(height)).unwrap();
        assert_eq!(small.supply_at(height), sum, "height {height}");
    }
}

#[test]
fn a_chain_runs_through_every_halving_and_past_the_last() {
    // 20 coins halving every 2 blocks is gone after 31 halvings, by height 62.
    let mut node = node_with(|p| p.halving_interval = 2, |_| {});
    let last = (1..).find(|h| node.params().reward_at(*h).is_zero()).unwrap();
    assert_eq!(last, 62);
    while node.height() < last + 5 {
        let height = node.height() + 1;
        if height == last + 2 {
            // After the last halving a block carries fees only.
            let tx = transfer_with_fee(alice(), bob(), coins(1), units(777), height);
            node.handle_transaction(tx).unwrap();
        }
        mine(&mut node, carol(), 1);
        let tip = node.chain().tip().to_block();
        let fees = if height == last + 2 { units(777) } else { Amount::ZERO };
        let subsidy = node.params().reward_at(height);
        assert_eq!(reward_of(&tip), subsidy.checked_add(fees).unwrap(), "height {height}");
        // Supply is the sum of the subsidies paid, and the sum of the balances.
        assert_eq!(node.ledger().supply(), node.params().supply_at(height));
        let sum = node.ledger().balances().try_fold(Amount::ZERO, |s, (_, b)| s.checked_add(b));
        assert_eq!(sum, Some(node.ledger().supply()));
    }
    assert!(node.height() > last);
    assert_eq!(node.balance(&bob().address()), coins(1));
    // A new node takes the whole chain, beyond the last halving, from a peer.
    let verifier = node.params().verifier();
    let mut fresh = Node::new(node.params().clone(), verifier, MostWork).expect("valid parameters");
    let outcome = fresh.handle_chain(main_chain(&node), clock(node.height() + 1)).unwrap();
    assert!(matches!(outcome, ChainOutcome::Adopted { height, .. } if height == last + 5));
    assert_eq!(fresh.ledger(), node.ledger());
}

#[test]
fn the_genesis_block_commits_to_the_schedule() {
    let mut other = params();
    other.halving_interval = 1_000;
    assert_ne!(other.genesis().hash(), params().genesis().hash());
}

// --- fees -------------------------------------------------------------------------------

#[test]
fn a_fee_moves_from_the_sender_to_the_miner() {
    let mut node = funded();
    let tx = transfer_with_fee(alice(), bob(), coins(1), units(1_000), 1);
    node.handle_transaction(tx).unwrap();
    let template = template(&node, carol());
    assert_eq!(reward_of(&template), coins(20).checked_add(units(1_000)).unwrap());
    mine(&mut node, carol(), 1);
    assert_eq!(node.balance(&carol().address()), coins(20).checked_add(units(1_000)).unwrap());
    assert_eq!(node.balance(&bob().address()), coins(1));
    assert_eq!(node.balance(&alice().address()), coins(59).checked_sub(units(1_000)).unwrap());
    assert_eq!(node.ledger().supply(), coins(80), "fees move coins, they make none");
}

#[test]
fn a_reward_must_be_the_subsidy_plus_the_fees_exactly() {
    let mut node = funded();
    node.handle_transaction(transfer_with_fee(alice(), bob(), coins(1), units(500), 1)).unwrap();
    drain(&mut node);
    let expected = coins(20).checked_add(units(500)).unwrap();
    for claimed in [coins(20), expected.checked_add(units(1)).unwrap()] {
        let mut block = template(&node, carol());
        set_reward(&mut block, claimed);
        let block = seal(block);
        let error = BlockError::WrongRewardAmount { expected, actual: claimed };
        rejects(&mut node, error, |n| submit_block(n, block));
    }
}

#[test]
fn the_fee_counts_toward_an_overdraft() {
    let mut node = funded();
    let tx = transfer_with_fee(alice(), bob(), coins(60), units(1), 1);
    let error = LedgerError::Overdraft {
        available: coins(60),
        required: coins(60).checked_add(units(1)).unwrap(),
    };
    rejects(&mut node, MempoolError::Ledger(error), |n| n.handle_transaction(tx));
}

#[test]
fn an_amount_and_fee_beyond_the_maximum_are_refused() {
    let mut node = funded();
    let tx = transfer_with_fee(alice(), bob(), Amount::MAX, units(1), 1);
    let error = TxError::SpendTooLarge { amount: Amount::MAX, fee: units(1) };
    rejects(&mut node, error, |n| n.handle_transaction(tx));
}

#[test]
fn the_fee_is_signed() {
    let mut node = funded();
    let mut tx = transfer_with_fee(alice(), bob(), coins(1), units(10), 1);
    tx.transaction.fee = units(0);
    rejects(&mut node, TxError::BadSignature(CryptoError::BadSignature), |n| {
        n.handle_transaction(tx)
    });
}

// --- the priced mempool -----------------------------------------------------------------

#[test]
fn a_fee_rate_below_the_minimum_is_refused() {
    let mut node = node_with(|_| {}, |p| p.min_relay_fee_rate = FeeRate::per_byte(2));
    let free = transfer(alice(), bob(), coins(1), 1);
    // The size of a transfer whose fee takes two bytes, as the fees below do.
    let size = transfer_with_fee(alice(), bob(), coins(1), units(1_000), 1).identify().size();
    let error = MempoolError::FeeTooLow { rate: FeeRate::ZERO, min: FeeRate::per_byte(2) };
    rejects(&mut node, error, |n| n.handle_transaction(free));
    let short = transfer_with_fee(alice(), bob(), coins(1), units(2 * size as u64 - 1), 2);
    assert_eq!(node.handle_transaction(short).unwrap_err().kind(), ErrorKind::FeeTooLow);
    let enough = transfer_with_fee(alice(), bob(), coins(1), units(2 * size as u64), 3);
    node.handle_transaction(enough).unwrap();
}

#[test]
fn one_sender_may_have_only_so_many_pending() {
    let mut node = node_with(|_| {}, |p| p.max_pending_per_sender = 2);
    for nonce in 0..2 {
        node.handle_transaction(transfer(alice(), bob(), coins(1), nonce)).unwrap();
    }
    drain(&mut node);
    let third = transfer(alice(), bob(), coins(1), 2);
    rejects(&mut node, MempoolError::TooManyPending { max: 2 }, |n| n.handle_transaction(third));
    // Once mined, the sender may send again.
    mine(&mut node, carol(), 1);
    node.handle_transaction(transfer(alice(), bob(), coins(1), 3)).unwrap();
}

#[test]
fn a_full_mempool_evicts_the_lowest_fee_rate_for_a_higher_one() {
    let mut node = node_with(
        |_| {},
        |p| {
            p.max_mempool_txs = 3;
        },
    );
    mine(&mut node, bob(), 1);
    let cheap = transfer_with_fee(alice(), carol(), coins(1), units(100), 1);
    let cheapest = transfer_with_fee(alice(), carol(), coins(1), units(10), 2);
    let middle = transfer_with_fee(bob(), carol(), coins(1), units(500), 3);
    for tx in [&cheap, &cheapest, &middle] {
        node.handle_transaction(tx.clone()).unwrap();
    }
    drain(&mut node);
    // Paying no more than the lowest is not enough, and changes nothing.
    let lowest = node.mempool().lowest_fee_rate().unwrap();
    let equal = transfer_with_fee(bob(), carol(), coins(1), units(10), 4);
    rejects(&mut node, MempoolError::Full { max: 3, lowest }, |n| n.handle_transaction(equal));
    // Paying more evicts the lowest, and the sender's pending spending follows.
    let spending = node.mempool().spending(&alice().address());
    let better = transfer_with_fee(bob(), carol(), coins(1), units(50), 5);
    node.handle_transaction(better.clone()).unwrap();
    assert_eq!(node.mempool().len(), 3);
    assert!(!node.mempool().contains(&cheapest.id()), "the lowest fee rate went");
    assert!(node.mempool().contains(&better.id()));
    let spent = coins(1).checked_add(units(10)).unwrap();
    assert_eq!(node.mempool().spending(&alice().address()), spending.checked_sub(spent).unwrap());
    assert_eq!(node.mempool().pending_count(&alice().address()), 1);
}

#[test]
fn templates_take_the_highest_fee_rate_first() {
    let mut node = node_with(|p| p.max_block_txs = 3, |_| {});
    let fees = [300, 0, 900, 100];
    let txs: Vec<_> = fees
        .iter()
        .zip(0..)
        .map(|(fee, nonce)| transfer_with_fee(alice(), bob(), coins(1), units(*fee), nonce))
        .collect();
    for tx in &txs {
        node.handle_transaction(tx.clone()).unwrap();
    }
    let template = template(&node, carol());
    let ids: Vec<_> = template.transactions[1..].iter().map(BlockTransaction::id).collect();
    assert_eq!(ids, [txs[2].id(), txs[0].id()], "900 then 300; room for two");
    assert_eq!(reward_of(&template), coins(20).checked_add(units(1_200)).unwrap());
}

#[test]
fn a_flood_of_free_transfers_cannot_keep_a_paying_one_out() {
    let mut node = funded();
    mine(&mut node, bob(), 1);
    // One funded wallet sends 1-unit, zero-fee transfers to itself as fast as it can.
    let limit = node.policy().max_pending_per_sender;
    let mut refused = 0;
    for nonce in 0..limit as u64 + 20 {
        let flood = transfer(alice(), alice(), units(1), nonce);
        match node.handle_transaction(flood) {
            Ok(_) => {}
            Err(error) => {
                assert_eq!(error.kind(), ErrorKind::TooManyPending);
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 20);
    let paying = transfer_with_fee(bob(), carol(), coins(1), units(1_000), 1);
    node.handle_transaction(paying.clone()).unwrap();
    let template = template(&node, dave());
    assert_eq!(template.transactions[1].id(), paying.id(), "the paying one goes first");
    mine(&mut node, dave(), 1);
    assert!(node.ledger().is_included(&paying.id()), "mined in the next block");
}

// --- side branches ----------------------------------------------------------------------

/// A block at `parent_height + 1` on the main chain of `node` up to `parent_height`, mined
/// by `miner` at a time of its own (so each call makes a different block).
fn fork_block(
    node: &Node,
    parent_height: u64,
    miner: &gophercoin_core::RsaSigner,
    skew: u64,
) -> Block {
    let mut other = Node::devnet();
    let prefix: Vec<_> = main_chain(node).into_iter().take(parent_height as usize + 1).collect();
    if prefix.len() > 1 {
        let _ = other.handle_chain(prefix, clock(parent_height + 1)).unwrap();
    }
    let _ = other
        .mine_block(&miner.address(), UnixTime::from_secs(time(parent_height + 1) + skew))
        .unwrap();
    other.chain().tip().to_block()
}

#[test]
fn a_side_block_far_below_the_tip_is_refused() {
    let mut node = node_with(|_| {}, |p| p.max_side_depth = 2);
    mine(&mut node, alice(), 3); // height 6
    let deep = fork_block(&node, 2, bob(), 1); // height 3: 3 below the tip
    let error = ChainError::TooDeep { height: 3, tip: 6, max_depth: 2 };
    rejects(&mut node, error, |n| n.handle_block(deep, clock(7)));
    let near = fork_block(&node, 4, bob(), 1); // height 5
    assert!(matches!(node.handle_block(near, clock(7)), Ok(BlockOutcome::SideBranch { .. })));
}

#[test]
fn side_branches_are_bounded_and_keep_the_most_work() {
    let mut node = node_with(|_| {}, |p| p.max_side_blocks = 2);
    // Two blocks competing with the tip (height 3), equal in work: kept off the main chain.
    let rivals: Vec<_> = (1..=2).map(|skew| fork_block(&node, 2, bob(), skew)).collect();
    for rival in &rivals {
        let outcome = node.handle_block(rival.clone(), clock(4)).unwrap();
        assert!(matches!(outcome, BlockOutcome::SideBranch { .. }));
    }
    assert_eq!(node.chain().side_usage().0, 2);
    // A third of the same work would have to evict one of equal work: refused.
    let third = fork_block(&node, 2, bob(), 3);
    rejects(&mut node, ChainError::SideBranchesFull, |n| n.handle_block(third, clock(4)));
    // A block of less work than every side branch (height 2, forked from height 1) can
    // evict none of them.
    let low = fork_block(&node, 1, carol(), 1);
    rejects(&mut node, ChainError::SideBranchesFull, |n| n.handle_block(low.clone(), clock(4)));
    // A block of more work (height 4, on the first rival) evicts the least-work leaf, the
    // other rival, and becomes the tip.
    let mut other = Node::devnet();
    let prefix: Vec<_> = main_chain(&node).into_iter().take(3).collect();
    let _ = other.handle_chain(prefix, clock(3)).unwrap();
    let _ = other.handle_block(rivals[0].clone(), clock(4)).unwrap();
    let _ = other.mine_block(&carol().address(), UnixTime::from_secs(time(4) + 1)).unwrap();
    let longer = other.chain().tip().to_block();
    let outcome = node.handle_block(longer.clone(), clock(5)).unwrap();
    assert!(matches!(outcome, BlockOutcome::Reorganized { .. }), "{outcome:?}");
    // Our old tip (height 3) joined the side branches; the bound holds.
    assert!(node.chain().side_usage().0 <= 2);
    // A whole candidate chain from carol, forked at height 1, is judged by its tip: at
    // height 3 it has less work than ours, so nothing of it is kept.
    let mut other = Node::devnet();
    let prefix: Vec<_> = main_chain(&node).into_iter().take(2).collect();
    let _ = other.handle_chain(prefix, clock(2)).unwrap();
    let _ = other.handle_block(low.clone(), clock(3)).unwrap();
    let _ = other.mine_block(&carol().address(), UnixTime::from_secs(time(3) + 1)).unwrap();
    // A whole candidate chain is judged by its tip: carol's branch reaches height 3 with
    // the same work as ours, so it is not adopted, and nothing is kept of it.
    let before = node.chain().len();
    let outcome = node.handle_chain(main_chain(&other), clock(4)).unwrap();
    assert!(matches!(outcome, ChainOutcome::KeptOurs { .. }));
    assert_eq!(node.chain().len(), before);
}

#[test]
fn a_reorg_keeps_the_side_branches_within_their_bounds() {
    let mut node = node_with(|_| {}, |p| p.max_side_blocks = 1);
    // A heavier branch from height 1 moves our blocks 2 and 3 off the main chain; only one
    // may stay. Leaves go first, least work first: block 3, the old tip, is the only leaf.
    let mut other = Node::devnet();
    let prefix: Vec<_> = main_chain(&node).into_iter().take(2).collect();
    let _ = other.handle_chain(prefix, clock(2)).unwrap();
    for height in 2..=4 {
        let _ = other.mine_block(&bob().address(), UnixTime::from_secs(time(height) + 1)).unwrap();
    }
    let old_tip = node.tip().hash();
    let outcome = node.handle_chain(main_chain(&other), clock(5)).unwrap();
    assert!(matches!(outcome, ChainOutcome::Adopted { disconnected: 2, .. }));
    let (blocks, _) = node.chain().side_usage();
    assert!(blocks <= 1, "{blocks} side blocks kept");
    assert!(!node.chain().contains(&old_tip), "a leaf went first, least work first");
}

// --- the invalid-block cache -------------------------------------------------------------

/// Counts the signatures it is asked to check.
struct Counting(RsaVerifier, AtomicU32);

impl Verifier for Counting {
    fn check_address(&self, address: &Address) -> Result<(), CryptoError> {
        self.0.check_address(address)
    }

    fn verify(&self, a: &Address, m: &[u8], s: &Signature) -> Result<(), CryptoError> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.verify(a, m, s)
    }
}

fn counting_node() -> Node<Counting> {
    let params = params();
    let verifier = Counting(params.verifier(), AtomicU32::new(0));
    let mut node = Node::new(params, verifier, MostWork).expect("valid parameters");
    mine(&mut node, alice(), 3);
    node
}

fn checks(node: &Node<Counting>) -> u32 {
    node.verifier().1.load(Ordering::Relaxed)
}

#[test]
fn a_block_refused_for_a_bad_signature_is_refused_again_without_any_signature_check() {
    let mut node = counting_node();
    // Another node's block with three transfers we never saw, the last one's signature bad.
    let mut other = Node::devnet();
    let _ = other.handle_chain(main_chain(&node), clock(4)).unwrap();
    for nonce in 0..3 {
        other.handle_transaction(transfer(alice(), bob(), coins(1), nonce)).unwrap();
    }
    let good = solve(other.block_template(&carol().address(), clock(4)).unwrap());
    let mut bad = good.clone();
    let BlockTransaction::Transfer(tx) = &mut bad.transactions[3] else { unreachable!() };
    let mut sig = tx.signature.as_bytes().to_vec();
    sig[5] ^= 1;
    tx.signature = Signature::from_bytes(sig).unwrap();
    assert_eq!(bad.hash(), good.hash(), "a block's hash does not cover signatures");

    let expected = BlockError::Transaction {
        index: 3,
        source: TxError::BadSignature(CryptoError::BadSignature),
    };
    rejects(&mut node, expected.clone(), |n| submit_block(n, bad.clone()));
    assert_eq!(checks(&node), 3, "the signatures were checked once");
    for _ in 0..5 {
        rejects(&mut node, expected.clone(), |n| submit_block(n, bad.clone()));
    }
    assert_eq!(checks(&node), 3, "the same block again costs no signature check");
    assert_eq!(node.invalid_blocks().len(), 1);
    // The same header with the right signature is another block, and valid.
    let outcome = submit_block(&mut node, good).unwrap();
    assert!(matches!(outcome, BlockOutcome::Extended { height: 4, .. }));
}

#[test]
fn a_block_that_fails_to_connect_is_remembered_and_so_are_its_children() {
    let mut node = counting_node();
    // dave has nothing, but signs validly: the block passes its own checks and fails
    // only when connected.
    let (bad, error) = overdrawing_block(&node, dave());
    rejects(&mut node, error.clone(), |n| submit_block(n, bad.clone()));
    let checked = checks(&node);
    rejects(&mut node, error, |n| submit_block(n, bad.clone()));
    assert_eq!(checks(&node), checked, "refused before any signature check");
    // A block built on it is refused too, before any check of its own.
    let mut child = bad.clone();
    child.header.prev = bad.hash();
    child.header.height += 1;
    child.transactions.truncate(1);
    let BlockTransaction::Reward(reward) = &mut child.transactions[0] else { unreachable!() };
    reward.height += 1;
    let child = seal(child);
    rejects(&mut node, ChainError::InvalidParent { prev: bad.hash() }, |n| submit_block(n, child));
}

// --- the header version -----------------------------------------------------------------

#[test]
fn unknown_header_versions_are_refused() {
    let mut node = funded();
    for version in [0, 2, u32::MAX] {
        let mut block = template(&node, carol());
        block.header.version = version;
        let block = seal(block);
        let error = BlockError::UnknownVersion { version, known: 1 };
        rejects(&mut node, error, |n| submit_block(n, block));
    }
    assert_eq!(node.invalid_blocks().len(), 0, "a fault this cheap is not remembered");
}

#[test]
fn new_errors_have_stable_kinds() {
    let cases: Vec<(gophercoin_core::Error, &str)> = vec![
        (BlockError::UnknownVersion { version: 2, known: 1 }.into(), "unknown_version"),
        (BlockError::FeesTooLarge.into(), "fees_too_large"),
        (
            MempoolError::FeeTooLow { rate: FeeRate::ZERO, min: FeeRate::per_byte(1) }.into(),
            "fee_too_low",
        ),
        (MempoolError::TooManyPending { max: 1 }.into(), "too_many_pending"),
        (ChainError::SideBranchesFull.into(), "side_branches_full"),
        (ChainError::TooDeep { height: 1, tip: 9, max_depth: 2 }.into(), "too_deep"),
        (ChainError::InvalidParent { prev: Default::default() }.into(), "invalid_parent"),
        (TxError::SpendTooLarge { amount: Amount::MAX, fee: units(1) }.into(), "amount_too_large"),
    ];
    for (error, kind) in cases {
        assert_eq!(error.kind().as_str(), kind, "{error}");
    }
}

#[test]
fn a_transfer_made_too_large_by_its_signature_does_not_stop_its_honest_block() {
    // A network whose size limit an honest transfer just meets.
    let size = transfer(alice(), bob(), coins(1), 1).identify().size();
    let mut node = node_with(|p| p.max_tx_bytes = size, |_| {});
    let mut honest = template(&node, carol());
    honest.transactions.push(BlockTransaction::Transfer(transfer(alice(), bob(), coins(1), 1)));
    let honest = seal(honest);
    // The same header with the signature padded by one byte: too large, and the id (so the
    // block's hash) does not cover it.
    let mut padded = honest.clone();
    let BlockTransaction::Transfer(tx) = &mut padded.transactions[1] else { unreachable!() };
    let mut signature = tx.signature.as_bytes().to_vec();
    signature.push(0);
    tx.signature = Signature::from_bytes(signature).unwrap();
    assert_eq!(padded.hash(), honest.hash());
    let error = BlockError::Transaction {
        index: 1,
        source: TxError::TooLarge { size: size + 1, max: size },
    };
    for _ in 0..2 {
        rejects(&mut node, error.clone(), |n| submit_block(n, padded.clone()));
    }
    let outcome = submit_block(&mut node, honest).unwrap();
    assert!(matches!(outcome, BlockOutcome::Extended { height: 4, .. }));
}

#[test]
fn only_blocks_checked_in_their_place_are_remembered_as_invalid() {
    let mut node = funded();
    let mut bad = template(&node, carol());
    set_reward(&mut bad, coins(21));
    let bad = seal(bad);
    // Checked on its own, as a block of a candidate chain is: refused, not remembered (its
    // target was not checked against its height's, so it may have cost next to nothing).
    assert_eq!(node.check_block(bad.clone()).unwrap_err().kind(), ErrorKind::WrongRewardAmount);
    assert!(node.invalid_blocks().is_empty());
    // Through a checker, with a precheck token of another block, or of another node: not
    // remembered either.
    let honest = seal(template(&node, carol()));
    let other_block = node.precheck_block(&honest).unwrap();
    let checker = node.checker();
    assert!(checker.check_block(bad.clone(), Some(&other_block), |_| None).is_err());
    let other = funded();
    let other_node = other.precheck_block(&bad).unwrap();
    assert!(checker.check_block(bad.clone(), Some(&other_node), |_| None).is_err());
    assert!(node.invalid_blocks().is_empty());
    // With the node's own token for it: remembered.
    let token = node.precheck_block(&bad).unwrap();
    let error = checker.check_block(bad.clone(), Some(&token), |_| None).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WrongRewardAmount);
    assert_eq!(node.invalid_blocks().len(), 1);
    // And refused by a look-up from then on.
    assert_eq!(submit_block(&mut node, bad).unwrap_err().kind(), ErrorKind::WrongRewardAmount);
    assert_eq!(node.invalid_blocks().len(), 1);
}

#[test]
fn an_evicted_transaction_leaves_no_address_behind() {
    let mut node = node_with(|_| {}, |p| p.max_mempool_txs = 1);
    // Decoded from the network, each transaction carries its own copies of the keys.
    let fresh = |mut tx: gophercoin_core::SignedTransaction| {
        let recipient = tx.transaction.recipient.as_der().to_vec();
        tx.transaction.recipient = Address::from_der(recipient).unwrap();
        tx
    };
    let first = fresh(transfer_with_fee(alice(), dave(), coins(1), units(1), 1));
    node.handle_transaction(first).unwrap();
    let held = node.mempool().iter().next().unwrap().transaction().recipient.as_der().as_ptr();
    // A better fee evicts it; dave is named by nothing pending any more.
    node.handle_transaction(transfer_with_fee(alice(), bob(), coins(1), units(9), 2)).unwrap();
    let second = fresh(transfer_with_fee(alice(), dave(), coins(1), units(99), 3));
    let copy = second.transaction.recipient.as_der().as_ptr();
    node.handle_transaction(second).unwrap();
    let now = node.mempool().iter().next().unwrap().transaction().recipient.as_der().as_ptr();
    assert_eq!(now, copy, "the newcomer's own copy, not the evicted one's");
    assert_ne!(now, held);
}

#[test]
fn a_blocks_transfers_cannot_spend_its_own_reward() {
    // Carol has nothing; a block paying her the reward can't carry her spending it.
    let mut node = funded();
    let (block, error) = overdrawing_block(&node, carol());
    rejects(&mut node, error, |n| submit_block(n, block));
}

/// A block on the tip paying carol the reward and carrying a validly signed coin from
/// `from`, who has nothing: valid on its own, refused when connected, with this error.
fn overdrawing_block<V: Verifier>(
    node: &Node<V>,
    from: &gophercoin_core::RsaSigner,
) -> (Block, ChainError) {
    let mut block = template(node, carol());
    block.transactions.push(BlockTransaction::Transfer(transfer(from, bob(), coins(1), 1)));
    let block = seal(block);
    let error = ChainError::Transfer {
        hash: block.hash(),
        index: 0,
        source: LedgerError::Overdraft { available: Amount::ZERO, required: coins(1) },
    };
    (block, error)
}
