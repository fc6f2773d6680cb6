//! The original's routes: `/mine`, `/chain`, `/transactions/new`, `/transactions/get`,
//! `/nodes/register`, `/nodes/resolve`, `/nodes/get`.

use std::sync::{Arc, atomic::AtomicU64};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{Extension, Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use gophercoin_core::{Block, BlockOutcome, CheckedBlock, ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    dto::{
        BlockDto, MinedAnswer, NewTransaction, PeersAnswer, QueuedAnswer, ResolveOutcome,
        TransactionDto,
    },
    error::ApiError,
    extract::JsonBody,
    gzip,
    peers::{PAGE_BLOCKS, PeerUrl, PeerUrlError},
    relay,
    server::{ClientAddr, MAX_STREAMS_PER_CLIENT},
    state::AppState,
};

/// How many times `/mine` starts over when another block took the tip while it mined.
const MINE_ATTEMPTS: usize = 5;
/// Nonces tried between checks that the template is still on our tip.
const MINE_CHUNK: u64 = 1 << 20;

/// `GET /mine`: mines the pending transactions into a block paying this node's wallet.
pub(super) async fn mine(
    State(state): State<Arc<AppState>>,
) -> Result<Json<MinedAnswer>, ApiError> {
    let _one_at_a_time = state.mining().lock().await;
    for _ in 0..MINE_ATTEMPTS {
        let template = state.read(|node| node.block_template(state.miner(), crate::os::now()))?;
        let prev = template.header.prev;
        let state_for_search = Arc::clone(&state);
        let threads = state.config().mine_threads;
        let solved = tokio::task::spawn_blocking(move || {
            // Someone else extending the chain makes this template stale: start over.
            let stale = || state_for_search.read(|node| node.tip().hash()) != prev;
            let hashes = AtomicU64::new(0);
            let header = template.header;
            let started = std::time::Instant::now();
            let solved =
                gophercoin_miner::search_on_threads(header, threads, MINE_CHUNK, &stale, &hashes);
            let tried = hashes.load(std::sync::atomic::Ordering::Relaxed);
            state_for_search.metrics().mined(tried, started.elapsed());
            solved.map(|header| Block { header, ..template })
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
        let Some(block) = solved else { continue };
        let outcome = state.apply(|node, now| node.handle_block(block.clone(), now)).await;
        match outcome {
            Ok(BlockOutcome::Extended { .. } | BlockOutcome::Reorganized { .. }) => {
                let shown = BlockDto::from_block(&block);
                return Ok(Json(MinedAnswer {
                    message: "New Block Forged!".to_owned(),
                    index: shown.index,
                    transactions: shown.transactions,
                    proof: shown.nonce,
                    previous_hash: shown.previous_hash,
                    hash: shown.hash,
                    nonce: shown.nonce,
                    target: shown.target,
                    timestamp: shown.timestamp,
                }));
            }
            Ok(_) => continue,
            Err(error) if matches!(error.core_kind(), Some(ErrorKind::AlreadyKnown)) => continue,
            Err(error) => return Err(error),
        }
    }
    Err(ApiError::unavailable("the tip kept changing while mining; try again"))
}

/// Query of `GET /chain`.
#[derive(Debug, Deserialize)]
pub(super) struct ChainQuery {
    /// First height to return (default 0).
    from: Option<u64>,
    /// How many blocks at most: 1 to 500 (default: all without `from`, 500 with it).
    limit: Option<u64>,
}

/// `GET /chain`: a page of the main chain `{chain, length}`: up to 500 blocks from `from`
/// (genesis by default, so a chain of up to 500 blocks comes whole, as the original sent
/// it), `limit` fewer. The answer is streamed ([`streamed_chain`]).
pub(super) async fn chain(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    query: Result<Query<ChainQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let from = query.from.unwrap_or(0);
    let limit = match query.limit {
        Some(limit) if limit > PAGE_BLOCKS => {
            return Err(ApiError::bad_request(
                "malformed",
                format!("limit is at most {PAGE_BLOCKS}"),
            ));
        }
        limit => limit.unwrap_or(PAGE_BLOCKS),
    };
    let (blocks, length) = main_chain_page(&state, from, limit);
    let answer = ChainAnswer { fields: serde_json::Map::new(), key: "chain", blocks, length };
    Ok(streamed_chain(state, client, &headers, answer))
}

/// Up to `limit` main-chain blocks from height `from`, as shared handles taken under the
/// node's lock (so a long answer is shown after it is released and never holds up the
/// node), and the main chain's length.
fn main_chain_page(state: &AppState, from: u64, limit: u64) -> (Vec<Arc<CheckedBlock>>, u64) {
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    state.read(|node| {
        let blocks: Vec<_> = node.chain().main_chain_shared_from(from).take(take).collect();
        (blocks, node.height() + 1)
    })
}

/// How many bytes a streamed answer sends at a time: small blocks are gathered into
/// pieces of about this size, a large block's JSON is sent in slices of it.
const STREAM_CHUNK_BYTES: usize = 64 * 1024;

/// Answers a [`ChainAnswer`] as a stream, as the client takes it, in gzip if the client
/// takes it (`Accept-Encoding`). Each block's JSON is encoded once and shared
/// ([`crate::encoded`]), and deflated once for gzip answers ([`crate::gzip`]), so a download
/// is mostly copies; the blocks themselves are shared with the chain. A reader that stops
/// reading stops the stream, so no reader makes the node hold more than about one block's
/// JSON of its answer (and the connection layer drops it after its send timeout); at most
/// `server::MAX_STREAMS` such answers are sent at once (past which a request gets 503),
/// [`MAX_STREAMS_PER_CLIENT`] to one client (429).
fn streamed_chain(
    state: Arc<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: &HeaderMap,
    answer: ChainAnswer,
) -> Response {
    let client = client.map(|Extension(ClientAddr(addr))| addr.ip());
    let Ok(client_slot) = client.map(|ip| state.stream_clients().enter(ip, 1)).transpose() else {
        return ApiError::too_many_requests(format!(
            "at most {MAX_STREAMS_PER_CLIENT} whole-chain answers to one address at once"
        ))
        .into_response();
    };
    let Ok(stream_slot) = Arc::clone(state.streams()).try_acquire_owned() else {
        return ApiError::unavailable("too many whole-chain answers being sent; try again")
            .into_response();
    };
    let mut head = vec![b'{'];
    for (name, value) in &answer.fields {
        encode(&mut head, name);
        head.push(b':');
        encode(&mut head, value);
        head.push(b',');
    }
    encode(&mut head, &"length");
    head.push(b':');
    encode(&mut head, &answer.length);
    head.push(b',');
    encode(&mut head, &answer.key);
    head.extend_from_slice(b":[");
    let (gzip, gathered) = if gzip::accepts_gzip(headers) {
        let mut gathered = Vec::with_capacity(STREAM_CHUNK_BYTES);
        let mut join = gzip::Join::start(&mut gathered);
        join.stored(&head, &mut gathered);
        (Some(join), gathered)
    } else {
        (None, head)
    };
    let compressed = gzip.is_some();
    let pieces = ChainPieces {
        state,
        blocks: answer.blocks.into_iter().enumerate(),
        gzip,
        gathered,
        ready: std::collections::VecDeque::new(),
        finished: false,
        _held_until_the_answer_ends: (stream_slot, client_slot),
    };
    // Each piece waits its turn, paced with every other chain answer's: a client that
    // reads as fast as the node sends would otherwise keep its task busy for a whole
    // scheduling budget (128 writes, megabytes), and a few such downloads would take the
    // node's whole time.
    let pieces = futures_util::stream::unfold(pieces, |mut pieces| async move {
        let piece = match pieces.next().await? {
            Ok(piece) => piece,
            Err(error) => return Some((Err(error), pieces)),
        };
        pieces.state.chain_pacer().turn(piece.len()).await;
        Some((Ok(piece), pieces))
    });
    // Fused: a body may be polled again after its end (the compression layer does).
    let pieces = futures_util::StreamExt::fuse(pieces);
    let mut response = (
        [(header::CONTENT_TYPE, "application/json"), (header::VARY, "accept-encoding")],
        Body::from_stream(pieces),
    )
        .into_response();
    if compressed {
        response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// A whole-chain answer: the JSON object `{fields..., "length": length, "<key>":
/// [blocks...]}`.
struct ChainAnswer {
    fields: serde_json::Map<String, Value>,
    key: &'static str,
    blocks: Vec<Arc<CheckedBlock>>,
    length: u64,
}

/// The pieces of a chain answer, made as the client takes them ([`streamed_chain`]).
struct ChainPieces<H> {
    state: Arc<AppState>,
    blocks: std::iter::Enumerate<std::vec::IntoIter<Arc<CheckedBlock>>>,
    /// The gzip member being written, for a client that asked for gzip.
    gzip: Option<gzip::Join>,
    /// What is not yet a piece of its own.
    gathered: Vec<u8>,
    ready: std::collections::VecDeque<Bytes>,
    finished: bool,
    _held_until_the_answer_ends: H,
}

/// A block's JSON as kept ([`crate::encoded::EncodedBlocks`]), or encoded now on a
/// blocking thread, one block at a time for all answers together (however many clients
/// ask for blocks not kept, one core encodes at most).
pub(super) async fn block_json(
    state: &Arc<AppState>,
    block: Arc<CheckedBlock>,
) -> Result<Bytes, std::io::Error> {
    let encoded = state.encoded();
    if let Some(json) = encoded.cached(&block.hash()) {
        return Ok(json);
    }
    let _one_at_a_time = encoded.encoding.acquire().await.map_err(std::io::Error::other)?;
    // Another answer may have kept it while this one waited.
    if let Some(json) = encoded.cached(&block.hash()) {
        return Ok(json);
    }
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || state.encoded().get(&block))
        .await
        .map_err(std::io::Error::other)
}

/// What a gzip answer sends of a block.
enum GzipPart {
    /// Its JSON deflated ([`gzip::Piece`]).
    Deflated(gzip::Piece),
    /// Its JSON, to go stored.
    Plain(Bytes),
}

/// What a gzip answer sends of `block`: its deflated piece as kept; or, if its JSON is
/// kept, that deflated now on a blocking thread while no other block is being encoded or
/// deflated (one at a time for all answers together), or else sent stored; or, if its
/// JSON is not kept either, that JSON as [`block_json`] makes it, sent stored. So a block
/// is deflated only once its JSON has been kept, at most once while it stays kept: a gzip
/// answer costs the node no more than a plain one and a deflate of each block it keeps,
/// however many clients ask for more blocks than it keeps.
async fn gzip_part(
    state: &Arc<AppState>,
    block: Arc<CheckedBlock>,
) -> Result<GzipPart, std::io::Error> {
    let hash = block.hash();
    let encoded = state.encoded();
    if let Some(piece) = encoded.cached_deflated(&hash) {
        return Ok(GzipPart::Deflated(piece));
    }
    let Some(json) = encoded.cached(&hash) else {
        return Ok(GzipPart::Plain(block_json(state, block).await?));
    };
    let Ok(_one_at_a_time) = encoded.encoding.try_acquire() else {
        return Ok(GzipPart::Plain(json));
    };
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || GzipPart::Deflated(state.encoded().get_deflated(&block)))
        .await
        .map_err(std::io::Error::other)
}

impl<H> ChainPieces<H> {
    /// The next piece, `None` after the last, or an error that cuts the answer short (so
    /// the client sees a broken answer, never a truncated one that looks whole).
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            if let Some(piece) = self.ready.pop_front() {
                return Some(Ok(piece));
            }
            if self.finished {
                return None;
            }
            let Some((i, block)) = self.blocks.next() else {
                self.plain(b"]}");
                if let Some(join) = self.gzip.take() {
                    join.finish(&mut self.gathered);
                }
                self.ready.push_back(Bytes::from(std::mem::take(&mut self.gathered)));
                self.finished = true;
                continue;
            };
            if i > 0 {
                self.plain(b",");
            }
            // Encoding or deflating a large block takes milliseconds: not on the threads
            // that answer the other requests, and one block at a time.
            let piece = if let Some(join) = &mut self.gzip {
                match gzip_part(&self.state, block).await {
                    Ok(GzipPart::Deflated(piece)) => {
                        join.count(&piece);
                        piece.bytes
                    }
                    Ok(GzipPart::Plain(json)) => {
                        join.stored(&json, &mut self.gathered);
                        if self.gathered.len() >= STREAM_CHUNK_BYTES {
                            // In slices, as a block's own JSON goes.
                            let gathered = Bytes::from(std::mem::take(&mut self.gathered));
                            for at in (0..gathered.len()).step_by(STREAM_CHUNK_BYTES) {
                                let end = gathered.len().min(at + STREAM_CHUNK_BYTES);
                                self.ready.push_back(gathered.slice(at..end));
                            }
                        }
                        continue;
                    }
                    Err(error) => return Some(Err(error)),
                }
            } else {
                match self.state.encoded().cached(&block.hash()) {
                    Some(json) => json,
                    None => match block_json(&self.state, block).await {
                        Ok(json) => json,
                        Err(error) => return Some(Err(error)),
                    },
                }
            };
            if piece.len() < STREAM_CHUNK_BYTES {
                self.gathered.extend_from_slice(&piece);
                if self.gathered.len() >= STREAM_CHUNK_BYTES {
                    self.ready.push_back(Bytes::from(std::mem::take(&mut self.gathered)));
                }
            } else {
                if !self.gathered.is_empty() {
                    self.ready.push_back(Bytes::from(std::mem::take(&mut self.gathered)));
                }
                for at in (0..piece.len()).step_by(STREAM_CHUNK_BYTES) {
                    self.ready.push_back(piece.slice(at..piece.len().min(at + STREAM_CHUNK_BYTES)));
                }
            }
        }
    }

    /// Appends bytes of the answer's JSON that are not a block's: as they are, or stored
    /// in the gzip member.
    fn plain(&mut self, bytes: &[u8]) {
        match &mut self.gzip {
            Some(join) => join.stored(bytes, &mut self.gathered),
            None => self.gathered.extend_from_slice(bytes),
        }
    }
}

/// Appends a value's JSON to `out`.
fn encode(out: &mut Vec<u8>, value: &impl Serialize) {
    // The API's types have string keys only, so encoding them can't fail.
    serde_json::to_writer(out, value).expect("the API's values encode as JSON");
}

/// `POST /transactions/new`: checks a signed transaction and queues it for the next block.
pub(super) async fn new_transaction(
    State(state): State<Arc<AppState>>,
    body: Result<JsonBody<NewTransaction>, ApiError>,
) -> Result<(StatusCode, Json<QueuedAnswer>), ApiError> {
    let accepted = match body {
        Ok(JsonBody(body)) => accept_transaction(&state, body).await,
        Err(refused) => Err(refused),
    };
    match &accepted {
        Ok(_) => state.metrics().transactions_accepted.inc(),
        Err(error) => {
            let kind = crate::metrics::KindLabel { kind: error.kind() };
            state.metrics().transactions_refused.get_or_create(&kind).inc()
        }
    };
    accepted
}

async fn accept_transaction(
    state: &Arc<AppState>,
    body: NewTransaction,
) -> Result<(StatusCode, Json<QueuedAnswer>), ApiError> {
    let checking = state.writer().checking();
    let tx = body
        .into_signed(state.checker().params().chain_id)
        .map_err(|e| ApiError::bad_request("malformed", e))?;
    let tx = state.verify_transaction(tx)?; // outside the lock
    let (id, next) = state
        .apply_checked(checking, |node, _| {
            let id = node.handle_verified_transaction(tx)?;
            Ok((id, node.height() + 1))
        })
        .await?;
    let message = format!("Transaction will be added to Block {next}");
    Ok((StatusCode::CREATED, Json(QueuedAnswer { message, id })))
}

/// `GET /transactions/get`: the pending transactions.
pub(super) async fn pending_transactions(State(state): State<Arc<AppState>>) -> Json<Value> {
    let pending: Vec<_> =
        state.read(|node| node.mempool().iter().map(TransactionDto::from_verified).collect());
    Json(json!({ "transactions": pending }))
}

/// Body of `POST /nodes/register`.
#[derive(Debug, Deserialize)]
pub(super) struct Register {
    nodes: Option<Vec<String>>,
}

/// `POST /nodes/register`: adds peers (validated and normalised, all or none).
pub(super) async fn register(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<Register>,
) -> Result<(StatusCode, Json<PeersAnswer>), ApiError> {
    let nodes = body
        .nodes
        .filter(|nodes| !nodes.is_empty())
        .ok_or_else(|| ApiError::bad_request("malformed", "please supply a valid list of nodes"))?;
    let urls = nodes
        .iter()
        .map(|n| PeerUrl::parse(n, state.config().limits.peer_policy))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request("bad_peer_url", e.to_string()))?;
    let max_peers = state.config().limits.max_peers;
    if urls.len() > max_peers {
        let error = PeerUrlError::TooMany(max_peers);
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_peers",
            error.to_string(),
        ));
    }
    // Host names resolved now, every address checked (and again whenever dialled).
    let policy = state.config().limits.peer_policy;
    let checks = urls.iter().map(|url| policy.check_url_host(url));
    for checked in futures_util::future::join_all(checks).await {
        checked.map_err(|e| ApiError::bad_request("bad_peer_url", e.to_string()))?;
    }
    let new = state.peers().add(&urls).map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_many_peers", e.to_string())
    })?;
    state.network().add(&urls);
    state.with_store(move |store| store.add_peers(&new)).await?;
    Ok((
        StatusCode::CREATED,
        Json(PeersAnswer {
            message: "New nodes have been added".to_owned(),
            total_nodes: state.peers().list().into_iter().map(String::from).collect(),
        }),
    ))
}

/// `DELETE /nodes/{url}`: forgets a peer (the URL percent-encoded as one path segment).
pub(super) async fn unregister(
    State(state): State<Arc<AppState>>,
    Path(url): Path<String>,
) -> Result<Json<PeersAnswer>, ApiError> {
    let url =
        url.parse::<PeerUrl>().map_err(|e| ApiError::bad_request("bad_peer_url", e.to_string()))?;
    let in_use = state.peers().remove(&url);
    state.network().remove(&url);
    let stored = url.clone();
    // Also a stored peer left out at start (past the limit), so it can be cleaned up.
    let was_stored = state.with_store(move |store| store.remove_peer(&stored)).await?;
    if !in_use && !was_stored {
        return Err(ApiError::not_found(format!("{url} is not a registered peer")));
    }
    let total_nodes = state.peers().list().into_iter().map(String::from).collect();
    Ok(Json(PeersAnswer { message: format!("{url} was removed"), total_nodes }))
}

/// `GET /nodes/resolve`: asks every peer and adopts the best valid chain (concurrent calls
/// share one resolve), then answers as the original did, with the first page of the chain
/// (all of a chain of up to 500 blocks), streamed; `length` says how long it is.
pub(super) async fn resolve(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
) -> Response {
    let reports = relay::resolve_shared(&state).await;
    // Adopted now, or a peer's blocks replaced our tip since the last resolve answered
    // (a registered peer is connected to and caught up with at once). Asked either way,
    // so the next resolve counts from now.
    let moved = state.tip_moved_by_peers_since_last_asked();
    let replaced = reports.iter().any(|r| r.outcome == ResolveOutcome::Adopted) || moved;
    let (blocks, length) = main_chain_page(&state, 0, PAGE_BLOCKS);
    let (message, key) = if replaced {
        ("Our chain was replaced", "new_chain")
    } else {
        ("Our chain is authoritative", "chain")
    };
    let mut fields = serde_json::Map::new();
    fields.insert("message".into(), message.into());
    fields.insert("peers".into(), json!(reports));
    streamed_chain(state, client, &headers, ChainAnswer { fields, key, blocks, length })
}

/// `GET /nodes/get`: the peers: those registered, and those connected (dialled, or
/// that dialled us and said where they listen), sorted.
pub(super) async fn peers(State(state): State<Arc<AppState>>) -> Json<Value> {
    let mut nodes: Vec<String> = state.peers().list().into_iter().map(String::from).collect();
    nodes.extend(state.network().connected());
    nodes.sort();
    nodes.dedup();
    Json(json!({ "nodes": nodes }))
}
