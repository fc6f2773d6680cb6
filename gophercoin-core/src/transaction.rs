//! Transactions: what a wallet signs, what the wire carries, and what passed the checks.
//!
//! A [`Transaction`] is the unsigned payload; [`SignedTransaction`] adds the signature and
//! is what arrives from outside; [`VerifiedTransaction`] can only be made by a node's
//! [`Checker`](crate::Checker), and it is the only kind the ledger and the mempool accept. Block rewards are [`Reward`]s, never signed transfers.

use serde::{Deserialize, Serialize};

use crate::{
    amount::Amount,
    codec::{self, REWARD_TAG, TX_TAG},
    crypto::{Address, CryptoError, Signature, Signer, Verifier},
    hash::{TxId, sha256},
    params::{Params, RulesId},
};

/// A transfer of `amount` from `sender` to `recipient`, paying `fee` to the miner who
/// includes it, before it is signed.
///
/// `nonce` is any number the sender chooses (a wallet picks it at random) so that two
/// transfers with the same parties and amount are different transactions; `chain_id`
/// binds the transaction to one network. Both are signed, and the [`TxId`] covers them.
///
/// # Consensus
///
/// Rules: [tx-fields](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-fields)
///
/// # Examples
///
/// ```
/// use gophercoin_core::{Amount, Node, Params, RsaSigner, Signer, Transaction};
/// # let alice: RsaSigner = include_str!("../tests/data/alice.pkcs8.hex").trim().parse()?;
/// # let bob: RsaSigner = include_str!("../tests/data/bob.pkcs8.hex").trim().parse()?;
/// let params = Params::devnet();
/// let tx = Transaction {
///     chain_id: params.chain_id,
///     sender: alice.address(),
///     recipient: bob.address(),
///     amount: Amount::positive(5)?,
///     fee: Amount::ZERO,
///     nonce: 7,
/// };
/// let signed = tx.sign(&alice)?;
/// let verified = Node::devnet().checker().check_transaction(signed.identify())?;
/// assert_eq!(verified.id(), verified.transaction().id());
/// # Ok::<(), gophercoin_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    /// The network this transaction is for ([`Params::chain_id`]).
    pub chain_id: u32,
    /// The paying wallet; the signature must be this key's.
    pub sender: Address,
    /// The paid wallet.
    pub recipient: Address,
    /// How much is paid; positive.
    #[serde(deserialize_with = "crate::amount::deserialize_positive")]
    pub amount: Amount,
    /// What the sender pays the miner who includes the transaction, on top of `amount`;
    /// zero when left out of JSON.
    #[serde(default)]
    pub fee: Amount,
    /// Chosen by the sender to make the transaction unique.
    pub nonce: u64,
}

/// A transaction and its sender's signature, as it arrives from a wallet or a peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTransaction {
    /// The signed payload.
    pub transaction: Transaction,
    /// The sender's signature over [`Transaction::signing_bytes`].
    pub signature: Signature,
}

/// A signed transaction whose shape, amount, keys and signature have been checked.
///
/// Only a node's [`Checker`](crate::Checker) makes one
/// ([`Checker::check_transaction`](crate::Checker::check_transaction)), or the node itself,
/// so holding one is proof of those checks under a node's rules; it carries which node's,
/// and only that node takes it.
/// Balance and replay depend on the chain and are checked by the ledger.
#[derive(Clone, Debug)]
pub struct VerifiedTransaction {
    signed: SignedTransaction,
    id: TxId,
    size: usize,
    /// The node whose rules it was checked under.
    rules: RulesId,
}

/// Equal if the same signed transaction (whichever node checked it).
impl PartialEq for VerifiedTransaction {
    fn eq(&self, other: &Self) -> bool {
        self.signed == other.signed
    }
}

impl Eq for VerifiedTransaction {}

/// A signed transaction with its signing bytes encoded and its id computed, once, for the
/// steps that need them: the look-up by id that goes before any signature work (is it
/// already pending or included?), and the signature check, which verifies against the
/// same SHA-256 (the id) instead of hashing the bytes again.
///
/// Only [`SignedTransaction::identify`] makes one, so its id is always the SHA-256 of its
/// signing bytes.
///
/// # Examples
///
/// ```
/// use gophercoin_core::{Amount, Node, Params, RsaSigner, Signer, Transaction};
///
/// let params = Params::devnet();
/// let alice: RsaSigner = include_str!("../tests/data/alice.pkcs8.hex").trim().parse()?;
/// let bob: RsaSigner = include_str!("../tests/data/bob.pkcs8.hex").trim().parse()?;
/// let tx = Transaction {
///     chain_id: params.chain_id,
///     sender: alice.address(),
///     recipient: bob.address(),
///     amount: Amount::positive(5)?,
///     fee: Amount::from_units(600)?,
///     nonce: 1,
/// };
/// let identified = tx.sign(&alice)?.identify();
/// assert_eq!(identified.id(), identified.signed().id());
/// let verified = Node::devnet().checker().check_transaction(identified)?;
/// assert_eq!(verified.id(), verified.transaction().id());
/// # Ok::<(), gophercoin_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifiedTransaction {
    signed: SignedTransaction,
    signing_bytes: Vec<u8>,
    id: TxId,
}

/// A block's payment to its miner: the only way new coins come to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    /// The height of the block that pays it, so every reward has its own id.
    pub height: u64,
    /// The miner's wallet.
    pub recipient: Address,
    /// Exactly the subsidy at `height` ([`Params::reward_at`]) plus the fees of the
    /// block's transfers.
    pub amount: Amount,
}

/// Why a transaction is invalid on its own, whatever the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// The transaction is for another network.
    #[error("transaction is for chain {actual:#x}, this is chain {expected:#x}")]
    WrongChain {
        /// This network's id.
        expected: u32,
        /// The transaction's.
        actual: u32,
    },
    /// The amount is zero.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// The amount and the fee add up to more than [`Amount::MAX`].
    #[error("amount {amount} and fee {fee} add up to more than there can be")]
    SpendTooLarge {
        /// The amount.
        amount: Amount,
        /// The fee.
        fee: Amount,
    },
    /// The encoding is larger than allowed.
    #[error("transaction is {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// The canonical encoding's size.
        size: usize,
        /// The most allowed.
        max: usize,
    },
    /// The sender is not an acceptable key.
    #[error("bad sender key: {0}")]
    BadSender(CryptoError),
    /// The recipient is not an acceptable key.
    #[error("bad recipient key: {0}")]
    BadRecipient(CryptoError),
    /// The signature is not the sender's over this transaction.
    #[error("bad signature: {0}")]
    BadSignature(CryptoError),
}

impl Transaction {
    /// Returns the canonical bytes that are signed: a domain tag and the encoded fields.
    ///
    /// # Consensus
    ///
    /// Rules:
    /// - [enc-signing-bytes](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#enc-signing-bytes)
    /// - [enc-domain-tags](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#enc-domain-tags)
    pub fn signing_bytes(&self) -> Vec<u8> {
        codec::encode_tagged(TX_TAG, self)
    }

    /// Returns what the sender pays, the amount and the fee, or `None` if they add up to
    /// more than [`Amount::MAX`].
    pub fn spend(&self) -> Option<Amount> {
        self.amount.checked_add(self.fee)
    }

    /// Returns the transaction id: the SHA-256 of [`Transaction::signing_bytes`].
    ///
    /// # Consensus
    ///
    /// Rules: [enc-txid](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#enc-txid)
    pub fn id(&self) -> TxId {
        id_of(&self.signing_bytes())
    }

    /// Signs the transaction with the sender's key.
    ///
    /// # Errors
    ///
    /// [`CryptoError::SigningFailed`] if `signer` is not the sender or can't sign.
    pub fn sign(self, signer: &impl Signer) -> Result<SignedTransaction, CryptoError> {
        if signer.address() != self.sender {
            return Err(CryptoError::SigningFailed("the signer is not the sender".into()));
        }
        let signature = signer.sign(&self.signing_bytes())?;
        Ok(SignedTransaction { transaction: self, signature })
    }
}

impl SignedTransaction {
    /// Encodes the signed transaction canonically ([`codec`]), as peers and the store
    /// carry it.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a signed transaction of at most `max` bytes. Decoding checks only the
    /// shape; a node's [`Checker`](crate::Checker) checks the rules.
    ///
    /// # Errors
    ///
    /// [`CodecError`](codec::CodecError) as for [`codec::decode`].
    pub fn decode(bytes: &[u8], max: usize) -> Result<SignedTransaction, codec::CodecError> {
        codec::decode(bytes, max)
    }

    /// Returns the transaction id (it does not cover the signature).
    pub fn id(&self) -> TxId {
        self.transaction.id()
    }

    /// Encodes the signing bytes and computes the id, once, for the checks that follow.
    pub fn identify(self) -> IdentifiedTransaction {
        let signing_bytes = self.transaction.signing_bytes();
        let id = id_of(&signing_bytes);
        IdentifiedTransaction { signed: self, signing_bytes, id }
    }
}

/// A transfer's id: the SHA-256 of its signing bytes (which is also what its signature
/// signs).
fn id_of(signing_bytes: &[u8]) -> TxId {
    TxId::from_bytes(sha256(&[signing_bytes]))
}

impl IdentifiedTransaction {
    /// Returns the transaction id.
    pub fn id(&self) -> TxId {
        self.id
    }

    /// Returns the signed transaction.
    pub fn signed(&self) -> &SignedTransaction {
        &self.signed
    }

    /// Checks everything about a transaction that does not depend on the chain, in order of
    /// cost: network, amount, size, the recipient's key, the sender's key and signature,
    /// reusing its signing bytes and id. Reached through
    /// [`Checker::check_transaction`](crate::Checker::check_transaction).
    ///
    /// # Consensus
    ///
    /// > Every non-reward transaction carries a valid signature by the sender's key over a
    /// > canonical encoding of the transaction
    ///
    /// > zero, negative, fractional and overflowing amounts are rejected with a clear error
    ///
    /// The fee may be zero; the amount and the fee together must be an [`Amount`].
    ///
    /// Rules:
    /// - [tx-chain-id](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-chain-id)
    /// - [tx-amount](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-amount)
    /// - [tx-spend](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-spend)
    /// - [tx-size](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-size)
    /// - [tx-recipient](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-recipient)
    /// - [tx-sender](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-sender)
    /// - [tx-signature](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-signature)
    /// - [key-rsa](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#key-rsa)
    /// - [key-signature-scheme](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#key-signature-scheme)
    ///
    /// # Errors
    ///
    /// The first [`TxError`] found.
    pub(crate) fn check_in_isolation(
        self,
        verifier: &impl Verifier,
        params: &Params,
        rules: RulesId,
    ) -> Result<VerifiedTransaction, TxError> {
        let IdentifiedTransaction { signed, signing_bytes, id } = self;
        let tx = &signed.transaction;
        chain_id_is_valid(tx, params)?;
        amount_is_valid(tx)?;
        let size = size_is_valid(&signing_bytes, &signed.signature, params)?;
        verifier.check_address(&tx.recipient).map_err(TxError::BadRecipient)?;
        // Verifying reads the sender's key, and reports an unacceptable key as such, so the
        // sender's key is not parsed twice. The id is the SHA-256 of the signing bytes.
        let verdict = verifier.verify_with_sha256(
            &tx.sender,
            &signing_bytes,
            id.as_bytes(),
            &signed.signature,
        );
        verdict.map_err(|e| match e {
            CryptoError::BadSignature => TxError::BadSignature(e),
            key_error => TxError::BadSender(key_error),
        })?;
        Ok(VerifiedTransaction { signed, id, size, rules })
    }

    /// The checks of [`IdentifiedTransaction::check_in_isolation`] that cost no signature
    /// work: network, amount, fee and size. A block runs them on every transfer before it
    /// checks any signature.
    ///
    /// # Errors
    ///
    /// The first [`TxError`] found.
    pub(crate) fn check_cheap(&self, params: &Params) -> Result<(), TxError> {
        let tx = &self.signed.transaction;
        chain_id_is_valid(tx, params)?;
        amount_is_valid(tx)?;
        size_is_valid(&self.signing_bytes, &self.signed.signature, params).map(drop)
    }

    /// Returns the size [`VerifiedTransaction::size`] will have: the signing bytes and the
    /// signature.
    pub fn size(&self) -> usize {
        self.signing_bytes.len() + self.signed.signature.as_bytes().len()
    }
}

impl VerifiedTransaction {
    /// The node whose rules it was checked under.
    pub(crate) fn rules(&self) -> RulesId {
        self.rules
    }

    /// Returns the transaction id.
    pub fn id(&self) -> TxId {
        self.id
    }

    /// Returns the unsigned payload.
    pub fn transaction(&self) -> &Transaction {
        &self.signed.transaction
    }

    /// Returns the signed transaction.
    pub fn signed(&self) -> &SignedTransaction {
        &self.signed
    }

    /// Returns the size its fee rate is reckoned on: the bytes of its signing payload and
    /// its signature.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Returns what the sender pays: the amount and the fee.
    pub fn spend(&self) -> Amount {
        self.transaction().spend().expect("checked in isolation: amount + fee fits")
    }

    /// Returns what the sender pays the miner per byte.
    pub fn fee_rate(&self) -> crate::policy::FeeRate {
        crate::policy::FeeRate::new(self.transaction().fee, self.size)
    }

    /// Returns the signed transaction, giving up the proof of verification.
    pub fn into_signed(self) -> SignedTransaction {
        self.signed
    }

    /// Replaces the sender and the recipient by the equal addresses `shared` gives (one
    /// copy of a wallet's key for all the transactions that hold it). The bytes, and so
    /// the id and the signature's validity, are unchanged.
    pub(crate) fn share_addresses(&mut self, mut shared: impl FnMut(&Address) -> Address) {
        let tx = &mut self.signed.transaction;
        for address in [&mut tx.sender, &mut tx.recipient] {
            let equal = shared(address);
            debug_assert!(equal == *address, "an address was swapped for a different one");
            *address = equal;
        }
    }
}

impl Reward {
    /// Returns the reward's id: the SHA-256 of its tagged canonical encoding.
    ///
    /// # Consensus
    ///
    /// Rules: [enc-reward-id](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#enc-reward-id)
    pub fn id(&self) -> TxId {
        TxId::from_bytes(sha256(&[&codec::encode_tagged(REWARD_TAG, self)]))
    }
}

/// Checks that the transaction is for this network.
///
/// # Consensus
///
/// Rules: [tx-chain-id](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-chain-id)
///
/// # Errors
///
/// [`TxError::WrongChain`].
pub(crate) fn chain_id_is_valid(tx: &Transaction, params: &Params) -> Result<(), TxError> {
    if tx.chain_id != params.chain_id {
        return Err(TxError::WrongChain { expected: params.chain_id, actual: tx.chain_id });
    }
    Ok(())
}

/// Checks that the amount is positive (the [`Amount`] type already bounds it above) and
/// that the amount and the fee together are an [`Amount`].
///
/// # Consensus
///
/// Rules:
/// - [tx-amount](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-amount)
/// - [tx-spend](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-spend)
///
/// # Errors
///
/// [`TxError::ZeroAmount`] or [`TxError::SpendTooLarge`].
pub(crate) fn amount_is_valid(tx: &Transaction) -> Result<(), TxError> {
    if tx.amount.is_zero() {
        return Err(TxError::ZeroAmount);
    }
    if tx.spend().is_none() {
        return Err(TxError::SpendTooLarge { amount: tx.amount, fee: tx.fee });
    }
    Ok(())
}

/// Checks the encoded size of payload and signature against [`Params::max_tx_bytes`], and
/// returns it.
///
/// # Consensus
///
/// Rules: [tx-size](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#tx-size)
///
/// # Errors
///
/// [`TxError::TooLarge`].
pub(crate) fn size_is_valid(
    signing_bytes: &[u8],
    signature: &Signature,
    params: &Params,
) -> Result<usize, TxError> {
    let size = signing_bytes.len() + signature.as_bytes().len();
    if size > params.max_tx_bytes {
        return Err(TxError::TooLarge { size, max: params.max_tx_bytes });
    }
    Ok(size)
}
