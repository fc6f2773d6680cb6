//! Shared fixtures: committed RSA-2048 keys, a seeded clock, transaction and block
//! builders, and a snapshot of a node's observable state.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::OnceLock;

use gophercoin_core::{
    Address, Amount, Block, BlockHash, BlockOutcome, Error, Event, ForkChoice, Node, Params,
    RsaSigner, SignedTransaction, Signer, Transaction, TxId, UnixTime, Verifier, block, pow,
};

/// The committed test keys: alice, bob, carol, dave.
pub fn keys() -> &'static [RsaSigner; 4] {
    static KEYS: OnceLock<[RsaSigner; 4]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            include_str!("../data/alice.pkcs8.hex"),
            include_str!("../data/bob.pkcs8.hex"),
            include_str!("../data/carol.pkcs8.hex"),
            include_str!("../data/dave.pkcs8.hex"),
        ]
        .map(|hex| hex.trim().parse().expect("committed test keys parse"))
    })
}

pub fn alice() -> &'static RsaSigner {
    &keys()[0]
}

pub fn bob() -> &'static RsaSigner {
    &keys()[1]
}

pub fn carol() -> &'static RsaSigner {
    &keys()[2]
}

pub fn dave() -> &'static RsaSigner {
    &keys()[3]
}

pub fn params() -> Params {
    Params::devnet()
}

/// The node's clock when the block at `height` is due ([`time`] as a [`UnixTime`]).
pub fn clock(height: u64) -> UnixTime {
    UnixTime::from_secs(time(height))
}

/// Seconds after genesis at which block `n` of a test chain is made: on schedule.
pub fn time(n: u64) -> u64 {
    params().genesis_timestamp + n * params().target_block_secs
}

pub fn coins(n: u64) -> Amount {
    Amount::positive(n * Amount::UNITS_PER_COIN).unwrap()
}

pub fn units(n: u64) -> Amount {
    Amount::from_units(n).unwrap()
}

/// A signed transfer on the devnet, with no fee.
pub fn transfer(from: &RsaSigner, to: &RsaSigner, amount: Amount, nonce: u64) -> SignedTransaction {
    transfer_with_fee(from, to, amount, Amount::ZERO, nonce)
}

/// A signed transfer on the devnet that pays `fee` to its miner.
pub fn transfer_with_fee(
    from: &RsaSigner,
    to: &RsaSigner,
    amount: Amount,
    fee: Amount,
    nonce: u64,
) -> SignedTransaction {
    Transaction {
        chain_id: params().chain_id,
        sender: from.address(),
        recipient: to.address(),
        amount,
        fee,
        nonce,
    }
    .sign(from)
    .unwrap()
}

/// Asserts that `f` fails with `expected` and leaves the node untouched, queueing no event.
pub fn rejects<V: Verifier, T: std::fmt::Debug>(
    node: &mut Node<V>,
    expected: impl Into<Error>,
    f: impl FnOnce(&mut Node<V>) -> Result<T, Error>,
) {
    let before = snapshot(node);
    let result = f(node);
    assert_eq!(result.unwrap_err(), expected.into());
    assert_eq!(snapshot(node), before, "state changed after a rejected input");
    assert_eq!(node.poll_event(), None, "a rejected input queued an event");
}

/// Hands a block to the node at the time it was made for.
pub fn submit_block<V: Verifier>(node: &mut Node<V>, block: Block) -> Result<BlockOutcome, Error> {
    let now = time(block.header.height);
    node.handle_block(block, UnixTime::from_secs(now))
}

/// Mines `n` blocks paying `miner`, on schedule, and drains events.
pub fn mine<V: Verifier, F: ForkChoice>(node: &mut Node<V, F>, miner: &RsaSigner, n: u64) {
    for _ in 0..n {
        let now = time(node.height() + 1);
        let outcome = node.mine_block(&miner.address(), UnixTime::from_secs(now)).unwrap();
        assert!(matches!(outcome, BlockOutcome::Extended { .. }), "{outcome:?}");
    }
    drain(node);
}

pub fn drain<V: Verifier, F: ForkChoice>(node: &mut Node<V, F>) -> Vec<Event> {
    std::iter::from_fn(|| node.poll_event()).collect()
}

/// A template for the next block, paying `miner`, made on schedule.
pub fn template<V: Verifier>(node: &Node<V>, miner: &RsaSigner) -> Block {
    node.block_template(&miner.address(), clock(node.height() + 1)).unwrap()
}

/// Recomputes the merkle root and solves the proof of work.
pub fn seal(mut block: Block) -> Block {
    block.header.merkle_root = block::merkle_root(block.transactions.iter().map(|t| t.id()));
    solve(block)
}

/// Solves the proof of work without touching the merkle root.
pub fn solve(mut block: Block) -> Block {
    block.header.nonce = 0;
    assert!(pow::solve(&mut block.header, 50_000_000), "devnet targets are easy");
    block
}

/// Returns the main chain from genesis, as a peer would serve it.
pub fn main_chain<V: Verifier, F: ForkChoice>(node: &Node<V, F>) -> Vec<Block> {
    node.chain().main_chain_from(0).map(|b| b.to_block()).collect()
}

/// Everything observable about a node's state.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub tip: BlockHash,
    pub height: u64,
    pub balances: Vec<(Address, Amount)>,
    pub supply: Amount,
    pub included: usize,
    pub mempool: Vec<TxId>,
    pub known_blocks: usize,
}

pub fn snapshot<V: Verifier, F: ForkChoice>(node: &Node<V, F>) -> Snapshot {
    Snapshot {
        tip: node.tip().hash(),
        height: node.height(),
        balances: node.ledger().balances().map(|(a, b)| (a.clone(), b)).collect(),
        supply: node.ledger().supply(),
        included: node.ledger().included_count(),
        mempool: node.mempool().iter().map(|tx| tx.id()).collect(),
        known_blocks: node.chain().len(),
    }
}
