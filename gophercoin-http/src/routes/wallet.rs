//! The wallet service: make a key pair, sign a transaction. It handles private keys, so
//! it listens on loopback by default; the CLI does the same offline.

use axum::Json;
use gophercoin_core::{
    Address, Amount, Params, RsaSigner, Signer, Transaction, amount, crypto::rsa::DEFAULT_KEY_BITS,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{dto::GeneratedTransaction, error::ApiError, extract::JsonBody, os::os_random_u64};

/// `GET /wallet/new`: a new RSA-2048 key pair as hex DER (PKCS#8 private, SPKI public).
pub(super) async fn new_wallet() -> Result<Json<Value>, ApiError> {
    let signer = tokio::task::spawn_blocking(|| {
        RsaSigner::generate(&mut getrandom::SysRng, DEFAULT_KEY_BITS)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({
        "private_key": signer.to_pkcs8_hex(),
        "public_key": signer.address(),
    })))
}

/// Body of `POST /transactions/generate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Generate {
    sender: Address,
    /// The original's code spells it `sender_private_key`, its README
    /// `sender-private-key`; both are accepted.
    #[serde(alias = "sender-private-key")]
    sender_private_key: String,
    recipient: Address,
    #[serde(deserialize_with = "amount::deserialize_positive")]
    amount: Amount,
    /// Paid to the miner; zero if left out.
    #[serde(default)]
    fee: Amount,
    /// Picked at random if left out.
    nonce: Option<u64>,
    /// The devnet's if left out.
    chain_id: Option<u32>,
}

/// `POST /transactions/generate`: signs a transaction with the given private key.
pub(super) async fn generate(
    JsonBody(body): JsonBody<Generate>,
) -> Result<Json<GeneratedTransaction>, ApiError> {
    let signer: RsaSigner =
        body.sender_private_key.parse().map_err(|e: gophercoin_core::CryptoError| {
            ApiError::bad_request(e.kind().as_str(), format!("private key: {e}"))
        })?;
    if signer.address() != body.sender {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "key_mismatch",
            "the private key is not the sender's",
        ));
    }
    let tx = Transaction {
        chain_id: body.chain_id.unwrap_or(Params::devnet().chain_id),
        sender: body.sender,
        recipient: body.recipient,
        amount: body.amount,
        fee: body.fee,
        nonce: body.nonce.unwrap_or_else(os_random_u64),
    };
    let signed = tx.sign(&signer).map_err(gophercoin_core::Error::from)?;
    let id = Some(signed.id());
    Ok(Json(GeneratedTransaction {
        transaction: signed.transaction,
        signature: signed.signature,
        id,
    }))
}
