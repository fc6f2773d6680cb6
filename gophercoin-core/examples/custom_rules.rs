//! Plugs custom rules into the core: a `Verifier` that wraps the shipped RSA one and
//! counts what it checks, and a `ForkChoice` that prefers most work and breaks ties by
//! the lower tip hash instead of keeping the first-seen chain.
//!
//! Run it with `cargo run -p gophercoin-core --example custom_rules`.

use std::{cell::Cell, cmp::Ordering};

use gophercoin_core::{
    Address, ChainSummary, CryptoError, ForkChoice, Node, Params, RsaSigner, RsaVerifier,
    Signature, Signer, Transaction, UnixTime, Verifier,
};

/// Counts signature checks, delegating the decision to RSA.
struct CountingVerifier {
    inner: RsaVerifier,
    checked: Cell<u64>,
}

impl Verifier for CountingVerifier {
    fn check_address(&self, address: &Address) -> Result<(), CryptoError> {
        self.inner.check_address(address)
    }

    fn verify(&self, address: &Address, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        self.checked.set(self.checked.get() + 1);
        self.inner.verify(address, msg, sig)
    }
}

/// Most work wins; equal work goes to the lower tip hash, so every node picks the same
/// tip of two equal forks regardless of which it saw first.
struct MostWorkLowestHash;

impl ForkChoice for MostWorkLowestHash {
    fn prefer(&self, ours: &ChainSummary, theirs: &ChainSummary) -> Ordering {
        theirs.work.cmp(&ours.work).then_with(|| ours.tip.cmp(&theirs.tip))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let params = Params::devnet();
    let verifier = CountingVerifier { inner: params.verifier(), checked: Cell::new(0) };
    let mut node = Node::new(params.clone(), verifier, MostWorkLowestHash)?;

    // Fixed test keys keep the example quick; see `embed` for generating keys.
    let alice: RsaSigner = include_str!("../tests/data/alice.pkcs8.hex").trim().parse()?;
    let bob: RsaSigner = include_str!("../tests/data/bob.pkcs8.hex").trim().parse()?;
    let mut now = params.genesis_timestamp;
    for _ in 0..2 {
        now += params.target_block_secs;
        let _ = node.mine_block(&alice.address(), UnixTime::from_secs(now))?;
    }
    for nonce in 0..3 {
        let tx = Transaction {
            chain_id: params.chain_id,
            sender: alice.address(),
            recipient: bob.address(),
            amount: gophercoin_core::Amount::positive(1_000)?,
            fee: gophercoin_core::Amount::ZERO,
            nonce,
        };
        node.handle_transaction(tx.sign(&alice)?)?;
    }
    now += params.target_block_secs;
    let _ = node.mine_block(&alice.address(), UnixTime::from_secs(now))?;
    while node.poll_event().is_some() {}

    println!("height {}, bob has {} units", node.height(), node.balance(&bob.address()));
    // Each transfer's signature is checked once, when it enters the mempool: the block
    // that carries it reuses that verification.
    println!("signatures checked: {}", node.verifier().checked.get());
    assert_eq!(node.verifier().checked.get(), 3);
    Ok(())
}
