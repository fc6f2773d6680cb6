//! # gophercoin-http
//!
//! The HTTP adapter of GopherCoin: the node API (the original teaching node's routes, kept
//! path for path, and more), the wallet service, the peer client and durable storage. It
//! translates requests into calls on [`gophercoin_core::Node`] and the node's events into
//! responses, store writes and pushes to peers; every consensus rule is the core's.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use gophercoin_http::{NodeConfig, serve_node};
//!
//! let config = NodeConfig::new("127.0.0.1:5000".parse()?, "gophercoin-data");
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! serve_node(config, listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod config;
pub mod dto;
pub mod error;
mod extract;
pub mod miner;
mod openapi;
pub mod peers;
mod portal;
pub mod relay;
mod routes;
pub mod state;
pub mod store;

use axum::serve::ListenerExt as _;
use std::{future::Future, sync::Arc};

pub use crate::{
    config::{ForkChoiceKind, Limits, NodeConfig},
    error::ApiError,
    routes::{router, wallet_router},
    state::{AppState, StartError},
};

/// The header a node sends with relayed blocks: its own URL, so a receiver that lacks the
/// block's parent can fetch it (only from registered peers).
pub const ORIGIN_HEADER: &str = "x-gophercoin-origin";

/// Opens the node's data and serves the node API on `listener` until `shutdown`
/// completes; in-flight requests finish, and every acknowledged block is already stored.
///
/// # Errors
///
/// [`StartError`] if the data can't be opened (a damaged store, an invalid stored chain,
/// a bad wallet key, a bad peer URL), or the server's IO error.
pub async fn serve_node(
    mut config: NodeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    config.listen = listener.local_addr().map_err(|source| StartError::Io {
        what: "cannot read the listening address".into(),
        source,
    })?;
    let peers = config.peers.clone();
    // redb panics on some kinds of damage; a panic while opening is a damaged store.
    let state =
        tokio::task::spawn_blocking(move || AppState::open(config)).await.map_err(|e| {
            StartError::Store(store::StoreError::Corrupt(match e.try_into_panic() {
                Ok(panic) => panic_message(panic.as_ref()),
                Err(e) => e.to_string(),
            }))
        })??;
    if !peers.is_empty() {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let reports = relay::resolve(&state).await;
            tracing::info!(?reports, "synced with configured peers");
        });
    }
    tracing::info!(listen = %state.config.listen, height = state.node().height(), "node serving");
    axum::serve(listener.tap_io(no_delay), router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| StartError::Io { what: "server".into(), source })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unreadable data".to_owned())
}

/// Serves the wallet service on `listener` until `shutdown` completes.
///
/// # Errors
///
/// The server's IO error.
pub async fn serve_wallet(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener.tap_io(no_delay), wallet_router()).with_graceful_shutdown(shutdown).await
}

/// Sends each answer as soon as it is written: with Nagle's algorithm on, an answer that
/// follows one not yet acknowledged waits for the client's delayed ACK.
fn no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
}
