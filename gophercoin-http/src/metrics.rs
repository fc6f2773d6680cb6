//! `GET /metrics`: what the node is doing, in the OpenMetrics text format that Prometheus
//! scrapes, through `prometheus-client`.
//!
//! Every name starts with `gophercoin_` and carries its unit (`_seconds`, `_bytes`) and,
//! for counters, `_total`. Counters and histograms are updated where things happen;
//! gauges that describe the node's state (height, tip age, mempool, peers) are read from
//! it at each scrape, so they are never stale.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `gophercoin_height` | gauge | height of the main chain's tip |
//! | `gophercoin_tip_age_seconds` | gauge | now less the tip's timestamp |
//! | `gophercoin_peers{direction}` | gauge | peer connections, `inbound` or `outbound` |
//! | `gophercoin_mempool_transactions` | gauge | pending transactions |
//! | `gophercoin_mempool_bytes` | gauge | their canonical size |
//! | `gophercoin_transactions_accepted_total` | counter | `POST /transactions/new` accepted |
//! | `gophercoin_transactions_refused_total{kind}` | counter | … refused, by the error's `kind` |
//! | `gophercoin_blocks_connected_total` | counter | blocks that joined the main chain |
//! | `gophercoin_blocks_disconnected_total` | counter | blocks that left it in a reorganisation |
//! | `gophercoin_reorg_depth_blocks` | histogram | blocks disconnected by each reorganisation |
//! | `gophercoin_http_request_duration_seconds{method,route,status}` | histogram | from the request to its answer's head (a streamed body's sending not included) |
//! | `gophercoin_store_commit_duration_seconds` | histogram | each store commit, fsync included |
//! | `gophercoin_store_commit_operations` | histogram | the operations each commit holds |
//! | `gophercoin_signature_checks_total` | counter | RSA signatures checked (a cached verdict is not a check) |
//! | `gophercoin_signature_check_duration_seconds` | histogram | each check |
//! | `gophercoin_mining_hashes_total` | counter | header hashes tried by `GET /mine` |
//! | `gophercoin_mining_hash_rate_hashes_per_second` | gauge | the last `GET /mine` search's rate |

use std::{
    sync::{Arc, atomic::AtomicU64},
    time::{Duration, Instant},
};

use gophercoin_core::crypto::{PreparedRsaKey, RsaEngine};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

/// The content type of a scrape: OpenMetrics text 1.0.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a request's duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    /// The HTTP method: `GET`, `POST`, `DELETE`, `HEAD`, `OPTIONS` or `other`.
    pub method: &'static str,
    /// The route's template (`/blocks/{hash}`), or `unmatched`: never the raw path, so
    /// the number of series stays bounded.
    pub route: String,
    /// The answer's status code.
    pub status: u16,
}

/// A refusal's label: the error's `kind` as the API names it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabel {
    /// The error kind (`overdraft`, `replay`, `malformed`, ...).
    pub kind: &'static str,
}

/// A peer connection's direction.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DirectionLabel {
    /// `inbound` or `outbound`.
    pub direction: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The node's metrics (the module docs list them).
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    height: Gauge,
    tip_age: Gauge,
    peers: Family<DirectionLabel, Gauge>,
    mempool_transactions: Gauge,
    mempool_bytes: Gauge,
    /// Transactions accepted by `POST /transactions/new`.
    pub transactions_accepted: Counter,
    /// Transactions refused by `POST /transactions/new`, by kind.
    pub transactions_refused: Family<KindLabel, Counter>,
    blocks_connected: Counter,
    blocks_disconnected: Counter,
    reorg_depth: Histogram,
    requests: HistogramFamily<RequestLabels>,
    store_commit: Histogram,
    store_commit_operations: Histogram,
    signature_checks: Counter,
    signature_check: Histogram,
    mining_hashes: Counter,
    mining_rate: Gauge<f64, AtomicU64>,
}

/// Request and commit durations: 50 µs to about 26 s.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Makes the metrics, all zero, registered under the `gophercoin` prefix.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("gophercoin");
        let metrics = Metrics {
            height: Gauge::default(),
            tip_age: Gauge::default(),
            peers: Family::default(),
            mempool_transactions: Gauge::default(),
            mempool_bytes: Gauge::default(),
            transactions_accepted: Counter::default(),
            transactions_refused: Family::default(),
            blocks_connected: Counter::default(),
            blocks_disconnected: Counter::default(),
            reorg_depth: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            requests: Family::new_with_constructor(latency_buckets as fn() -> Histogram),
            store_commit: latency_buckets(),
            store_commit_operations: Histogram::new(exponential_buckets(1.0, 2.0, 15)),
            signature_checks: Counter::default(),
            // 5 µs to about 5 ms.
            signature_check: Histogram::new(exponential_buckets(0.000_005, 2.0, 11)),
            mining_hashes: Counter::default(),
            mining_rate: Gauge::default(),
            registry: Registry::default(),
        };
        let m = &metrics;
        registry.register("height", "Height of the main chain's tip", m.height.clone());
        registry.register_with_unit(
            "tip_age",
            "Seconds since the tip's timestamp",
            Unit::Seconds,
            m.tip_age.clone(),
        );
        registry.register("peers", "Peer connections by direction", m.peers.clone());
        registry.register(
            "mempool_transactions",
            "Pending transactions",
            m.mempool_transactions.clone(),
        );
        registry.register_with_unit(
            "mempool",
            "Canonical size of the pending transactions",
            Unit::Bytes,
            m.mempool_bytes.clone(),
        );
        registry.register(
            "transactions_accepted",
            "Transactions accepted by POST /transactions/new",
            m.transactions_accepted.clone(),
        );
        registry.register(
            "transactions_refused",
            "Transactions refused by POST /transactions/new, by error kind",
            m.transactions_refused.clone(),
        );
        registry.register(
            "blocks_connected",
            "Blocks that joined the main chain",
            m.blocks_connected.clone(),
        );
        registry.register(
            "blocks_disconnected",
            "Blocks that left the main chain in a reorganisation",
            m.blocks_disconnected.clone(),
        );
        registry.register_with_unit(
            "reorg_depth",
            "Blocks disconnected by each reorganisation",
            Unit::Other("blocks".into()),
            m.reorg_depth.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "From a request to its answer's head, by method, route and status",
            Unit::Seconds,
            m.requests.clone(),
        );
        registry.register_with_unit(
            "store_commit_duration",
            "Each store commit, fsync included",
            Unit::Seconds,
            m.store_commit.clone(),
        );
        registry.register(
            "store_commit_operations",
            "Operations (blocks, pending transactions) each store commit holds",
            m.store_commit_operations.clone(),
        );
        registry.register(
            "signature_checks",
            "RSA signatures checked (a cached verdict is not a check)",
            m.signature_checks.clone(),
        );
        registry.register_with_unit(
            "signature_check_duration",
            "Each RSA signature check",
            Unit::Seconds,
            m.signature_check.clone(),
        );
        registry.register(
            "mining_hashes",
            "Header hashes tried by GET /mine",
            m.mining_hashes.clone(),
        );
        registry.register(
            "mining_hash_rate_hashes_per_second",
            "Hashes a second of the last GET /mine search",
            m.mining_rate.clone(),
        );
        Metrics { registry, ..metrics }
    }

    /// Sets the gauges that describe the node's state, read at a scrape.
    pub(crate) fn set_state(&self, state: &NodeGauges) {
        self.height.set(i64::try_from(state.height).unwrap_or(i64::MAX));
        self.tip_age.set(state.tip_age_secs);
        self.mempool_transactions
            .set(i64::try_from(state.mempool_transactions).unwrap_or(i64::MAX));
        self.mempool_bytes.set(i64::try_from(state.mempool_bytes).unwrap_or(i64::MAX));
        for (direction, count) in [("inbound", state.inbound), ("outbound", state.outbound)] {
            self.peers
                .get_or_create(&DirectionLabel { direction })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// The scrape: every metric in the OpenMetrics text format, ending with `# EOF`.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Counts blocks that joined and left the main chain in one batch of core events; a
    /// batch that disconnected any was one reorganisation that deep.
    pub(crate) fn blocks_moved(&self, connected: u64, disconnected: u64) {
        self.blocks_connected.inc_by(connected);
        if disconnected > 0 {
            self.blocks_disconnected.inc_by(disconnected);
            #[allow(clippy::cast_precision_loss)] // depths are far below 2^52
            self.reorg_depth.observe(disconnected as f64);
        }
    }

    /// Records one request's duration.
    pub(crate) fn request(&self, labels: &RequestLabels, took: Duration) {
        self.requests.get_or_create(labels).observe(took.as_secs_f64());
    }

    /// Records one store commit of `operations` operations.
    pub(crate) fn store_commit(&self, operations: usize, took: Duration) {
        self.store_commit.observe(took.as_secs_f64());
        #[allow(clippy::cast_precision_loss)] // counts are far below 2^52
        self.store_commit_operations.observe(operations as f64);
    }

    /// Records a `GET /mine` search: `hashes` tried in `took`.
    pub(crate) fn mined(&self, hashes: u64, took: Duration) {
        self.mining_hashes.inc_by(hashes);
        if !took.is_zero() {
            #[allow(clippy::cast_precision_loss)] // a rate need not be exact
            self.mining_rate.set(hashes as f64 / took.as_secs_f64());
        }
    }

    /// Wraps a signature engine so that each check it makes is counted and timed here.
    pub(crate) fn counting(self: &Arc<Self>, engine: Arc<dyn RsaEngine>) -> Arc<dyn RsaEngine> {
        Arc::new(CountedEngine { engine, metrics: Arc::clone(self) })
    }
}

/// The node's state as the gauges show it ([`Metrics::set_state`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NodeGauges {
    /// The tip's height.
    pub height: u64,
    /// Now less the tip's timestamp, in seconds (negative if the tip is from the future).
    pub tip_age_secs: i64,
    /// Pending transactions.
    pub mempool_transactions: usize,
    /// Their canonical size in bytes.
    pub mempool_bytes: usize,
    /// Inbound peer connections.
    pub inbound: usize,
    /// Outbound peer connections.
    pub outbound: usize,
}

/// An engine whose checks are counted and timed ([`Metrics::counting`]).
#[derive(Debug)]
struct CountedEngine {
    engine: Arc<dyn RsaEngine>,
    metrics: Arc<Metrics>,
}

impl RsaEngine for CountedEngine {
    fn prepare(&self, spki_der: &[u8], modulus: &[u8]) -> Option<Box<dyn PreparedRsaKey>> {
        let key = self.engine.prepare(spki_der, modulus)?;
        Some(Box::new(CountedKey { key, metrics: Arc::clone(&self.metrics) }))
    }
}

#[derive(Debug)]
struct CountedKey {
    key: Box<dyn PreparedRsaKey>,
    metrics: Arc<Metrics>,
}

impl PreparedRsaKey for CountedKey {
    fn verify_sha256(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        let start = Instant::now();
        let verdict = self.key.verify_sha256(digest, signature);
        self.metrics.signature_check.observe(start.elapsed().as_secs_f64());
        self.metrics.signature_checks.inc();
        verdict
    }
}
