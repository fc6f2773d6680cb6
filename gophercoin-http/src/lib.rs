//! # gophercoin-http
//!
//! The HTTP adapter of GopherCoin: the node API (the original's routes and more), the
//! wallet API, the peer client and durable storage, all translating to and from
//! [`gophercoin_core`], which decides every rule.
//!
//! This crate is still empty: the consensus library comes first, and the adapter is
//! built on it next (see the project's README for what runs today).

pub use gophercoin_core;
