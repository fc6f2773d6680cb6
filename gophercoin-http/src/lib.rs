//! # gophercoin-http
//!
//! The HTTP adapter of GopherCoin: the node API (the original teaching node's routes, kept
//! path for path, and more), the wallet service, the peer network (the core's peer
//! protocol over rust-libp2p: TCP, Noise, Yamux), the peer client and durable
//! storage. It translates requests and peers' messages into calls on
//! [`gophercoin_core::Node`] and the node's events into responses, store writes and messages
//! to peers; every consensus rule is the core's.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use gophercoin_http::{NodeConfig, serve_node};
//!
//! let config = NodeConfig::new("127.0.0.1:5000".parse()?, "gophercoin-data");
//! let listener = gophercoin_http::listen(config.listen)?;
//! serve_node(config, listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

#[cfg(feature = "aws-lc")]
pub mod aws_lc;
mod config;
pub mod dto;
mod effects;
mod encoded;
mod error;
mod events;
mod extract;
mod gzip;
mod keyfile;
mod metrics;
mod network;
mod openapi;
mod os;
mod p2p;
mod pacer;
mod peer_url;
mod peers;
mod pending_log;
mod portal;
mod relay;
mod routes;
mod server;
mod state;
pub mod store;
pub mod tls;
mod writer;

use std::{future::Future, sync::Arc};

pub use crate::{
    config::{ForkChoiceKind, Limits, NodeConfig, P2pConfig},
    error::ErrorBody,
    p2p::{KeyError, Multiaddr, Part as MultiaddrPart, TransportError},
    peer_url::{PeerPolicy, PeerUrl, PeerUrlError},
    server::raise_file_limit,
    state::{StartError, check_blocks_in_parallel},
};
use crate::{
    routes::{router, wallet_router},
    state::AppState,
};

/// The signature verifier a node built with these features uses for `params`: the core's
/// [`RsaVerifier`](gophercoin_core::RsaVerifier) with its fixed-limb path, or, with the
/// `aws-lc` feature, with `aws_lc::AwsLc` as its engine.
#[must_use]
pub fn verifier(params: &gophercoin_core::Params) -> gophercoin_core::RsaVerifier {
    let verifier = params.verifier();
    #[cfg(feature = "aws-lc")]
    let verifier = verifier.with_engine(Arc::new(aws_lc::AwsLc));
    verifier
}

/// Opens the node's data and serves the node API on `listener` until `shutdown`
/// completes; in-flight requests finish, and every acknowledged block is already stored.
///
/// # Errors
///
/// [`StartError`] if the network's parameters make no usable network, or the data can't be
/// opened (a damaged store, an invalid stored chain, a bad wallet key, a bad peer URL), or
/// the server's IO error.
pub async fn serve_node(
    mut config: NodeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    config.listen = listener.local_addr().map_err(|source| StartError::Io {
        what: "cannot read the listening address".into(),
        source,
    })?;
    // redb panics on some kinds of damage; a panic while opening is a damaged store.
    let state =
        tokio::task::spawn_blocking(move || AppState::open(config)).await.map_err(|e| {
            StartError::Store(store::StoreError::Corrupt(match e.try_into_panic() {
                Ok(panic) => panic_message(panic.as_ref()),
                Err(e) => e.to_string(),
            }))
        })??;
    // Peers (configured and stored) are dialled, and caught up with, by the protocol.
    let driver = network::Network::start(&state).await?;
    let stopping = Arc::clone(&state);
    tracing::info!(listen = %state.config().listen, height = state.read(|node| node.height()), "node serving");
    let limits = state.config().limits.clone();
    // Event streams never end by themselves: they end as the node stops taking requests,
    // so the drain waits only for requests that finish.
    let events = Arc::clone(state.events());
    let shutdown = async move {
        shutdown.await;
        events.close();
    };
    server::serve(listener, router(state), &limits, shutdown).await;
    // The peer network ends before the node's state does, so that nothing holds the
    // store open once this returns.
    stopping.network().stop();
    if let Some(driver) = driver {
        let _ = driver.await;
    }
    drop(stopping);
    Ok(())
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unreadable data".to_owned())
}

/// Serves the wallet service on `listener` until `shutdown` completes, with the default
/// connection [`Limits`].
pub async fn serve_wallet(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    server::serve(listener, wallet_router(), &Limits::default(), shutdown).await;
}

/// How many connections may wait to be accepted: a burst of clients past the usual 128
/// would have its connection attempts dropped, each retried only a second later.
pub const LISTEN_BACKLOG: u32 = 1024;

/// Binds a TCP listener for [`serve_node`] or [`serve_wallet`], with a backlog of
/// [`LISTEN_BACKLOG`] connections.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let listener = gophercoin_http::listen("127.0.0.1:0".parse().unwrap())?;
/// assert!(listener.local_addr()?.port() > 0);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The IO error of creating, binding or listening on the socket.
///
/// # Panics
///
/// Outside a Tokio runtime: the listener registers with the runtime's reactor.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// More clients than the usual backlog of 128 connect at once to a listener that is
    /// busy (here: not accepting at all): every handshake completes into the queue, none
    /// is dropped to be retried a second later.
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_backlog() {
        let listener = super::listen(([127, 0, 0, 1], 0).into()).expect("a loopback port");
        let addr = listener.local_addr().expect("an address");
        let attempts: Vec<_> = (0..300)
            .map(|_| {
                tokio::spawn(tokio::time::timeout(
                    Duration::from_millis(500),
                    tokio::net::TcpStream::connect(addr),
                ))
            })
            .collect();
        let mut connected = vec![];
        for attempt in attempts {
            match attempt.await.expect("the task ran") {
                Ok(Ok(stream)) => connected.push(stream),
                Ok(Err(error)) => panic!("connect failed: {error}"),
                Err(_) => panic!("a connection attempt waited past 500 ms"),
            }
        }
        assert_eq!(connected.len(), 300);
        drop(listener);
    }
}

/// The crate README's code examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
