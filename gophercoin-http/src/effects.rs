//! The core node as the adapter runs it, and what one of its calls leaves for the
//! adapter to do: store writes, live events, and what the peer network should tell peers.

use gophercoin_core::{Event, ForkChoice, Node, RsaVerifier};

use crate::{events::LiveEvent, store::StoreOp};

/// The core node as the adapter runs it.
pub(crate) type CoreNode = Node<RsaVerifier, Box<dyn ForkChoice + Send + Sync>>;

/// What one batch of core events asks the adapter to do.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Main-chain changes to persist, in order.
    pub(crate) store: Vec<StoreOp>,
    /// New blocks and transactions to tell peers about, for the peer protocol
    /// ([`crate::network`]).
    pub(crate) relay: Vec<Event>,
    /// Whether the main chain's tip changed.
    pub(crate) tip_changed: bool,
    /// Blocks that joined the main chain.
    pub(crate) connected: u64,
    /// Blocks that left it (a reorganisation, if any).
    pub(crate) disconnected: u64,
    /// What `/events` reports, once the store writes are done.
    pub(crate) live: Vec<LiveEvent>,
}

impl Effects {
    /// Drains the node's events and reads what they refer to while the node is locked;
    /// pending transactions are stored only if `persist_mempool`.
    pub(crate) fn drain(node: &mut CoreNode, persist_mempool: bool) -> Effects {
        let mut effects = Effects::default();
        while let Some(event) = node.poll_event() {
            match event {
                Event::BlockConnected { hash, height } => {
                    effects.connected += 1;
                    effects.live.push(LiveEvent::BlockConnected { hash, height });
                    if let Some(block) = node.block(&hash) {
                        effects.store.push(StoreOp::Connect(Box::new(block.to_block())));
                    }
                }
                Event::BlockDisconnected { hash, height } => {
                    effects.disconnected += 1;
                    effects.live.push(LiveEvent::BlockDisconnected { hash, height });
                    let tx_ids = node
                        .block(&hash)
                        .map_or_else(Vec::new, |block| block.transaction_ids().collect());
                    effects.store.push(StoreOp::Disconnect { height, tx_ids });
                }
                Event::RelayBlock(_) => effects.relay.push(event),
                Event::RelayTransaction(id) => {
                    if let Some(tx) = node.mempool().get(&id) {
                        if persist_mempool {
                            effects
                                .store
                                .push(StoreOp::Pending { id, tx: Box::new(tx.signed().clone()) });
                        }
                        effects.relay.push(event);
                        effects.live.push(LiveEvent::Transaction { id });
                    }
                }
                Event::TransactionDropped(id) => {
                    if persist_mempool {
                        effects.store.push(StoreOp::Unpending(id));
                    }
                    effects.live.push(LiveEvent::TransactionDropped { id });
                }
                Event::TipChanged { hash, height } => {
                    tracing::info!(%hash, height, "new tip");
                    effects.tip_changed = true;
                    effects.live.push(LiveEvent::Tip { hash, height });
                }
                _ => {}
            }
        }
        effects
    }
}
