//! The routes of the node API and of the wallet service.

mod explorer;
mod guard;
mod mining;
mod node;
mod wallet;

use std::sync::Arc;

use axum::{
    Router,
    error_handling::HandleErrorLayer,
    extract::{DefaultBodyLimit, Request},
    middleware::Next,
    response::IntoResponse,
    routing::{get, post},
};
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer};

use crate::{error::ApiError, state::AppState};

/// Builds the node API router over shared state.
pub fn router(state: Arc<AppState>) -> Router {
    let limits = state.config.limits.clone();
    let site = Arc::new(guard::Site::new(&state.config));
    let blocks = Router::new()
        .route("/blocks", post(mining::submit_block))
        .route("/mining/submit", post(mining::submit_block))
        .layer(DefaultBodyLimit::max(limits.max_block_body_bytes));
    // Everything that reads a request body, under a deadline.
    let writes = Router::new()
        .route("/transactions/new", post(node::new_transaction))
        .route("/nodes/register", post(node::register))
        .merge(blocks)
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(timed_out))
                .timeout(limits.write_timeout),
        );
    Router::new()
        // The original's routes, same paths, methods and shapes.
        .route("/mine", get(node::mine))
        .route("/chain", get(node::chain))
        .route("/transactions/get", get(node::pending_transactions))
        .route("/nodes/resolve", get(node::resolve))
        .route("/nodes/get", get(node::peers))
        .route("/nodes/{url}", axum::routing::delete(node::unregister))
        // Beyond the original.
        .route("/balance/{address}", get(explorer::balance))
        .route("/blocks/{hash}", get(explorer::block_by_hash))
        .route("/blocks/height/{height}", get(explorer::block_by_height))
        .route("/transactions/{id}", get(explorer::transaction))
        .route("/mempool", get(explorer::mempool))
        .route("/health", get(explorer::health))
        .route("/openapi.json", get(crate::openapi::document))
        .route("/mining/template", get(mining::template))
        // The web portal.
        .route("/", get(crate::portal::index))
        .route("/portal/{file}", get(crate::portal::asset))
        .merge(writes)
        .fallback(not_found)
        // One layer call, so each request passes one boxed wrapper for all of these.
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight))
                .layer(DefaultBodyLimit::max(limits.max_body_bytes)),
        )
        // Outermost: a refused request takes no in-flight slot.
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            let checked = site.check(request.method(), request.uri().path(), request.headers());
            async move {
                match checked {
                    Ok(()) => next.run(request).await,
                    Err(error) => error.into_response(),
                }
            }
        }))
        .with_state(state)
}

/// Requests the wallet service handles at once (key generation is CPU-bound).
const WALLET_MAX_IN_FLIGHT: usize = 16;

/// Builds the wallet service router (`/wallet/new`, `/transactions/generate`).
pub fn wallet_router() -> Router {
    Router::new()
        .route("/wallet/new", get(wallet::new_wallet))
        .route("/transactions/generate", post(wallet::generate))
        .fallback(not_found)
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(WALLET_MAX_IN_FLIGHT))
                .layer(DefaultBodyLimit::max(64 * 1024)),
        )
}

/// Answers requests shed past the in-flight limit with 503. The limit is one semaphore
/// for the whole router (axum applies a layer to each route separately).
async fn overloaded(error: tower::BoxError) -> ApiError {
    if error.is::<tower::load_shed::error::Overloaded>() {
        ApiError::unavailable("too many requests in flight; try again")
    } else {
        ApiError::internal(error.to_string())
    }
}

/// Answers a request that passed its deadline with 408.
async fn timed_out(error: tower::BoxError) -> ApiError {
    if error.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request took too long (a body sent too slowly?)",
        )
    } else {
        ApiError::internal(error.to_string())
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}
