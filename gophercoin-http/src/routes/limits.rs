//! What one request may hold, beyond the connection layer's bounds
//! ([`crate::server`]): requests in flight per client, request bodies received in full
//! (under a deadline and a memory budget) before a request takes a processing slot, and the
//! processing slots themselves, shared by all routes or kept small for expensive ones.

use std::{
    collections::HashMap,
    future::Ready,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    error_handling::HandleErrorLayer,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures_util::StreamExt as _;
use tokio::sync::Semaphore;
use tower::{
    ServiceBuilder,
    layer::util::{Identity, Stack},
    limit::GlobalConcurrencyLimitLayer,
    load_shed::LoadShedLayer,
};

use crate::{config::Limits, error::ApiError, server::ClientAddr};

/// A pool of processing slots: a request that finds none free is answered 503 at once
/// (queueing it would only make every client wait longer). Clones share the pool.
pub(super) type Slots = ServiceBuilder<
    Stack<GlobalConcurrencyLimitLayer, Stack<LoadShedLayer, Stack<ShedLayer, Identity>>>,
>;

type ShedLayer = HandleErrorLayer<fn(tower::BoxError) -> Ready<ApiError>, ()>;

/// Makes a pool of `size` processing slots.
pub(super) fn slots(size: usize) -> Slots {
    ServiceBuilder::new()
        .layer(HandleErrorLayer::new(overloaded as fn(tower::BoxError) -> Ready<ApiError>))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(size))
}

/// Answers a request shed for want of a slot with 503.
fn overloaded(error: tower::BoxError) -> Ready<ApiError> {
    std::future::ready(if error.is::<tower::load_shed::error::Overloaded>() {
        ApiError::unavailable("too many requests in flight; try again")
    } else {
        ApiError::internal(error.to_string())
    })
}

/// Requests in flight per client.
#[derive(Debug)]
pub(super) struct ClientRequests {
    max: usize,
    loopback_limited: bool,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientRequests {
    pub(super) fn new(limits: &Limits) -> Self {
        ClientRequests {
            max: limits.max_in_flight_per_ip,
            loopback_limited: limits.per_ip_limits_on_loopback,
            counts: Mutex::default(),
        }
    }

    /// Counts a request of `client`'s, or refuses it if the client has its fill.
    fn enter(self: &Arc<Self>, client: IpAddr) -> Result<Option<ClientRequest>, ApiError> {
        let Some(client) = crate::server::client_key(client, self.loopback_limited) else {
            return Ok(None);
        };
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let in_flight = counts.entry(client).or_default();
        if *in_flight >= self.max {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("at most {} requests from one address at a time", self.max),
            ));
        }
        *in_flight += 1;
        Ok(Some(ClientRequest { table: Arc::clone(self), client }))
    }
}

/// One counted request; dropping it frees its place.
#[derive(Debug)]
struct ClientRequest {
    table: Arc<ClientRequests>,
    client: IpAddr,
}

impl Drop for ClientRequest {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(in_flight) = counts.get_mut(&self.client) {
            *in_flight -= 1;
            if *in_flight == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// Middleware: refuses a request with 429 while its client has
/// [`Limits::max_in_flight_per_ip`] others in flight (bodies still arriving included).
pub(super) async fn per_client(
    State(requests): State<Arc<ClientRequests>>,
    request: Request,
    next: Next,
) -> Response {
    let client = request.extensions().get::<ClientAddr>().map(|ClientAddr(addr)| addr.ip());
    match client.map(|client| requests.enter(client)).transpose() {
        Ok(counted) => {
            let response = next.run(request).await;
            drop(counted);
            response
        }
        Err(error) => error.into_response(),
    }
}

/// The memory budget and deadline for receiving request bodies.
#[derive(Clone, Debug)]
pub(super) struct Bodies {
    budget: Arc<Semaphore>,
    timeout: Duration,
}

impl Bodies {
    pub(super) fn new(limits: &Limits) -> Self {
        let bytes = limits.max_body_buffer_bytes.min(Semaphore::MAX_PERMITS);
        Bodies { budget: Arc::new(Semaphore::new(bytes)), timeout: limits.body_timeout }
    }
}

/// Middleware state: the bodies' budget and one route's largest body.
#[derive(Clone, Debug)]
pub(super) struct ReceiveBody {
    pub(super) bodies: Bodies,
    pub(super) max_bytes: usize,
}

/// Middleware: receives a request's whole body before the request goes on to take a
/// processing slot, so a client sending slowly holds only its connection. The body counts
/// its declared length (or the route's limit, if undeclared) against the budget while it
/// arrives; it must arrive within [`Limits::body_timeout`] (else 408) and be no larger than
/// the route's limit (else 413).
pub(super) async fn receive_body(
    State(route): State<ReceiveBody>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is larger than {} bytes", route.max_bytes),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > route.max_bytes as u64) {
        return Err(too_large());
    }
    let weight = declared.map_or(route.max_bytes, |length| length as usize);
    let weight = u32::try_from(weight).unwrap_or(u32::MAX);
    let _budget = route.bodies.budget.try_acquire_many(weight).map_err(|_| {
        ApiError::unavailable("too many request bodies arriving at once; try again")
    })?;
    let (parts, body) = request.into_parts();
    let received = tokio::time::timeout(route.bodies.timeout, receive(body, route.max_bytes))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request took too long (a body sent too slowly?)",
            )
        })?;
    let body = match received {
        Ok(body) => body,
        Err(Received::TooLarge) => return Err(too_large()),
        Err(Received::Broken(error)) => {
            return Err(ApiError::bad_request(
                "malformed",
                format!("could not read the body: {error}"),
            ));
        }
    };
    drop(_budget);
    Ok(next.run(Request::from_parts(parts, Body::from(body))).await)
}

/// Why a body could not be received.
enum Received {
    TooLarge,
    Broken(axum::Error),
}

/// Reads a body of at most `max_bytes` into memory.
async fn receive(body: Body, max_bytes: usize) -> Result<Bytes, Received> {
    let mut chunks = body.into_data_stream();
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = vec![];
    let mut total = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(Received::Broken)?;
        total += chunk.len();
        if total > max_bytes {
            return Err(Received::TooLarge);
        }
        match first.take() {
            None if joined.is_empty() => first = Some(chunk),
            None => joined.extend_from_slice(&chunk),
            Some(earlier) => {
                joined.extend_from_slice(&earlier);
                joined.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(joined)))
}
