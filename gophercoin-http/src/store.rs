//! Durable storage in an embedded ACID database ([`redb`]).
//!
//! The store mirrors the core's main chain and mempool: the
//! [`Node`](gophercoin_core::Node)'s `BlockConnected` / `BlockDisconnected`,
//! `RelayTransaction` (accepted) and `TransactionDropped` events become one write
//! transaction each batch, committed (fsync'd) before the request that caused them is
//! answered; batches queued while one commits go into the next commit together. A crash loses at
//! most the batch being written; redb's copy-on-write commit never exposes half of one.
//! Schema (see `docs/adr/0004-store-schema.md`):
//!
//! | table | key | value |
//! |---|---|---|
//! | `blocks` | block hash (32 bytes) | the block's canonical encoding |
//! | `main` | height (u64) | block hash |
//! | `tx_index` | transaction id | hash of the main-chain block holding it |
//! | `peers` | peer URL | nothing |
//! | `mempool_log` | arrival number (u64) | the pending transaction's id, then its canonical encoding |
//! | `meta` | `"version"`, `"genesis"` | format version, genesis hash |

use std::{collections::HashMap, path::Path, sync::Mutex};

use gophercoin_core::{Block, BlockHash, SignedTransaction, TxId};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::peers::PeerUrl;

const BLOCKS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blocks");
const MAIN: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("main");
const TX_INDEX: TableDefinition<&[u8; 32], &[u8; 32]> = TableDefinition::new("tx_index");
const PEERS: TableDefinition<&str, ()> = TableDefinition::new("peers");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Pending transactions in arrival order: a commit of newly accepted ones appends to the
/// table's last pages instead of touching one page per transaction, as keys by id did.
const MEMPOOL: TableDefinition<u64, &[u8]> = TableDefinition::new("mempool_log");
/// The pending transactions by id, as an earlier version stored them; moved into
/// [`MEMPOOL`] when such a store is opened.
const MEMPOOL_BY_ID: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("mempool");

/// The store's format version: 2 since pending transactions are kept in arrival order
/// (a version-1 store is moved to it when opened; a binary that knows only version 1
/// refuses a version-2 store instead of losing its pending transactions).
const FORMAT_VERSION: &[u8] = b"2";
/// The format before the arrival-ordered mempool.
const FORMAT_VERSION_1: &[u8] = b"1";
/// The most bytes a stored block may have.
const MAX_BLOCK_BYTES: usize = 16 << 20;

/// The node's database file.
pub struct Store {
    db: Database,
    /// Where each stored pending transaction is in [`MEMPOOL`], and the next free
    /// number; changed only together with a write, under this lock.
    pending_keys: Mutex<PendingKeys>,
}

#[derive(Debug, Default)]
struct PendingKeys {
    by_id: HashMap<TxId, u64>,
    next: u64,
}

/// A change to the stored main chain, in the order the core made it.
#[derive(Clone, Debug)]
pub enum StoreOp {
    /// A block joined the main chain at its height.
    Connect(Box<Block>),
    /// The main-chain block at this height left it.
    Disconnect {
        /// Its height.
        height: u64,
        /// Its transfers' ids, to drop from the index.
        tx_ids: Vec<TxId>,
    },
    /// A transaction was accepted into the mempool (acknowledged only once this is stored).
    Pending {
        /// Its id, as the core computed it: `tx.id()`, which the store does not compute
        /// again (it finds the row by it when the transaction leaves).
        id: TxId,
        /// The transaction.
        tx: Box<SignedTransaction>,
    },
    /// A pending transaction left the mempool (mined, evicted or no longer valid).
    Unpending(TxId),
}

/// Why the store can't be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or read (damaged, locked or unreadable).
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// What redb said.
        source: redb::DatabaseError,
    },
    /// A read or write failed.
    #[error("store failure: {0}")]
    Db(#[from] redb::Error),
    /// The data is not what this node wrote.
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
}

macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(error: $error) -> Self {
                StoreError::Db(error.into())
            }
        }
    )*};
}

from_redb!(redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

impl Store {
    /// Opens (or creates) the database at `path` for the network whose genesis is
    /// `genesis`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Open`] if the file can't be opened as a database, [`StoreError::Corrupt`]
    /// if it belongs to another network or format.
    pub fn open(path: &Path, genesis: BlockHash) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open { path: path.display().to_string(), source };
        let mut db = Database::create(path).map_err(open_error)?;
        // Verifies every page's checksum; a damaged file is an error here rather than a
        // surprise later.
        if !db.check_integrity().map_err(open_error)? {
            tracing::warn!(
                "the store at {} was repaired after an unclean shutdown",
                path.display()
            );
        }
        let store = Store { db, pending_keys: Mutex::default() };
        store.check_meta(genesis)?;
        store.load_pending_keys()?;
        Ok(store)
    }

    fn load_pending_keys(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read()?;
        let log = txn.open_table(MEMPOOL)?;
        let mut keys = self.pending_keys();
        for entry in log.iter()? {
            let (seq, value) = entry?;
            let seq = seq.value();
            keys.next = keys.next.max(seq + 1);
            if let Some(id) = value.value().first_chunk::<32>() {
                keys.by_id.insert(TxId::from_bytes(*id), seq);
            }
        }
        Ok(())
    }

    fn pending_keys(&self) -> std::sync::MutexGuard<'_, PendingKeys> {
        self.pending_keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_meta(&self, genesis: BlockHash) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let version = meta.get("version")?.map(|v| v.value().to_vec());
            let stored = meta.get("genesis")?.map(|v| v.value().to_vec());
            match (version, stored) {
                (None, None) => {
                    meta.insert("version", FORMAT_VERSION)?;
                    meta.insert("genesis", genesis.as_bytes().as_slice())?;
                }
                (Some(v), Some(g)) if v == FORMAT_VERSION && g == genesis.as_bytes() => {}
                (Some(v), Some(g)) if v == FORMAT_VERSION_1 && g == genesis.as_bytes() => {
                    meta.insert("version", FORMAT_VERSION)?;
                }
                (Some(v), Some(_)) if v == FORMAT_VERSION || v == FORMAT_VERSION_1 => {
                    return Err(StoreError::Corrupt(
                        "it holds another network's chain (different genesis)".into(),
                    ));
                }
                _ => return Err(StoreError::Corrupt("unknown format version".into())),
            }
            txn.open_table(BLOCKS)?;
            txn.open_table(MAIN)?;
            txn.open_table(TX_INDEX)?;
            txn.open_table(PEERS)?;
            let mut log = txn.open_table(MEMPOOL)?;
            // A version-1 store: its pending transactions, kept by id, move into the log.
            let first = log.last()?.map_or(0, |(seq, _)| seq.value() + 1);
            let by_id = txn.open_table(MEMPOOL_BY_ID)?;
            for (seq, entry) in (first..).zip(by_id.iter()?) {
                let (id, bytes) = entry?;
                let value = [id.value().as_slice(), bytes.value()].concat();
                log.insert(seq, value.as_slice())?;
            }
            drop(by_id);
            txn.delete_table(MEMPOOL_BY_ID)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Applies a batch of main-chain changes in one durable transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] if the write fails; nothing of the batch is then stored.
    pub fn apply(&self, ops: &[StoreOp]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut keys = self.pending_keys();
        // What this batch did to `keys`, undone if the write fails.
        let mut undo: Vec<(TxId, Option<u64>)> = vec![];
        let next = keys.next;
        let written = self.write(ops, &mut keys, &mut undo);
        if written.is_err() {
            keys.next = next;
            for (id, seq) in undo.into_iter().rev() {
                match seq {
                    Some(seq) => keys.by_id.insert(id, seq),
                    None => keys.by_id.remove(&id),
                };
            }
        }
        written
    }

    fn write(
        &self,
        ops: &[StoreOp],
        keys: &mut PendingKeys,
        undo: &mut Vec<(TxId, Option<u64>)>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut blocks = txn.open_table(BLOCKS)?;
            let mut main = txn.open_table(MAIN)?;
            let mut index = txn.open_table(TX_INDEX)?;
            let mut mempool = txn.open_table(MEMPOOL)?;
            for op in ops {
                match op {
                    StoreOp::Connect(block) => {
                        let hash = block.hash();
                        let bytes = gophercoin_core::Block::encode(block);
                        blocks.insert(hash.as_bytes(), bytes.as_slice())?;
                        main.insert(block.header.height, hash.as_bytes())?;
                        for entry in &block.transactions {
                            index.insert(entry.id().as_bytes(), hash.as_bytes())?;
                        }
                    }
                    StoreOp::Disconnect { height, tx_ids } => {
                        main.remove(height)?;
                        for id in tx_ids {
                            index.remove(id.as_bytes())?;
                        }
                    }
                    StoreOp::Pending { id, tx } => {
                        debug_assert_eq!(*id, tx.id(), "a transaction is stored under its id");
                        let id = *id;
                        if keys.by_id.contains_key(&id) {
                            continue;
                        }
                        let seq = keys.next;
                        keys.next += 1;
                        let value = [
                            id.as_bytes().as_slice(),
                            &gophercoin_core::SignedTransaction::encode(tx),
                        ]
                        .concat();
                        mempool.insert(seq, value.as_slice())?;
                        keys.by_id.insert(id, seq);
                        undo.push((id, None));
                    }
                    StoreOp::Unpending(id) => {
                        if let Some(seq) = keys.by_id.remove(id) {
                            mempool.remove(seq)?;
                            undo.push((*id, Some(seq)));
                        }
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Reads the stored main chain above genesis, in height order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] if a height is missing or a block does not decode or does not
    /// have the hash it is stored under.
    pub fn main_chain(&self) -> Result<Vec<Block>, StoreError> {
        let txn = self.db.begin_read()?;
        let main = txn.open_table(MAIN)?;
        let blocks = txn.open_table(BLOCKS)?;
        let mut out = vec![];
        for (expected, entry) in (1u64..).zip(main.range(1u64..)?) {
            let (height, hash) = entry?;
            if height.value() != expected {
                return Err(StoreError::Corrupt(format!("no block stored at height {expected}")));
            }
            let hash = BlockHash::from_bytes(*hash.value());
            let bytes = blocks
                .get(hash.as_bytes())?
                .ok_or_else(|| StoreError::Corrupt(format!("block {hash} is missing")))?;
            let block = gophercoin_core::Block::decode(bytes.value(), MAX_BLOCK_BYTES)
                .map_err(|e| StoreError::Corrupt(format!("block {hash}: {e}")))?;
            if block.hash() != hash || block.header.height != expected {
                return Err(StoreError::Corrupt(format!(
                    "block stored as {hash} is another block"
                )));
            }
            out.push(block);
        }
        Ok(out)
    }

    /// Returns the hash of the main-chain block holding a transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] if the read fails.
    pub fn block_of(&self, id: &TxId) -> Result<Option<BlockHash>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(TX_INDEX)?;
        let hash = index.get(id.as_bytes())?;
        Ok(hash.map(|h| BlockHash::from_bytes(*h.value())))
    }

    /// Remembers a peer.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] if the write fails.
    pub fn add_peers(&self, urls: &[PeerUrl]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut peers = txn.open_table(PEERS)?;
            for url in urls {
                peers.insert(url.as_str(), ())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Reads the stored pending transactions (each to be checked again before it is
    /// pending again); one that does not decode is skipped with a warning.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] if the read fails.
    pub fn pending(&self) -> Result<Vec<SignedTransaction>, StoreError> {
        let txn = self.db.begin_read()?;
        let mempool = txn.open_table(MEMPOOL)?;
        let mut out = vec![];
        for entry in mempool.iter()? {
            let (_, value) = entry?;
            let bytes = value.value().get(32..).unwrap_or_default();
            match gophercoin_core::SignedTransaction::decode(bytes, bytes.len()) {
                Ok(tx) => out.push(tx),
                Err(error) => {
                    tracing::warn!(%error, "a stored pending transaction does not decode")
                }
            }
        }
        Ok(out)
    }

    /// Forgets every stored pending transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] if the write fails.
    pub fn clear_pending(&self) -> Result<(), StoreError> {
        let mut keys = self.pending_keys();
        let txn = self.db.begin_write()?;
        txn.delete_table(MEMPOOL)?;
        txn.open_table(MEMPOOL)?;
        txn.commit()?;
        keys.by_id.clear();
        Ok(())
    }

    /// Forgets a peer; returns `false` if it was not stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] if the write fails.
    pub fn remove_peer(&self, url: &PeerUrl) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut peers = txn.open_table(PEERS)?;
            peers.remove(url.as_str())?.is_some()
        };
        txn.commit()?;
        Ok(removed)
    }

    /// Returns the remembered peers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] if the read fails.
    pub fn peers(&self) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let peers = txn.open_table(PEERS)?;
        let mut out = vec![];
        for entry in peers.iter()? {
            out.push(entry?.0.value().to_owned());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use gophercoin_core::{Params, RsaSigner};

    use super::*;

    fn payments(count: u64) -> Vec<SignedTransaction> {
        let key: RsaSigner = include_str!("../tests/data/alice.pkcs8.hex")
            .trim()
            .parse()
            .expect("the committed test key");
        let params = Params::devnet();
        (0..count)
            .map(|nonce| {
                gophercoin_core::Transaction {
                    chain_id: params.chain_id,
                    sender: gophercoin_core::Signer::address(&key),
                    recipient: gophercoin_core::Signer::address(&key),
                    amount: gophercoin_core::Amount::positive(1).expect("positive"),
                    fee: gophercoin_core::Amount::ZERO,
                    nonce,
                }
                .sign(&key)
                .expect("signs")
            })
            .collect()
    }

    fn pending(tx: &SignedTransaction) -> StoreOp {
        StoreOp::Pending { id: tx.id(), tx: Box::new(tx.clone()) }
    }

    fn ids(txs: &[SignedTransaction]) -> Vec<TxId> {
        let mut ids: Vec<TxId> = txs.iter().map(SignedTransaction::id).collect();
        ids.sort();
        ids
    }

    #[test]
    fn pending_transactions_are_kept_in_arrival_order_across_reopens() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("chain.redb");
        let genesis = Params::devnet().genesis().hash();
        let txs = payments(5);
        let store = Store::open(&path, genesis).expect("opens");
        let pending_all = |txs: &[SignedTransaction]| txs.iter().map(pending).collect::<Vec<_>>();
        store.apply(&pending_all(&txs[..3])).expect("writes");
        // Accepted and dropped in one batch, and one accepted twice: stored once or not at all.
        let mut ops = pending_all(&txs[3..]);
        ops.push(StoreOp::Unpending(txs[4].id()));
        ops.push(pending(&txs[0]));
        ops.push(StoreOp::Unpending(txs[1].id()));
        store.apply(&ops).expect("writes");
        let kept = [txs[0].clone(), txs[2].clone(), txs[3].clone()];
        assert_eq!(ids(&store.pending().expect("reads")), ids(&kept));
        drop(store);
        let store = Store::open(&path, genesis).expect("opens again");
        assert_eq!(ids(&store.pending().expect("reads")), ids(&kept));
        // Numbers go on after the highest stored one, and a removal finds its row.
        store.apply(&pending_all(&txs[4..])).expect("writes");
        store.apply(&[StoreOp::Unpending(txs[0].id())]).expect("writes");
        let kept = [txs[2].clone(), txs[3].clone(), txs[4].clone()];
        assert_eq!(ids(&store.pending().expect("reads")), ids(&kept));
    }

    #[test]
    fn a_version_1_store_with_pending_transactions_by_id_is_moved_to_the_log() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("chain.redb");
        let genesis = Params::devnet().genesis().hash();
        let txs = payments(2);
        drop(Store::open(&path, genesis).expect("opens"));
        {
            let db = Database::create(&path).expect("opens");
            let txn = db.begin_write().expect("a write");
            {
                let mut meta = txn.open_table(META).expect("meta");
                meta.insert("version", FORMAT_VERSION_1).expect("writes the old version");
                let mut old = txn.open_table(MEMPOOL_BY_ID).expect("the old table");
                for tx in &txs {
                    let bytes = gophercoin_core::SignedTransaction::encode(tx);
                    old.insert(tx.id().as_bytes(), bytes.as_slice()).expect("inserts");
                }
            }
            txn.commit().expect("commits");
        }
        let store = Store::open(&path, genesis).expect("opens and moves them");
        assert_eq!(ids(&store.pending().expect("reads")), ids(&txs));
        let version = {
            let txn = store.db.begin_read().expect("a read");
            let meta = txn.open_table(META).expect("meta");
            meta.get("version").expect("reads").map(|v| v.value().to_vec())
        };
        assert_eq!(version.as_deref(), Some(FORMAT_VERSION));
        store.apply(&[StoreOp::Unpending(txs[0].id())]).expect("writes");
        assert_eq!(ids(&store.pending().expect("reads")), ids(&txs[1..]));
        store.clear_pending().expect("clears");
        assert!(store.pending().expect("reads").is_empty());
        drop(store);
        let store = Store::open(&path, genesis).expect("opens again");
        assert!(store.pending().expect("reads").is_empty());
    }
}
