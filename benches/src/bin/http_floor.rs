//! The floor under the node's `wrk` figures: a server built from the node's own parts
//! (tokio, hyper through axum, serde_json, the node's verifier) that does only part of
//! the node's work, so `wrk` measures what HTTP over loopback costs on this machine with
//! and without it. `benches/compare/wrk_vs_flask.py` runs it beside the node and Flask.
//!
//! `http_floor PORT empty|decode|verify|chain [--chain FILE]`
//!
//! - `empty`: `POST /transactions/new` reads the body and answers 201 with an answer as
//!   long as the node's;
//! - `decode`: also decodes the body's JSON and hex into a signed transaction;
//! - `verify`: also checks its signature as the node does (`gophercoin_http::verifier`,
//!   the AWS-LC engine with `--features aws-lc`, no signature cache);
//! - `chain`: `GET /chain` answers the bytes of `FILE` (the node's own `/chain` answer),
//!   held in memory and sent without a copy.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{StatusCode, header},
    routing::{get, post},
};
use clap::{Parser, ValueEnum};
use gophercoin_core::{Params, RsaVerifier, Verifier as _};
use gophercoin_http::dto::TransactionDto;

/// How much of the node's work the server does for each payment.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Work {
    /// Read the body, answer 201.
    Empty,
    /// Also decode the body into a signed transaction.
    Decode,
    /// Also check the transaction's signature.
    Verify,
    /// Answer `GET /chain` with a file's bytes.
    Chain,
}

/// Serves `POST /transactions/new` on 127.0.0.1 with a given share of the node's work.
#[derive(Parser)]
struct Args {
    /// The port on 127.0.0.1.
    port: u16,
    /// What to do with each request.
    work: Work,
    /// The answer of `chain`.
    #[arg(long, required_if_eq("work", "chain"))]
    chain: Option<std::path::PathBuf>,
}

/// What each request shares.
struct Floor {
    work: Work,
    params: Params,
    verifier: RsaVerifier,
}

async fn payment(State(floor): State<Arc<Floor>>, body: Bytes) -> (StatusCode, String) {
    if let Work::Decode | Work::Verify = floor.work {
        let Ok(dto) = serde_json::from_slice::<TransactionDto>(&body) else {
            return (StatusCode::BAD_REQUEST, "malformed".to_owned());
        };
        let signed = dto.into_signed(floor.params.chain_id);
        if let Work::Verify = floor.work {
            let message = signed.transaction.signing_bytes();
            let checked =
                floor.verifier.verify(&signed.transaction.sender, &message, &signed.signature);
            if checked.is_err() {
                return (StatusCode::BAD_REQUEST, "bad signature".to_owned());
            }
        }
    }
    // The node's answer, of the same length.
    let id = "0".repeat(64);
    (
        StatusCode::CREATED,
        format!(r#"{{"message":"Transaction will be added to Block 203","id":"{id}"}}"#),
    )
}

fn main() -> std::io::Result<()> {
    let Args { port, work, chain } = Args::parse();
    let params = Params::devnet();
    let verifier = gophercoin_http::verifier(&params).without_signature_cache();
    let floor = Arc::new(Floor { work, params, verifier });
    let app = match chain {
        Some(file) => {
            let answer = Bytes::from(std::fs::read(file)?);
            Router::new().route(
                "/chain",
                get(move || {
                    let answer = answer.clone();
                    async move { ([(header::CONTENT_TYPE, "application/json")], answer) }
                }),
            )
        }
        None => Router::new().route("/transactions/new", post(payment)).with_state(floor),
    };
    // As the node's: tokio's multi-threaded runtime, one worker a core it may run on.
    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await
    })
}
