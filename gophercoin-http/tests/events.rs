//! `GET /events`: Server-Sent Events read by an SSE client, in order, after the store
//! writes they report, resumable by `Last-Event-ID`.

mod common;

use std::time::Duration;

use common::*;
use eventsource_stream::{Event, Eventsource as _};
use futures_util::{Stream, StreamExt as _};
use gophercoin_http::dto::TransactionDto;
use serde_json::Value;

async fn follow(
    node: &TestNode,
    last_event_id: Option<&str>,
) -> impl Stream<Item = Event> + Unpin + use<> {
    let mut request = client().get(format!("{}/events", node.url));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    Box::pin(response.bytes_stream().eventsource().map(|event| event.unwrap()))
}

/// The next `n` events, within 10 s.
async fn next(events: &mut (impl Stream<Item = Event> + Unpin), n: usize) -> Vec<Event> {
    let mut got = vec![];
    while got.len() < n {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events within 10 s: {got:?}", got.len()))
            .expect("the stream goes on");
        got.push(event);
    }
    got
}

fn data(event: &Event) -> Value {
    serde_json::from_str(&event.data).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_and_transactions_are_pushed_and_a_client_resumes_where_it_left() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (key("alice"), key("bob"));
    let node = TestNode::start(config(dir.path(), Some(address(&alice)))).await;
    let mut events = follow(&node, None).await;

    let mined = node.mine().await;
    let got = next(&mut events, 2).await;
    let kinds: Vec<&str> = got.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["block_connected", "tip"]);
    assert_eq!(data(&got[1])["hash"], mined["hash"]);
    assert_eq!(data(&got[1])["height"], 1);

    let payment = pay(&alice, &bob, 5, 0);
    let body = serde_json::to_value(TransactionDto::from_signed(&payment)).unwrap();
    assert_eq!(node.post("/transactions/new", &body).await.0, 201);
    let got = next(&mut events, 1).await;
    assert_eq!(got[0].event, "transaction");
    assert_eq!(data(&got[0])["id"], payment.id().to_string());

    // Dropped after the transaction; two more blocks meanwhile.
    let seen = got[0].id.clone();
    drop(events);
    node.mine().await;
    node.mine().await;
    // Resumed: what came after its last event, then new ones; block 2 mined the payment,
    // which left the mempool.
    let mut resumed = follow(&node, Some(&seen)).await;
    let got = next(&mut resumed, 5).await;
    let shown: Vec<(String, Value)> = got
        .iter()
        .map(|e| {
            let data = data(e);
            let what = if e.event == "transaction_dropped" {
                data["id"].clone()
            } else {
                data["height"].clone()
            };
            (e.event.clone(), what)
        })
        .collect();
    let dropped = ("transaction_dropped".to_owned(), Value::from(payment.id().to_string()));
    let blocks: Vec<_> = shown.iter().filter(|event| **event != dropped).cloned().collect();
    assert_eq!(
        blocks,
        [
            ("block_connected".into(), 2.into()),
            ("tip".into(), 2.into()),
            ("block_connected".into(), 3.into()),
            ("tip".into(), 3.into())
        ],
        "{shown:?}"
    );
    let at =
        shown.iter().position(|event| *event == dropped).expect("the payment left the mempool");
    assert!((1..=2).contains(&at), "after block 2 joined, before block 3: {shown:?}");
    // Ids rise one by one from the one it gave.
    let (run, seq) = seen.split_once('-').unwrap();
    let seq: u64 = seq.parse().unwrap();
    for (i, event) in got.iter().enumerate() {
        assert_eq!(event.id, format!("{run}-{}", seq + 1 + i as u64));
    }
    // An id this run never gave: a reset, so the client knows to fetch the state again.
    let mut stale = follow(&node, Some("0-5")).await;
    let got = next(&mut stale, 1).await;
    assert_eq!(got[0].event, "reset");
    node.stop().await;
}
