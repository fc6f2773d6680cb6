//! Durable storage: the main chain in an embedded ACID database ([`redb`]), the pending
//! transactions in a log beside it (`chain.mempool`, described below).
//!
//! The store mirrors the core's main chain and mempool: the
//! [`Node`](gophercoin_core::Node)'s `BlockConnected` / `BlockDisconnected`,
//! `RelayTransaction` (accepted) and `TransactionDropped` events become one write each
//! batch, on disk (fsync'd) before the request that caused them is answered; batches
//! queued while one commits go into the next commit together. A batch of payments alone
//! is one append to the log and one `fdatasync`. A batch that moves the chain writes the
//! newly pending transactions to the log first, then commits the chain, then records the
//! transactions no longer pending: whatever a crash interrupts, every acknowledged
//! payment is in the chain or in the log (one left in the log after its block is checked
//! again at the next start, and dropped). A crash loses at most the batch being written:
//! redb's copy-on-write commit never exposes half of one, and the log's torn last record
//! is cut off. Schema (see `docs/adr/0004-store-schema.md`):
//!
//! | table | key | value |
//! |---|---|---|
//! | `blocks` | block hash (32 bytes) | the block's canonical encoding |
//! | `main` | height (u64) | block hash |
//! | `tx_index` | transaction id | hash of the main-chain block holding it |
//! | `peers` | peer URL | nothing |
//! | `meta` | `"version"`, `"genesis"` | format version, genesis hash |
//!
//! The pending transactions' log is the database's file name with the extension
//! `mempool` (`chain.mempool` beside `chain.redb`).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

use gophercoin_core::{Block, BlockHash, SignedTransaction, TxId};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{
    peers::PeerUrl,
    pending_log::{PendingLog, Records},
};

const BLOCKS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blocks");
const MAIN: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("main");
const TX_INDEX: TableDefinition<&[u8; 32], &[u8; 32]> = TableDefinition::new("tx_index");
const PEERS: TableDefinition<&str, ()> = TableDefinition::new("peers");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The pending transactions in arrival order, as version 2 kept them in the database;
/// moved to the log when such a store is opened.
const MEMPOOL: TableDefinition<u64, &[u8]> = TableDefinition::new("mempool_log");
/// The pending transactions by id, as version 1 kept them; moved to the log too.
const MEMPOOL_BY_ID: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("mempool");

/// The store's format version: 3 since pending transactions are kept in a log beside the
/// database (a version-1 or -2 store is moved to it when opened; a binary that knows only
/// an earlier version refuses a version-3 store instead of losing its pending
/// transactions).
const FORMAT_VERSION: &[u8] = b"3";
/// The formats that kept pending transactions in the database: by id, then in arrival
/// order.
const FORMAT_VERSIONS_BEFORE: [&[u8]; 2] = [b"1", b"2"];
/// The most bytes a stored block may have.
const MAX_BLOCK_BYTES: usize = 16 << 20;

/// The node's database file and its pending transactions' log.
pub struct Store {
    db: Database,
    /// The pending transactions' log; written only under this lock.
    log: Mutex<PendingLog>,
    /// Where the log is.
    log_path: PathBuf,
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
    /// The pending transactions' log could not be opened, read or written.
    #[error("the pending transactions' log at {path}: {source}")]
    Log {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
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
        // Opened after the database, whose lock keeps a second process out of both.
        let log_path = path.with_extension("mempool");
        let log = PendingLog::open(&log_path)
            .map_err(|source| StoreError::Log { path: log_path.display().to_string(), source })?;
        let store = Store { db, log: Mutex::new(log), log_path };
        store.check_meta(genesis)?;
        Ok(store)
    }

    fn log(&self) -> std::sync::MutexGuard<'_, PendingLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log_error(&self, source: std::io::Error) -> StoreError {
        StoreError::Log { path: self.log_path.display().to_string(), source }
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
                (Some(v), Some(g))
                    if FORMAT_VERSIONS_BEFORE.contains(&v.as_slice())
                        && g == genesis.as_bytes() =>
                {
                    meta.insert("version", FORMAT_VERSION)?;
                }
                (Some(v), Some(_))
                    if v == FORMAT_VERSION || FORMAT_VERSIONS_BEFORE.contains(&v.as_slice()) =>
                {
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
            // An earlier version's pending transactions move to the log, on disk there
            // before the database forgets them (were this cut short, they would be moved
            // again at the next start, and taken once).
            let mut records = Records::default();
            let mut log = self.log();
            let by_id = txn.open_table(MEMPOOL_BY_ID)?;
            for entry in by_id.iter()? {
                let (id, bytes) = entry?;
                moved(&mut records, &log, TxId::from_bytes(*id.value()), bytes.value());
            }
            drop(by_id);
            let in_order = txn.open_table(MEMPOOL)?;
            for entry in in_order.iter()? {
                let (_, value) = entry?;
                let value = value.value();
                if let Some((id, bytes)) = value.split_first_chunk::<32>() {
                    moved(&mut records, &log, TxId::from_bytes(*id), bytes);
                }
            }
            drop(in_order);
            log.append(records).map_err(|e| self.log_error(e))?;
            txn.delete_table(MEMPOOL_BY_ID)?;
            txn.delete_table(MEMPOOL)?;
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
        let mut log = self.log();
        // What each transaction named ends as: pending or not.
        let mut last = HashMap::new();
        for op in ops {
            match op {
                StoreOp::Pending { id, .. } => last.insert(*id, true),
                StoreOp::Unpending(id) => last.insert(*id, false),
                StoreOp::Connect(_) | StoreOp::Disconnect { .. } => None,
            };
        }
        let mut added = Records::default();
        let mut removed = Records::default();
        for op in ops {
            match op {
                StoreOp::Pending { id, tx } => {
                    debug_assert_eq!(*id, tx.id(), "a transaction is stored under its id");
                    if last.get(id) == Some(&true) && !log.contains(id) {
                        last.remove(id);
                        PendingLog::add(&mut added, *id, tx);
                    }
                }
                StoreOp::Unpending(id) => {
                    if last.get(id) == Some(&false) && log.contains(id) {
                        last.remove(id);
                        PendingLog::remove(&mut removed, *id);
                    }
                }
                StoreOp::Connect(_) | StoreOp::Disconnect { .. } => {}
            }
        }
        let chain =
            ops.iter().any(|op| matches!(op, StoreOp::Connect(_) | StoreOp::Disconnect { .. }));
        if !chain {
            // Payments alone: one append.
            added.extend(removed);
            return log.append(added).map_err(|e| self.log_error(e));
        }
        // The newly pending first, the chain next, the no longer pending last: at every
        // step each acknowledged payment is in the chain or in the log.
        log.append(added).map_err(|e| self.log_error(e))?;
        self.write_chain(ops)?;
        log.append(removed).map_err(|e| self.log_error(e))
    }

    fn write_chain(&self, ops: &[StoreOp]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut blocks = txn.open_table(BLOCKS)?;
            let mut main = txn.open_table(MAIN)?;
            let mut index = txn.open_table(TX_INDEX)?;
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
                    StoreOp::Pending { .. } | StoreOp::Unpending(_) => {}
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

    /// Reads the stored pending transactions, in the order they were accepted (each to be
    /// checked again before it is pending again); one that does not decode is skipped
    /// with a warning.
    ///
    /// # Errors
    ///
    /// [`StoreError::Log`] if the read fails.
    pub fn pending(&self) -> Result<Vec<SignedTransaction>, StoreError> {
        self.log().pending().map_err(|e| self.log_error(e))
    }

    /// Forgets every stored pending transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Log`] if the write fails.
    pub fn clear_pending(&self) -> Result<(), StoreError> {
        self.log().clear().map_err(|e| self.log_error(e))
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

/// Adds an earlier version's stored pending transaction to `records`, unless the log
/// already has it; one that does not decode is left out with a warning.
fn moved(records: &mut Records, log: &PendingLog, id: TxId, bytes: &[u8]) {
    if log.contains(&id) {
        return;
    }
    match SignedTransaction::decode(bytes, crate::pending_log::MAX_TX_BYTES) {
        Ok(tx) => PendingLog::add(records, id, &tx),
        Err(error) => tracing::warn!(%id, %error, "a stored pending transaction does not decode"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use gophercoin_core::{Params, RsaSigner};

    use super::*;

    /// Payments of the committed test key to itself, nonces `0..count`.
    pub(crate) fn payments(count: u64) -> Vec<SignedTransaction> {
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
        // After a reopen, more are added and removed.
        store.apply(&pending_all(&txs[4..])).expect("writes");
        store.apply(&[StoreOp::Unpending(txs[0].id())]).expect("writes");
        let kept = [txs[2].clone(), txs[3].clone(), txs[4].clone()];
        assert_eq!(ids(&store.pending().expect("reads")), ids(&kept));
    }

    #[test]
    fn an_earlier_version_s_pending_transactions_are_moved_to_the_log() {
        for version in FORMAT_VERSIONS_BEFORE {
            let dir = tempfile::tempdir().expect("a directory");
            let path = dir.path().join("chain.redb");
            let genesis = Params::devnet().genesis().hash();
            let txs = payments(3);
            drop(Store::open(&path, genesis).expect("opens"));
            std::fs::remove_file(path.with_extension("mempool")).expect("the log is there");
            {
                let db = Database::create(&path).expect("opens");
                let txn = db.begin_write().expect("a write");
                {
                    let mut meta = txn.open_table(META).expect("meta");
                    meta.insert("version", version).expect("writes the old version");
                    // Version 1 kept them by id, version 2 in arrival order.
                    let mut by_id = txn.open_table(MEMPOOL_BY_ID).expect("the old table");
                    let mut in_order = txn.open_table(MEMPOOL).expect("the old table");
                    for (seq, tx) in (0u64..).zip(&txs) {
                        let bytes = gophercoin_core::SignedTransaction::encode(tx);
                        if version == b"1" {
                            by_id.insert(tx.id().as_bytes(), bytes.as_slice()).expect("inserts");
                        } else {
                            let value = [tx.id().as_bytes().as_slice(), &bytes].concat();
                            in_order.insert(seq, value.as_slice()).expect("inserts");
                        }
                    }
                }
                txn.commit().expect("commits");
            }
            let store = Store::open(&path, genesis).expect("opens and moves them");
            assert_eq!(ids(&store.pending().expect("reads")), ids(&txs));
            let (version, tables) = {
                let txn = store.db.begin_read().expect("a read");
                let meta = txn.open_table(META).expect("meta");
                let version = meta.get("version").expect("reads").map(|v| v.value().to_vec());
                let tables: Vec<String> = txn
                    .list_tables()
                    .expect("lists")
                    .map(|table| redb::TableHandle::name(&table).to_owned())
                    .collect();
                (version, tables)
            };
            assert_eq!(version.as_deref(), Some(FORMAT_VERSION));
            assert!(!tables.iter().any(|t| t.starts_with("mempool")), "{tables:?}");
            store.apply(&[StoreOp::Unpending(txs[0].id())]).expect("writes");
            assert_eq!(ids(&store.pending().expect("reads")), ids(&txs[1..]));
            drop(store);
            let store = Store::open(&path, genesis).expect("opens again");
            assert_eq!(ids(&store.pending().expect("reads")), ids(&txs[1..]), "moved once");
            store.clear_pending().expect("clears");
            assert!(store.pending().expect("reads").is_empty());
            drop(store);
            let store = Store::open(&path, genesis).expect("opens again");
            assert!(store.pending().expect("reads").is_empty());
        }
    }

    #[test]
    fn a_block_s_batch_keeps_each_payment_in_the_chain_or_in_the_log() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("chain.redb");
        let params = Params::devnet();
        let genesis = params.genesis();
        let txs = payments(3);
        let store = Store::open(&path, genesis.hash()).expect("opens");
        store.apply(&[pending(&txs[0]), pending(&txs[1])]).expect("writes");
        // A block mining the first, with a payment accepted in the same batch.
        // The store checks neither work nor rules: a block of the first payment alone.
        let mut block = genesis.clone();
        block.header.height = 1;
        block.header.prev = genesis.hash();
        block.transactions = vec![gophercoin_core::BlockTransaction::Transfer(txs[0].clone())];
        let ops = [
            StoreOp::Connect(Box::new(block.clone())),
            StoreOp::Unpending(txs[0].id()),
            pending(&txs[2]),
        ];
        store.apply(&ops).expect("writes");
        assert_eq!(store.block_of(&txs[0].id()).expect("reads"), Some(block.hash()));
        assert_eq!(store.main_chain().expect("reads"), vec![block]);
        assert_eq!(ids(&store.pending().expect("reads")), ids(&txs[1..]));
        drop(store);
        let store = Store::open(&path, genesis.hash()).expect("opens again");
        assert_eq!(ids(&store.pending().expect("reads")), ids(&txs[1..]));
    }
}
