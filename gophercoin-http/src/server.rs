//! The connection layer of the node API: accepts TCP connections and serves HTTP/1.1 on
//! each within bounds no client can get past.
//!
//! - Connections are capped in all ([`Limits::max_connections`], kept below the process's
//!   file limit) and per client ([`Limits::max_connections_per_ip`]); a connection past
//!   either cap is closed as soon as it is accepted, before anything is read from it.
//! - A request's headers must arrive within [`Limits::header_timeout`], which is also how
//!   long an idle keep-alive connection waits for its next request (hyper's header-read
//!   timer, which starts whenever the connection waits for a request): a client trickling
//!   header lines (slowloris) or holding idle connections loses them.
//! - What the node sends must be taken within [`Limits::send_timeout`]: a client that stops
//!   reading an answer is dropped, and its answer is not buffered further.
//!
//! Each request carries the client's address as a [`ClientAddr`] extension, which the
//! per-client request limits of the router read.

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{Router, body::Body, extract::Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::{Instant, Sleep},
};
use tower::ServiceExt as _;

use crate::config::Limits;

/// How many streamed whole-chain answers (`/chain`, `/nodes/resolve`) are sent at once.
pub(crate) const MAX_STREAMS: usize = 64;
/// How many of them go to one client at once (else 429), so no client holds them all.
pub(crate) const MAX_STREAMS_PER_CLIENT: usize = 8;
/// How many event streams one client may hold at once (a browser tab holds one).
pub(crate) const MAX_EVENT_STREAMS_PER_CLIENT: usize = 16;

/// The address a request came from, set on every request by the connection layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub SocketAddr);

/// A connection's place in all and its client's place.
type Places = (tokio::sync::OwnedSemaphorePermit, Option<Held>);

/// File descriptors kept free for everything but client connections: the store, peer
/// requests, the listener, logs.
const RESERVED_FILES: u64 = 256;

/// Raises the process's soft limit on open files to its hard limit, so the connection cap
/// is what bounds connections, not `EMFILE` at accept time; returns the new soft limit.
///
/// # Errors
///
/// The OS error of reading or setting the limit.
pub fn raise_file_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The connection cap a node can keep under the current file limit: `wanted`, or the soft
/// file limit less the 256 kept for the store, peers and logs, if that is lower.
pub(crate) fn connection_cap(wanted: usize) -> usize {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => {
            let room = soft.saturating_sub(RESERVED_FILES).max(16);
            wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
        }
        Err(_) => wanted,
    }
}

/// Serves `router` on the connections `listener` accepts until `shutdown` completes, then
/// stops accepting and waits for the open connections to finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let table = ConnectionTable::new(limits);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let send_timeout = limits.send_timeout;
    // Told to every connection at shutdown; closed once all of them have finished.
    let (stopping, stop) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = table.admit(client.ip()) else {
            tracing::debug!(%client, "connection refused: at the connection cap");
            continue; // dropping the stream closes it
        };
        // Each answer goes out as soon as it is written: with Nagle's algorithm on, an
        // answer that follows one not yet acknowledged waits for the client's delayed ACK.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ClientAddr(client));
            router.clone().oneshot(request.map(Body::new))
        });
        let io = TokioIo::new(SendDeadline::new(stream, send_timeout));
        let connection = http.serve_connection(io, service);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stop.changed() => {
                    // Finish the request in flight, take no more.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%client, %error, "connection ended with an error");
            }
            // Its places under the caps, given back.
            drop(slot);
            drop(stop);
        });
    }
    drop(listener);
    drop(stop);
    let _ = stopping.send(());
    stopping.closed().await;
}

/// Waits after a failed `accept`: an error about one connection (reset before it was
/// taken) is passed over at once; running out of files or memory waits a little, so the
/// loop does not spin while the node is at its limit.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::warn!(%error, "accept failed; retrying in 50 ms");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The open connections: in all (a semaphore) and per client ([`PerClient`]).
#[derive(Debug)]
struct ConnectionTable {
    total: Arc<tokio::sync::Semaphore>,
    per_client: Arc<PerClient>,
}

impl ConnectionTable {
    fn new(limits: &Limits) -> Self {
        let total = connection_cap(limits.max_connections);
        ConnectionTable {
            total: Arc::new(tokio::sync::Semaphore::new(total)),
            per_client: Arc::new(PerClient::new(limits.max_connections_per_ip, limits)),
        }
    }

    /// Counts a new connection from `ip`, or returns `None` if it would pass a cap; the
    /// connection holds its places until it is dropped.
    fn admit(&self, ip: IpAddr) -> Option<Places> {
        let total = Arc::clone(&self.total).try_acquire_owned().ok()?;
        let client = self.per_client.enter(ip, 1).ok()?;
        Some((total, client))
    }
}

/// What each client holds of something (requests in flight, bytes of bodies arriving),
/// against a cap per client.
#[derive(Debug)]
pub(crate) struct PerClient {
    pub(crate) max: usize,
    loopback_limited: bool,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl PerClient {
    pub(crate) fn new(max: usize, limits: &Limits) -> Self {
        PerClient {
            max,
            loopback_limited: limits.per_ip_limits_on_loopback,
            counts: Mutex::default(),
        }
    }

    /// Counts `weight` more for `client`, or returns `Err` if that would pass its cap;
    /// `Ok(None)` for a client the caps don't apply to.
    pub(crate) fn enter(
        self: &Arc<Self>,
        client: IpAddr,
        weight: usize,
    ) -> Result<Option<Held>, ()> {
        let Some(client) = client_key(client, self.loopback_limited) else {
            return Ok(None);
        };
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let held = counts.get(&client).copied().unwrap_or(0);
        if held.saturating_add(weight) > self.max {
            return Err(());
        }
        counts.insert(client, held + weight);
        Ok(Some(Held { table: Arc::clone(self), client, weight }))
    }
}

/// What one request holds of a client's share; dropping it gives it back.
#[derive(Debug)]
pub(crate) struct Held {
    table: Arc<PerClient>,
    client: IpAddr,
    weight: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = counts.get_mut(&self.client) {
            *held = held.saturating_sub(self.weight);
            if *held == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// The key per-client limits count under: an IPv4 address, or an IPv6 address's /64 (one
/// host usually holds a whole /64); `None` for loopback unless `loopback_limited`, since
/// loopback clients (the operator's tools, a reverse proxy in front of the node) all share
/// one address.
pub(crate) fn client_key(ip: IpAddr, loopback_limited: bool) -> Option<IpAddr> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() && !loopback_limited {
        return None;
    }
    Some(match ip {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    })
}

/// A TCP stream whose writes fail once the peer has taken nothing for `timeout`: a write
/// that stays blocked (the client's receive window is full because it does not read) for
/// that long ends the connection, so an unread answer is not kept waiting.
#[derive(Debug)]
struct SendDeadline {
    stream: TcpStream,
    timeout: Duration,
    /// Runs while a write is blocked; reset by every write that makes progress.
    blocked: Option<Pin<Box<Sleep>>>,
}

impl SendDeadline {
    fn new(stream: TcpStream, timeout: Duration) -> Self {
        SendDeadline { stream, timeout, blocked: None }
    }

    /// Turns a pending write into a timeout error once it has been blocked too long.
    fn poll_blocked(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let blocked = self
            .blocked
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        ready!(blocked.as_mut().poll(cx));
        Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "the client took nothing for too long"))
    }

    fn progressed<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(result) => {
                self.blocked = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_blocked(cx).map(Err),
        }
    }
}

impl AsyncRead for SendDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.progressed(result, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.progressed(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.stream).poll_flush(cx);
        self.progressed(result, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.progressed(result, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_counted_by_ipv4_address_and_ipv6_prefix() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(client_key(v4, false), Some(v4));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(client_key(mapped, false), Some(v4));
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a, false), client_key(b, false));
        assert_ne!(client_key(a, false), client_key(other, false));
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(client_key(loopback, false), None);
        assert_eq!(client_key(loopback, true), Some(loopback));
        assert_eq!(client_key("::1".parse().unwrap(), false), None);
    }

    /// A client that reads nothing: the node's writes fill the socket buffers, then block,
    /// and fail once blocked for the timeout; a client that reads keeps the stream going.
    #[tokio::test]
    async fn a_write_blocked_past_the_send_timeout_fails() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut server = SendDeadline::new(server, Duration::from_millis(300));
        let chunk = vec![7u8; 64 * 1024];
        let started = Instant::now();
        let mut sent = 0usize;
        let error = loop {
            match server.write_all(&chunk).await {
                Ok(()) => sent += chunk.len(),
                Err(error) => break error,
            }
            assert!(started.elapsed() < Duration::from_secs(10), "writes never blocked");
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(sent > 0, "the buffers took something first");

        // The same with a reader: 64 MiB go through, slow as it may be.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client2 = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut server = SendDeadline::new(server, Duration::from_millis(300));
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0usize;
            while total < 64 << 20 {
                total += client2.read(&mut buf).await.unwrap();
            }
            total
        });
        for _ in 0..1024 {
            server.write_all(&chunk).await.expect("a reading client is kept");
        }
        assert_eq!(reader.await.unwrap(), 64 << 20);
        drop(client);
    }

    #[test]
    fn a_client_share_counts_weights_and_gives_them_back() {
        let shares = Arc::new(PerClient::new(100, &Limits::default()));
        let one: IpAddr = "198.51.100.1".parse().unwrap();
        let held = shares.enter(one, 60).expect("within the share").expect("counted");
        assert!(shares.enter(one, 41).is_err(), "past the share");
        let other = shares.enter("198.51.100.2".parse().unwrap(), 100);
        assert!(other.is_ok_and(|h| h.is_some()), "another client has its own");
        drop(held);
        assert!(shares.enter(one, 100).is_ok_and(|h| h.is_some()), "given back");
        // Loopback is not counted unless asked.
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(shares.enter(loopback, 1_000).is_ok_and(|h| h.is_none()));
        let limits = Limits { per_ip_limits_on_loopback: true, ..Limits::default() };
        let strict = Arc::new(PerClient::new(100, &limits));
        assert!(strict.enter(loopback, 1_000).is_err());
    }

    #[test]
    fn the_table_caps_connections_per_client_and_in_all() {
        let limits = Limits { max_connections: 3, max_connections_per_ip: 2, ..Limits::default() };
        let table = ConnectionTable::new(&limits);
        let one: IpAddr = "198.51.100.1".parse().unwrap();
        let two: IpAddr = "198.51.100.2".parse().unwrap();
        let first = table.admit(one).expect("below both caps");
        let _second = table.admit(one).expect("below both caps");
        assert!(table.admit(one).is_none(), "a third from one client");
        let _third = table.admit(two).expect("another client");
        assert!(table.admit(two).is_none(), "past the total cap");
        drop(first);
        assert!(table.admit(one).is_some(), "a closed one frees its place");
        // Loopback counts only towards the total.
        drop(_third);
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(table.admit(loopback).is_some());
    }
}
