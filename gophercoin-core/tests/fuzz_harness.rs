//! The fuzz targets' harness (`support/harness.rs`, which `fuzz/` compiles too) run by
//! proptest on random inputs in every `cargo test`, plus seeds that reach deep paths.

#[allow(dead_code, unreachable_pub)]
mod support {
    pub mod forgeries;
    #[allow(missing_docs)]
    pub mod harness;
}

use gophercoin_core::UnixTime;
use support::harness;

use proptest::prelude::*;

/// Signatures with paddings no honest signer makes, for the RSA differential.
fn crafted() -> &'static [Vec<u8>] {
    static CRAFTED: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    CRAFTED.get_or_init(|| support::forgeries::crafted(harness::DIFFERENTIAL_MESSAGE))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decode_transaction_never_panics(data in prop::collection::vec(any::<u8>(), 0..600)) {
        harness::decode_transaction(&data);
    }

    #[test]
    fn decode_block_never_panics(data in prop::collection::vec(any::<u8>(), 0..600)) {
        harness::decode_block(&data);
    }

    #[test]
    fn parse_keys_never_panics(data in prop::collection::vec(any::<u8>(), 0..700)) {
        harness::parse_keys(&data);
    }

    #[test]
    fn the_rsa_paths_agree(data in prop::collection::vec(any::<u8>(), 0..600)) {
        harness::rsa_differential(&data);
    }

    #[test]
    fn the_rsa_paths_agree_on_crafted_paddings(
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        harness::rsa_paths_agree_with(&data, &[], crafted());
    }

    #[test]
    fn node_inputs_keep_the_invariants(data in prop::collection::vec(any::<u8>(), 0..120)) {
        harness::node_inputs(&data);
    }
}

#[test]
fn seeds_reach_the_interesting_paths() {
    // Valid encodings, so decoding is not the only thing exercised.
    let genesis = gophercoin_core::Params::devnet().genesis();
    harness::decode_block(&gophercoin_core::Block::encode(&genesis));
    let mut node = harness::fuzz_node();
    let miner = gophercoin_core::Address::from_der(vec![0x30, 1]).unwrap();
    let _ = node.mine_block(&miner, UnixTime::from_secs(genesis.header.timestamp + 5)).unwrap();
    harness::decode_block(&gophercoin_core::Block::encode(&node.chain().tip().to_block()));
    harness::parse_keys(include_str!("data/alice.pkcs8.hex").trim().as_bytes());
    // The honest signature of each key, and each one bit off.
    for first in 0..16_u8 {
        harness::rsa_differential(&[first * 4 + 1]);
        harness::rsa_differential(&[first, 1]);
    }
    // Mine, pay, tamper, replay our chain, in many orders.
    harness::node_inputs(&[
        0, 0, 0, 1, 1, 4, 3, 2, 0, 9, 0, 5, 3, 0, 2, 2, 7, 1, 4, 9, 0, 3, 2, 3, 1, 2, 5, 0,
    ]);
}
