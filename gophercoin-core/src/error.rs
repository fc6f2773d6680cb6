//! The crate-wide [`Error`], and the stable kind names adapters map to statuses.

use crate::{
    amount::AmountError, block::BlockError, chain::ChainError, codec::CodecError,
    crypto::CryptoError, ledger::LedgerError, mempool::MempoolError, pow::PowError,
    transaction::TxError,
};

/// Any error of the core: one variant per module's error.
///
/// [`Error::kind`] names what went wrong in stable snake_case, for an HTTP
/// `{error, message}` body or a metrics label; adapters map kinds to statuses and never
/// parse messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An amount is out of range.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// A key, address or signature is bad.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Bytes could not be decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A transaction is invalid on its own.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// A block is invalid on its own.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A proof of work or target is bad.
    #[error(transparent)]
    Pow(#[from] PowError),
    /// A transaction can't be applied at this tip.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A block or chain does not fit ours.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The mempool refuses a transaction.
    #[error(transparent)]
    Mempool(#[from] MempoolError),
}

impl Error {
    /// Returns a stable snake_case name for what went wrong.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Amount(e) => e.kind(),
            Error::Crypto(e) => e.kind(),
            Error::Codec(e) => e.kind(),
            Error::Tx(e) => e.kind(),
            Error::Block(e) => e.kind(),
            Error::Pow(e) => e.kind(),
            Error::Ledger(e) => e.kind(),
            Error::Chain(e) => e.kind(),
            Error::Mempool(e) => e.kind(),
        }
    }

    /// Returns `true` if whoever sent the input broke a rule (as opposed to sending
    /// something we already have, something we can't place yet, or meeting a full
    /// mempool); feeds peer scoring.
    pub fn is_peer_fault(&self) -> bool {
        !matches!(
            self.kind(),
            "already_known"
                | "unknown_parent"
                | "mempool_full"
                | "timestamp_too_new"
                | "fee_too_low"
                | "too_many_pending"
                | "too_deep"
                | "side_branches_full"
        )
    }
}

impl AmountError {
    /// Returns a stable snake_case name.
    pub fn kind(&self) -> &'static str {
        match self {
            AmountError::TooLarge { .. } => "amount_too_large",
            AmountError::Zero => "zero_amount",
        }
    }
}

impl CryptoError {
    /// Returns a stable snake_case name.
    pub fn kind(&self) -> &'static str {
        match self {
            CryptoError::BadHex(_) => "bad_hex",
            CryptoError::TooLong { .. } => "too_long",
            CryptoError::BadKeyEncoding { .. } => "bad_key",
            CryptoError::KeyTooSmall { .. } => "key_too_small",
            CryptoError::KeyTooLarge { .. } => "key_too_large",
            CryptoError::BadExponent => "bad_exponent",
            CryptoError::BadSignature => "bad_signature",
            CryptoError::SigningFailed(_) => "signing_failed",
        }
    }
}

impl CodecError {
    /// Returns a stable snake_case name.
    pub fn kind(&self) -> &'static str {
        match self {
            CodecError::TooLarge { .. } => "too_large",
            CodecError::Malformed(_) | CodecError::TrailingBytes(_) | CodecError::NonCanonical => {
                "malformed"
            }
        }
    }
}

impl TxError {
    /// Returns a stable snake_case name.
    pub fn kind(&self) -> &'static str {
        match self {
            TxError::WrongChain { .. } => "wrong_chain",
            TxError::ZeroAmount => "zero_amount",
            TxError::SpendTooLarge { .. } => "amount_too_large",
            TxError::TooLarge { .. } => "too_large",
            TxError::BadSender(_) => "bad_sender",
            TxError::BadRecipient(_) => "bad_recipient",
            TxError::BadSignature(_) => "bad_signature",
        }
    }
}

impl PowError {
    /// Returns a stable snake_case name.
    pub fn kind(&self) -> &'static str {
        match self {
            PowError::BadCompactTarget(_) => "bad_target",
            PowError::AboveLimit { .. } => "target_above_limit",
            PowError::HashAboveTarget { .. } => "bad_pow",
        }
    }
}

impl BlockError {
    /// Returns a stable snake_case name.
    pub fn kind(&self) -> &'static str {
        match self {
            BlockError::Pow(e) => e.kind(),
            BlockError::UnknownVersion { .. } => "unknown_version",
            BlockError::FeesTooLarge => "fees_too_large",
            BlockError::MissingReward => "missing_reward",
            BlockError::ExtraReward { .. } => "extra_reward",
            BlockError::WrongRewardAmount { .. } => "wrong_reward_amount",
            BlockError::WrongRewardHeight { .. } => "wrong_reward_height",
            BlockError::BadRewardRecipient(_) => "bad_reward_recipient",
            BlockError::TooManyTransactions { .. } => "too_many_transactions",
            BlockError::DuplicateTransaction { .. } => "duplicate_transaction",
            BlockError::BadMerkleRoot { .. } => "bad_merkle_root",
            BlockError::Transaction { source, .. } => source.kind(),
        }
    }
}

impl LedgerError {
    /// Returns a stable snake_case name.
    pub fn kind(&self) -> &'static str {
        match self {
            LedgerError::Overdraft { .. } => "overdraft",
            LedgerError::Replay { .. } => "replay",
            LedgerError::Overflow => "overflow",
        }
    }
}

impl ChainError {
    /// Returns a stable snake_case name.
    pub fn kind(&self) -> &'static str {
        match self {
            ChainError::UnknownParent { .. } => "unknown_parent",
            ChainError::AlreadyKnown { .. } => "already_known",
            ChainError::WrongHeight { .. } => "wrong_height",
            ChainError::WrongTarget { .. } => "wrong_target",
            ChainError::TimestampNotAfterMedian { .. } => "timestamp_too_old",
            ChainError::TimestampTooFarAhead { .. } => "timestamp_too_new",
            ChainError::ForeignGenesis { .. } => "foreign_genesis",
            ChainError::NotLinked { .. } => "not_linked",
            ChainError::Pow(e) => e.kind(),
            ChainError::EmptyChain => "empty_chain",
            ChainError::InvalidParent { .. } => "invalid_parent",
            ChainError::TooDeep { .. } => "too_deep",
            ChainError::SideBranchesFull => "side_branches_full",
            ChainError::Transfer { source, .. } => source.kind(),
        }
    }
}

impl MempoolError {
    /// Returns a stable snake_case name.
    pub fn kind(&self) -> &'static str {
        match self {
            MempoolError::AlreadyPending { .. } => "already_known",
            MempoolError::Full { .. } => "mempool_full",
            MempoolError::FeeTooLow { .. } => "fee_too_low",
            MempoolError::TooManyPending { .. } => "too_many_pending",
            MempoolError::Ledger(e) => e.kind(),
        }
    }
}
