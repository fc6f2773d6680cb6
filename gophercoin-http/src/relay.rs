//! Pulling chains from peers over HTTP when `/nodes/resolve` asks.

use std::sync::Arc;

use futures_util::future::join_all;
use gophercoin_core::{ChainOutcome, ErrorKind};

use crate::{
    dto::{PeerReport, ResolveOutcome},
    peers::PeerUrl,
    state::AppState,
};

/// How far below our tip a sync starts, to find the fork point without fetching the
/// whole chain; deeper forks fall back to a sync from genesis.
const SYNC_OVERLAP: u64 = 64;

/// Asks every peer for its chain at once and hands each candidate to the core, which
/// validates it in full and adopts it only if fork choice prefers it. A dead, slow,
/// oversized or lying peer fails alone, within the client's timeout.
pub(crate) async fn resolve(state: &Arc<AppState>) -> Vec<PeerReport> {
    let peers = state.peers().list();
    join_all(peers.iter().map(|peer| async move {
        if peer.is_multiaddr() {
            return PeerReport {
                peer: peer.to_string(),
                outcome: ResolveOutcome::PeerNetwork,
                error: None,
                reason: None,
            };
        }
        sync_from(state, peer).await
    }))
    .await
}

/// [`resolve`], shared: a call made while another runs waits for it and takes its reports
/// if it started after the call was made (it saw everything the caller could ask for);
/// otherwise it runs one of its own. However many clients ask at once, at most one resolve
/// runs, and none is answered with one that began before it asked.
pub(crate) async fn resolve_shared(state: &Arc<AppState>) -> Vec<PeerReport> {
    let asked = std::time::Instant::now();
    let mut last = state.last_resolve().lock().await;
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

/// Fetches what `peer` has beyond the fork point and offers it to the core.
pub(crate) async fn sync_from(state: &Arc<AppState>, peer: &PeerUrl) -> PeerReport {
    let report =
        |outcome| PeerReport { peer: peer.to_string(), outcome, error: None, reason: None };
    let rejected = |kind: &str, reason: String| PeerReport {
        error: Some(kind.to_owned()),
        reason: Some(reason),
        ..report(ResolveOutcome::Rejected)
    };
    let chain_id = state.checker().params().chain_id;
    let height = state.read(|node| node.height());
    let mut from = height.saturating_sub(SYNC_OVERLAP);
    loop {
        let blocks = match state.client().fetch_chain(peer.as_str(), chain_id, from).await {
            Ok(blocks) => blocks,
            Err(error) => return rejected(error.kind(), error.to_string()),
        };
        // Skip what we have; check the rest on every core, outside the node's lock.
        let peer_tip = blocks.last().map(gophercoin_core::Block::hash);
        let (unknown, parent_known, in_sync) = state.read(|node| {
            let in_sync = peer_tip == Some(node.tip().hash());
            let unknown = node.unknown_blocks(blocks);
            let parent_known = match &unknown {
                Ok(blocks) => blocks.first().is_none_or(|b| node.chain().contains(&b.header.prev)),
                Err(_) => true,
            };
            (unknown, parent_known, in_sync)
        });
        let blocks = match unknown {
            Ok(blocks) => blocks,
            Err(error) => return rejected(error.kind().as_str(), error.to_string()),
        };
        if !parent_known && from > 0 {
            from = 0; // the fork is deeper than the overlap: fetch from genesis
            continue;
        }
        if blocks.is_empty() {
            return report(if in_sync { ResolveOutcome::InSync } else { ResolveOutcome::KeptOurs });
        }
        let checked = match state.check_blocks(blocks).await {
            Ok(checked) => checked,
            Err(error) => return rejected(error.kind(), error.to_string()),
        };
        match state.apply(|node, now| node.handle_checked_chain(checked, now)).await {
            Ok(ChainOutcome::Adopted { .. }) => return report(ResolveOutcome::Adopted),
            // Not adopted now: ours was better, or the peer network connected the same
            // chain meanwhile.
            Ok(_) => {
                let in_sync = peer_tip == Some(state.read(|node| node.tip().hash()));
                return report(if in_sync {
                    ResolveOutcome::InSync
                } else {
                    ResolveOutcome::KeptOurs
                });
            }
            Err(error)
                if matches!(error.core_kind(), Some(ErrorKind::UnknownParent)) && from > 0 =>
            {
                from = 0
            }
            Err(error) => return rejected(error.kind(), error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ResolveOutcome;

    #[test]
    fn outcomes_read_as_they_are_written() {
        use ResolveOutcome::*;
        for outcome in [Adopted, InSync, KeptOurs, Rejected, PeerNetwork] {
            let written = serde_json::to_value(outcome).unwrap();
            assert_eq!(written, outcome.as_str(), "as_str names it as the API does");
            assert_eq!(serde_json::from_value::<ResolveOutcome>(written).unwrap(), outcome);
        }
        assert!(serde_json::from_str::<ResolveOutcome>("\"won\"").is_err());
    }
}
