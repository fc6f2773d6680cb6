//! # gophercoin-core
//!
//! The consensus library of GopherCoin, a small proof-of-work cryptocurrency: every rule
//! that decides which transactions and blocks are valid, and which chain wins, lives here
//! and nowhere else.
//!
//! The crate is **sans-IO**: it never touches the network, the file system, the system
//! clock or a global random number generator. Time comes in as a `now: UnixTime`
//! parameter (a [`UnixTime`], made from seconds or milliseconds named at the call; the
//! peer protocol's `now` is a `Duration` since the epoch), randomness as an
//! `&mut impl TryCryptoRng` (only key
//! generation needs it), and storage and peers are the embedding program's business. The
//! [`Node`] state machine takes inputs (a transaction, a block, a peer's candidate chain,
//! a request for a block template) and returns verdicts at once, queueing [`Event`]s for
//! the side effects.
//!
//! ## How a transaction becomes money
//!
//! 1. A wallet fills in a [`Transaction`] and signs its canonical bytes
//!    ([`Transaction::signing_bytes`]) with a [`Signer`], giving a [`SignedTransaction`].
//! 2. [`Node::handle_transaction`] checks it on its own (as its [`Checker`] does:
//!    network, amount, size, keys, signature), then against the chain and the pending
//!    transactions ([`ledger::check_in_context`]: no replay, no overdraft), and puts it in
//!    the [`Mempool`].
//! 3. [`Node::block_template`] builds a block: a [`Reward`] paying the miner's wallet the
//!    subsidy at its height ([`Params::reward_at`]) and the fees, then the best-paying
//!    pending transactions, under a header committing to their merkle root.
//! 4. A miner searches nonces ([`pow::solve`]) until the header hash meets the target.
//! 5. [`Node::handle_block`] checks the block on its own ([`Checker::check_block`]),
//!    in its place (`chain::check_header_in_context`: height, target, median time,
//!    clock drift), and connects it: the [`Ledger`] builds a reversible [`LedgerDiff`]
//!    and commits it only if every transfer is valid.
//!
//! ## Embedding
//!
//! ```
//! use gophercoin_core::{Event, Node, Params, RsaSigner, Signer, UnixTime};
//! # let miner: RsaSigner = include_str!("../tests/data/alice.pkcs8.hex").trim().parse()?;
//! let mut node = Node::devnet();
//! // The adapter reads its clock.
//! let now = UnixTime::from_secs(Params::devnet().genesis_timestamp + 10);
//! node.mine_block(&miner.address(), now)?;
//! assert_eq!(node.height(), 1);
//! assert!(matches!(node.poll_event(), Some(Event::BlockConnected { height: 1, .. })));
//! # Ok::<(), gophercoin_core::Error>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic, clippy::print_stdout)
)]

pub mod amount;
pub mod block;
pub mod chain;
pub mod checker;
pub mod codec;
pub mod crypto;
mod error;
pub mod hash;
pub mod invalid;
pub mod ledger;
pub mod mempool;
pub mod merkle;
pub mod net;
pub mod node;
pub mod params;
pub mod policy;
pub mod pow;
pub mod target;
pub mod time;
pub mod transaction;

/// The RNG traits [`RsaSigner::generate`] takes, re-exported so that an embedder names the
/// same version of them (`rand_core` 0.10).
pub use rand_core;

pub use crate::{
    amount::{Amount, AmountError},
    block::{Block, BlockError, BlockHeader, BlockTransaction, CheckedBlock},
    chain::{Chain, ChainError, ChainSummary, ForkChoice, LongestChain, MostWork},
    checker::{Checker, Prechecked},
    codec::CodecError,
    crypto::{Address, CryptoError, RsaSigner, RsaVerifier, Signature, Signer, Verifier},
    error::{Error, ErrorKind},
    hash::{BlockHash, MerkleNode, MerkleRoot, TxId},
    invalid::InvalidBlocks,
    ledger::{Ledger, LedgerDiff, LedgerError},
    mempool::{Mempool, MempoolError},
    merkle::{MerkleProof, ProofError},
    node::{BlockOutcome, ChainOutcome, Event, Node},
    params::{Params, ParamsError},
    policy::{FeeRate, Policy},
    target::{CompactTarget, CompactTargetParseError, PowError, Target, Work},
    time::UnixTime,
    transaction::{
        IdentifiedTransaction, Reward, SignedTransaction, Transaction, TxError, VerifiedTransaction,
    },
};

/// The crate README's code examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
