//! The routes of the node API and of the wallet service.

mod explorer;
mod guard;
mod limits;
mod live;
mod mining;
mod node;
mod wallet;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    middleware::Next,
    response::IntoResponse,
    routing::{get, post},
};
use tower_http::compression::{
    CompressionLayer, CompressionLevel,
    predicate::{DefaultPredicate, Predicate},
};

use crate::{error::ApiError, state::AppState};

/// Processing slots of `/mine` (one mines at a time; the others wait their turn).
const MINE_SLOTS: usize = 8;
/// Processing slots of `/nodes/resolve` (concurrent calls share one resolve).
const RESOLVE_SLOTS: usize = 8;
/// Processing slots of block submissions (`/blocks`, `/mining/submit`): each decodes up
/// to a block body and checks its signatures on a thread of its own.
const BLOCK_SLOTS: usize = 8;

/// The gzip level and brotli quality of compressed answers.
const COMPRESSION_LEVEL: i32 = 4;

/// The largest answer compressed. Compressing costs several times what sending costs,
/// so a request for a large answer would otherwise buy far more of the node's time than
/// it does plain; up to this size it is about what the plain answer's send costs.
const COMPRESS_MAX_BYTES: u64 = 1 << 20;

/// Compresses only answers of a known size of at most [`COMPRESS_MAX_BYTES`]: never a
/// streamed whole-chain answer, which comes in gzip of its own, joined from blocks
/// deflated once ([`crate::gzip`]), for a client that takes it.
#[derive(Clone, Copy, Debug)]
struct SmallAndWhole;

impl Predicate for SmallAndWhole {
    fn should_compress<B: axum::body::HttpBody>(&self, response: &axum::http::Response<B>) -> bool {
        response.body().size_hint().exact().is_some_and(|size| size <= COMPRESS_MAX_BYTES)
    }
}

/// Builds the node API router over shared state.
///
/// A request passes, from the outside in: the count of requests being served other than
/// chain answers (which paces the chain answers, [`crate::pacer`]); the time to its
/// answer's head (metrics); the browser guard (a `Host` the node serves, a
/// state change only from its own origin); the per-client limit on requests in flight
/// (429); the answer's compression, if the client asks for it (`Accept-Encoding`: gzip,
/// br) and the answer is built whole and small; for routes with a body, the receipt of the whole body under a deadline and a
/// memory budget (408, 413, 503); a processing slot (503); for an expensive route, one of
/// its own few slots (503); the handler.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let limits = state.config().limits.clone();
    let site = Arc::new(guard::Site::new(state.config()));
    let slots = limits::slots(limits.max_in_flight);
    let bodies = limits::Bodies::new(&limits);
    let receive = |blocks, max_bytes| {
        axum::middleware::from_fn_with_state(bodies.route(blocks, max_bytes), limits::receive_body)
    };
    let block_slots = limits::slots(BLOCK_SLOTS);
    let blocks = Router::new()
        .route("/blocks", post(mining::submit_block).layer(block_slots.clone()))
        .route("/mining/submit", post(mining::submit_block).layer(block_slots))
        .layer(DefaultBodyLimit::max(limits.max_block_body_bytes))
        .layer(slots.clone())
        .layer(receive(true, limits.max_block_body_bytes));
    let writes = Router::new()
        .route("/transactions/new", post(node::new_transaction))
        .route("/nodes/register", post(node::register))
        .layer(slots.clone())
        .layer(receive(false, limits.max_body_bytes));
    let reads = Router::new()
        // The original's routes, same paths, methods and shapes.
        .route("/mine", get(node::mine).layer(limits::slots(MINE_SLOTS)))
        .route("/chain", get(node::chain))
        .route("/transactions/get", get(node::pending_transactions))
        .route("/nodes/resolve", get(node::resolve).layer(limits::slots(RESOLVE_SLOTS)))
        .route("/nodes/get", get(node::peers))
        .route("/nodes/{url}", axum::routing::delete(node::unregister))
        // Beyond the original.
        .route("/balance/{address}", get(explorer::balance))
        .route("/blocks/{hash}", get(explorer::block_by_hash))
        .route("/blocks/height/{height}", get(explorer::block_by_height))
        .route("/transactions/{id}", get(explorer::transaction))
        .route("/transactions/{id}/proof", get(explorer::transaction_proof))
        .route("/mempool", get(explorer::mempool))
        .route("/health", get(explorer::health))
        .route("/metrics", get(explorer::metrics))
        .route("/events", get(live::events))
        .route("/openapi.json", get(crate::openapi::document))
        .route("/mining/template", get(mining::template))
        // The web portal.
        .route("/", get(crate::portal::index))
        .route("/portal/{file}", get(crate::portal::asset))
        .layer(slots);
    let clients = Arc::new(crate::server::PerClient::new(limits.max_in_flight_per_ip, &limits));
    let metrics = Arc::clone(state.metrics());
    let activity = Arc::clone(state.activity());
    Router::new()
        .merge(reads)
        .merge(writes)
        .merge(blocks)
        .fallback(not_found)
        // Compressed for clients that ask (gzip 4, brotli 4: brotli's own default, 11,
        // compresses about a megabyte a second), answers built whole of at most
        // `COMPRESS_MAX_BYTES` only.
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Precise(COMPRESSION_LEVEL))
                .compress_when(DefaultPredicate::new().and(SmallAndWhole)),
        )
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(clients, limits::per_client))
        // Outermost: a refused request takes no place at all.
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            let checked = site.check(request.method(), request.uri().path(), request.headers());
            async move {
                match checked {
                    Ok(()) => next.run(request).await,
                    Err(error) => error.into_response(),
                }
            }
        }))
        // Around all the rest: every request's time to its answer, refused ones too.
        .layer(axum::middleware::from_fn_with_state(metrics, record_request))
        // Requests other than chain answers, counted while they are served: the chain
        // answers are paced only while there are any (`pacer::Activity`).
        .layer(axum::middleware::from_fn_with_state(activity, count_activity))
        .with_state(state)
}

/// Requests the wallet service handles at once (key generation is CPU-bound).
const WALLET_MAX_IN_FLIGHT: usize = 16;

/// Builds the wallet service router (`/wallet/new`, `/transactions/generate`).
pub(crate) fn wallet_router() -> Router {
    Router::new()
        .route("/wallet/new", get(wallet::new_wallet))
        .route("/transactions/generate", post(wallet::generate))
        .fallback(not_found)
        .layer(limits::slots(WALLET_MAX_IN_FLIGHT))
        .layer(DefaultBodyLimit::max(64 * 1024))
}

/// Records how long the request took to its answer's head, by method, route template and
/// status ([`crate::metrics`]).
async fn record_request(
    axum::extract::State(metrics): axum::extract::State<Arc<crate::metrics::Metrics>>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    // A fixed set: a made-up method must not make a series of its own.
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let labels =
        crate::metrics::RequestLabels { method, route, status: response.status().as_u16() };
    metrics.request(&labels, started.elapsed());
    response
}

/// Counts a request other than a chain answer (`/chain`, `/nodes/resolve`) as served
/// until its answer's head is ready: the chain answers are paced while there are any
/// ([`crate::pacer`]).
async fn count_activity(
    axum::extract::State(activity): axum::extract::State<Arc<crate::pacer::Activity>>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    if matches!(request.uri().path(), "/chain" | "/nodes/resolve") {
        return next.run(request).await;
    }
    let _serving = activity.enter();
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}
