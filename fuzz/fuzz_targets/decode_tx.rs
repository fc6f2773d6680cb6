//! Arbitrary bytes as a signed transaction.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gophercoin_fuzz::decode_transaction(data));
