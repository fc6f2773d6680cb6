//! Decodes arbitrary bytes as a signed transaction; a decoded one must re-encode to the
//! same bytes and pass or fail the isolation checks without panicking.
#![no_main]

use gophercoin_core::{Params, codec};
use gophercoin_fuzz::AcceptAllVerifier;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = codec::decode_transaction(data, 1 << 16) {
        assert_eq!(codec::encode_transaction(&tx), data);
        let _ = tx.verify(&AcceptAllVerifier, &Params::devnet());
    }
});
