//! Verifies the signatures of pre-made `POST /transactions/new` bodies (a JSON array in a
//! file, as `http_load post` sends them) on one core and prints the verifications per second:
//! `benches/compare/node.sh` runs it on the node's core just before and after the load, so
//! the node's accepted rate is compared with the verify rate of the same core at the same
//! time.
//!
//! `verify_rate FILE [PASSES]`

use std::time::Instant;

use clap::Parser;
use gophercoin_core::{Params, RsaVerifier, Signature, Transaction, Verifier};
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
    /// A JSON array of bodies, the wallet service's answers.
    file: std::path::PathBuf,
    /// How many times to verify them all.
    #[arg(default_value_t = 1)]
    passes: usize,
}

fn main() {
    let Args { file, passes } = Args::parse();
    let text = std::fs::read_to_string(file).expect("a readable file of bodies");
    let bodies: Vec<Body> = serde_json::from_str(&text).expect("a JSON array of signed bodies");
    // No signature cache: the rate of the RSA operation, each body verified afresh.
    let verifier = RsaVerifier::new(&Params::devnet()).without_signature_cache();
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
