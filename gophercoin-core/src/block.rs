//! Blocks: the fixed-size header, the transaction list, the merkle root, and the checks a
//! block must pass on its own.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use crate::merkle::merkle_root;
use crate::{
    Amount,
    codec::{self, CodecError, GENESIS_TAG, encode_tagged},
    crypto::{Address, CryptoError, Signature, Verifier},
    hash::{BlockHash, MerkleRoot, TxId, sha256},
    merkle::MerkleProof,
    params::{Params, RulesId},
    target::{CompactTarget, PowError, Target},
    transaction::{IdentifiedTransaction, Reward, SignedTransaction, TxError, VerifiedTransaction},
};

/// A block header: everything the proof of work covers.
///
/// Its encoding ([`BlockHeader::to_bytes`]) has a fixed size of [`BlockHeader::SIZE`]
/// bytes, all integers big-endian, in this order: version, height, previous hash, merkle
/// root, timestamp, compact target, nonce. The nonce is last, so a miner hashes the
/// first 88 bytes once and only the nonce per try.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    /// The header format version: [`BlockHeader::VERSION`], refused otherwise.
    pub version: u32,
    /// The number of blocks before this one; genesis is 0.
    pub height: u64,
    /// The hash of the parent block's header.
    pub prev: BlockHash,
    /// The merkle root of the block's transaction ids.
    pub merkle_root: MerkleRoot,
    /// When the block was made, seconds since the Unix epoch.
    pub timestamp: u64,
    /// The target the header hash must meet, in compact form.
    pub bits: CompactTarget,
    /// The number the miner varies.
    pub nonce: u64,
}

/// One entry of a block's transaction list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockTransaction {
    /// The miner's reward; exactly one, first.
    Reward(Reward),
    /// A signed transfer between wallets.
    Transfer(SignedTransaction),
}

/// A block: a header and its transactions, the reward first.
///
/// A node makes one to mine ([`Node::block_template`](crate::Node::block_template)); a
/// block from elsewhere is only bytes or fields until the node checks it
/// ([`Node::handle_block`](crate::Node::handle_block)).
///
/// ```
/// use gophercoin_core::{
///     Block, BlockTransaction, Node, Params, RsaSigner, Signer, UnixTime, pow,
/// };
/// # let miner: RsaSigner = include_str!("../tests/data/alice.pkcs8.hex").trim().parse()?;
/// let mut node = Node::devnet();
/// let now = UnixTime::from_secs(Params::devnet().genesis_timestamp + 60);
/// let mut block = node.block_template(&miner.address(), now)?;
/// assert!(matches!(block.transactions[0], BlockTransaction::Reward(_)));
/// assert!(pow::solve(&mut block.header, u64::MAX)); // the proof of work
/// block.header.check_pow(node.params())?;
///
/// let bytes = block.encode(); // as peers and the store carry it
/// assert_eq!(Block::decode(&bytes, bytes.len())?, block);
/// node.handle_block(block, now)?;
/// assert_eq!(node.height(), 1);
/// # Ok::<(), gophercoin_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The reward, then the transfers.
    pub transactions: Vec<BlockTransaction>,
}

/// A block that passed the checks on its own under a node's rules (made only by
/// [`Checker::check_block`](crate::Checker::check_block) or the node itself, and taken only
/// by the node whose rules it was checked under): proof of
/// work, merkle root, reward shape and every transfer's signature. Whether it fits the
/// chain is checked later.
#[derive(Clone, Debug)]
pub struct CheckedBlock {
    header: BlockHeader,
    hash: BlockHash,
    reward: Option<Reward>,
    transfers: Vec<VerifiedTransaction>,
    /// The node whose rules it was checked under.
    rules: RulesId,
}

/// Why a block is invalid on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// The proof of work is wrong.
    #[error(transparent)]
    Pow(#[from] PowError),
    /// The block has no transactions, so no reward.
    #[error("block has no reward")]
    MissingReward,
    /// A reward appears after the first position.
    #[error("block has a second reward at position {index}")]
    ExtraReward {
        /// Its position in the list.
        index: usize,
    },
    /// The header's version is not one this code knows.
    #[error("block version {version} is not one this node knows ({known})")]
    UnknownVersion {
        /// The header's.
        version: u32,
        /// The one this code makes and accepts.
        known: u32,
    },
    /// The reward is not exactly the subsidy at its height plus the block's fees.
    #[error("reward is {actual}, the subsidy and the fees make {expected}")]
    WrongRewardAmount {
        /// The subsidy at the block's height plus the block's fees.
        expected: Amount,
        /// The amount claimed.
        actual: Amount,
    },
    /// The reward names another height than its block's.
    #[error("reward is for height {actual}, the block is at {expected}")]
    WrongRewardHeight {
        /// The block's height.
        expected: u64,
        /// The reward's.
        actual: u64,
    },
    /// The reward's recipient is not an acceptable key.
    #[error("bad reward recipient: {0}")]
    BadRewardRecipient(CryptoError),
    /// More transactions than a block may hold.
    #[error("block has {count} transactions, more than the {max} allowed")]
    TooManyTransactions {
        /// The count.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// The same transaction appears twice.
    #[error("transaction {id} appears twice in the block")]
    DuplicateTransaction {
        /// Its id.
        id: TxId,
    },
    /// The header's merkle root is not the transactions'.
    #[error("merkle root {actual} in the header, {expected} computed")]
    BadMerkleRoot {
        /// The root of the transactions.
        expected: MerkleRoot,
        /// The root in the header.
        actual: MerkleRoot,
    },
    /// The block's fees and subsidy add up to more than [`Amount::MAX`].
    #[error("the block's fees add up to more than there can be")]
    FeesTooLarge,
    /// A transfer is invalid.
    #[error("transaction {index}: {source}")]
    Transaction {
        /// Its position in the list.
        index: usize,
        /// What is wrong with it.
        source: TxError,
    },
}

impl BlockHeader {
    /// The size of the header's encoding in bytes.
    pub const SIZE: usize = 96;
    /// The header version this code makes and accepts.
    pub const VERSION: u32 = 1;

    /// Returns the fixed-size encoding (see the type's docs).
    ///
    /// # Consensus
    ///
    /// Rules: [enc-header](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#enc-header)
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        let fields: [&[u8]; 7] = [
            &self.version.to_be_bytes(),
            &self.height.to_be_bytes(),
            self.prev.as_bytes(),
            self.merkle_root.as_bytes(),
            &self.timestamp.to_be_bytes(),
            &self.bits.to_consensus().to_be_bytes(),
            &self.nonce.to_be_bytes(),
        ];
        let mut rest = &mut out[..];
        for field in fields {
            let (head, tail) = rest.split_at_mut(field.len());
            head.copy_from_slice(field);
            rest = tail;
        }
        out
    }

    /// Returns the block hash: the SHA-256 of [`BlockHeader::to_bytes`].
    ///
    /// # Consensus
    ///
    /// Rules: [enc-block-hash](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#enc-block-hash)
    pub fn hash(&self) -> BlockHash {
        BlockHash::from_bytes(sha256(&[&self.to_bytes()]))
    }

    /// Checks that the header's declared target is valid, within the limit, and met by its
    /// hash.
    ///
    /// # Consensus
    ///
    /// > the proof-of-work is checked on the header hash against the target
    ///
    /// This is the context-free half; [`chain`](crate::chain) checks that the declared target
    /// is the one the rules require at this height.
    ///
    /// Rules:
    /// - [pow-compact](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-compact)
    /// - [pow-limit](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-limit)
    /// - [pow-hash](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-hash)
    ///
    /// # Errors
    ///
    /// [`PowError::BadCompactTarget`], [`PowError::AboveLimit`] or [`PowError::HashAboveTarget`].
    pub fn check_pow(&self, params: &Params) -> Result<(), PowError> {
        let target = Target::from_compact(self.bits)?;
        if target > params.pow_limit_target() {
            return Err(PowError::AboveLimit { bits: self.bits, limit: params.pow_limit });
        }
        let hash = self.hash();
        if !target.is_met_by(&hash) {
            return Err(PowError::HashAboveTarget { hash, bits: self.bits });
        }
        Ok(())
    }
}

impl BlockTransaction {
    /// Returns the entry's id.
    pub fn id(&self) -> TxId {
        match self {
            BlockTransaction::Reward(reward) => reward.id(),
            BlockTransaction::Transfer(tx) => tx.id(),
        }
    }
}

impl Block {
    /// Encodes the block canonically ([`codec`]), as peers and the store
    /// carry it.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a block of at most `max` bytes. Decoding checks only the shape: a node's
    /// [`Checker`](crate::Checker) and its chain check the rules.
    ///
    /// # Errors
    ///
    /// [`CodecError`] as for [`codec::decode`].
    pub fn decode(bytes: &[u8], max: usize) -> Result<Block, CodecError> {
        codec::decode(bytes, max)
    }

    /// Returns the block hash.
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// Returns the merkle root of this block's transactions.
    pub fn compute_merkle_root(&self) -> MerkleRoot {
        merkle_root(self.transactions.iter().map(BlockTransaction::id))
    }

    /// Returns the proof that the transaction `id` is in this block (which a holder of the
    /// header checks with [`MerkleProof::verify`] against its merkle root), or `None` if it
    /// is not here. The proof is of the transactions as listed: for a block whose header
    /// does not commit to them (one not checked), it leads to another root.
    pub fn prove(&self, id: &TxId) -> Option<MerkleProof> {
        let ids: Vec<TxId> = self.transactions.iter().map(BlockTransaction::id).collect();
        let index = ids.iter().position(|entry| entry == id)?;
        MerkleProof::new(&ids, index)
    }

    /// Returns the reward, if the first entry is one.
    pub fn reward(&self) -> Option<&Reward> {
        match self.transactions.first() {
            Some(BlockTransaction::Reward(reward)) => Some(reward),
            _ => None,
        }
    }
}

/// Equal if the same block with the same transfers (whichever node checked it).
impl PartialEq for CheckedBlock {
    fn eq(&self, other: &Self) -> bool {
        (&self.header, &self.reward, &self.transfers)
            == (&other.header, &other.reward, &other.transfers)
    }
}

impl Eq for CheckedBlock {}

impl CheckedBlock {
    /// The node whose rules it was checked under.
    pub(crate) fn rules(&self) -> RulesId {
        self.rules
    }

    /// Returns the header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// Returns the block hash.
    pub fn hash(&self) -> BlockHash {
        self.hash
    }

    /// Returns the height.
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// Returns the reward (`None` only for genesis).
    pub fn reward(&self) -> Option<&Reward> {
        self.reward.as_ref()
    }

    /// Returns the verified transfers, in block order.
    pub fn transfers(&self) -> &[VerifiedTransaction] {
        &self.transfers
    }

    /// Returns the size of the block's transfers (their signing bytes and signatures), the
    /// measure of what a block off the main chain costs to keep.
    pub fn transfers_size(&self) -> usize {
        self.transfers.iter().map(VerifiedTransaction::size).sum()
    }

    /// Returns the sum of the transfers' fees (checked not to overflow when the block was
    /// checked).
    pub fn fees(&self) -> Amount {
        fees_of(self.transfers.iter().map(|tx| tx.transaction().fee)).unwrap_or(Amount::MAX)
    }

    /// Returns the ids of the reward and the transfers, in block order, from what the
    /// checked block holds (only the reward's is hashed).
    pub fn transaction_ids(&self) -> impl Iterator<Item = TxId> + '_ {
        let reward = self.reward.iter().map(Reward::id);
        reward.chain(self.transfers.iter().map(VerifiedTransaction::id))
    }

    /// Returns the proof that the transaction `id` is in this checked block, which a
    /// holder of its header checks with [`MerkleProof::verify`] against its merkle root;
    /// `None` if it is not here.
    pub fn prove(&self, id: &TxId) -> Option<MerkleProof> {
        let ids: Vec<TxId> = self.transaction_ids().collect();
        let index = ids.iter().position(|entry| entry == id)?;
        MerkleProof::new(&ids, index)
    }

    /// Rebuilds the plain block.
    pub fn to_block(&self) -> Block {
        let reward = self.reward.iter().cloned().map(BlockTransaction::Reward);
        let transfers =
            self.transfers.iter().map(|tx| BlockTransaction::Transfer(tx.signed().clone()));
        Block { header: self.header, transactions: reward.chain(transfers).collect() }
    }

    /// Replaces every address the block holds by the equal one `shared` gives, as
    /// [`VerifiedTransaction::share_addresses`] does for one transaction.
    pub(crate) fn share_addresses(&mut self, mut shared: impl FnMut(&Address) -> Address) {
        if let Some(reward) = &mut self.reward {
            reward.recipient = shared(&reward.recipient);
        }
        for tx in &mut self.transfers {
            tx.share_addresses(&mut shared);
        }
    }

    /// Wraps the network's genesis block, which is valid by definition.
    pub(crate) fn genesis(params: &Params) -> CheckedBlock {
        let block = params.genesis();
        CheckedBlock {
            header: block.header,
            hash: block.hash(),
            reward: None,
            transfers: vec![],
            rules: RulesId::GENESIS,
        }
    }
}

impl Params {
    /// Returns this network's genesis block: the same on every node.
    ///
    /// It has no transactions; its merkle root commits to every consensus parameter
    /// instead, each named, so networks with different rules have different genesis blocks
    /// and can't mix their chains (the vectors in `tests/data/vectors.json` pin the bytes).
    ///
    /// # Consensus
    ///
    /// Rules:
    /// - [genesis-block](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#genesis-block)
    /// - [genesis-commitment](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#genesis-commitment)
    pub fn genesis(&self) -> Block {
        // Every field by name, with no `..`: a field added to `Params` doesn't compile here
        // until it is committed to (or, if it is not consensus, said so).
        let Params {
            chain_id,
            block_reward,
            halving_interval,
            target_block_secs,
            retarget_interval,
            pow_limit,
            max_block_txs,
            max_tx_bytes,
            max_future_drift_secs,
            median_time_span,
            min_rsa_bits,
            max_rsa_bits,
            genesis_timestamp,
        } = *self;
        let consensus = (
            chain_id,
            (block_reward, halving_interval),
            target_block_secs,
            retarget_interval,
            pow_limit,
            (max_block_txs as u64, max_tx_bytes as u64),
            (max_future_drift_secs, median_time_span as u64),
            (min_rsa_bits as u64, max_rsa_bits as u64),
            genesis_timestamp,
        );
        let commitment = sha256(&[&encode_tagged(GENESIS_TAG, &consensus)]);
        Block {
            header: BlockHeader {
                version: BlockHeader::VERSION,
                height: 0,
                prev: BlockHash::ZERO,
                merkle_root: MerkleRoot::from_bytes(commitment),
                timestamp: genesis_timestamp,
                bits: pow_limit,
                nonce: 0,
            },
            transactions: vec![],
        }
    }
}

/// Why [`check_in_isolation`] refused a block, and what of it may be remembered.
#[derive(Debug)]
pub(crate) struct Rejection {
    /// What is wrong.
    pub(crate) error: BlockError,
    /// How far the block's hash identifies what was refused.
    pub(crate) scope: RejectionScope,
}

/// How far a block's hash identifies what was refused.
#[derive(Debug)]
pub(crate) enum RejectionScope {
    /// Not at all: the body may not be the one the header commits to (a wrong merkle
    /// root, too many entries), or the header costs nothing to check again (proof of
    /// work). Nothing is remembered.
    Nothing,
    /// Entirely: every block with this hash has this fault.
    Hash,
    /// Together with the signature at this position: a transaction id does not cover its
    /// signature, so the same header with another signature there may be valid.
    Signature(usize, Signature),
}

impl From<BlockError> for Rejection {
    fn from(error: BlockError) -> Self {
        Rejection { error, scope: RejectionScope::Hash }
    }
}

/// Checks everything about a block that does not depend on the chain, reusing transfers
/// already verified (typically the mempool's): `verified(tx)` returns the verified form
/// of a transfer identical to `tx`, signature included, and its signature is not checked
/// again. A refusal tells how far the block's hash identifies it (for the invalid-block
/// cache). Reached through [`Checker::check_block`](crate::Checker::check_block).
///
/// # Consensus
///
/// > Blocks: header commits to the previous block hash, a merkle root of its
/// > transactions, timestamp, target and nonce; the proof-of-work is checked on the header
/// > hash
///
/// > The miner's reward goes to the miner's wallet address, once per block: exactly the
/// > subsidy at that height [...] plus the fees of the block's transactions.
///
/// Rules:
/// - [block-version](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-version)
/// - [pow-compact](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-compact)
/// - [pow-limit](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-limit)
/// - [pow-hash](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-hash)
/// - [block-count](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-count)
/// - [block-merkle-root](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-merkle-root)
/// - [block-reward-first](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-reward-first)
/// - [block-no-duplicates](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-no-duplicates)
/// - [block-transfers](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-transfers)
/// - [block-fees](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-fees)
/// - [reward-height](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#reward-height)
/// - [reward-amount](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#reward-amount)
/// - [reward-recipient](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#reward-recipient)
///
/// # Errors
///
/// A [`Rejection`] with the first [`BlockError`] found, cheapest checks first: the header's version and proof
/// of work, the count, the merkle root, the reward's place, duplicates, each transfer's
/// network, amount and size, the reward's amount, and only then the signatures.
pub(crate) fn check_in_isolation(
    block: Block,
    verifier: &impl Verifier,
    params: &Params,
    rules: RulesId,
    verified: impl Fn(&IdentifiedTransaction) -> Option<VerifiedTransaction>,
) -> Result<CheckedBlock, Rejection> {
    let forget = |error: BlockError| Rejection { error, scope: RejectionScope::Nothing };
    version_is_valid(&block.header).map_err(forget)?;
    block.header.check_pow(params).map_err(|e| forget(e.into()))?;
    count_is_valid(&block, params).map_err(forget)?;
    let hash = block.hash();
    let header = block.header;
    // Each entry's id is computed once, for the merkle root, the look-up and the signature.
    let entries: Vec<Identified> = block.transactions.into_iter().map(Identified::new).collect();
    merkle_root_is_valid(&header, entries.iter().map(Identified::id)).map_err(forget)?;
    // From here on the entries are the ones the header commits to.
    let mut entries = entries.into_iter();
    let (reward, reward_id) = match entries.next() {
        Some(Identified::Reward(reward, id)) => (reward, id),
        _ => return Err(BlockError::MissingReward.into()),
    };
    let mut transfers = Vec::with_capacity(entries.len());
    for (index, entry) in entries.enumerate().map(|(i, e)| (i + 1, e)) {
        match entry {
            Identified::Transfer(tx) => transfers.push((index, tx)),
            Identified::Reward(..) => return Err(BlockError::ExtraReward { index }.into()),
        }
    }
    let mut seen = BTreeSet::from([reward_id]);
    for (_, tx) in &transfers {
        if !seen.insert(tx.id()) {
            return Err(BlockError::DuplicateTransaction { id: tx.id() }.into());
        }
    }
    for (index, tx) in &transfers {
        tx.check_cheap(params).map_err(|source| {
            // A transfer's size counts its signature, which its id does not cover.
            let scope = match source {
                TxError::TooLarge { .. } => {
                    RejectionScope::Signature(*index, tx.signed().signature.clone())
                }
                _ => RejectionScope::Hash,
            };
            Rejection { error: BlockError::Transaction { index: *index, source }, scope }
        })?;
    }
    let fees = fees_of(transfers.iter().map(|(_, tx)| tx.signed().transaction.fee))
        .ok_or(BlockError::FeesTooLarge)?;
    reward_is_valid(&reward, header.height, fees, verifier, params)?;
    // The signatures last: all that is cheap to refuse has been.
    let mut checked = Vec::with_capacity(transfers.len());
    for (index, tx) in transfers {
        let reusable =
            |known: &VerifiedTransaction| known.rules() == rules && known.signed() == tx.signed();
        let tx = match verified(&tx).filter(reusable) {
            Some(known) => known,
            None => {
                let signature = tx.signed().signature.clone();
                tx.check_in_isolation(verifier, params, rules).map_err(|source| {
                    let scope = match source {
                        TxError::BadSignature(_) => RejectionScope::Signature(index, signature),
                        _ => RejectionScope::Hash,
                    };
                    Rejection { error: BlockError::Transaction { index, source }, scope }
                })?
            }
        };
        checked.push(tx);
    }
    Ok(CheckedBlock { header, hash, reward: Some(reward), transfers: checked, rules })
}

/// A block entry with its id computed.
enum Identified {
    Reward(Reward, TxId),
    Transfer(IdentifiedTransaction),
}

impl Identified {
    fn new(entry: BlockTransaction) -> Self {
        match entry {
            BlockTransaction::Reward(reward) => {
                let id = reward.id();
                Identified::Reward(reward, id)
            }
            BlockTransaction::Transfer(tx) => Identified::Transfer(tx.identify()),
        }
    }

    fn id(&self) -> TxId {
        match self {
            Identified::Reward(_, id) => *id,
            Identified::Transfer(tx) => tx.id(),
        }
    }
}

/// Adds up fees, or `None` past [`Amount::MAX`].
fn fees_of(fees: impl IntoIterator<Item = Amount>) -> Option<Amount> {
    fees.into_iter().try_fold(Amount::ZERO, Amount::checked_add)
}

/// Checks that the header's version is [`BlockHeader::VERSION`].
///
/// # Consensus
///
/// > exactly the versions this code knows, refused otherwise.
///
/// Rules: [block-version](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-version)
///
/// # Errors
///
/// [`BlockError::UnknownVersion`].
pub(crate) fn version_is_valid(header: &BlockHeader) -> Result<(), BlockError> {
    if header.version != BlockHeader::VERSION {
        return Err(BlockError::UnknownVersion {
            version: header.version,
            known: BlockHeader::VERSION,
        });
    }
    Ok(())
}

/// Checks that the block has between one and [`Params::max_block_txs`] transactions.
///
/// # Consensus
///
/// Rules: [block-count](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-count)
///
/// # Errors
///
/// [`BlockError::MissingReward`] or [`BlockError::TooManyTransactions`].
pub(crate) fn count_is_valid(block: &Block, params: &Params) -> Result<(), BlockError> {
    let count = block.transactions.len();
    if count == 0 {
        return Err(BlockError::MissingReward);
    }
    if count > params.max_block_txs {
        return Err(BlockError::TooManyTransactions { count, max: params.max_block_txs });
    }
    Ok(())
}

/// Checks that the header's merkle root is that of the block's transaction ids, in order.
///
/// # Consensus
///
/// Rules: [block-merkle-root](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-merkle-root)
///
/// # Errors
///
/// [`BlockError::BadMerkleRoot`].
pub(crate) fn merkle_root_is_valid(
    header: &BlockHeader,
    ids: impl IntoIterator<Item = TxId>,
) -> Result<(), BlockError> {
    let expected = merkle_root(ids);
    if header.merkle_root != expected {
        return Err(BlockError::BadMerkleRoot { expected, actual: header.merkle_root });
    }
    Ok(())
}

/// Checks the reward: this block's height, exactly the subsidy at that height
/// ([`Params::reward_at`]) plus `fees`, a valid wallet.
///
/// # Consensus
///
/// > The miner's reward goes to the miner's wallet address, once per block: exactly the
/// > subsidy at that height [...] plus the fees of the block's transactions.
///
/// Rules:
/// - [reward-height](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#reward-height)
/// - [reward-amount](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#reward-amount)
/// - [reward-recipient](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#reward-recipient)
/// - [block-fees](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#block-fees)
///
/// # Errors
///
/// [`BlockError::WrongRewardHeight`], [`BlockError::FeesTooLarge`],
/// [`BlockError::WrongRewardAmount`] or [`BlockError::BadRewardRecipient`].
pub(crate) fn reward_is_valid(
    reward: &Reward,
    height: u64,
    fees: Amount,
    verifier: &impl Verifier,
    params: &Params,
) -> Result<(), BlockError> {
    if reward.height != height {
        return Err(BlockError::WrongRewardHeight { expected: height, actual: reward.height });
    }
    let expected = params.reward_at(height).checked_add(fees).ok_or(BlockError::FeesTooLarge)?;
    if reward.amount != expected {
        return Err(BlockError::WrongRewardAmount { expected, actual: reward.amount });
    }
    verifier.check_address(&reward.recipient).map_err(BlockError::BadRewardRecipient)
}
