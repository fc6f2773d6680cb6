//! Decodes arbitrary bytes as a block and, if that works, feeds it to a devnet node that
//! accepts every signature: no input may panic the core.
#![no_main]

use gophercoin_core::{MostWork, Node, Params, codec};
use gophercoin_fuzz::AcceptAllVerifier;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = codec::decode_block(data, 1 << 20) {
        let params = Params::devnet();
        let now = params.genesis_timestamp + 60;
        let mut node = Node::new(params, AcceptAllVerifier, MostWork);
        let _ = node.handle_block(block, now);
        while node.poll_event().is_some() {}
    }
});
