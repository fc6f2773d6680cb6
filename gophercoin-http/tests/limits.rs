//! What one client can hold of a real node on loopback: processing slots, requests and
//! connections per client, and how long a slow or silent connection is kept; and the peer
//! policy applied to host names at registration and when dialled.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::*;
use gophercoin_core::Signer;
use gophercoin_http::PeerPolicy;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A peer that accepts connections and never answers; returns its URL and how many
/// requests for its chain it has received so far (a sync, not the peer network's dial).
async fn silent_peer() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut head = [0u8; 16];
                if socket.read_exact(&mut head).await.is_ok() && head.starts_with(b"GET /chain") {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                // Held open, never answered.
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(socket);
            });
        }
    });
    (url, asked)
}

/// Sends a request's headers and the first byte of a 100-byte body, then nothing more.
async fn trickling_post(address: &str) -> TcpStream {
    let mut slow = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /transactions/new HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow
}

/// A connection from `open` that the node keeps (neither answered nor closed after a
/// moment); one it answers or closes at once is opened again, a bounded number of times.
/// A place freed by a connection the node has just closed may not be free yet, and a
/// request of the same client may have been counted first.
async fn kept<F, Fut>(open: F) -> TcpStream
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = TcpStream>,
{
    for _ in 0..50 {
        let stream = open().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut buf = [0u8; 64];
        match stream.try_read(&mut buf) {
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock) => return stream,
            _ => continue, // answered or closed
        }
    }
    panic!("the node never kept a connection");
}

/// Whether the node closes `stream` within `within` (reads end or fail), sending nothing
/// but perhaps an error status.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_holds_no_slot_and_past_the_in_flight_limit_requests_get_503() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), Some(key("alice").address()));
    config.limits.max_in_flight = 1;
    let node = TestNode::start(config).await;
    let address = node.url.trim_start_matches("http://").to_owned();
    // A client trickling a body holds its connection, not the node's one slot.
    let _slow = trickling_post(&address).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(node.get("/health").await.0, 200);
    // A request being handled does hold it: a resolve waiting on a silent peer.
    let (silent, dialled) = silent_peer().await;
    assert_eq!(node.post("/nodes/register", &json!({ "nodes": [silent] })).await.0, 201);
    let url = node.url.clone();
    let resolving =
        tokio::spawn(async move { client().get(format!("{url}/nodes/resolve")).send().await });
    // Nothing else may ask until the resolve holds the slot, or it would be refused itself.
    eventually("the resolve dials the peer", 100, || async { dialled.load(Ordering::SeqCst) > 0 })
        .await;
    assert_eq!(node.get("/health").await.0, 503);
    let (status, body) = node.get("/chain").await;
    assert_eq!((status, body["error"].as_str()), (503, Some("overloaded")));
    // The resolve ends at the peer timeout (2 s) and frees it.
    let answer = resolving.await.unwrap().unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let answer: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(answer["peers"][0]["outcome"], "rejected", "{answer}");
    assert_eq!(answer["length"], 1);
    eventually("the node recovers", 100, || async { node.get("/health").await.0 == 200 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_gets_429_past_its_requests_in_flight_and_its_connections_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), Some(key("alice").address()));
    config.limits.per_ip_limits_on_loopback = true;
    config.limits.max_in_flight_per_ip = 2;
    config.limits.max_connections_per_ip = 4;
    let node = TestNode::start(config).await;
    let address = node.url.trim_start_matches("http://").to_owned();
    let first = kept(|| trickling_post(&address)).await;
    let second = kept(|| trickling_post(&address)).await;
    let too_many = || async {
        let mut third = TcpStream::connect(&address).await.unwrap();
        let request =
            format!("GET /health HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
        third.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), third.read_to_string(&mut answer)).await;
        answer
    };
    eventually("a third request from the client is refused", 100, || async {
        let answer = too_many().await;
        answer.starts_with("HTTP/1.1 429") && answer.contains("too_many_requests")
    })
    .await;
    drop(first);
    eventually("a finished request frees its place", 100, || async {
        too_many().await.starts_with("HTTP/1.1 200")
    })
    .await;
    // Connections: `second` and three idle ones fill the client's four; a fifth is closed
    // at once, before it is read; closing one lets the next in.
    let mut idle = vec![];
    for _ in 0..3 {
        idle.push(kept(|| async { TcpStream::connect(&address).await.unwrap() }).await);
    }
    let mut fifth = TcpStream::connect(&address).await.unwrap();
    assert!(closed_within(&mut fifth, Duration::from_secs(2)).await, "the fifth is closed");
    drop(second);
    eventually("a closed connection frees its place", 100, || async {
        too_many().await.starts_with("HTTP/1.1 200")
    })
    .await;
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_connections_are_closed_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), Some(key("alice").address()));
    config.limits.header_timeout = Duration::from_millis(500);
    let node = TestNode::start(config).await;
    let address = node.url.trim_start_matches("http://").to_owned();
    // A header line now and then, never the end of the headers.
    let mut slowloris = TcpStream::connect(&address).await.unwrap();
    slowloris
        .write_all(format!("GET /health HTTP/1.1\r\nhost: {address}\r\n").as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = async {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slowloris.write_all(format!("x-{i}: y\r\n").as_bytes()).await.is_err() {
                break;
            }
        }
    };
    trickle.await;
    assert!(closed_within(&mut slowloris, Duration::from_secs(3)).await);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // A keep-alive connection left idle after its request is closed too.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(format!("GET /health HTTP/1.1\r\nhost: {address}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await, "the idle one is closed");
    // Honest requests are answered throughout.
    assert_eq!(node.get("/health").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_of_this_machine_are_refused_as_peers_at_registration_and_at_start() {
    // A peer that counts connections: under the public policy it must never be dialled.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dialled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&dialled);
    tokio::spawn(async move {
        while let Ok(_socket) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut open = config(dir.path(), Some(key("alice").address()));
    let node = TestNode::start(open.clone()).await;
    // A local network takes `localhost` (it resolves to loopback, which it allows).
    let name = format!("http://localhost:{port}");
    assert_eq!(node.post("/nodes/register", &json!({ "nodes": [name] })).await.0, 201);
    // ... and dials it.
    eventually("the peer is dialled", 100, || async {
        dialled.load(std::sync::atomic::Ordering::SeqCst) > 0
    })
    .await;
    node.stop().await;
    dialled.store(0, std::sync::atomic::Ordering::SeqCst);

    open.limits.peer_policy = PeerPolicy::PublicOnly;
    let node = TestNode::start(open).await;
    for refused in [
        format!("http://localhost:{port}"),
        format!("http://localhost.:{port}"),
        format!("http://ip6-localhost:{port}"),
        format!("http://a.localhost:{port}"),
    ] {
        let (status, body) = node.post("/nodes/register", &json!({ "nodes": [refused] })).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("bad_peer_url")), "{body}");
    }
    // The stored `localhost` peer from before is not used under the stricter policy
    // (the peer client's own check when it dials is a unit test of `peers`).
    assert_eq!(node.get("/nodes/get").await.1["nodes"], json!([]));
    let (status, answer) = node.get("/nodes/resolve").await;
    assert_eq!(status, 200);
    assert_eq!(answer["peers"], json!([]), "{answer}");
    assert_eq!(dialled.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_gets_429_past_its_share_of_bodies_arriving() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), Some(key("alice").address()));
    config.limits.per_ip_limits_on_loopback = true;
    config.limits.max_body_bytes_per_ip = 150;
    let node = TestNode::start(config).await;
    let address = node.url.trim_start_matches("http://").to_owned();
    // 100 declared bytes arriving slowly hold 100 of the client's 150.
    let slow = trickling_post(&address).await;
    eventually("a second body of 100 bytes is refused", 100, || async {
        let (status, body) = node
            .post(
                "/nodes/register",
                &json!({ "nodes": ["http://127.0.0.1:9"], "pad": "x".repeat(40) }),
            )
            .await;
        status == 429 && body["error"] == "too_many_requests"
    })
    .await;
    // A small one still fits, and the share comes back when the slow body is gone.
    let (status, _) = node.get("/health").await;
    assert_eq!(status, 200);
    drop(slow);
    eventually("the share is back", 100, || async {
        let body = json!({ "nodes": ["http://127.0.0.1:9"], "pad": "x".repeat(40) });
        node.post("/nodes/register", &body).await.0 != 429
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_answers_share_one_pace_while_other_requests_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), Some(key("alice").address()));
    config.limits.chain_send_rate = 5_000;
    let node = TestNode::start(config).await;
    for _ in 0..3 {
        node.mine().await;
    }
    let whole = client().get(format!("{}/chain", node.url)).send().await.unwrap();
    let whole = whole.bytes().await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&whole).expect("the chain's JSON");
    assert_eq!(answer["length"], 4);
    let four_at_once = || async {
        let started = Instant::now();
        let answers: Vec<_> = (0..4)
            .map(|_| {
                let url = format!("{}/chain", node.url);
                tokio::spawn(async move { client().get(url).send().await.unwrap().bytes().await })
            })
            .collect();
        for answer in answers {
            assert_eq!(answer.await.unwrap().unwrap(), whole, "every answer is whole");
        }
        started.elapsed()
    };
    let paced = Duration::from_secs_f64(3.0 * whole.len() as f64 / 5_000.0);

    // While another client is being served (a payment whose body never ends, held by the
    // node until its body deadline): one answer goes out at once, each of the others
    // waits for the ones before it, so the last ends no sooner than three answers' worth
    // of the pace.
    let address = node.url.trim_start_matches("http://").to_owned();
    let slow = kept(|| trickling_post(&address)).await;
    let took = four_at_once().await;
    drop(slow);
    assert!(
        took >= paced.mul_f64(0.9),
        "{} bytes four times took {took:?}, under {paced:?}",
        whole.len()
    );

    // Nobody else asking (past the 100 ms the pace outlasts the last request, the slow
    // payment's connection closed): the answers go at full speed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = four_at_once().await;
    assert!(took < paced / 2, "{} bytes four times took {took:?}, unpaced", whole.len());
}
