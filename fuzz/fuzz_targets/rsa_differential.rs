//! The RSA verifier's fixed-limb path against the `rsa` crate, on arbitrary signatures
//! and changes to honest ones: the same verdict every time.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gophercoin_fuzz::rsa_differential(data));
