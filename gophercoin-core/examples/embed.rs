//! Embeds gophercoin-core: makes two wallets, mines blocks, signs a payment and reads the
//! balances, with the program (not the library) reading the clock and the OS RNG.
//!
//! Run it with `cargo run -p gophercoin-core --example embed`.

use std::time::{SystemTime, UNIX_EPOCH};

use gophercoin_core::{Amount, Event, Node, RsaSigner, Signer, Transaction, UnixTime, crypto::rsa};

#[allow(clippy::disallowed_methods, reason = "the embedding program owns the clock")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The adapter owns randomness: the core only takes an RNG where it needs one.
    let mut os_rng = getrandom::SysRng;
    println!("making two {}-bit RSA wallets...", rsa::DEFAULT_KEY_BITS);
    let miner = RsaSigner::generate(&mut os_rng, rsa::DEFAULT_KEY_BITS)?;
    let friend = RsaSigner::generate(&mut os_rng, rsa::DEFAULT_KEY_BITS)?;
    println!("miner  {}", miner.address().short());
    println!("friend {}", friend.address().short());

    let mut node = Node::devnet();
    let params = node.params().clone();
    // The adapter owns the clock too: read it once per input and pass it down.
    let now = || SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);

    for _ in 0..3 {
        let outcome = node.mine_block(&miner.address(), UnixTime::from_secs(now()))?;
        println!("mined {outcome:?}");
    }
    println!("miner balance: {} units", node.balance(&miner.address()));
    println!(
        "each block mints {} units now, halving every {} blocks (all told {} units)",
        params.reward_at(node.height() + 1),
        params.halving_interval,
        params.supply_at(u64::MAX),
    );

    let payment = Transaction {
        chain_id: params.chain_id,
        sender: miner.address(),
        recipient: friend.address(),
        amount: Amount::positive(5 * Amount::UNITS_PER_COIN)?,
        // Paid to whoever mines it; the mempool takes the highest fee per byte first.
        fee: Amount::from_units(1_000)?,
        nonce: rand_nonce(&mut os_rng)?,
    }
    .sign(&miner)?;
    let id = node.handle_transaction(payment.clone())?;
    println!("payment {id} is pending ({} in the mempool)", node.mempool().len());

    let outcome = node.mine_block(&miner.address(), UnixTime::from_secs(now()))?;
    println!("mined {outcome:?}");

    // The same signed payment can't be spent twice.
    let replay = node.handle_transaction(payment).unwrap_err();
    println!("submitting it again: {} ({replay})", replay.kind());

    while let Some(event) = node.poll_event() {
        if let Event::BlockConnected { hash, height } = event {
            println!("  block {height} connected: {hash}");
        }
    }
    // Fees move coins to the miner; only the subsidy makes new ones.
    assert_eq!(node.ledger().supply(), params.supply_at(node.height()));
    println!("height {}, supply {} units", node.height(), node.ledger().supply());
    println!("miner  balance: {} units", node.balance(&miner.address()));
    println!("friend balance: {} units", node.balance(&friend.address()));
    assert_eq!(node.balance(&friend.address()), Amount::positive(5 * Amount::UNITS_PER_COIN)?);
    Ok(())
}

fn rand_nonce(rng: &mut getrandom::SysRng) -> Result<u64, getrandom::Error> {
    use rand_core::TryRng;
    rng.try_next_u64()
}
