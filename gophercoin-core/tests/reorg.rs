//! Fork choice and reorganisations: which chain wins, what happens to the losing side's
//! transactions, and that a reorg there and back restores the exact state.

mod common;

use common::*;
use gophercoin_core::{
    BlockOutcome, ChainOutcome, Event, ForkChoice, LongestChain, MostWork, Node, RsaVerifier,
    Signer, UnixTime,
};

fn node_with<F: ForkChoice>(fork_choice: F) -> Node<RsaVerifier, F> {
    let params = params();
    Node::new(params.clone(), params.verifier(), fork_choice).expect("valid parameters")
}

/// Mines `n` blocks one second apart: after the first retarget the difficulty rises, so
/// each later block carries about four times the work of an on-schedule block.
fn mine_fast<F: ForkChoice>(node: &mut Node<RsaVerifier, F>, n: u64) {
    for _ in 0..n {
        let now = params().genesis_timestamp + node.height() + 1;
        let _ = node.mine_block(&carol().address(), UnixTime::from_secs(now)).unwrap();
    }
    drain(node);
}

/// A short heavy chain (25 blocks, 5 of them at a harder target) and a long light one
/// (35 blocks at the easiest target).
fn heavy_and_long() -> (Vec<gophercoin_core::Block>, Vec<gophercoin_core::Block>) {
    let mut heavy = Node::devnet();
    mine_fast(&mut heavy, 25);
    let mut long = Node::devnet();
    mine(&mut long, bob(), 35);
    let heavy_summary = heavy.chain().tip_summary();
    let long_summary = long.chain().tip_summary();
    assert!(heavy_summary.height < long_summary.height);
    assert!(heavy_summary.work > long_summary.work, "the fast chain's retarget made it heavier");
    (main_chain(&heavy), main_chain(&long))
}

#[test]
fn longer_chain_with_less_work_loses_under_most_work() {
    let (heavy, long) = heavy_and_long();
    let mut node = node_with(MostWork);
    assert!(matches!(node.handle_chain(long.clone(), clock(40)), Ok(ChainOutcome::Adopted { .. })));
    let outcome = node.handle_chain(heavy.clone(), clock(40)).unwrap();
    assert!(matches!(outcome, ChainOutcome::Adopted { height: 25, .. }), "{outcome:?}");
    drain(&mut node);
    let before = snapshot(&node);
    let outcome = node.handle_chain(long, clock(40)).unwrap();
    assert!(matches!(outcome, ChainOutcome::KeptOurs { height: 25, .. }), "{outcome:?}");
    assert_eq!(snapshot(&node), before);
    assert!(node.poll_event().is_none());
}

#[test]
fn longer_chain_with_less_work_wins_under_longest_chain() {
    let (heavy, long) = heavy_and_long();
    let mut node = node_with(LongestChain);
    assert!(matches!(node.handle_chain(heavy, clock(40)), Ok(ChainOutcome::Adopted { .. })));
    let outcome = node.handle_chain(long, clock(40)).unwrap();
    assert!(matches!(outcome, ChainOutcome::Adopted { height: 35, .. }), "{outcome:?}");
    assert_eq!(node.balance(&bob().address()), coins(20 * 35));
    assert_eq!(node.balance(&carol().address()), gophercoin_core::Amount::ZERO);
}

#[test]
fn tie_keeps_the_first_seen_chain() {
    for fork_choice in [&MostWork as &dyn ForkChoice, &LongestChain] {
        let mut ours = node_with(fork_choice);
        let mut theirs = Node::devnet();
        mine(&mut ours, alice(), 3);
        mine(&mut theirs, bob(), 3);
        let before = snapshot(&ours);
        let outcome = ours.handle_chain(main_chain(&theirs), clock(4)).unwrap();
        assert_eq!(outcome, ChainOutcome::KeptOurs { tip: before.tip, height: 3 });
        assert_eq!(snapshot(&ours), before);

        // One block at a time: the rival tip stays a side branch until it is heavier.
        let rival: Vec<_> = main_chain(&theirs);
        for block in &rival[1..3] {
            let outcome = ours.handle_block(block.clone(), clock(4)).unwrap();
            assert!(matches!(outcome, BlockOutcome::SideBranch { .. }), "{outcome:?}");
        }
        let outcome = ours.handle_block(rival[3].clone(), clock(4)).unwrap();
        assert!(matches!(outcome, BlockOutcome::SideBranch { height: 3, .. }), "{outcome:?}");
        assert_eq!(ours.tip().hash(), before.tip);
        mine(&mut theirs, bob(), 1);
        let outcome = ours.handle_block(main_chain(&theirs)[4].clone(), clock(5)).unwrap();
        assert!(
            matches!(
                outcome,
                BlockOutcome::Reorganized { height: 4, disconnected: 3, connected: 4, .. }
            ),
            "{outcome:?}"
        );
    }
}

#[test]
fn reorg_returns_the_losing_sides_transactions_to_the_mempool() {
    // Both nodes share blocks 1..=3 (alice's rewards).
    let mut ours = Node::devnet();
    mine(&mut ours, alice(), 3);
    let mut theirs = Node::devnet();
    let _ = theirs.handle_chain(main_chain(&ours), clock(3)).unwrap();
    drain(&mut theirs);

    // Ours mines block 4 (carol's reward) with alice -> bob, and carol -> dave spending
    // that reward in block 5.
    let to_bob = transfer(alice(), bob(), coins(7), 1);
    ours.handle_transaction(to_bob.clone()).unwrap();
    mine(&mut ours, carol(), 1);
    let from_carol = transfer(carol(), alice(), coins(5), 2);
    ours.handle_transaction(from_carol.clone()).unwrap();
    mine(&mut ours, bob(), 1);
    assert_eq!(ours.balance(&bob().address()), coins(27));

    // Theirs mines three empty blocks 4..=6 and wins.
    mine(&mut theirs, bob(), 3);
    let orphaned: Vec<_> = main_chain(&ours)[4..].iter().map(|b| b.hash()).collect();
    let adopted: Vec<_> = main_chain(&theirs)[4..].iter().map(|b| b.hash()).collect();
    let outcome = ours.handle_chain(main_chain(&theirs), clock(7)).unwrap();
    assert!(matches!(
        outcome,
        ChainOutcome::Adopted { height: 6, disconnected: 2, connected: 3, .. }
    ));

    // Alice's payment is valid on the new chain and back in the mempool; carol's spent a
    // reward that no longer exists and is gone.
    let pending: Vec<_> = ours.mempool().iter().map(|tx| tx.id()).collect();
    assert_eq!(pending, vec![to_bob.id()]);
    assert_eq!(ours.balance(&carol().address()), gophercoin_core::Amount::ZERO);
    assert_eq!(ours.balance(&bob().address()), coins(60));
    assert_eq!(ours.ledger().supply(), coins(120));

    let events = drain(&mut ours);
    let mut expected = vec![
        Event::BlockDisconnected { hash: orphaned[1], height: 5 },
        Event::BlockDisconnected { hash: orphaned[0], height: 4 },
    ];
    expected.extend(
        adopted.iter().zip(4..).map(|(&hash, height)| Event::BlockConnected { hash, height }),
    );
    expected.push(Event::TipChanged { hash: adopted[2], height: 6 });
    // Carol's payment left the mempool for good (where it is kept, it is forgotten).
    expected.push(Event::TransactionDropped(from_carol.id()));
    // Alice's is pending again: relayed (and, where the mempool is kept, kept again).
    expected.push(Event::RelayTransaction(to_bob.id()));
    expected.push(Event::RelayBlock(adopted[2]));
    assert_eq!(events, expected);

    // Mining again includes the returned transaction exactly once.
    mine(&mut ours, alice(), 1);
    assert!(ours.mempool().is_empty());
    assert_eq!(ours.balance(&bob().address()), coins(67));
}

#[test]
fn reorg_there_and_back_restores_the_exact_ledger() {
    let mut a = Node::devnet();
    mine(&mut a, alice(), 3);
    let mut b = a.clone();
    a.handle_transaction(transfer(alice(), bob(), coins(3), 1)).unwrap();
    mine(&mut a, alice(), 2);
    let mut a_alone = a.clone();
    b.handle_transaction(transfer(alice(), carol(), coins(9), 2)).unwrap();
    mine(&mut b, carol(), 3);

    // To b's heavier fork: the ledger is exactly b's.
    let outcome = a.handle_chain(main_chain(&b), clock(7)).unwrap();
    assert!(matches!(outcome, ChainOutcome::Adopted { disconnected: 2, connected: 3, .. }));
    assert_eq!(a.ledger(), b.ledger());
    assert_eq!(a.mempool().len(), 1, "the transfer to bob is pending again");

    // And back to a's branch, now two blocks longer: exactly the ledger of a node that
    // never saw b's fork.
    mine(&mut a_alone, alice(), 2);
    let outcome = a.handle_chain(main_chain(&a_alone), clock(8)).unwrap();
    assert!(matches!(outcome, ChainOutcome::Adopted { disconnected: 3, connected: 4, .. }));
    assert_eq!(a.ledger(), a_alone.ledger());
    assert_eq!(a.tip(), a_alone.tip());
    let pending: Vec<_> = a.mempool().iter().map(|tx| tx.transaction().recipient.clone()).collect();
    assert_eq!(pending, vec![carol().address()], "b's transfer to carol is pending again");
}
