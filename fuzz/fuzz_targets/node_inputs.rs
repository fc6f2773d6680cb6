//! Arbitrary bytes as a sequence of node inputs, with invariants checked after each.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gophercoin_fuzz::node_inputs(data));
