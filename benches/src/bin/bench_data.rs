//! Makes what `benches/compare/wrk.sh` loads a node with: a data directory holding a
//! chain, and signed payments as request bodies.
//!
//! `bench_data chain DIR BLOCKS PER_BLOCK`: a store with block 1 paying the test key and
//! BLOCKS blocks of PER_BLOCK of its payments (nonces from 0).
//! `bench_data payments FILE FROM COUNT`: COUNT of the test key's payments to itself
//! (nonces from FROM), one `POST /transactions/new` body a line.

use std::path::PathBuf;

use clap::Parser;
use gophercoin_benches::{build_chain, sign_payments, test_key};
use gophercoin_http::dto::TransactionDto;

/// What to make.
#[derive(Parser)]
enum Args {
    /// A data directory holding a chain of the test key's payments.
    Chain {
        /// The data directory to make (it must not exist).
        dir: PathBuf,
        /// Blocks of payments after block 1.
        blocks: u64,
        /// Payments a block.
        per_block: u64,
    },
    /// Request bodies of the test key's payments, one a line.
    Payments {
        /// The file to write.
        file: PathBuf,
        /// The first nonce.
        from: u64,
        /// How many.
        count: u64,
    },
}

fn main() {
    match Args::parse() {
        Args::Chain { dir, blocks, per_block } => build_chain(&dir, &test_key(), blocks, per_block),
        Args::Payments { file, from, count } => {
            let lines: Vec<String> = sign_payments(&test_key(), from, count)
                .iter()
                .map(|tx| serde_json::to_string(&TransactionDto::from_signed(tx)).expect("encodes"))
                .collect();
            std::fs::write(&file, lines.join("\n") + "\n").expect("writes the bodies");
        }
    }
}
