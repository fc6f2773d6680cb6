//! The floor under the node's `POST /transactions/new` figure: a server built from the
//! node's own parts (tokio, hyper through axum, serde_json, the node's verifier) that
//! answers `POST /transactions/new` with what the node answers and does nothing else, so
//! `wrk` measures what HTTP over loopback costs on this machine with and without the
//! signature check. `benches/compare/wrk_floor.py` runs it beside the node.
//!
//! `http_floor PORT empty|decode|verify`
//!
//! - `empty`: reads the body and answers 201;
//! - `decode`: also decodes the body's JSON and hex into a signed transaction;
//! - `verify`: also checks its signature as the node does (`gophercoin_http::verifier`,
//!   the AWS-LC engine with `--features aws-lc`, no signature cache).

use std::sync::Arc;

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
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
}

/// Serves `POST /transactions/new` on 127.0.0.1 with a given share of the node's work.
#[derive(Parser)]
struct Args {
    /// The port on 127.0.0.1.
    port: u16,
    /// What to do with each payment.
    work: Work,
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
            let reps: usize = std::env::var("FLOOR_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
            for _ in 1..reps { let _ = floor.verifier.verify(&signed.transaction.sender, &message, &signed.signature); }
            let checked = floor.verifier.verify(
                &signed.transaction.sender,
                &message,
                &signed.signature,
            );
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
    let Args { port, work } = Args::parse();
    let params = Params::devnet();
    let verifier = gophercoin_http::verifier(&params).without_signature_cache();
    let floor = Arc::new(Floor { work, params, verifier });
    let app = Router::new().route("/transactions/new", post(payment)).with_state(floor);
    // As the node's: tokio's multi-threaded runtime, one worker a core it may run on.
    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await
    })
}
