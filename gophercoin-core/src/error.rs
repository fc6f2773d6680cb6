//! The crate-wide [`Error`], and the [`ErrorKind`] adapters map to statuses and scores.

use crate::{
    amount::AmountError, block::BlockError, chain::ChainError, codec::CodecError,
    crypto::CryptoError, ledger::LedgerError, mempool::MempoolError, target::PowError,
    transaction::TxError,
};

/// Any error of the core: one variant per module's error.
///
/// [`Error::kind`] says what went wrong as an [`ErrorKind`], which adapters match on; they
/// never parse messages.
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

/// What went wrong, as a type: adapters map kinds to statuses (and peer scores) by
/// matching on them, never on messages; [`ErrorKind::as_str`] is the stable snake_case name
/// for an HTTP `{error, message}` body or a metrics label.
///
/// ```
/// use gophercoin_core::{ChainError, Error, ErrorKind};
///
/// let error = Error::from(ChainError::UnknownParent { prev: Default::default() });
/// assert_eq!(error.kind(), ErrorKind::UnknownParent);
/// assert_eq!(error.kind().as_str(), "unknown_parent");
/// assert!(!error.is_peer_fault());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The block or transaction is already held.
    AlreadyKnown,
    /// An amount, or an amount and its fee, is above the maximum.
    AmountTooLarge,
    /// An RSA key's public exponent is not the one allowed.
    BadExponent,
    /// Hex that does not decode.
    BadHex,
    /// A key that does not decode.
    BadKey,
    /// A block's merkle root does not match its transactions.
    BadMerkleRoot,
    /// A block's hash is above its target.
    BadPow,
    /// A transfer's recipient is not a valid address.
    BadRecipient,
    /// A reward's recipient is not a valid address.
    BadRewardRecipient,
    /// A transfer's sender key is bad.
    BadSender,
    /// A signature does not verify.
    BadSignature,
    /// A compact target does not decode.
    BadTarget,
    /// A block holds the same transaction twice.
    DuplicateTransaction,
    /// A chain with no blocks.
    EmptyChain,
    /// A block holds a reward past its first transaction.
    ExtraReward,
    /// A transaction's fee rate is under the mempool's minimum.
    FeeTooLow,
    /// A block's fees add up past the maximum amount.
    FeesTooLarge,
    /// A chain starts from another network's genesis.
    ForeignGenesis,
    /// A block builds on a block known to be invalid.
    InvalidParent,
    /// An RSA key is larger than allowed.
    KeyTooLarge,
    /// An RSA key is smaller than allowed.
    KeyTooSmall,
    /// Bytes that do not decode canonically.
    Malformed,
    /// The mempool is full and the transaction pays too little to replace any.
    MempoolFull,
    /// A block does not start with its reward.
    MissingReward,
    /// A chain's blocks do not link one to the next.
    NotLinked,
    /// A sender spends more than it has.
    Overdraft,
    /// A balance would overflow.
    Overflow,
    /// A transaction was already applied on this chain.
    Replay,
    /// No room is left for blocks off the main chain.
    SideBranchesFull,
    /// Signing failed.
    SigningFailed,
    /// A target is easier than the network allows.
    TargetAboveLimit,
    /// A block's timestamp is too far ahead of the clock.
    TimestampTooNew,
    /// A block's timestamp is not after the median of the blocks before it.
    TimestampTooOld,
    /// A block forks off deeper than allowed.
    TooDeep,
    /// An encoding or a transaction is larger than allowed.
    TooLarge,
    /// An input is longer than allowed.
    TooLong,
    /// A sender has as many pending transactions as allowed.
    TooManyPending,
    /// A block holds more transactions than allowed.
    TooManyTransactions,
    /// A block's parent is not known (yet).
    UnknownParent,
    /// A block header's version is not known.
    UnknownVersion,
    /// A transaction is for another network.
    WrongChain,
    /// A block's height is not its parent's plus one.
    WrongHeight,
    /// A block's reward is not the subsidy plus its fees.
    WrongRewardAmount,
    /// A reward names another height than its block's.
    WrongRewardHeight,
    /// A block's target is not the one the chain requires.
    WrongTarget,
    /// An amount of zero.
    ZeroAmount,
}

impl ErrorKind {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::AlreadyKnown => "already_known",
            ErrorKind::AmountTooLarge => "amount_too_large",
            ErrorKind::BadExponent => "bad_exponent",
            ErrorKind::BadHex => "bad_hex",
            ErrorKind::BadKey => "bad_key",
            ErrorKind::BadMerkleRoot => "bad_merkle_root",
            ErrorKind::BadPow => "bad_pow",
            ErrorKind::BadRecipient => "bad_recipient",
            ErrorKind::BadRewardRecipient => "bad_reward_recipient",
            ErrorKind::BadSender => "bad_sender",
            ErrorKind::BadSignature => "bad_signature",
            ErrorKind::BadTarget => "bad_target",
            ErrorKind::DuplicateTransaction => "duplicate_transaction",
            ErrorKind::EmptyChain => "empty_chain",
            ErrorKind::ExtraReward => "extra_reward",
            ErrorKind::FeeTooLow => "fee_too_low",
            ErrorKind::FeesTooLarge => "fees_too_large",
            ErrorKind::ForeignGenesis => "foreign_genesis",
            ErrorKind::InvalidParent => "invalid_parent",
            ErrorKind::KeyTooLarge => "key_too_large",
            ErrorKind::KeyTooSmall => "key_too_small",
            ErrorKind::Malformed => "malformed",
            ErrorKind::MempoolFull => "mempool_full",
            ErrorKind::MissingReward => "missing_reward",
            ErrorKind::NotLinked => "not_linked",
            ErrorKind::Overdraft => "overdraft",
            ErrorKind::Overflow => "overflow",
            ErrorKind::Replay => "replay",
            ErrorKind::SideBranchesFull => "side_branches_full",
            ErrorKind::SigningFailed => "signing_failed",
            ErrorKind::TargetAboveLimit => "target_above_limit",
            ErrorKind::TimestampTooNew => "timestamp_too_new",
            ErrorKind::TimestampTooOld => "timestamp_too_old",
            ErrorKind::TooDeep => "too_deep",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::TooLong => "too_long",
            ErrorKind::TooManyPending => "too_many_pending",
            ErrorKind::TooManyTransactions => "too_many_transactions",
            ErrorKind::UnknownParent => "unknown_parent",
            ErrorKind::UnknownVersion => "unknown_version",
            ErrorKind::WrongChain => "wrong_chain",
            ErrorKind::WrongHeight => "wrong_height",
            ErrorKind::WrongRewardAmount => "wrong_reward_amount",
            ErrorKind::WrongRewardHeight => "wrong_reward_height",
            ErrorKind::WrongTarget => "wrong_target",
            ErrorKind::ZeroAmount => "zero_amount",
        }
    }

    /// Returns `true` if whoever sent the input broke a rule, as opposed to sending
    /// something we already have, something we can't place yet, or meeting a full mempool
    /// or a policy of ours.
    pub fn is_peer_fault(self) -> bool {
        !matches!(
            self,
            ErrorKind::AlreadyKnown
                | ErrorKind::UnknownParent
                | ErrorKind::MempoolFull
                | ErrorKind::TimestampTooNew
                | ErrorKind::FeeTooLow
                | ErrorKind::TooManyPending
                | ErrorKind::TooDeep
                | ErrorKind::SideBranchesFull
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
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

    /// Returns `true` if whoever sent the input broke a rule ([`ErrorKind::is_peer_fault`]);
    /// feeds peer scoring.
    pub fn is_peer_fault(&self) -> bool {
        self.kind().is_peer_fault()
    }
}

impl AmountError {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AmountError::TooLarge { .. } => ErrorKind::AmountTooLarge,
            AmountError::Zero => ErrorKind::ZeroAmount,
            AmountError::NotCoins => ErrorKind::Malformed,
        }
    }
}

impl CryptoError {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CryptoError::BadHex(_) => ErrorKind::BadHex,
            CryptoError::TooLong { .. } => ErrorKind::TooLong,
            CryptoError::BadKeyEncoding { .. } => ErrorKind::BadKey,
            CryptoError::KeyTooSmall { .. } => ErrorKind::KeyTooSmall,
            CryptoError::KeyTooLarge { .. } => ErrorKind::KeyTooLarge,
            CryptoError::BadExponent => ErrorKind::BadExponent,
            CryptoError::BadSignature => ErrorKind::BadSignature,
            CryptoError::SigningFailed(_) => ErrorKind::SigningFailed,
        }
    }
}

impl CodecError {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CodecError::TooLarge { .. } => ErrorKind::TooLarge,
            CodecError::Malformed(_) | CodecError::TrailingBytes(_) | CodecError::NonCanonical => {
                ErrorKind::Malformed
            }
        }
    }
}

impl TxError {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TxError::WrongChain { .. } => ErrorKind::WrongChain,
            TxError::ZeroAmount => ErrorKind::ZeroAmount,
            TxError::SpendTooLarge { .. } => ErrorKind::AmountTooLarge,
            TxError::TooLarge { .. } => ErrorKind::TooLarge,
            TxError::BadSender(_) => ErrorKind::BadSender,
            TxError::BadRecipient(_) => ErrorKind::BadRecipient,
            TxError::BadSignature(_) => ErrorKind::BadSignature,
        }
    }
}

impl PowError {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PowError::BadCompactTarget(_) => ErrorKind::BadTarget,
            PowError::AboveLimit { .. } => ErrorKind::TargetAboveLimit,
            PowError::HashAboveTarget { .. } => ErrorKind::BadPow,
        }
    }
}

impl BlockError {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BlockError::Pow(e) => e.kind(),
            BlockError::UnknownVersion { .. } => ErrorKind::UnknownVersion,
            BlockError::FeesTooLarge => ErrorKind::FeesTooLarge,
            BlockError::MissingReward => ErrorKind::MissingReward,
            BlockError::ExtraReward { .. } => ErrorKind::ExtraReward,
            BlockError::WrongRewardAmount { .. } => ErrorKind::WrongRewardAmount,
            BlockError::WrongRewardHeight { .. } => ErrorKind::WrongRewardHeight,
            BlockError::BadRewardRecipient(_) => ErrorKind::BadRewardRecipient,
            BlockError::TooManyTransactions { .. } => ErrorKind::TooManyTransactions,
            BlockError::DuplicateTransaction { .. } => ErrorKind::DuplicateTransaction,
            BlockError::BadMerkleRoot { .. } => ErrorKind::BadMerkleRoot,
            BlockError::Transaction { source, .. } => source.kind(),
        }
    }
}

impl LedgerError {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LedgerError::Overdraft { .. } => ErrorKind::Overdraft,
            LedgerError::Replay { .. } => ErrorKind::Replay,
            LedgerError::Overflow => ErrorKind::Overflow,
        }
    }
}

impl ChainError {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ChainError::UnknownParent { .. } => ErrorKind::UnknownParent,
            ChainError::AlreadyKnown { .. } => ErrorKind::AlreadyKnown,
            ChainError::WrongHeight { .. } => ErrorKind::WrongHeight,
            ChainError::WrongTarget { .. } => ErrorKind::WrongTarget,
            ChainError::TimestampNotAfterMedian { .. } => ErrorKind::TimestampTooOld,
            ChainError::TimestampTooFarAhead { .. } => ErrorKind::TimestampTooNew,
            ChainError::ForeignGenesis { .. } => ErrorKind::ForeignGenesis,
            ChainError::NotLinked { .. } => ErrorKind::NotLinked,
            ChainError::Pow(e) => e.kind(),
            ChainError::EmptyChain => ErrorKind::EmptyChain,
            ChainError::InvalidParent { .. } => ErrorKind::InvalidParent,
            ChainError::TooDeep { .. } => ErrorKind::TooDeep,
            ChainError::SideBranchesFull => ErrorKind::SideBranchesFull,
            ChainError::Transfer { source, .. } => source.kind(),
        }
    }
}

impl MempoolError {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
        match self {
            MempoolError::AlreadyPending { .. } => ErrorKind::AlreadyKnown,
            MempoolError::Full { .. } => ErrorKind::MempoolFull,
            MempoolError::FeeTooLow { .. } => ErrorKind::FeeTooLow,
            MempoolError::TooManyPending { .. } => ErrorKind::TooManyPending,
            MempoolError::Ledger(e) => e.kind(),
        }
    }
}
