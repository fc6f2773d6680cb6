//! `GET /metrics`: a scrape read by a Prometheus text parser shows what the node did.

mod common;

use common::*;
use gophercoin_http::dto::TransactionDto;
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;

async fn scrape(node: &TestNode) -> (String, Scrape) {
    let response = client().get(format!("{}/metrics", node.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "an OpenMetrics exposition ends with # EOF");
    let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap();
    (text, scrape)
}

/// The value of the sample `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let sample = scrape.samples.iter().find(|sample: &&Sample| {
        sample.metric == name
            && labels.iter().all(|(key, wanted)| sample.labels.get(key) == Some(*wanted))
    })?;
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
        Value::Histogram(buckets) => buckets.last().map(|bucket| bucket.count),
        Value::Summary(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_shows_payments_blocks_requests_commits_signatures_and_mining() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (key("alice"), key("bob"));
    let node = TestNode::start(config(dir.path(), Some(address(&alice)))).await;

    let (_, before) = scrape(&node).await;
    assert_eq!(value(&before, "gophercoin_height", &[]), Some(0.0));
    assert_eq!(value(&before, "gophercoin_transactions_accepted_total", &[]), Some(0.0));

    node.mine().await;
    let payment =
        serde_json::to_value(TransactionDto::from_signed(&pay(&alice, &bob, 7, 0))).unwrap();
    assert_eq!(node.post("/transactions/new", &payment).await.0, 201);
    assert_eq!(node.post("/transactions/new", &payment).await.0, 409);
    assert_eq!(node.post("/transactions/new", &json!({"sender": 1})).await.0, 400);
    assert_eq!(node.get("/no/such/route").await.0, 404);
    // Made-up methods share one series: they can't grow the scrape without bound.
    for method in ["FOO1", "FOO2", "FOO3"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        client().request(method, format!("{}/health", node.url)).send().await.unwrap();
    }

    let (text, after) = scrape(&node).await;
    let got = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
    };
    assert_eq!(got("gophercoin_height", &[]), 1.0);
    assert_eq!(got("gophercoin_mempool_transactions", &[]), 1.0);
    assert!(got("gophercoin_mempool_bytes", &[]) > 500.0, "a 2048-bit payment");
    assert!(got("gophercoin_tip_age_seconds", &[]) < 60.0);
    assert_eq!(got("gophercoin_peers", &[("direction", "inbound")]), 0.0);
    assert_eq!(got("gophercoin_transactions_accepted_total", &[]), 1.0);
    assert_eq!(got("gophercoin_transactions_refused_total", &[("kind", "already_known")]), 1.0);
    assert_eq!(got("gophercoin_transactions_refused_total", &[("kind", "malformed")]), 1.0);
    assert_eq!(got("gophercoin_blocks_connected_total", &[]), 1.0);
    assert_eq!(got("gophercoin_blocks_disconnected_total", &[]), 0.0);
    // Histograms: the `_count` series.
    let request = [("method", "POST"), ("route", "/transactions/new"), ("status", "201")];
    assert_eq!(got("gophercoin_http_request_duration_seconds_count", &request), 1.0);
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(got("gophercoin_http_request_duration_seconds_count", &unmatched), 1.0);
    let made_up = [("method", "other"), ("route", "/health")];
    assert_eq!(got("gophercoin_http_request_duration_seconds_count", &made_up), 3.0);
    assert!(!text.contains("FOO"), "{text}");
    // The mined block and the payment, at least (the wallet's own key may add one).
    assert!(got("gophercoin_store_commit_duration_seconds_count", &[]) >= 2.0);
    // The payment's signature, checked once: its second submission found it known.
    assert_eq!(got("gophercoin_signature_checks_total", &[]), 1.0);
    assert_eq!(got("gophercoin_signature_check_duration_seconds_count", &[]), 1.0);
    assert!(got("gophercoin_mining_hashes_total", &[]) >= 1.0);
    assert!(got("gophercoin_mining_hash_rate_hashes_per_second", &[]) > 0.0);
    // Every metric has its help text.
    for name in ["gophercoin_height", "gophercoin_store_commit_duration_seconds"] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has no help in\n{text}");
    }
    node.stop().await;
}
