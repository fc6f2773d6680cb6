//! Criterion benchmarks for GopherCoin; the benchmarks are the `benches/*.rs` targets
//! (`cargo bench -p gophercoin-benches`), this library only holds their shared fixtures.

use gophercoin_core::{Amount, Params, RsaSigner, SignedTransaction, Signer, Transaction};

/// Returns a committed RSA-2048 test key (the core's `tests/data/alice.pkcs8.hex`).
pub fn test_key() -> RsaSigner {
    include_str!("../../gophercoin-core/tests/data/alice.pkcs8.hex")
        .trim()
        .parse()
        .expect("the committed test key parses")
}

/// Returns another committed RSA-2048 test key (the core's `tests/data/bob.pkcs8.hex`).
pub fn other_key() -> RsaSigner {
    include_str!("../../gophercoin-core/tests/data/bob.pkcs8.hex")
        .trim()
        .parse()
        .expect("the committed test key parses")
}

/// Returns a payment of 1 from `key` to itself with `nonce`, signed.
pub fn self_payment(key: &RsaSigner, params: &Params, nonce: u64) -> SignedTransaction {
    Transaction {
        chain_id: params.chain_id,
        sender: key.address(),
        recipient: key.address(),
        amount: Amount::positive(1).expect("positive"),
        fee: Amount::ZERO,
        nonce,
    }
    .sign(key)
    .expect("the test key signs")
}
