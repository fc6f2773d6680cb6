//! The JSON shapes of the API and their conversions to and from core types.
//!
//! The original's field names are kept where it had them (`index`, `proof`,
//! `previous_hash`, `sender`, `recipient`, `amount`, `signature`); what the original
//! lacked is added beside them. Amounts are integers of the smallest unit and go through
//! the core's [`Amount`] door, so negative, fractional, zero and out-of-range numbers are
//! rejected while parsing.

use gophercoin_core::{
    Address, Amount, Block, BlockHash, BlockHeader, BlockTransaction, CheckedBlock, CompactTarget,
    MerkleProof, MerkleRoot, Reward, Signature, SignedTransaction, Target, Transaction, TxId,
    VerifiedTransaction, amount,
};
use serde::{Deserialize, Serialize};

/// A transfer as the API shows and accepts it: the original's four fields plus the nonce
/// and chain id that are signed with them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionDto {
    /// The transaction id (ignored on input: it is computed).
    #[serde(default)]
    pub id: Option<TxId>,
    /// The paying wallet (hex DER public key).
    pub sender: Address,
    /// The paid wallet.
    pub recipient: Address,
    /// Units to pay; positive.
    #[serde(deserialize_with = "amount::deserialize_positive")]
    pub amount: Amount,
    /// Units paid to the miner who includes it; zero if left out.
    #[serde(default)]
    pub fee: Amount,
    /// The sender's nonce.
    pub nonce: u64,
    /// The network id; the node's own if left out.
    #[serde(default)]
    pub chain_id: Option<u32>,
    /// The sender's signature (hex).
    pub signature: Signature,
}

/// One entry of a block's transaction list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BlockTransactionDto {
    /// The miner's reward.
    Reward {
        /// The reward's id (ignored on input).
        #[serde(default)]
        id: Option<TxId>,
        /// Who mints it: always the network ("GOPHER COIN" in the original; ignored on
        /// input).
        #[serde(default = "reward_sender")]
        sender: String,
        /// The miner's wallet.
        recipient: Address,
        /// The block reward.
        amount: Amount,
    },
    /// A signed transfer.
    Transfer(TransactionDto),
}

impl BlockTransactionDto {
    /// Shows a block's reward.
    pub fn from_reward(reward: &Reward) -> Self {
        BlockTransactionDto::Reward {
            id: Some(reward.id()),
            sender: reward_sender(),
            recipient: reward.recipient.clone(),
            amount: reward.amount,
        }
    }
}

/// `GET /chain`'s answer: a run of main-chain blocks and the main chain's length.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainDto {
    /// The blocks asked for, by height.
    pub chain: Vec<BlockDto>,
    /// How many blocks the main chain has, genesis included.
    pub length: u64,
}

/// A block as the API shows and accepts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockDto {
    /// The height (the original's `index`; genesis is 0).
    pub index: u64,
    /// The header hash (ignored on input: it is computed).
    #[serde(default)]
    pub hash: Option<BlockHash>,
    /// The parent's hash.
    pub previous_hash: BlockHash,
    /// The merkle root of the transaction ids.
    pub merkle_root: MerkleRoot,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// The compact target, 8 hex digits.
    #[serde(with = "gophercoin_core::pow::compact_hex")]
    pub target: CompactTarget,
    /// The proof-of-work nonce.
    pub nonce: u64,
    /// The original's name for the proof of work: the nonce (ignored on input).
    #[serde(default)]
    pub proof: u64,
    /// The header version.
    pub version: u32,
    /// The reward first, then the transfers.
    pub transactions: Vec<BlockTransactionDto>,
}

fn reward_sender() -> String {
    REWARD_SENDER.to_owned()
}

/// What the API shows as the sender of a reward.
pub const REWARD_SENDER: &str = "GOPHER COIN";

impl TransactionDto {
    /// Shows a signed transaction.
    pub fn from_signed(tx: &SignedTransaction) -> Self {
        TransactionDto::with_id(tx, tx.id())
    }

    /// Shows a verified transaction, with the id it already holds.
    pub fn from_verified(tx: &VerifiedTransaction) -> Self {
        TransactionDto::with_id(tx.signed(), tx.id())
    }

    fn with_id(tx: &SignedTransaction, id: TxId) -> Self {
        let t = &tx.transaction;
        TransactionDto {
            id: Some(id),
            sender: t.sender.clone(),
            recipient: t.recipient.clone(),
            amount: t.amount,
            fee: t.fee,
            nonce: t.nonce,
            chain_id: Some(t.chain_id),
            signature: tx.signature.clone(),
        }
    }

    /// Turns the wire form into the core's, with `chain_id` defaulting to ours.
    pub fn into_signed(self, chain_id: u32) -> SignedTransaction {
        SignedTransaction {
            transaction: Transaction {
                chain_id: self.chain_id.unwrap_or(chain_id),
                sender: self.sender,
                recipient: self.recipient,
                amount: self.amount,
                fee: self.fee,
                nonce: self.nonce,
            },
            signature: self.signature,
        }
    }
}

/// The wallet service's answer to `POST /transactions/generate`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratedTransaction {
    /// The signed payload.
    pub transaction: Transaction,
    /// The sender's signature over it.
    pub signature: Signature,
    /// The transaction id (ignored on input: it is computed).
    #[serde(default)]
    pub id: Option<TxId>,
}

/// The body of `POST /transactions/new`: the flat form
/// `{sender, recipient, amount, fee?, nonce, chain_id?, signature}` (no fee means fee 0), or the wallet service's
/// answer `{transaction: {..}, signature, id?}` as it is.
///
/// One struct for both shapes, so serde itself refuses unknown and duplicate fields.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTransaction {
    sender: Option<Address>,
    recipient: Option<Address>,
    #[serde(default, deserialize_with = "positive_amount")]
    amount: Option<Amount>,
    fee: Option<Amount>,
    nonce: Option<u64>,
    chain_id: Option<u32>,
    transaction: Option<Transaction>,
    signature: Signature,
    #[serde(default)]
    #[allow(dead_code, reason = "accepted and ignored: the id is computed")]
    id: Option<TxId>,
}

fn positive_amount<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Amount>, D::Error> {
    amount::deserialize_positive(deserializer).map(Some)
}

impl NewTransaction {
    /// Turns either shape into the core's transaction, `chain_id` defaulting to ours.
    ///
    /// # Errors
    ///
    /// A message naming the missing or conflicting fields.
    pub fn into_signed(self, chain_id: u32) -> Result<SignedTransaction, String> {
        let flat_fields = [
            self.sender.is_some(),
            self.recipient.is_some(),
            self.amount.is_some(),
            self.nonce.is_some(),
        ];
        match (self.transaction, self.sender, self.recipient, self.amount, self.nonce) {
            (Some(transaction), None, None, None, None)
                if self.chain_id.is_none() && self.fee.is_none() =>
            {
                Ok(SignedTransaction { transaction, signature: self.signature })
            }
            (Some(_), ..) => Err("give either `transaction` or its fields, not both".into()),
            (None, Some(sender), Some(recipient), Some(amount), Some(nonce)) => {
                Ok(SignedTransaction {
                    transaction: Transaction {
                        chain_id: self.chain_id.unwrap_or(chain_id),
                        sender,
                        recipient,
                        amount,
                        fee: self.fee.unwrap_or_default(),
                        nonce,
                    },
                    signature: self.signature,
                })
            }
            (None, ..) => {
                let names = ["sender", "recipient", "amount", "nonce"];
                let missing: Vec<_> = names
                    .iter()
                    .zip(flat_fields)
                    .filter(|(_, given)| !given)
                    .map(|(n, _)| *n)
                    .collect();
                Err(format!("missing field(s): {}", missing.join(", ")))
            }
        }
    }
}

impl BlockDto {
    /// Shows a block.
    pub fn from_block(block: &Block) -> Self {
        let transactions = block
            .transactions
            .iter()
            .map(|entry| match entry {
                BlockTransaction::Reward(reward) => BlockTransactionDto::from_reward(reward),
                BlockTransaction::Transfer(tx) => {
                    BlockTransactionDto::Transfer(TransactionDto::from_signed(tx))
                }
            })
            .collect();
        BlockDto::with_header(&block.header, block.hash(), transactions)
    }

    /// Shows a checked block, with the hash and transfer ids it already holds.
    pub fn from_checked(block: &CheckedBlock) -> Self {
        let reward = block.reward().map(BlockTransactionDto::from_reward);
        let transfers = block
            .transfers()
            .iter()
            .map(|tx| BlockTransactionDto::Transfer(TransactionDto::from_verified(tx)));
        BlockDto::with_header(
            block.header(),
            block.hash(),
            reward.into_iter().chain(transfers).collect(),
        )
    }

    fn with_header(
        header: &BlockHeader,
        hash: BlockHash,
        transactions: Vec<BlockTransactionDto>,
    ) -> Self {
        BlockDto {
            index: header.height,
            hash: Some(hash),
            previous_hash: header.prev,
            merkle_root: header.merkle_root,
            timestamp: header.timestamp,
            target: header.bits,
            nonce: header.nonce,
            proof: header.nonce,
            version: header.version,
            transactions,
        }
    }

    /// Turns the wire form into the core's block (which the core then checks).
    pub fn into_block(self, chain_id: u32) -> Block {
        let height = self.index;
        let transactions = self
            .transactions
            .into_iter()
            .map(|entry| match entry {
                BlockTransactionDto::Reward { recipient, amount, .. } => {
                    BlockTransaction::Reward(Reward { height, recipient, amount })
                }
                BlockTransactionDto::Transfer(dto) => {
                    BlockTransaction::Transfer(dto.into_signed(chain_id))
                }
            })
            .collect();
        Block {
            header: BlockHeader {
                version: self.version,
                height,
                prev: self.previous_hash,
                merkle_root: self.merkle_root,
                timestamp: self.timestamp,
                bits: self.target,
                nonce: self.nonce,
            },
            transactions,
        }
    }
}

/// A block header as the API shows it: a block's fields without its transactions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderDto {
    /// The height.
    pub index: u64,
    /// The header hash.
    pub hash: BlockHash,
    /// The parent's hash.
    pub previous_hash: BlockHash,
    /// The merkle root of the block's transaction ids.
    pub merkle_root: MerkleRoot,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// The compact target, 8 hex digits.
    #[serde(with = "gophercoin_core::pow::compact_hex")]
    pub target: CompactTarget,
    /// The proof-of-work nonce.
    pub nonce: u64,
    /// The header version.
    pub version: u32,
}

impl HeaderDto {
    /// Shows a header.
    pub fn from_header(header: &BlockHeader) -> Self {
        HeaderDto {
            index: header.height,
            hash: header.hash(),
            previous_hash: header.prev,
            merkle_root: header.merkle_root,
            timestamp: header.timestamp,
            target: header.bits,
            nonce: header.nonce,
            version: header.version,
        }
    }

    /// The core's header, if it hashes to the hash shown and meets its own target.
    ///
    /// # Errors
    ///
    /// A message saying which of those fails.
    pub fn to_header(&self) -> Result<BlockHeader, String> {
        let header = BlockHeader {
            version: self.version,
            height: self.index,
            prev: self.previous_hash,
            merkle_root: self.merkle_root,
            timestamp: self.timestamp,
            bits: self.target,
            nonce: self.nonce,
        };
        let hash = header.hash();
        if hash != self.hash {
            return Err(format!("the header hashes to {hash}, not to {}", self.hash));
        }
        let target = Target::from_compact(header.bits).map_err(|e| e.to_string())?;
        if !target.is_met_by(&hash) {
            return Err(format!("the header {hash} does not meet its own target {}", self.target));
        }
        Ok(header)
    }
}

/// `GET /transactions/{id}/proof`: a confirmed transaction's block header and the merkle
/// branch from the transaction to the header's root, so a client holding headers alone
/// can check that the block holds it ([`InclusionProofDto::check`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofDto {
    /// The transaction's id.
    pub transaction: TxId,
    /// The block holding it, on the node's main chain.
    pub block: BlockHash,
    /// That block's height.
    pub height: u64,
    /// Blocks on the main chain from that block to the tip, both counted.
    pub confirmations: u64,
    /// That block's header.
    pub header: HeaderDto,
    /// The merkle branch from the transaction to the header's merkle root.
    pub proof: MerkleProof,
}

impl InclusionProofDto {
    /// Checks the answer on its own: the header hashes to `block` and meets its own
    /// target, is at `height`, and the proof leads from `transaction` to its merkle root.
    /// It does not say that the header is on the best chain, nor that its target is the
    /// one the network asked for: that is for the client's own view of the headers (a
    /// node can make up a header of an easy target around any root).
    ///
    /// # Errors
    ///
    /// A message saying what does not hold.
    pub fn check(&self) -> Result<(), String> {
        let header = self.header.to_header()?;
        if header.hash() != self.block || header.height != self.height {
            return Err(format!(
                "the header is block {} at height {}, the answer names {} at {}",
                header.hash(),
                header.height,
                self.block,
                self.height
            ));
        }
        self.proof.verify(&self.transaction, &header.merkle_root).map_err(|e| e.to_string())
    }
}

// The node's answers. Served by the routes and read by clients (the `gophercoin` program),
// so the two can't drift apart; clients ignore fields they don't know, so a newer node's
// additions don't break them.

/// `GET /health`: the node at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthAnswer {
    /// Always `ok`: a node that answers is up.
    pub status: String,
    /// The network's chain id, signed into every transaction.
    pub chain_id: u32,
    /// The main chain's height.
    pub height: u64,
    /// The main chain's tip.
    pub tip: BlockHash,
    /// Pending transactions.
    pub mempool: usize,
    /// Registered peers (the original's HTTP peers).
    pub peers: usize,
    /// The subsidy of the next block.
    pub reward: Amount,
    /// Blocks between halvings of the subsidy (0: never).
    pub halving_interval: u64,
    /// The height of the next halving, while the subsidy is not yet 0.
    pub next_halving: Option<u64>,
    /// Coins in existence at the tip.
    pub supply: Amount,
    /// Units in one coin ([`Amount::UNITS_PER_COIN`]): how a client shows amounts, all
    /// in units, in coins (a node that does not say has the same).
    #[serde(default = "units_per_coin")]
    pub units_per_coin: u64,
    /// The lowest fee rate the mempool relays, in units per byte.
    pub min_relay_fee: u64,
    /// The node's own API URL, when it knows one others can use.
    pub url: Option<String>,
    /// Its place in the peer network, once it listens there.
    pub p2p: Option<LocalPeer>,
    /// Its peer-network connections.
    pub connections: ConnectionCounts,
}

fn units_per_coin() -> u64 {
    Amount::UNITS_PER_COIN
}

/// Peer-network connections by direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCounts {
    /// Dialled by others.
    pub inbound: usize,
    /// Dialled by this node.
    pub outbound: usize,
}

/// `GET /balance/{address}`: a wallet's balance at the tip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceAnswer {
    /// The wallet.
    pub address: Address,
    /// Its balance at the tip.
    pub balance: Amount,
    /// What its pending transactions spend (amounts and fees).
    pub pending_spend: Amount,
    /// The tip's height.
    pub height: u64,
}

/// `GET /blocks/{hash}` and `GET /blocks/height/{height}`: a block, and whether it is on
/// the main chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAnswer {
    /// The block.
    pub block: BlockDto,
    /// Whether it is on the main chain (a block of a side branch is not).
    pub main_chain: bool,
}

/// `GET /transactions/{id}`: a pending or a confirmed transaction (`status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TransactionAnswer {
    /// In the mempool.
    Pending {
        /// The transaction.
        transaction: TransactionDto,
    },
    /// In a main-chain block.
    Confirmed {
        /// The transaction, as the block lists it.
        transaction: BlockTransactionDto,
        /// The block holding it.
        block: BlockHash,
        /// That block's height.
        height: u64,
        /// Blocks on the main chain from that block to the tip, both counted.
        confirmations: u64,
    },
}

/// `POST /transactions/new`: the original's message, and the id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedAnswer {
    /// `Transaction will be added to Block N`, as the original said.
    pub message: String,
    /// The transaction's id.
    pub id: TxId,
}

/// `POST /nodes/register` and `DELETE /nodes/{url}`: what changed, and the peers now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersAnswer {
    /// What changed, in a sentence.
    pub message: String,
    /// The registered peers.
    pub total_nodes: Vec<String>,
}

/// `GET /nodes/resolve`: what asking each peer gave, and the first page of the chain
/// (under `new_chain` when it was replaced, `chain` otherwise, as the original named it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveAnswer {
    /// `Our chain was replaced` or `Our chain is authoritative`.
    pub message: String,
    /// Each peer's outcome.
    pub peers: Vec<PeerReport>,
    /// The first blocks of the main chain, from genesis.
    #[serde(alias = "new_chain")]
    pub chain: Vec<BlockDto>,
    /// How many blocks the main chain has.
    pub length: u64,
}

/// `GET /mine`: the block this node mined, in the original's words (`proof` is the
/// nonce, as the original named it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinedAnswer {
    /// `New Block Forged!`, as the original said.
    pub message: String,
    /// The block's height.
    pub index: u64,
    /// Its transactions, the reward first.
    pub transactions: Vec<BlockTransactionDto>,
    /// The nonce, under the original's name.
    pub proof: u64,
    /// The parent's hash.
    pub previous_hash: BlockHash,
    /// The block's hash.
    pub hash: Option<BlockHash>,
    /// The nonce.
    pub nonce: u64,
    /// The compact target, 8 hex digits.
    #[serde(with = "gophercoin_core::pow::compact_hex")]
    pub target: CompactTarget,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
}

/// `GET /mining/template`: a block to solve, and where its nonce sits in the header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateAnswer {
    /// The block, nonce 0.
    pub block: BlockDto,
    /// Its header's bytes in hex, as they are hashed.
    pub header_hex: String,
    /// The target in hex (big-endian): a header hash at most this is solved.
    pub target_hex: String,
    /// The byte offset of the 8-byte nonce in the header.
    pub nonce_offset: usize,
}

/// `POST /mining/submit` (and `POST /blocks`): what the block did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitAnswer {
    /// `extended the chain`, `reorganized the chain` or `stored on a side branch`.
    pub message: String,
    /// The block's hash.
    pub hash: BlockHash,
    /// Its height.
    pub index: u64,
}

/// A node's addresses in the peer network, as `GET /health` shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalPeer {
    /// Its peer id.
    pub peer_id: String,
    /// The addresses it listens on (as configured, with the port picked for port 0).
    pub listen: Vec<String>,
    /// The address it tells peers to dial (with `/p2p/<peer id>`), if it has one they can
    /// dial: an external one, or a listening one that is not `0.0.0.0` or `[::]`.
    pub advertised: Option<String>,
}

/// What asking one peer gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerReport {
    /// The peer.
    pub peer: String,
    /// How it ended.
    pub outcome: ResolveOutcome,
    /// What kind of refusal, when rejected, as an error answer's `error` names it: the
    /// core's kind when it refused the peer's blocks (`bad_merkle_root`,
    /// `foreign_genesis`, ...), or what went wrong asking the peer (`peer_unreachable`,
    /// `peer_status`, `too_large`, `malformed`). What a program matches on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why, when rejected, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How asking one peer for its chain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveOutcome {
    /// Its chain is now ours.
    Adopted,
    /// We already hold its chain, tip and all.
    InSync,
    /// Ours is better.
    KeptOurs,
    /// It sent no chain we could take (the report's `reason` says why).
    Rejected,
    /// A peer registered by its multiaddr has no HTTP API to ask: the peer network syncs it.
    PeerNetwork,
}

impl ResolveOutcome {
    /// The outcome as the API writes it: `adopted`, `in_sync`, ...
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ResolveOutcome::Adopted => "adopted",
            ResolveOutcome::InSync => "in_sync",
            ResolveOutcome::KeptOurs => "kept_ours",
            ResolveOutcome::Rejected => "rejected",
            ResolveOutcome::PeerNetwork => "peer_network",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_through_json() {
        let params = gophercoin_core::Params::devnet();
        let key: gophercoin_core::RsaSigner =
            include_str!("../tests/data/alice.pkcs8.hex").trim().parse().unwrap();
        let mut node = gophercoin_core::Node::devnet();
        let _ = node.mine_block(
            &gophercoin_core::Signer::address(&key),
            gophercoin_core::UnixTime::from_secs(params.genesis_timestamp + 5),
        );
        let tx = Transaction {
            chain_id: params.chain_id,
            sender: gophercoin_core::Signer::address(&key),
            recipient: gophercoin_core::Signer::address(&key),
            amount: Amount::positive(3).unwrap(),
            fee: Amount::ZERO,
            nonce: 9,
        }
        .sign(&key)
        .unwrap();
        node.handle_transaction(tx).unwrap();
        let _ = node.mine_block(
            &gophercoin_core::Signer::address(&key),
            gophercoin_core::UnixTime::from_secs(params.genesis_timestamp + 10),
        );
        let block = node.chain().tip().to_block();
        assert_eq!(block.transactions.len(), 2, "the reward and the transfer");
        // The checked block's view, from the hash and ids it holds, is the recomputed one.
        let shown = BlockDto::from_block(&block);
        assert_eq!(BlockDto::from_checked(node.chain().tip()), shown);
        assert_eq!(shown.hash, Some(block.hash()));
        let json = serde_json::to_string(&shown).unwrap();
        let back: BlockDto = serde_json::from_str(&json).unwrap();
        assert_eq!(back.into_block(params.chain_id), block);
        let mut extra: serde_json::Value = serde_json::from_str(&json).unwrap();
        extra["transactions"][1]["tip"] = 1.into();
        assert!(serde_json::from_value::<BlockDto>(extra).is_err(), "unknown fields are refused");
    }
}

/// Something that happened in a node, as `GET /events` reports it: the SSE event's type
/// names the variant ([`LiveEvent::kind`]) and its data is the variant's fields as JSON
/// ([`LiveEvent::data`]); a client reads one back with [`LiveEvent::from_sse`].
///
/// ```
/// use gophercoin_http::dto::LiveEvent;
///
/// let event = LiveEvent::from_sse("peer_gone", r#"{"peer": 7}"#)?;
/// assert_eq!(event, LiveEvent::PeerGone { peer: 7 });
/// assert_eq!((event.kind(), event.data()), ("peer_gone", r#"{"peer":7}"#.to_owned()));
/// assert!(LiveEvent::from_sse("peer_gone", r#"{"peer": "seven"}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LiveEvent {
    /// The main chain has a new tip.
    Tip {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
    },
    /// A block joined the main chain.
    BlockConnected {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
    },
    /// A block left the main chain.
    BlockDisconnected {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
    },
    /// A transaction is pending.
    Transaction {
        /// Its id.
        id: TxId,
    },
    /// A transaction left the mempool.
    TransactionDropped {
        /// Its id.
        id: TxId,
    },
    /// What was reported may not hold: the client should fetch the state again.
    Reset {
        /// Why.
        reason: String,
    },
    /// A peer connection is up.
    PeerConnected {
        /// The connection's number in this run.
        peer: u64,
        /// Who dialled.
        direction: PeerDirection,
        /// The peer's address, if known.
        address: Option<String>,
    },
    /// A peer connection is down.
    PeerGone {
        /// The connection's number in this run.
        peer: u64,
    },
}

/// The fields of a [`LiveEvent`], as its SSE data shows them.
#[derive(Serialize)]
#[serde(untagged)]
enum Fields<'a> {
    Block { hash: &'a BlockHash, height: &'a u64 },
    Transaction { id: &'a TxId },
    Reset { reason: &'a str },
    PeerConnected { peer: &'a u64, direction: &'a PeerDirection, address: &'a Option<String> },
    PeerGone { peer: &'a u64 },
}

/// Who dialled a peer connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerDirection {
    /// The peer dialled this node.
    Inbound,
    /// This node dialled the peer.
    Outbound,
}

impl LiveEvent {
    /// The SSE event type.
    pub fn kind(&self) -> &'static str {
        match self {
            LiveEvent::Tip { .. } => "tip",
            LiveEvent::BlockConnected { .. } => "block_connected",
            LiveEvent::BlockDisconnected { .. } => "block_disconnected",
            LiveEvent::Transaction { .. } => "transaction",
            LiveEvent::TransactionDropped { .. } => "transaction_dropped",
            LiveEvent::Reset { .. } => "reset",
            LiveEvent::PeerConnected { .. } => "peer_connected",
            LiveEvent::PeerGone { .. } => "peer_gone",
        }
    }

    /// The SSE event's data: the variant's fields as a JSON object, in their order.
    pub fn data(&self) -> String {
        let fields = match self {
            LiveEvent::Tip { hash, height }
            | LiveEvent::BlockConnected { hash, height }
            | LiveEvent::BlockDisconnected { hash, height } => Fields::Block { hash, height },
            LiveEvent::Transaction { id } | LiveEvent::TransactionDropped { id } => {
                Fields::Transaction { id }
            }
            LiveEvent::Reset { reason } => Fields::Reset { reason },
            LiveEvent::PeerConnected { peer, direction, address } => {
                Fields::PeerConnected { peer, direction, address }
            }
            LiveEvent::PeerGone { peer } => Fields::PeerGone { peer },
        };
        // A few numbers, hashes and names: their encoding does not fail.
        serde_json::to_string(&fields).unwrap_or_default()
    }

    /// Reads an event from an SSE event's type and data.
    ///
    /// # Errors
    ///
    /// The JSON error if the data is not JSON, the type is not one of [`LiveEvent`]'s
    /// (a newer node's, say), or the data does not fit the type.
    pub fn from_sse(kind: &str, data: &str) -> Result<LiveEvent, serde_json::Error> {
        let data: serde_json::Value = serde_json::from_str(data)?;
        serde_json::from_value(serde_json::json!({ "event": kind, "data": data }))
    }
}
