//! Criterion benchmarks for GopherCoin; the benchmarks are the `benches/*.rs` targets
//! (`cargo bench -p gophercoin-benches`), this library only holds their shared fixtures.

use gophercoin_core::RsaSigner;

/// Returns a committed RSA-2048 test key (the core's `tests/data/alice.pkcs8.hex`).
pub fn test_key() -> RsaSigner {
    include_str!("../../gophercoin-core/tests/data/alice.pkcs8.hex")
        .trim()
        .parse()
        .expect("the committed test key parses")
}
