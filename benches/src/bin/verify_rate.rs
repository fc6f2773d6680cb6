//! Verifies the signatures of pre-made `POST /transactions/new` bodies (a JSON array in a
//! file, as `http_load post` sends them, or one body a line, as `bench_data payments`
//! writes them) on one core and prints the verifications per second: `benches/compare/node.sh`
//! and `wrk.sh` run it on the node's core just before and after the load, so the node's
//! accepted rate is compared with the verify rate of the same core at the same time. It
//! verifies as the node of the same build does (`gophercoin_http::verifier`: the AWS-LC
//! engine with `--features aws-lc`).
//!
//! `verify_rate FILE [PASSES]`

use std::time::Instant;

use clap::Parser;
use gophercoin_core::{Params, Signature, Transaction, Verifier};
use gophercoin_http::dto::TransactionDto;
use serde::Deserialize;

/// The wallet service's answer, the shape of the bodies (`id` ignored).
#[derive(Deserialize)]
struct Body {
    transaction: Transaction,
    signature: Signature,
}

/// Verifies the signatures of pre-made bodies on one core.
#[derive(Parser)]
struct Args {
    /// A JSON array of bodies (the wallet service's answers), or one body a line.
    file: std::path::PathBuf,
    /// How many times to verify them all.
    #[arg(default_value_t = 1)]
    passes: usize,
}

fn main() {
    let Args { file, passes } = Args::parse();
    let text = std::fs::read_to_string(file).expect("a readable file of bodies");
    let params = Params::devnet();
    let bodies: Vec<Body> = serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .map(|line| {
                let dto: TransactionDto = serde_json::from_str(line).expect("a body a line");
                let signed = dto.into_signed(params.chain_id);
                Body { transaction: signed.transaction, signature: signed.signature }
            })
            .collect()
    });
    // No signature cache: the rate of the RSA operation, each body verified afresh.
    let verifier = gophercoin_http::verifier(&params).without_signature_cache();
    let started = Instant::now();
    for _ in 0..passes {
        for body in &bodies {
            let message = body.transaction.signing_bytes();
            verifier
                .verify(&body.transaction.sender, &message, &body.signature)
                .expect("every body's signature verifies");
        }
    }
    println!("{:.0}", (bodies.len() * passes) as f64 / started.elapsed().as_secs_f64());
}
