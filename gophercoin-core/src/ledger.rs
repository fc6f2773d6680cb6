//! The ledger: every wallet's balance and the set of transactions already included.
//!
//! The ledger changes only through a [`LedgerDiff`]: [`Ledger::connect`] builds one for a
//! block against a read-only view and returns it only if every transaction in the block is
//! valid; the node commits it (`Ledger::apply`, which only the node calls) and undoes it
//! on a reorganisation (`LedgerDiff::reversed`). A failed check therefore can't leave half
//! a block applied.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    amount::Amount, block::CheckedBlock, crypto::Address, hash::TxId,
    transaction::VerifiedTransaction,
};

/// Balances and the included-transaction set at one chain tip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    balances: BTreeMap<Address, Amount>,
    included: BTreeSet<TxId>,
    supply: Amount,
}

/// The change one block makes to the ledger; reversible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerDiff {
    /// For each touched wallet, its balance before and after.
    balances: BTreeMap<Address, (Amount, Amount)>,
    /// Transaction ids the diff adds to the included set.
    include: BTreeSet<TxId>,
    /// Transaction ids the diff removes from it (set only by [`LedgerDiff::reversed`]).
    exclude: BTreeSet<TxId>,
    /// Supply before and after.
    supply: (Amount, Amount),
}

/// Why a transaction can't be applied at this chain tip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The sender does not have enough.
    #[error("balance {available} is less than {required}")]
    Overdraft {
        /// What the sender can spend (less what pending transactions already spend).
        available: Amount,
        /// What the transaction spends: its amount and its fee.
        required: Amount,
    },
    /// The transaction was already included.
    #[error("transaction {id} was already included")]
    Replay {
        /// Its id.
        id: TxId,
    },
    /// Crediting would pass [`Amount::MAX`] (the supply is exhausted).
    #[error("crediting would exceed the maximum amount")]
    Overflow,
}

impl Ledger {
    /// Makes an empty ledger (the state before genesis, and after it: genesis pays nothing).
    pub(crate) fn new() -> Self {
        Ledger::default()
    }

    /// Returns a wallet's balance (zero for a wallet never seen).
    pub fn balance(&self, address: &Address) -> Amount {
        self.balances.get(address).copied().unwrap_or_default()
    }

    /// Returns the ledger's own copy of a wallet's address, if the wallet has a balance:
    /// holding it rather than an equal copy keeps one allocation of the key per wallet.
    pub fn known_address(&self, address: &Address) -> Option<&Address> {
        self.balances.get_key_value(address).map(|(known, _)| known)
    }

    /// Returns the copy of `address` to hold: the ledger's, else one in `held`, else
    /// `address` itself, added to `held` for the next caller.
    pub(crate) fn shared_address(
        &self,
        address: &Address,
        held: &mut BTreeSet<Address>,
    ) -> Address {
        if let Some(known) = self.known_address(address).or_else(|| held.get(address)) {
            return known.clone();
        }
        held.insert(address.clone());
        address.clone()
    }

    /// Returns `true` if the transaction is in a connected block.
    pub fn is_included(&self, id: &TxId) -> bool {
        self.included.contains(id)
    }

    /// Returns all coins in existence: the sum of all balances, and of the subsidies the
    /// connected blocks minted ([`Params::reward_at`](crate::Params::reward_at)); fees
    /// move coins, they make none.
    pub fn supply(&self) -> Amount {
        self.supply
    }

    /// Returns every non-zero balance, ordered by address.
    pub fn balances(&self) -> impl Iterator<Item = (&Address, Amount)> {
        self.balances.iter().map(|(address, amount)| (address, *amount))
    }

    /// Returns how many transfers have been included.
    pub fn included_count(&self) -> usize {
        self.included.len()
    }

    /// Builds the diff that connecting `block` makes, without changing the ledger.
    ///
    /// Each transfer is checked and applied in order against the running state, so later
    /// transactions see earlier ones (a transfer debits its sender the amount and the
    /// fee); then the reward (the subsidy and the block's fees) is credited: a block's
    /// transfers can't spend its own reward.
    ///
    /// # Consensus
    ///
    /// Rules:
    /// - [ledger-accounts](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-accounts)
    /// - [ledger-replay](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-replay)
    /// - [ledger-overdraft](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-overdraft)
    /// - [ledger-transfer](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-transfer)
    /// - [ledger-reward](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-reward)
    /// - [ledger-overflow](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-overflow)
    /// - [ledger-atomic](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-atomic)
    /// - [reward-supply](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#reward-supply)
    ///
    /// # Errors
    ///
    /// The first transfer's [`LedgerError`], with its position (0-based among the
    /// transfers; the number of transfers for the reward).
    pub fn connect(&self, block: &CheckedBlock) -> Result<LedgerDiff, (usize, LedgerError)> {
        let mut diff = LedgerDiff::empty(self.supply);
        for (index, tx) in block.transfers().iter().enumerate() {
            diff.transfer(self, tx).map_err(|e| (index, e))?;
        }
        if let Some(reward) = block.reward() {
            // After the transfers, whose fees it pays out: every balance is then at most
            // the supply, so crediting it can't pass the maximum.
            let last = block.transfers().len();
            diff.credit(self, &reward.recipient, reward.amount).map_err(|e| (last, e))?;
            // What the block mints: its reward less the fees it moves from the senders.
            let minted =
                reward.amount.checked_sub(block.fees()).ok_or((last, LedgerError::Overflow))?;
            diff.supply.1 =
                diff.supply.1.checked_add(minted).ok_or((last, LedgerError::Overflow))?;
        }
        Ok(diff)
    }

    /// Commits a diff built by [`Ledger::connect`] on this state (or its reversal).
    pub(crate) fn apply(&mut self, diff: &LedgerDiff) {
        for (address, (_, after)) in &diff.balances {
            if after.is_zero() {
                self.balances.remove(address);
            } else {
                self.balances.insert(address.clone(), *after);
            }
        }
        for id in &diff.exclude {
            self.included.remove(id);
        }
        self.included.extend(diff.include.iter().copied());
        self.supply = diff.supply.1;
    }

    /// Undoes a diff that was the last one applied; the same as applying its reversal.
    ///
    /// # Consensus
    ///
    /// Rules: [ledger-disconnect](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-disconnect)
    pub(crate) fn disconnect(&mut self, diff: &LedgerDiff) {
        self.apply(&diff.reversed());
    }
}

/// What the context rules see of the chain around a transaction: which transactions it
/// already holds, and what a wallet may still spend.
///
/// Two views exist, and [`check_in_context`] is the one place that reads them: the
/// mempool's (the ledger at the tip, less what the wallet's pending transactions spend)
/// and a block's while it is connected (the ledger with the block's earlier transfers
/// applied). A rule that needs more of the chain adds a method here, which both views
/// must then answer.
pub trait ContextView {
    /// Whether a transaction with this id is already included: in a connected block, or
    /// earlier in the block being connected.
    fn is_included(&self, id: &TxId) -> bool;

    /// What `address` may still spend: its balance, less what it is already committed to
    /// spend.
    fn spendable(&self, address: &Address) -> Amount;
}

/// Checks a transaction against the chain as `view` shows it: the context rules, for a
/// transaction entering the mempool and for one in a block being connected alike.
///
/// # Consensus
///
/// > A sender can never spend more than its balance: checked at the mempool and again
/// > when a block is connected
///
/// > A signed transaction can be included at most once, ever (replay protection).
///
/// Rules:
/// - [ledger-replay](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-replay)
/// - [ledger-overdraft](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-overdraft)
///
/// # Errors
///
/// [`LedgerError::Replay`] or [`LedgerError::Overdraft`].
pub fn check_in_context(
    view: &impl ContextView,
    tx: &VerifiedTransaction,
) -> Result<(), LedgerError> {
    not_replayed(view.is_included(&tx.id()), tx.id())?;
    balance_is_sufficient(view.spendable(&tx.transaction().sender), tx.spend())
}

/// Checks that a transaction was not already included.
///
/// # Consensus
///
/// Rules: [ledger-replay](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-replay)
///
/// # Errors
///
/// [`LedgerError::Replay`].
pub(crate) fn not_replayed(included: bool, id: TxId) -> Result<(), LedgerError> {
    if included {
        return Err(LedgerError::Replay { id });
    }
    Ok(())
}

/// Checks that `available` covers `required`.
///
/// # Consensus
///
/// Rules: [ledger-overdraft](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#ledger-overdraft)
///
/// # Errors
///
/// [`LedgerError::Overdraft`].
pub(crate) fn balance_is_sufficient(
    available: Amount,
    required: Amount,
) -> Result<(), LedgerError> {
    if available < required {
        return Err(LedgerError::Overdraft { available, required });
    }
    Ok(())
}

impl LedgerDiff {
    fn empty(supply: Amount) -> Self {
        LedgerDiff {
            balances: BTreeMap::new(),
            include: BTreeSet::new(),
            exclude: BTreeSet::new(),
            supply: (supply, supply),
        }
    }

    /// Returns the diff that undoes this one.
    #[must_use]
    pub(crate) fn reversed(&self) -> LedgerDiff {
        LedgerDiff {
            balances: self
                .balances
                .iter()
                .map(|(address, (before, after))| (address.clone(), (*after, *before)))
                .collect(),
            include: self.exclude.clone(),
            exclude: self.include.clone(),
            supply: (self.supply.1, self.supply.0),
        }
    }

    /// Returns the ids this diff includes.
    pub fn included(&self) -> impl Iterator<Item = &TxId> {
        self.include.iter()
    }

    fn balance(&self, ledger: &Ledger, address: &Address) -> Amount {
        match self.balances.get(address) {
            Some((_, after)) => *after,
            None => ledger.balance(address),
        }
    }

    fn set(&mut self, ledger: &Ledger, address: &Address, after: Amount) {
        let before = ledger.balance(address);
        self.balances.insert(address.clone(), (before, after));
    }

    fn credit(&mut self, ledger: &Ledger, to: &Address, amount: Amount) -> Result<(), LedgerError> {
        let after = self.balance(ledger, to).checked_add(amount).ok_or(LedgerError::Overflow)?;
        self.set(ledger, to, after);
        Ok(())
    }

    fn transfer(&mut self, ledger: &Ledger, tx: &VerifiedTransaction) -> Result<(), LedgerError> {
        check_in_context(&Connecting { ledger, diff: self }, tx)?;
        let (id, spend) = (tx.id(), tx.spend());
        let tx = tx.transaction();
        let after = self
            .balance(ledger, &tx.sender)
            .checked_sub(spend)
            .expect("check_in_context saw the balance cover the spend");
        self.set(ledger, &tx.sender, after);
        self.credit(ledger, &tx.recipient, tx.amount)?;
        self.include.insert(id);
        Ok(())
    }
}

/// A block's view while it is connected: the ledger with its earlier transfers applied.
struct Connecting<'a> {
    ledger: &'a Ledger,
    diff: &'a LedgerDiff,
}

impl ContextView for Connecting<'_> {
    fn is_included(&self, id: &TxId) -> bool {
        self.ledger.is_included(id) || self.diff.include.contains(id)
    }

    fn spendable(&self, address: &Address) -> Amount {
        self.diff.balance(self.ledger, address)
    }
}
