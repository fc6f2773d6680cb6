//! What one request may hold, beyond the connection layer's bounds
//! ([`crate::server`]): requests in flight per client, request bodies received in full
//! (under a deadline and a memory budget) before a request takes a processing slot, and the
//! processing slots themselves, shared by all routes or kept small for expensive ones; and
//! the pace at which chain answers are sent, all of them together.

use std::{future::Ready, sync::Arc, time::Duration};

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

use crate::{
    config::Limits,
    error::ApiError,
    server::{ClientAddr, PerClient},
};

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

/// Middleware: refuses a request with 429 while its client has
/// [`Limits::max_in_flight_per_ip`] others in flight (bodies still arriving included).
pub(super) async fn per_client(
    State(requests): State<Arc<PerClient>>,
    request: Request,
    next: Next,
) -> Response {
    let client = request.extensions().get::<ClientAddr>().map(|ClientAddr(addr)| addr.ip());
    match client.map(|client| requests.enter(client, 1)).transpose() {
        Ok(counted) => {
            let response = next.run(request).await;
            drop(counted);
            response
        }
        Err(()) => ApiError::too_many_requests(format!(
            "at most {} requests from one address at a time",
            requests.max
        ))
        .into_response(),
    }
}

/// The memory budgets and deadline for receiving request bodies: one budget for block
/// bodies and one for the rest (half of [`Limits::max_body_buffer_bytes`] each, so block
/// bodies cannot starve payments), and a share per client
/// ([`Limits::max_body_bytes_per_ip`]).
#[derive(Clone, Debug)]
pub(super) struct Bodies {
    blocks: Arc<Semaphore>,
    others: Arc<Semaphore>,
    per_client: Arc<PerClient>,
    timeout: Duration,
}

impl Bodies {
    pub(super) fn new(limits: &Limits) -> Self {
        let half = (limits.max_body_buffer_bytes / 2).min(Semaphore::MAX_PERMITS);
        Bodies {
            blocks: Arc::new(Semaphore::new(half)),
            others: Arc::new(Semaphore::new(half)),
            per_client: Arc::new(PerClient::new(limits.max_body_bytes_per_ip, limits)),
            timeout: limits.body_timeout,
        }
    }

    /// The state of [`receive_body`] for a route whose bodies are blocks or not, at most
    /// `max_bytes` long.
    pub(super) fn route(&self, blocks: bool, max_bytes: usize) -> ReceiveBody {
        let budget = if blocks { &self.blocks } else { &self.others };
        ReceiveBody {
            budget: Arc::clone(budget),
            per_client: Arc::clone(&self.per_client),
            timeout: self.timeout,
            max_bytes,
        }
    }
}

/// Middleware state: a route's body budget, the clients' shares, and its largest body.
#[derive(Clone, Debug)]
pub(super) struct ReceiveBody {
    budget: Arc<Semaphore>,
    per_client: Arc<PerClient>,
    timeout: Duration,
    max_bytes: usize,
}

/// Middleware: receives a request's whole body before the request goes on to take a
/// processing slot, so a client sending slowly holds only its connection. The body counts
/// its declared length (or the route's limit, if undeclared) against its client's share
/// (else 429) and its route's budget (else 503) while it arrives; it must arrive within
/// [`Limits::body_timeout`] (else 408) and be no larger than the route's limit (else 413).
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
        // Read (and drop) a little of what the client is sending before answering: a
        // connection closed on a client still writing is reset, and the client may lose
        // the answer before it reads it.
        drain(request.into_body()).await;
        return Err(too_large());
    }
    let weight = declared.map_or(route.max_bytes, |length| length as usize);
    let client = request.extensions().get::<ClientAddr>().map(|ClientAddr(addr)| addr.ip());
    let _share =
        client.map(|client| route.per_client.enter(client, weight)).transpose().map_err(|()| {
            ApiError::too_many_requests(format!(
                "at most {} bytes of bodies from one address at a time",
                route.per_client.max
            ))
        })?;
    let permits = u32::try_from(weight).unwrap_or(u32::MAX);
    let _budget = route.budget.try_acquire_many(permits).map_err(|_| {
        ApiError::unavailable("too many request bodies arriving at once; try again")
    })?;
    let (parts, body) = request.into_parts();
    let received = tokio::time::timeout(route.timeout, receive(body, route.max_bytes))
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
    drop((_budget, _share));
    Ok(next.run(Request::from_parts(parts, Body::from(body))).await)
}

/// How much of a refused body [`drain`] reads at most.
const DRAIN_BYTES: usize = 4 * 1024 * 1024;
/// How long [`drain`] reads at most.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Reads and drops up to [`DRAIN_BYTES`] of a body, for at most [`DRAIN_TIME`].
async fn drain(body: Body) {
    let mut chunks = body.into_data_stream();
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut read = 0;
        while let Some(Ok(chunk)) = chunks.next().await {
            read += chunk.len();
            if read > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
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
