//! Reading the chain: balances, blocks, transactions, the mempool, health.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
    http::header,
    response::{IntoResponse as _, Response},
};
use gophercoin_core::{Address, BlockHash, CheckedBlock, TxId, Verifier as _};
use serde_json::{Value, json};

use crate::{
    dto::{
        BalanceAnswer, BlockDto, ConnectionCounts, HeaderDto, HealthAnswer, InclusionProofDto,
        TransactionAnswer, TransactionDto,
    },
    effects::CoreNode,
    error::ApiError,
    metrics::NodeGauges,
    state::AppState,
};

/// `GET /balance/{address}`: a wallet's balance at our tip, in units.
pub(super) async fn balance(
    State(state): State<Arc<AppState>>,
    address: Result<Path<String>, PathRejection>,
) -> Result<Json<BalanceAnswer>, ApiError> {
    let Path(address) = address?;
    let address: Address = address.parse()?;
    // Hex that is no acceptable key is no wallet: an error, not a balance of 0.
    state.checker().verifier().check_address(&address)?;
    Ok(Json(state.read(|node| BalanceAnswer {
        balance: node.balance(&address),
        pending_spend: node.mempool().spending(&address),
        height: node.height(),
        address,
    })))
}

/// `GET /blocks/{hash}`: a known block, on the main chain or not.
pub(super) async fn block_by_hash(
    State(state): State<Arc<AppState>>,
    hash: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(hash) = hash?;
    let hash: BlockHash = hash.parse()?;
    let (block, main) =
        state.read(|node| (node.chain().get_shared(&hash), node.chain().is_on_main(&hash)));
    let block = block.ok_or_else(|| ApiError::not_found(format!("no block {hash}")))?;
    block_answer(&state, block, main).await
}

/// `GET /blocks/height/{height}`: the main-chain block at a height.
pub(super) async fn block_by_height(
    State(state): State<Arc<AppState>>,
    height: Result<Path<u64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(height) = height?;
    let block = state
        .read(|node| node.chain().main_chain_shared_from(height).next())
        .filter(|block| block.height() == height)
        .ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))?;
    block_answer(&state, block, true).await
}

/// Answers `{"block": ..., "main_chain": main}` with the block's JSON as it was encoded
/// once ([`super::node::block_json`]: a block not kept is encoded after the node's lock is
/// released, one at a time).
async fn block_answer(
    state: &Arc<AppState>,
    block: Arc<CheckedBlock>,
    main: bool,
) -> Result<Response, ApiError> {
    let json = super::node::block_json(state, block)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let end: &[u8] = if main { b",\"main_chain\":true}" } else { b",\"main_chain\":false}" };
    let body = [&b"{\"block\":"[..], &json, end].concat();
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /transactions/{id}`: a pending or confirmed transaction.
pub(super) async fn transaction(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TransactionAnswer>, ApiError> {
    let Path(id) = id?;
    let id: TxId = id.parse()?;
    if let Some(transaction) =
        state.read(|node| node.mempool().get(&id).map(TransactionDto::from_verified))
    {
        return Ok(Json(TransactionAnswer::Pending { transaction }));
    }
    let block_hash = confirmed_in(&state, id).await?;
    state.read(|node| {
        let block = main_chain_block(node, &block_hash, id)?;
        let dto = BlockDto::from_checked(block);
        let entry = block
            .transaction_ids()
            .position(|entry| entry == id)
            .and_then(|index| dto.transactions.into_iter().nth(index))
            .ok_or_else(|| ApiError::not_found(format!("no transaction {id}")))?;
        Ok(Json(TransactionAnswer::Confirmed {
            transaction: entry,
            block: block_hash,
            height: block.height(),
            confirmations: node.height() - block.height() + 1,
        }))
    })
}

/// `GET /transactions/{id}/proof`: the header of the main-chain block holding the
/// transaction and the merkle branch from the transaction to that header's root.
pub(super) async fn transaction_proof(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<InclusionProofDto>, ApiError> {
    let Path(id) = id?;
    let id: TxId = id.parse()?;
    if state.read(|node| node.mempool().get(&id).is_some()) {
        return Err(ApiError::not_found(format!(
            "transaction {id} is pending: it is in no block yet, so it has no proof"
        )));
    }
    let block_hash = confirmed_in(&state, id).await?;
    state.read(|node| {
        let block = main_chain_block(node, &block_hash, id)?;
        let proof =
            block.prove(&id).ok_or_else(|| ApiError::not_found(format!("no transaction {id}")))?;
        Ok(Json(InclusionProofDto {
            transaction: id,
            block: block_hash,
            height: block.height(),
            confirmations: node.height() - block.height() + 1,
            header: HeaderDto::from_header(block.header()),
            proof,
        }))
    })
}

/// The block the store's index says holds transaction `id`.
async fn confirmed_in(state: &Arc<AppState>, id: TxId) -> Result<BlockHash, ApiError> {
    state
        .with_store(move |store| store.block_of(&id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no transaction {id}")))
}

/// The block `hash` if it is on the main chain (the index may lag a reorganisation).
fn main_chain_block<'a>(
    node: &'a CoreNode,
    hash: &BlockHash,
    id: TxId,
) -> Result<&'a CheckedBlock, ApiError> {
    node.block(hash)
        .filter(|_| node.chain().is_on_main(hash))
        .ok_or_else(|| ApiError::not_found(format!("no transaction {id}")))
}

/// `GET /mempool`: the pending transactions with their count.
pub(super) async fn mempool(State(state): State<Arc<AppState>>) -> Json<Value> {
    let pending: Vec<_> =
        state.read(|node| node.mempool().iter().map(TransactionDto::from_verified).collect());
    Json(json!({ "count": pending.len(), "transactions": pending }))
}

/// `GET /metrics`: the node's metrics in the OpenMetrics text format
/// ([`crate::metrics`]), its state read now.
pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let (inbound, outbound) = state.network().counts();
    let now = i64::try_from(crate::os::now().secs()).unwrap_or(i64::MAX);
    let gauges = state.read(|node| NodeGauges {
        height: node.height(),
        tip_age_secs: now.saturating_sub(i64::try_from(node.tip().timestamp).unwrap_or(0)),
        mempool_transactions: node.mempool().len(),
        mempool_bytes: node.mempool().iter().map(|tx| tx.size()).sum(),
        inbound,
        outbound,
    });
    state.metrics().set_state(&gauges);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], state.metrics().encode())
        .into_response()
}

/// `GET /health`: the node is up; its tip and counts.
pub(super) async fn health(State(state): State<Arc<AppState>>) -> Json<HealthAnswer> {
    let (inbound, outbound) = state.network().counts();
    state.read(|node| {
        let params = node.params();
        let next = node.height() + 1;
        let next_halving = match params.halving_interval {
            0 => None,
            interval => {
                Some((next / interval + 1) * interval).filter(|_| !params.reward_at(next).is_zero())
            }
        };
        Json(HealthAnswer {
            status: "ok".to_owned(),
            chain_id: params.chain_id,
            height: node.height(),
            tip: node.tip().hash(),
            mempool: node.mempool().len(),
            peers: state.peers().list().len(),
            reward: params.reward_at(next),
            halving_interval: params.halving_interval,
            next_halving,
            supply: node.ledger().supply(),
            units_per_coin: gophercoin_core::Amount::UNITS_PER_COIN,
            min_relay_fee: node.policy().min_relay_fee_rate.units_per_byte(),
            url: state.config().public_url.clone().or_else(|| {
                let listen = state.config().listen;
                (!listen.ip().is_unspecified()).then(|| format!("http://{listen}"))
            }),
            p2p: state.network().local(),
            connections: ConnectionCounts { inbound, outbound },
        })
    })
}
