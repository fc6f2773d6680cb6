//! The external-miner protocol: fetch a block template, submit a solved block
//! (`POST /mining/submit`, or `POST /blocks` for any block). Peers relay blocks over the
//! peer network ([`crate::network`]), not here.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
};
use gophercoin_core::{Address, BlockOutcome, Target};
use serde::Deserialize;

use crate::{
    dto::{BlockDto, SubmitAnswer, TemplateAnswer},
    error::ApiError,
    extract::{JsonBody, JsonBytes},
    os::now,
    state::AppState,
};

/// Query of `GET /mining/template`.
#[derive(Debug, Deserialize)]
pub(super) struct TemplateQuery {
    /// The wallet the reward pays (default: this node's).
    address: Option<String>,
}

/// `GET /mining/template`: a block to solve. Vary `nonce` (and `timestamp` if the nonces
/// run out) until the header hash is at most `target_hex`, then `POST /mining/submit` it.
pub(super) async fn template(
    State(state): State<Arc<AppState>>,
    query: Result<Query<TemplateQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TemplateAnswer>, ApiError> {
    let Query(query) = query?;
    let miner: Address = match query.address {
        Some(text) => text.parse()?,
        None => state.miner().clone(),
    };
    let block = state.read(|node| node.block_template(&miner, now()))?;
    let target = Target::from_compact(block.header.bits).map_err(gophercoin_core::Error::from)?;
    Ok(Json(TemplateAnswer {
        block: BlockDto::from_block(&block),
        header_hex: hex::encode(block.header.to_bytes()),
        target_hex: hex::encode(target.to_be_bytes()),
        nonce_offset: gophercoin_core::BlockHeader::SIZE - 8,
    }))
}

/// `POST /blocks` (and `/mining/submit`): a solved or relayed block.
///
/// A block whose parent we lack, sent by a registered peer (named in the
/// `X-GopherCoin-Origin` header), makes the node fetch the missing blocks from it.
///
/// The same bytes as a block refused for good before are refused again at the cost of a
/// comparison, before they are decoded (see [`RefusedBlocks`](crate::state::RefusedBlocks)).
pub(super) async fn submit_block(
    State(state): State<Arc<AppState>>,
    JsonBytes(body): JsonBytes,
) -> Result<(StatusCode, Json<SubmitAnswer>), ApiError> {
    if let Some(error) = state.refused_blocks().get(&body) {
        return Err(error);
    }
    let JsonBody(dto) = JsonBody::<BlockDto>::decode(&body)?;
    let chain_id = state.checker().params().chain_id;
    let block = dto.into_block(chain_id);
    let hash = block.hash();
    let result = handle_block(&state, block).await;
    if let Err(error) = &result {
        // Kept only if the core remembered this refusal: then it is for good.
        let remembered = state.checker().invalid_blocks().remembered(&hash);
        if remembered.is_some_and(|core| ApiError::from(core) == *error) {
            state.refused_blocks().insert(body, error.clone());
        }
    }
    result
}

/// A block whose parent the node lacks is refused (422 `unknown_parent`): nothing is
/// fetched on its account (the peer network catches up with connected peers on its own).
async fn handle_block(
    state: &Arc<AppState>,
    block: gophercoin_core::Block,
) -> Result<(StatusCode, Json<SubmitAnswer>), ApiError> {
    let placeable = state.read(|node| node.precheck_block(&block));
    let result = match placeable {
        Ok(prechecked) => match state.check_prechecked(block, prechecked).await {
            Ok(checked) => state.apply(|node, now| node.handle_checked_block(checked, now)).await,
            Err(error) => Err(error),
        },
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(outcome) => {
            let (hash, height, message) = match outcome {
                BlockOutcome::Extended { hash, height } => (hash, height, "extended the chain"),
                BlockOutcome::Reorganized { hash, height, .. } => {
                    (hash, height, "reorganized the chain")
                }
                BlockOutcome::SideBranch { hash, height } => {
                    (hash, height, "stored on a side branch")
                }
                _ => return Err(ApiError::internal("unknown outcome")),
            };
            Ok((
                StatusCode::CREATED,
                Json(SubmitAnswer { message: message.to_owned(), hash, index: height }),
            ))
        }
        Err(error) => Err(error),
    }
}
