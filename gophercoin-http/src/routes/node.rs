//! The original's routes: `/mine`, `/chain`, `/transactions/new`, `/transactions/get`,
//! `/nodes/register`, `/nodes/resolve`, `/nodes/get`.

use std::sync::{Arc, atomic::AtomicU64};

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use gophercoin_core::{Block, BlockOutcome, TxId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    dto::{BlockDto, ChainDto, NewTransaction, TransactionDto},
    error::ApiError,
    extract::JsonBody,
    miner,
    peers::{PAGE_BLOCKS, normalize_peer_url, normalize_peer_url_with},
    relay,
    state::AppState,
};

/// How many times `/mine` starts over when another block took the tip while it mined.
const MINE_ATTEMPTS: usize = 5;
/// Nonces tried between checks that the template is still on our tip.
const MINE_CHUNK: u64 = 1 << 20;

/// `GET /mine`: mines the pending transactions into a block paying this node's wallet.
pub(super) async fn mine(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let _one_at_a_time = state.mining.lock().await;
    for _ in 0..MINE_ATTEMPTS {
        let template = {
            let node = state.node();
            node.block_template(&state.miner, crate::state::now())?
        };
        let prev = template.header.prev;
        let state_for_search = Arc::clone(&state);
        let threads = state.config.mine_threads;
        let solved = tokio::task::spawn_blocking(move || {
            // Someone else extending the chain makes this template stale: start over.
            let stale = || state_for_search.node().tip().hash() != prev;
            let hashes = AtomicU64::new(0);
            let header = template.header;
            miner::search_on_threads(header, threads, MINE_CHUNK, &stale, &hashes)
                .map(|header| Block { header, ..template })
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
        let Some(block) = solved else { continue };
        let outcome = state.apply(|node, now| node.handle_block(block.clone(), now)).await;
        match outcome {
            Ok(BlockOutcome::Extended { .. } | BlockOutcome::Reorganized { .. }) => {
                let shown = BlockDto::from_block(&block);
                return Ok(Json(json!({
                    "message": "New Block Forged!",
                    "index": shown.index,
                    "transactions": shown.transactions,
                    "proof": shown.nonce,
                    "previous_hash": shown.previous_hash,
                    "hash": shown.hash,
                    "nonce": shown.nonce,
                    "target": shown.target,
                    "timestamp": shown.timestamp,
                })));
            }
            Ok(_) => continue,
            Err(error) if error.kind() == "already_known" => continue,
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
/// it), `limit` fewer.
pub(super) async fn chain(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ChainQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ChainDto>, ApiError> {
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
    Ok(Json(ChainDto { chain: blocks, length }))
}

/// Up to `limit` main-chain blocks from height `from`, and the main chain's length: the
/// blocks are taken as shared handles under the node's lock and shown after it is
/// released, so a long answer never holds up the node.
fn main_chain_page(state: &AppState, from: u64, limit: u64) -> (Vec<BlockDto>, u64) {
    let (blocks, length) = {
        let node = state.node();
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        let blocks: Vec<_> = node.chain().main_chain_shared_from(from).take(take).collect();
        (blocks, node.height() + 1)
    };
    (blocks.iter().map(|block| BlockDto::from_checked(block)).collect(), length)
}

/// `POST /transactions/new`: checks a signed transaction and queues it for the next block.
pub(super) async fn new_transaction(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<NewTransaction>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let tx = body
        .into_signed(state.params.chain_id)
        .map_err(|e| ApiError::bad_request("malformed", e))?;
    let tx = state.verify_transaction(tx)?; // outside the lock
    let (id, next) = state
        .apply(|node, _| {
            let id = node.handle_verified_transaction(tx)?;
            Ok((id, node.height() + 1))
        })
        .await?;
    let message = format!("Transaction will be added to Block {next}");
    Ok((StatusCode::CREATED, Json(Queued { message, id })))
}

/// The answer to `POST /transactions/new`: the original's message, and the id.
#[derive(Debug, Serialize)]
pub(super) struct Queued {
    message: String,
    id: TxId,
}

/// `GET /transactions/get`: the pending transactions.
pub(super) async fn pending_transactions(State(state): State<Arc<AppState>>) -> Json<Value> {
    let node = state.node();
    let pending: Vec<_> = node.mempool().iter().map(TransactionDto::from_verified).collect();
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
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let nodes = body
        .nodes
        .filter(|nodes| !nodes.is_empty())
        .ok_or_else(|| ApiError::bad_request("malformed", "please supply a valid list of nodes"))?;
    let urls = nodes
        .iter()
        .map(|n| normalize_peer_url_with(n, state.config.limits.peer_policy))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request("bad_peer_url", e.to_string()))?;
    let new = state.peers.add(&urls).map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_many_peers", e.to_string())
    })?;
    state.with_store(move |store| store.add_peers(&new)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "message": "New nodes have been added", "total_nodes": state.peers.list() })),
    ))
}

/// `DELETE /nodes/{url}`: forgets a peer (the URL percent-encoded as one path segment).
pub(super) async fn unregister(
    State(state): State<Arc<AppState>>,
    Path(url): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let url = normalize_peer_url(&url)
        .map_err(|e| ApiError::bad_request("bad_peer_url", e.to_string()))?;
    let in_use = state.peers.remove(&url);
    let stored = url.clone();
    // Also a stored peer left out at start (past the limit), so it can be cleaned up.
    let was_stored = state.with_store(move |store| store.remove_peer(&stored)).await?;
    if !in_use && !was_stored {
        return Err(ApiError::not_found(format!("{url} is not a registered peer")));
    }
    Ok(Json(json!({ "message": format!("{url} was removed"), "total_nodes": state.peers.list() })))
}

/// `GET /nodes/resolve`: asks every peer and adopts the best valid chain.
pub(super) async fn resolve(State(state): State<Arc<AppState>>) -> Json<Value> {
    let reports = relay::resolve(&state).await;
    let replaced = reports.iter().any(|r| r.outcome == "adopted");
    // The first page of the chain (all of a chain of up to 500 blocks, as the original
    // showed), built outside the node's lock; `length` says how long it is.
    let (chain, length) = main_chain_page(&state, 0, PAGE_BLOCKS);
    Json(if replaced {
        json!({ "message": "Our chain was replaced", "new_chain": chain, "length": length, "peers": reports })
    } else {
        json!({ "message": "Our chain is authoritative", "chain": chain, "length": length, "peers": reports })
    })
}

/// `GET /nodes/get`: the registered peers.
pub(super) async fn peers(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "nodes": state.peers.list() }))
}
