//! Turning core events into effects (store writes, and what the peer network should tell
//! peers) and pulling chains from peers over HTTP (`/nodes/resolve`, and fetching what a
//! block posted with an unknown parent builds on).

use std::sync::Arc;

use futures_util::future::join_all;
use gophercoin_core::{ChainOutcome, ErrorKind, Event};
use serde::Serialize;

use crate::{
    state::{AppState, CoreNode},
    store::StoreOp,
};

/// How far below our tip a sync starts, to find the fork point without fetching the
/// whole chain; deeper forks fall back to a sync from genesis.
const SYNC_OVERLAP: u64 = 64;

/// What one batch of core events asks the adapter to do.
#[derive(Debug, Default)]
pub struct Effects {
    /// Main-chain changes to persist, in order.
    pub store: Vec<StoreOp>,
    /// New blocks and transactions to tell peers about, for the peer protocol
    /// ([`crate::network`]).
    pub relay: Vec<Event>,
    /// Whether the main chain's tip changed.
    pub tip_changed: bool,
}

impl Effects {
    /// Drains the node's events and reads what they refer to while the node is locked;
    /// pending transactions are stored only if `persist_mempool`.
    pub fn drain(node: &mut CoreNode, persist_mempool: bool) -> Effects {
        let mut effects = Effects::default();
        while let Some(event) = node.poll_event() {
            match event {
                Event::BlockConnected { hash, .. } => {
                    if let Some(block) = node.block(&hash) {
                        effects.store.push(StoreOp::Connect(Box::new(block.to_block())));
                    }
                }
                Event::BlockDisconnected { hash, height } => {
                    let tx_ids = node
                        .block(&hash)
                        .map_or_else(Vec::new, |block| block.transaction_ids().collect());
                    effects.store.push(StoreOp::Disconnect { height, tx_ids });
                }
                Event::RelayBlock(_) => effects.relay.push(event),
                Event::RelayTransaction(id) => {
                    if let Some(tx) = node.mempool().get(&id) {
                        if persist_mempool {
                            effects.store.push(StoreOp::Pending(Box::new(tx.signed().clone())));
                        }
                        effects.relay.push(event);
                    }
                }
                Event::TransactionDropped(id) if persist_mempool => {
                    effects.store.push(StoreOp::Unpending(id));
                }
                Event::TipChanged { hash, height } => {
                    tracing::info!(%hash, height, "new tip");
                    effects.tip_changed = true;
                }
                _ => {}
            }
        }
        effects
    }
}

/// What asking one peer gave.
#[derive(Clone, Debug, Serialize)]
pub struct PeerReport {
    /// The peer.
    pub peer: String,
    /// `adopted` (its chain is now ours), `in_sync` (we already hold its chain, tip
    /// and all), `kept_ours` (ours is better) or `rejected`.
    pub outcome: &'static str,
    /// Why, when rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Asks every peer for its chain at once and hands each candidate to the core, which
/// validates it in full and adopts it only if fork choice prefers it. A dead, slow,
/// oversized or lying peer fails alone, within the client's timeout.
pub async fn resolve(state: &Arc<AppState>) -> Vec<PeerReport> {
    let peers = state.peers.list();
    join_all(peers.iter().map(|peer| sync_from(state, peer))).await
}

/// [`resolve`], shared: a call made while another runs waits for it and takes its reports
/// if it started after the call was made (it saw everything the caller could ask for);
/// otherwise it runs one of its own. However many clients ask at once, at most one resolve
/// runs, and none is answered with one that began before it asked.
pub async fn resolve_shared(state: &Arc<AppState>) -> Vec<PeerReport> {
    let asked = std::time::Instant::now();
    let mut last = state.last_resolve.lock().await;
    if let Some((started, reports)) = last.as_ref()
        && *started >= asked
    {
        return reports.clone();
    }
    let started = std::time::Instant::now();
    let reports = resolve(state).await;
    *last = Some((started, reports.clone()));
    reports
}

/// How often a block with an unknown parent may start a catch-up from the peer that sent
/// it.
pub const UNSOLICITED_SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Catch-ups started by blocks with unknown parents: at most one at a time from a peer,
/// and at most one from it every [`UNSOLICITED_SYNC_INTERVAL`], however many such blocks
/// name it. Entries that neither run nor hold a peer back are forgotten.
#[derive(Debug, Default)]
pub struct UnsolicitedSyncs(
    std::sync::Mutex<std::collections::HashMap<String, (bool, std::time::Instant)>>,
);

impl UnsolicitedSyncs {
    /// Marks a catch-up from `peer` as started, unless one runs or started too recently.
    fn try_start(&self, peer: &str) -> bool {
        let mut syncs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        // Forget what neither runs nor holds a peer back any more.
        syncs.retain(|_, (running, started)| {
            *running || now.duration_since(*started) < UNSOLICITED_SYNC_INTERVAL
        });
        match syncs.get(peer) {
            Some((true, _)) => false,
            Some((false, started)) if now.duration_since(*started) < UNSOLICITED_SYNC_INTERVAL => {
                false
            }
            _ => {
                syncs.insert(peer.to_owned(), (true, now));
                true
            }
        }
    }

    fn finish(&self, peer: &str) {
        let mut syncs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((running, _)) = syncs.get_mut(peer) {
            *running = false;
        }
    }
}

/// Starts a catch-up from `peer` in the background, because it sent a block whose parent
/// we lack, unless [`UnsolicitedSyncs`] says one runs or ran too recently.
pub fn sync_in_background(state: &Arc<AppState>, peer: String) {
    if !state.unsolicited_syncs.try_start(&peer) {
        return;
    }
    /// Marks the catch-up finished however its task ends (a panic included).
    struct Finish(Arc<AppState>, String);
    impl Drop for Finish {
        fn drop(&mut self) {
            self.0.unsolicited_syncs.finish(&self.1);
        }
    }
    let finish = Finish(Arc::clone(state), peer);
    tokio::spawn(async move {
        let report = sync_from(&finish.0, &finish.1).await;
        tracing::info!(?report, "fetched missing blocks");
        drop(finish);
    });
}

/// Fetches what `peer` has beyond the fork point and offers it to the core.
pub async fn sync_from(state: &Arc<AppState>, peer: &str) -> PeerReport {
    let report =
        |outcome, reason: Option<String>| PeerReport { peer: peer.to_owned(), outcome, reason };
    let (chain_id, height) = {
        let node = state.node();
        (node.params().chain_id, node.height())
    };
    let mut from = height.saturating_sub(SYNC_OVERLAP);
    loop {
        let blocks = match state.client.fetch_chain(peer, chain_id, from).await {
            Ok(blocks) => blocks,
            Err(error) => return report("rejected", Some(error.to_string())),
        };
        // Skip what we have; check the rest on every core, outside the node's lock.
        let peer_tip = blocks.last().map(gophercoin_core::Block::hash);
        let (unknown, parent_known, in_sync) = {
            let node = state.node();
            let in_sync = peer_tip == Some(node.tip().hash());
            let unknown = node.unknown_blocks(blocks);
            let parent_known = match &unknown {
                Ok(blocks) => blocks.first().is_none_or(|b| node.chain().contains(&b.header.prev)),
                Err(_) => true,
            };
            (unknown, parent_known, in_sync)
        };
        let blocks = match unknown {
            Ok(blocks) => blocks,
            Err(error) => return report("rejected", Some(error.to_string())),
        };
        if !parent_known && from > 0 {
            from = 0; // the fork is deeper than the overlap: fetch from genesis
            continue;
        }
        if blocks.is_empty() {
            return report(if in_sync { "in_sync" } else { "kept_ours" }, None);
        }
        let checked = match state.check_blocks(blocks, false).await {
            Ok(checked) => checked,
            Err(error) => return report("rejected", Some(error.to_string())),
        };
        match state.apply(|node, now| node.handle_checked_chain(checked, now)).await {
            Ok(ChainOutcome::Adopted { .. }) => return report("adopted", None),
            Ok(_) => return report("kept_ours", None),
            Err(error) if error.core_kind() == Some(ErrorKind::UnknownParent) && from > 0 => {
                from = 0
            }
            Err(error) => return report("rejected", Some(error.to_string())),
        }
    }
}
