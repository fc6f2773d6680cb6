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
//! | `mempool` | transaction id | the pending signed transaction's canonical encoding |
//! | `meta` | `"version"`, `"genesis"` | format version, genesis hash |

use std::path::Path;

use gophercoin_core::{Block, BlockHash, SignedTransaction, TxId, codec};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const BLOCKS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blocks");
const MAIN: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("main");
const TX_INDEX: TableDefinition<&[u8; 32], &[u8; 32]> = TableDefinition::new("tx_index");
const PEERS: TableDefinition<&str, ()> = TableDefinition::new("peers");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const MEMPOOL: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("mempool");

/// The store's format version.
const FORMAT_VERSION: &[u8] = b"1";
/// The most bytes a stored block may have.
const MAX_BLOCK_BYTES: usize = 16 << 20;

/// The node's database file.
pub struct Store {
    db: Database,
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
    Pending(Box<SignedTransaction>),
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
        let store = Store { db };
        store.check_meta(genesis)?;
        Ok(store)
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
                (Some(v), Some(_)) if v == FORMAT_VERSION => {
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
            txn.open_table(MEMPOOL)?;
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
                        let bytes = codec::encode_block(block);
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
                    StoreOp::Pending(tx) => {
                        let bytes = codec::encode_transaction(tx);
                        mempool.insert(tx.id().as_bytes(), bytes.as_slice())?;
                    }
                    StoreOp::Unpending(id) => {
                        mempool.remove(id.as_bytes())?;
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
            let block = codec::decode_block(bytes.value(), MAX_BLOCK_BYTES)
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
    pub fn add_peers(&self, urls: &[String]) -> Result<(), StoreError> {
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
            let (_, bytes) = entry?;
            match codec::decode_transaction(bytes.value(), bytes.value().len()) {
                Ok(tx) => out.push(tx),
                Err(error) => {
                    tracing::warn!(%error, "a stored pending transaction does not decode")
                }
            }
        }
        Ok(out)
    }

    /// Forgets a peer; returns `false` if it was not stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] if the write fails.
    pub fn remove_peer(&self, url: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut peers = txn.open_table(PEERS)?;
            peers.remove(url)?.is_some()
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
