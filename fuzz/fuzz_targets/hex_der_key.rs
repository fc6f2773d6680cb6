//! Arbitrary text and bytes as hex and DER keys, with the real RSA verifier.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gophercoin_fuzz::parse_keys(data));
