//! The mempool: verified transactions waiting for a block.
//!
//! Each sender's pending spending is tracked, and a transaction gets in only if the
//! sender's balance covers it on top of what the sender's pending transactions already
//! spend. Incoming pending payments are not counted, so any subset of the mempool, in
//! any order, is valid against the ledger it was checked on: a block template can take
//! the oldest transactions without re-checking.
//!
//! Pending transactions hold one copy of each address: the ledger's, for a wallet with a
//! balance, or else the mempool's own. A wallet's key is a few hundred bytes, and many
//! transactions name the same few wallets.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    amount::Amount,
    crypto::Address,
    hash::TxId,
    ledger::{self, Ledger, LedgerError},
    transaction::VerifiedTransaction,
};

/// Pending verified transactions, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mempool {
    by_arrival: BTreeMap<u64, VerifiedTransaction>,
    arrival: BTreeMap<TxId, u64>,
    spending: BTreeMap<Address, Amount>,
    /// The addresses of pending transactions that the ledger doesn't hold.
    addresses: BTreeSet<Address>,
    next_arrival: u64,
    max_txs: usize,
}

/// Why the mempool refuses a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MempoolError {
    /// The transaction is already pending.
    #[error("transaction {id} is already pending")]
    AlreadyPending {
        /// Its id.
        id: TxId,
    },
    /// The mempool holds as many transactions as it may.
    #[error("mempool is full ({max} transactions)")]
    Full {
        /// Its capacity.
        max: usize,
    },
    /// The transaction can't be applied on the current chain.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl Mempool {
    /// Makes an empty mempool that holds at most `max_txs` transactions.
    pub fn new(max_txs: usize) -> Self {
        Mempool { max_txs, ..Mempool::default() }
    }

    /// Adds a transaction after checking it against `ledger` and the sender's pending
    /// spending.
    ///
    /// # Errors
    ///
    /// [`MempoolError::AlreadyPending`], [`MempoolError::Full`], or the ledger's
    /// [`LedgerError::Replay`] / [`LedgerError::Overdraft`].
    pub fn insert(
        &mut self,
        mut tx: VerifiedTransaction,
        ledger: &Ledger,
    ) -> Result<TxId, MempoolError> {
        let id = tx.id();
        if self.arrival.contains_key(&id) {
            return Err(MempoolError::AlreadyPending { id });
        }
        let sender = &tx.transaction().sender;
        let pending = self.spending(sender);
        ledger::check_in_context(ledger, &tx, pending)?;
        if self.by_arrival.len() >= self.max_txs {
            return Err(MempoolError::Full { max: self.max_txs });
        }
        let spending = pending.checked_add(tx.transaction().amount).ok_or(LedgerError::Overflow)?;
        tx.share_addresses(|address| ledger.shared_address(address, &mut self.addresses));
        self.spending.insert(tx.transaction().sender.clone(), spending);
        self.arrival.insert(id, self.next_arrival);
        self.by_arrival.insert(self.next_arrival, tx);
        self.next_arrival += 1;
        Ok(id)
    }

    /// Rebuilds the mempool against a new ledger after blocks were connected or
    /// disconnected: `returned` (transactions of disconnected blocks, oldest first) go
    /// ahead of those already pending, and every transaction that is now included or no
    /// longer covered is dropped. Returns the ids dropped.
    pub fn reconcile(&mut self, ledger: &Ledger, returned: Vec<VerifiedTransaction>) -> Vec<TxId> {
        let old = std::mem::take(&mut self.by_arrival);
        self.arrival.clear();
        self.spending.clear();
        self.addresses.clear();
        self.next_arrival = 0;
        let mut dropped = vec![];
        for tx in returned.into_iter().chain(old.into_values()) {
            let id = tx.id();
            match self.insert(tx, ledger) {
                Ok(_) | Err(MempoolError::AlreadyPending { .. }) => {}
                Err(_) => dropped.push(id),
            }
        }
        dropped
    }

    /// Returns up to `limit` transactions, oldest first, for a block template.
    pub fn select(&self, limit: usize) -> Vec<VerifiedTransaction> {
        self.by_arrival.values().take(limit).cloned().collect()
    }

    /// Returns what a sender's pending transactions spend.
    pub fn spending(&self, sender: &Address) -> Amount {
        self.spending.get(sender).copied().unwrap_or_default()
    }

    /// Returns `true` if the transaction is pending.
    pub fn contains(&self, id: &TxId) -> bool {
        self.arrival.contains_key(id)
    }

    /// Returns a pending transaction.
    pub fn get(&self, id: &TxId) -> Option<&VerifiedTransaction> {
        self.arrival.get(id).and_then(|seq| self.by_arrival.get(seq))
    }

    /// Returns the pending transactions, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &VerifiedTransaction> {
        self.by_arrival.values()
    }

    /// Returns how many transactions are pending.
    pub fn len(&self) -> usize {
        self.by_arrival.len()
    }

    /// Returns `true` if nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_arrival.is_empty()
    }
}
