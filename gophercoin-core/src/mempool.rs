//! The mempool: verified transactions waiting for a block, best paying first.
//!
//! Each sender's pending spending (amounts and fees) is tracked, and a transaction gets in
//! only if the sender's balance covers it on top of what the sender's pending
//! transactions already spend. Incoming pending payments are not counted, so any subset
//! of the mempool, in any order, is valid against the ledger it was checked on: a block
//! template can take the best-paying transactions without re-checking.
//!
//! The pool is priced: a transaction must pay at least the node's minimum fee rate, one
//! sender may have only so many pending, and when the pool is full a newcomer gets in only
//! by paying a higher fee rate than the lowest pending, which it evicts. Templates take
//! transactions by fee rate, highest first, the oldest first among equals.
//!
//! Pending transactions hold one copy of each address: the ledger's, for a wallet with a
//! balance, or else the mempool's own. A wallet's key is a few hundred bytes, and many
//! transactions name the same few wallets.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet},
};

use crate::{
    amount::Amount,
    crypto::Address,
    hash::TxId,
    ledger::{self, Ledger, LedgerError},
    policy::{FeeRate, Policy},
    transaction::VerifiedTransaction,
};

/// Pending verified transactions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mempool {
    by_arrival: BTreeMap<u64, VerifiedTransaction>,
    arrival: BTreeMap<TxId, u64>,
    /// Best fee rate first, then oldest first.
    by_rate: BTreeSet<(Reverse<FeeRate>, u64)>,
    /// Each sender's pending spending and count.
    senders: BTreeMap<Address, (Amount, usize)>,
    /// The addresses of pending transactions that the ledger doesn't hold, each with how
    /// many pending transactions name it.
    addresses: BTreeMap<Address, usize>,
    next_arrival: u64,
    /// Transactions that left (evicted, or mined or no longer valid at a new tip), until
    /// the node takes them.
    dropped: Vec<TxId>,
    max_txs: usize,
    max_per_sender: usize,
    min_fee_rate: FeeRate,
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
    /// The mempool is full and the transaction does not pay more than the lowest pending
    /// one, which it would have to evict.
    #[error("mempool is full ({max} transactions): pay a fee rate above {lowest}")]
    Full {
        /// Its capacity.
        max: usize,
        /// The fee rate to beat.
        lowest: FeeRate,
    },
    /// The fee rate is below this node's minimum.
    #[error("fee rate {rate} is below this node's minimum of {min}")]
    FeeTooLow {
        /// The transaction's.
        rate: FeeRate,
        /// The least accepted.
        min: FeeRate,
    },
    /// The sender has as many transactions pending as one sender may.
    #[error("the sender has {max} transactions pending, as many as one sender may")]
    TooManyPending {
        /// The most one sender may have.
        max: usize,
    },
    /// The transaction can't be applied on the current chain.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl Mempool {
    /// Makes an empty mempool with the bounds and the minimum fee rate of `policy`.
    pub fn new(policy: &Policy) -> Self {
        Mempool {
            max_txs: policy.max_mempool_txs,
            max_per_sender: policy.max_pending_per_sender,
            min_fee_rate: policy.min_relay_fee_rate,
            ..Mempool::default()
        }
    }

    /// Adds a transaction after checking its fee rate, and checking it against `ledger`
    /// and the sender's pending spending; when the pool is full, it evicts the lowest
    /// fee rate if the newcomer pays more. Nothing changes if it is refused.
    ///
    /// # Errors
    ///
    /// [`MempoolError::AlreadyPending`], [`MempoolError::FeeTooLow`], the ledger's
    /// [`LedgerError::Replay`] / [`LedgerError::Overdraft`],
    /// [`MempoolError::TooManyPending`] or [`MempoolError::Full`].
    pub fn insert(
        &mut self,
        mut tx: VerifiedTransaction,
        ledger: &Ledger,
    ) -> Result<TxId, MempoolError> {
        let id = tx.id();
        if self.arrival.contains_key(&id) {
            return Err(MempoolError::AlreadyPending { id });
        }
        let rate = tx.fee_rate();
        if rate < self.min_fee_rate {
            return Err(MempoolError::FeeTooLow { rate, min: self.min_fee_rate });
        }
        let sender = &tx.transaction().sender;
        let (pending, count) = self.senders.get(sender).copied().unwrap_or_default();
        ledger::check_in_context(&PendingView { ledger, senders: &self.senders }, &tx)?;
        if count >= self.max_per_sender {
            return Err(MempoolError::TooManyPending { max: self.max_per_sender });
        }
        pending.checked_add(tx.spend()).ok_or(LedgerError::Overflow)?;
        let evict = if self.by_arrival.len() >= self.max_txs {
            match self.by_rate.last() {
                Some(&(Reverse(lowest), seq)) if rate > lowest => Some(seq),
                lowest => {
                    let lowest = lowest.map_or(FeeRate::ZERO, |(Reverse(rate), _)| *rate);
                    return Err(MempoolError::Full { max: self.max_txs, lowest });
                }
            }
        } else {
            None
        };
        // Every check passed: only now may another transaction be evicted.
        if let Some(evicted) = evict.and_then(|seq| self.remove_arrival(seq)) {
            self.dropped.push(evicted.id());
        }
        // The sender's entry again: the evicted transaction may have been the sender's own.
        let (pending, count) = self.senders.get(sender).copied().unwrap_or_default();
        let spending = pending.checked_add(tx.spend()).expect("at most the sum checked above");
        let addresses = &mut self.addresses;
        tx.share_addresses(|address| hold(addresses, ledger, address));
        self.senders.insert(tx.transaction().sender.clone(), (spending, count + 1));
        let seq = self.next_arrival;
        self.arrival.insert(id, seq);
        self.by_rate.insert((Reverse(rate), seq));
        self.by_arrival.insert(seq, tx);
        self.next_arrival += 1;
        Ok(id)
    }

    /// Removes the transaction that arrived as `seq`, and what it counted for.
    fn remove_arrival(&mut self, seq: u64) -> Option<VerifiedTransaction> {
        let tx = self.by_arrival.remove(&seq)?;
        self.arrival.remove(&tx.id());
        self.by_rate.remove(&(Reverse(tx.fee_rate()), seq));
        for address in [&tx.transaction().sender, &tx.transaction().recipient] {
            if let Some(uses) = self.addresses.get_mut(address) {
                *uses = uses.saturating_sub(1);
                if *uses == 0 {
                    self.addresses.remove(address);
                }
            }
        }
        let sender = &tx.transaction().sender;
        if let Some((spending, count)) = self.senders.get_mut(sender) {
            *spending = spending.checked_sub(tx.spend()).unwrap_or_default();
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.senders.remove(sender);
            }
        }
        Some(tx)
    }

    /// Rebuilds the mempool against a new ledger after blocks were connected or
    /// disconnected: `returned` (transactions of disconnected blocks, oldest first) go
    /// ahead of those already pending, and every transaction that is now included or no
    /// longer covered is dropped. Returns the ids dropped.
    pub(crate) fn reconcile(
        &mut self,
        ledger: &Ledger,
        returned: Vec<VerifiedTransaction>,
    ) -> Vec<TxId> {
        let old = std::mem::take(&mut self.by_arrival);
        self.arrival.clear();
        self.by_rate.clear();
        self.senders.clear();
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
        self.dropped.extend(dropped.iter().copied());
        dropped
    }

    /// Takes the ids of the transactions that left the pool since the last call: evicted by
    /// a better fee rate, or dropped by [`Mempool::reconcile`] (mined, or no longer valid).
    pub(crate) fn take_dropped(&mut self) -> Vec<TxId> {
        std::mem::take(&mut self.dropped)
    }

    /// Returns up to `limit` transactions for a block template: the highest fee rates,
    /// the oldest first among equal rates.
    pub fn select(&self, limit: usize) -> Vec<VerifiedTransaction> {
        self.by_rate
            .iter()
            .filter_map(|(_, seq)| self.by_arrival.get(seq))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Returns what a sender's pending transactions spend, amounts and fees.
    pub fn spending(&self, sender: &Address) -> Amount {
        self.senders.get(sender).map(|(spending, _)| *spending).unwrap_or_default()
    }

    /// Returns how many transactions a sender has pending.
    pub fn pending_count(&self, sender: &Address) -> usize {
        self.senders.get(sender).map_or(0, |(_, count)| *count)
    }

    /// Returns the lowest fee rate pending, if any: when the pool is full, a newcomer must
    /// pay more.
    pub fn lowest_fee_rate(&self) -> Option<FeeRate> {
        self.by_rate.last().map(|(Reverse(rate), _)| *rate)
    }

    /// Returns the smallest fee rate this pool accepts.
    pub fn min_fee_rate(&self) -> FeeRate {
        self.min_fee_rate
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

/// The mempool's view of the chain for the context rules: the ledger at the tip, each
/// wallet's balance less what its pending transactions spend.
struct PendingView<'a> {
    ledger: &'a Ledger,
    senders: &'a BTreeMap<Address, (Amount, usize)>,
}

impl ledger::ContextView for PendingView<'_> {
    fn is_included(&self, id: &TxId) -> bool {
        self.ledger.is_included(id)
    }

    fn spendable(&self, address: &Address) -> Amount {
        let pending = self.senders.get(address).map(|(spend, _)| *spend).unwrap_or_default();
        self.ledger.balance(address).checked_sub(pending).unwrap_or_default()
    }
}

/// Returns the copy of `address` a pending transaction holds: the ledger's, else the pool's
/// own (counted, so it is dropped with the last transaction that names it).
fn hold(addresses: &mut BTreeMap<Address, usize>, ledger: &Ledger, address: &Address) -> Address {
    if let Some(known) = ledger.known_address(address) {
        return known.clone();
    }
    match addresses.get_key_value(address).map(|(held, _)| held.clone()) {
        Some(held) => {
            *addresses.entry(held.clone()).or_default() += 1;
            held
        }
        None => {
            addresses.insert(address.clone(), 1);
            address.clone()
        }
    }
}
