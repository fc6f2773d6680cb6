//! `GET /events`: what happens in the node, live, as Server-Sent Events.
//!
//! Each event has a type (the SSE `event:` field) and a JSON body (`data:`):
//!
//! | type | data | when |
//! |---|---|---|
//! | `tip` | `{hash, height}` | the main chain has a new tip |
//! | `block_connected` | `{hash, height}` | a block joined the main chain |
//! | `block_disconnected` | `{hash, height}` | a block left it in a reorganisation |
//! | `transaction` | `{id}` | a transaction is pending: accepted, or back from a disconnected block |
//! | `transaction_dropped` | `{id}` | it left the mempool: mined, no longer valid at a new tip, or evicted |
//! | `peer_connected` | `{peer, direction, address}` | a peer connection is up (`inbound`/`outbound`) |
//! | `peer_gone` | `{peer}` | it is down |
//! | `reset` | `{reason}` | events were missed (the client's `Last-Event-ID` is not in the window, or is from an earlier run), or a store write failed so what was reported may not be kept: fetch the state again |
//!
//! Block and transaction events are published once what they report is on disk, in the
//! order the core made them. Every event has an id (`RUN-SEQ`); a client that reconnects
//! with `Last-Event-ID` is sent the events after it from the last [`WINDOW`], then the new
//! ones. A subscriber is bounded: past that replay (shared, already kept), it holds at
//! most [`BACKLOG`] events not yet sent, and one further behind is dropped (it may
//! reconnect and resume), so a slow reader never slows the node; at most
//! [`MAX_SUBSCRIBERS`] subscribe at once.

use std::{
    collections::VecDeque,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use axum::response::sse::Event as SseEvent;
use futures_util::{Stream, StreamExt as _, stream};
use tokio::sync::{Semaphore, broadcast};

pub(crate) use crate::dto::LiveEvent;

/// How many recent events are kept for clients that resume.
pub(crate) const WINDOW: usize = 1024;

/// How many events one subscriber may be behind before it is dropped.
pub(crate) const BACKLOG: usize = 256;

/// How many clients may subscribe at once.
pub(crate) const MAX_SUBSCRIBERS: usize = 256;

/// One published event: its sequence number, type and JSON, shared by every subscriber.
/// The JSON is made when a subscriber is first sent it, so a node nobody follows never
/// encodes its events.
#[derive(Debug)]
struct Published {
    seq: u64,
    event: LiveEvent,
    data: std::sync::OnceLock<String>,
}

impl Published {
    fn data(&self) -> &str {
        // An event is a few numbers, hashes and names: its encoding does not fail.
        self.data.get_or_init(|| self.event.data())
    }
}

/// Why a subscription was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SubscribeError {
    /// [`MAX_SUBSCRIBERS`] clients are subscribed already.
    #[error("{0} clients are following events already; try again later")]
    Full(usize),
}

/// The events of one node run: the recent window, and the channel to subscribers.
#[derive(Debug)]
pub(crate) struct EventHub {
    run: u64,
    recent: Mutex<Recent>,
    sender: broadcast::Sender<Arc<Published>>,
    subscribers: Arc<Semaphore>,
    max_subscribers: usize,
    window: usize,
    /// Set when the node stops: every stream ends, so no subscriber holds up the drain.
    closed: tokio::sync::watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct Recent {
    next: u64,
    events: VecDeque<Arc<Published>>,
}

impl EventHub {
    /// A hub for the run `run` (a number that differs between runs, so an id from an
    /// earlier run is not mistaken for one of this), with the default bounds.
    pub(crate) fn new(run: u64) -> Self {
        EventHub::with_bounds(run, WINDOW, BACKLOG, MAX_SUBSCRIBERS)
    }

    /// A hub keeping `window` recent events, letting a subscriber be `backlog` behind,
    /// for at most `max_subscribers` at once.
    pub(crate) fn with_bounds(
        run: u64,
        window: usize,
        backlog: usize,
        max_subscribers: usize,
    ) -> Self {
        EventHub {
            run,
            recent: Mutex::default(),
            sender: broadcast::channel(backlog.max(1)).0,
            subscribers: Arc::new(Semaphore::new(max_subscribers)),
            max_subscribers,
            window: window.max(1),
            closed: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Ends every subscriber's stream, and any made later (the node is stopping).
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many events have been published.
    #[cfg(test)]
    pub(crate) fn published(&self) -> u64 {
        self.recent().next
    }

    /// Publishes events, in order, to every subscriber; never waits for one.
    pub(crate) fn publish(&self, events: impl IntoIterator<Item = LiveEvent>) {
        let mut recent = self.recent();
        for event in events {
            let published =
                Arc::new(Published { seq: recent.next, event, data: std::sync::OnceLock::new() });
            recent.next += 1;
            if recent.events.len() == self.window {
                recent.events.pop_front();
            }
            recent.events.push_back(Arc::clone(&published));
            // Under the lock, so a subscription sees each event once: in its replay or live.
            let _ = self.sender.send(published);
        }
    }

    /// Follows the events after `last_event_id` (an SSE `Last-Event-ID`; `None` for only
    /// new ones). The stream ends when the subscriber falls [`BACKLOG`] events behind.
    ///
    /// # Errors
    ///
    /// [`SubscribeError::Full`] at [`MAX_SUBSCRIBERS`].
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        last_event_id: Option<&str>,
    ) -> Result<impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static, SubscribeError>
    {
        let permit = Arc::clone(&self.subscribers)
            .try_acquire_owned()
            .map_err(|_| SubscribeError::Full(self.max_subscribers))?;
        let recent = self.recent();
        let receiver = self.sender.subscribe();
        let oldest = recent.events.front().map_or(recent.next, |event| event.seq);
        let (reset, replay): (Option<&str>, Vec<Arc<Published>>) = match last_event_id {
            None => (None, vec![]),
            Some(id) => match self.parse_id(id) {
                // Resumable: everything after it is still in the window.
                Some(seq) if seq.saturating_add(1) >= oldest && seq < recent.next => {
                    (None, recent.events.iter().filter(|e| e.seq > seq).cloned().collect())
                }
                Some(seq) if seq >= recent.next => {
                    (Some("the event id is one this node has not given yet"), vec![])
                }
                Some(_) => (Some("events were missed: older than the window"), vec![]),
                None => (Some("the event id is from another run of the node"), vec![]),
            },
        };
        drop(recent);
        let run = self.run;
        let first = reset.map(|reason| {
            let data = serde_json::json!({ "reason": reason }).to_string();
            Ok(SseEvent::default().event("reset").data(data))
        });
        let replayed = replay.into_iter().map(move |event| Ok(to_sse(run, &event)));
        let closed = self.closed.subscribe();
        let state = (receiver, permit, closed);
        let live = stream::unfold(state, move |(mut receiver, permit, mut closed)| async move {
            if *closed.borrow_and_update() {
                return None;
            }
            tokio::select! {
                received = receiver.recv() => match received {
                    Ok(event) => Some((Ok(to_sse(run, &event)), (receiver, permit, closed))),
                    // Too far behind: the stream ends (and with it the subscriber's place).
                    Err(_) => None,
                },
                // The node is stopping.
                _ = closed.changed() => None,
            }
        });
        Ok(stream::iter(first).chain(stream::iter(replayed)).chain(live))
    }

    /// The sequence number of an id of this run (`RUN-SEQ`, hex run).
    fn parse_id(&self, id: &str) -> Option<u64> {
        let (run, seq) = id.trim().split_once('-')?;
        (u64::from_str_radix(run, 16).ok()? == self.run).then_some(())?;
        seq.parse().ok()
    }
}

fn to_sse(run: u64, event: &Published) -> SseEvent {
    SseEvent::default()
        .id(format!("{run:x}-{}", event.seq))
        .event(event.event.kind())
        .data(event.data())
}

#[cfg(test)]
mod tests {
    use gophercoin_core::{BlockHash, TxId};

    use super::*;

    /// Every event's data is its fields in their order, as `/events` has always sent
    /// them, and reads back as the same event.
    #[test]
    fn events_are_written_as_their_fields_and_read_back() {
        let hash = BlockHash::from_bytes([0xab; 32]);
        let id = TxId::from_bytes([0xcd; 32]);
        let cases = [
            (LiveEvent::Tip { hash, height: 5 }, format!(r#"{{"hash":"{hash}","height":5}}"#)),
            (
                LiveEvent::BlockDisconnected { hash, height: 4 },
                format!(r#"{{"hash":"{hash}","height":4}}"#),
            ),
            (LiveEvent::TransactionDropped { id }, format!(r#"{{"id":"{id}"}}"#)),
            (LiveEvent::Reset { reason: "why".into() }, r#"{"reason":"why"}"#.to_owned()),
            (
                LiveEvent::PeerConnected {
                    peer: 3,
                    direction: crate::dto::PeerDirection::Outbound,
                    address: None,
                },
                r#"{"peer":3,"direction":"outbound","address":null}"#.to_owned(),
            ),
            (LiveEvent::PeerGone { peer: 3 }, r#"{"peer":3}"#.to_owned()),
        ];
        for (event, data) in cases {
            assert_eq!(event.data(), data, "{event:?}");
            assert_eq!(LiveEvent::from_sse(event.kind(), &data).unwrap(), event);
        }
        // The type decides which event the fields make.
        let block_connected = LiveEvent::from_sse("block_connected", r#"{"hash":"00","height":1}"#);
        assert!(block_connected.is_err(), "a hash of one byte");
        assert!(LiveEvent::from_sse("tip_of_the_day", r#"{"peer":3}"#).is_err());
    }

    fn tip(height: u64) -> LiveEvent {
        LiveEvent::Tip { hash: BlockHash::from_bytes([height as u8; 32]), height }
    }

    /// What a subscriber has been sent so far, as (id, type, data) lines of SSE text.
    async fn take(
        stream: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
        n: usize,
    ) -> Vec<String> {
        let body = axum::response::Sse::new(stream.take(n));
        let response = axum::response::IntoResponse::into_response(body);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .split("\n\n")
            .filter(|event| !event.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn a_subscriber_gets_new_events_in_order_with_ids() {
        let hub = Arc::new(EventHub::new(0xab));
        let stream = hub.subscribe(None).unwrap();
        hub.publish([tip(1), LiveEvent::Transaction { id: TxId::from_bytes([7; 32]) }]);
        let events = take(stream, 2).await;
        assert!(events[0].contains("id: ab-0") && events[0].contains("event: tip"), "{events:?}");
        assert!(events[0].contains(r#""height":1"#), "{events:?}");
        assert!(events[1].contains("id: ab-1") && events[1].contains("event: transaction"));
    }

    #[tokio::test]
    async fn a_client_resumes_after_its_last_event_within_the_window() {
        let hub = Arc::new(EventHub::with_bounds(1, 4, 16, 4));
        hub.publish((1..=6).map(tip));
        // Seen up to seq 3 (height 4): 4 and 5 are still kept.
        let events = take(hub.subscribe(Some("1-3")).unwrap(), 2).await;
        assert!(events[0].contains("id: 1-4") && events[1].contains("id: 1-5"), "{events:?}");
        // Seq 0 is older than the window (2..=5): a reset first.
        let events = take(hub.subscribe(Some("1-0")).unwrap(), 1).await;
        assert!(events[0].contains("event: reset"), "{events:?}");
        // An id not given yet: a reset, not a silent wait.
        let events = take(hub.subscribe(Some("1-99")).unwrap(), 1).await;
        assert!(events[0].contains("event: reset") && events[0].contains("not given yet"));
        // Another run's id: a reset too.
        let events = take(hub.subscribe(Some("2-5")).unwrap(), 1).await;
        assert!(events[0].contains("event: reset"), "{events:?}");
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_dropped_and_subscribers_are_bounded() {
        let hub = Arc::new(EventHub::with_bounds(1, 8, 4, 2));
        let slow = hub.subscribe(None).unwrap();
        let _other = hub.subscribe(None).unwrap();
        assert_eq!(hub.subscribe(None).err(), Some(SubscribeError::Full(2)));
        // Ten events while the slow one reads nothing: publishing never waits for it.
        hub.publish((1..=10).map(tip));
        let events = take(slow, usize::MAX).await;
        assert!(events.is_empty(), "dropped without what it missed: {events:?}");
        // Its place is free again.
        assert!(hub.subscribe(None).is_ok());
    }

    #[tokio::test]
    async fn closing_the_hub_ends_every_stream() {
        let hub = Arc::new(EventHub::new(1));
        let before = hub.subscribe(None).unwrap();
        hub.close();
        let after = hub.subscribe(None).unwrap();
        assert!(take(before, usize::MAX).await.is_empty());
        assert!(take(after, usize::MAX).await.is_empty());
    }
}
