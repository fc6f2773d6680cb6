//! Arbitrary bytes as a block, handed to a node.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gophercoin_fuzz::decode_block(data));
