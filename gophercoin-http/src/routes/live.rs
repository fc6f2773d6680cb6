//! `GET /events`: the node's events as Server-Sent Events ([`crate::events`]).

use std::sync::Arc;

use axum::{
    extract::{Extension, State},
    http::HeaderMap,
    response::{
        IntoResponse, Response,
        sse::{KeepAlive, Sse},
    },
};
use futures_util::StreamExt as _;

use crate::{
    error::ApiError,
    server::{ClientAddr, MAX_EVENT_STREAMS_PER_CLIENT},
    state::AppState,
};

/// `GET /events`: follows the node's events, from after the `Last-Event-ID` header's event
/// if the client sends one (a browser's `EventSource` does when it reconnects). A comment
/// every 15 s keeps the connection open through proxies. Each client may hold
/// [`MAX_EVENT_STREAMS_PER_CLIENT`] (429 past them; places of their own, so open pages
/// never keep a client from downloading the chain); the node a bounded number (503).
pub(super) async fn events(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
) -> Response {
    let client = client.map(|Extension(ClientAddr(addr))| addr.ip());
    let Ok(held) = client.map(|ip| state.event_clients().enter(ip, 1)).transpose() else {
        return ApiError::too_many_requests(format!(
            "at most {MAX_EVENT_STREAMS_PER_CLIENT} event streams to one address at once"
        ))
        .into_response();
    };
    let last_event_id = headers.get("last-event-id").and_then(|value| value.to_str().ok());
    match state.events().subscribe(last_event_id) {
        Ok(stream) => {
            // The client's place is held as long as its stream is.
            let stream = stream.map(move |event| {
                let _place = &held;
                event
            });
            Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
        }
        Err(error) => ApiError::unavailable(error.to_string()).into_response(),
    }
}
