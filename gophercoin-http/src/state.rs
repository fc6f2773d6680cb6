//! The node's shared state: the core [`Node`] behind a lock, the store, the peers.

use std::{
    collections::{BTreeMap, VecDeque},
    path::Path,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use axum::body::Bytes;
use gophercoin_core::{
    Address, Block, ChainOutcome, CheckedBlock, Checker, Error as CoreError, Event,
    IdentifiedTransaction, Node, Prechecked, RsaSigner, RsaVerifier, SignedTransaction, Signer,
    UnixTime, VerifiedTransaction, Verifier, crypto::rsa::DEFAULT_KEY_BITS,
};

use crate::{
    config::NodeConfig,
    effects::{CoreNode, Effects},
    error::ApiError,
    os::{now, os_random_u64},
    peers::{PeerClient, PeerUrl, PeerUrlError, Peers},
    store::{Store, StoreError, StoreOp},
    writer::{CheckingGuard, StoreWriter},
};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory or wallet file could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network's parameters make no usable network.
    #[error("the network's parameters: {0}")]
    Params(#[from] gophercoin_core::ParamsError),
    /// The stored chain does not validate.
    #[error("the stored chain is invalid: {0}")]
    InvalidStoredChain(CoreError),
    /// The node's wallet key is unusable.
    #[error("wallet key {path}: {source}")]
    Wallet {
        /// The key file.
        path: String,
        /// What is wrong with it.
        source: gophercoin_core::CryptoError,
    },
    /// The configured miner address is not a key this network accepts.
    #[error("miner address {address}: {source}")]
    MinerAddress {
        /// The address's first hex digits.
        address: String,
        /// Why it is refused.
        source: gophercoin_core::CryptoError,
    },
    /// A configured peer is invalid.
    #[error(transparent)]
    Peer(#[from] PeerUrlError),
    /// The peer network's transport did not start (its identity key, an address to
    /// listen on).
    #[error(transparent)]
    P2p(#[from] crate::p2p::TransportError),
}

/// What the handlers share.
pub(crate) struct AppState {
    node: Mutex<CoreNode>,
    store: Arc<Store>,
    /// Commits the store writes in order, in groups.
    writer: StoreWriter,
    /// The registered peers.
    peers: Peers,
    /// The peer network: the driver of the peer protocol.
    network: crate::network::Network,
    /// How many times blocks from peers changed the main chain's tip, and that count
    /// when `/nodes/resolve` last answered: a resolve says the chain was replaced if it
    /// moved to a peer's since.
    tips_from_peers: AtomicU64,
    tips_from_peers_seen: AtomicU64,
    /// The client for talking to them.
    client: PeerClient,
    /// The wallet this node's own mining pays.
    miner: Address,
    /// The node's checker, for checks made outside its lock.
    checker: Checker<RsaVerifier>,
    /// Block bodies refused for good, to refuse the same bytes again undecoded.
    refused_blocks: RefusedBlocks,
    /// Blocks' JSON, encoded once for every answer that shows them.
    encoded: crate::encoded::EncodedBlocks,
    /// Places for streamed whole-chain answers, each held until its answer is sent.
    streams: Arc<tokio::sync::Semaphore>,
    /// The same, per client.
    stream_clients: Arc<crate::server::PerClient>,
    /// Event streams (`/events`) per client: they last as long as a page is open, so
    /// they have places of their own.
    event_clients: Arc<crate::server::PerClient>,
    /// The requests being served other than chain answers: while there are any, the chain
    /// answers are paced.
    activity: Arc<crate::pacer::Activity>,
    /// The pace of all chain answers together ([`crate::config::Limits::chain_send_rate`]).
    chain_pacer: Arc<crate::pacer::Pacer>,
    /// Serialises `GET /mine` so two requests never mine the same height.
    mining: tokio::sync::Mutex<()>,
    /// The last `/nodes/resolve`: when it started and what it found; held while one
    /// runs, so concurrent calls share it ([`crate::relay::resolve_shared`]).
    last_resolve: tokio::sync::Mutex<Option<(std::time::Instant, Vec<crate::dto::PeerReport>)>>,
    /// What `GET /metrics` shows.
    metrics: Arc<crate::metrics::Metrics>,
    /// What `GET /events` follows.
    events: Arc<crate::events::EventHub>,
    /// The configuration it started with.
    config: NodeConfig,
}

impl AppState {
    /// Commits the store writes in order, in groups.
    pub(crate) fn writer(&self) -> &StoreWriter {
        &self.writer
    }

    /// The registered peers.
    pub(crate) fn peers(&self) -> &Peers {
        &self.peers
    }

    /// The peer network: the driver of the peer protocol.
    pub(crate) fn network(&self) -> &crate::network::Network {
        &self.network
    }

    /// Whether blocks from peers changed the main chain's tip since the last call (each
    /// `/nodes/resolve` asks, and says the chain was replaced if so).
    pub(crate) fn tip_moved_by_peers_since_last_asked(&self) -> bool {
        let moved = self.tips_from_peers.load(Ordering::Relaxed);
        self.tips_from_peers_seen.swap(moved, Ordering::Relaxed) != moved
    }

    /// The client for talking to them.
    pub(crate) fn client(&self) -> &PeerClient {
        &self.client
    }

    /// The wallet this node's own mining pays.
    pub(crate) fn miner(&self) -> &Address {
        &self.miner
    }

    /// The node's checker, for checks made outside its lock.
    pub(crate) fn checker(&self) -> &Checker<RsaVerifier> {
        &self.checker
    }

    /// Block bodies refused for good, to refuse the same bytes again undecoded.
    pub(crate) fn refused_blocks(&self) -> &RefusedBlocks {
        &self.refused_blocks
    }

    /// Blocks' JSON, encoded once for every answer that shows them.
    pub(crate) fn encoded(&self) -> &crate::encoded::EncodedBlocks {
        &self.encoded
    }

    /// Places for streamed whole-chain answers, each held until its answer is sent.
    pub(crate) fn streams(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.streams
    }

    /// The same, per client.
    pub(crate) fn stream_clients(&self) -> &Arc<crate::server::PerClient> {
        &self.stream_clients
    }

    /// Event streams (`/events`) per client: they last as long as a page is open, so
    /// they have places of their own.
    pub(crate) fn event_clients(&self) -> &Arc<crate::server::PerClient> {
        &self.event_clients
    }

    /// The requests being served other than chain answers: while there are any, the chain
    /// answers are paced.
    pub(crate) fn activity(&self) -> &Arc<crate::pacer::Activity> {
        &self.activity
    }

    /// The pace of all chain answers together ([`crate::config::Limits::chain_send_rate`]).
    pub(crate) fn chain_pacer(&self) -> &Arc<crate::pacer::Pacer> {
        &self.chain_pacer
    }

    /// Serialises `GET /mine` so two requests never mine the same height.
    pub(crate) fn mining(&self) -> &tokio::sync::Mutex<()> {
        &self.mining
    }

    /// The last `/nodes/resolve`: when it started and what it found; held while one
    /// runs, so concurrent calls share it ([`crate::relay::resolve_shared`]).
    pub(crate) fn last_resolve(
        &self,
    ) -> &tokio::sync::Mutex<Option<(std::time::Instant, Vec<crate::dto::PeerReport>)>> {
        &self.last_resolve
    }

    /// What `GET /metrics` shows.
    pub(crate) fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// What `GET /events` follows.
    pub(crate) fn events(&self) -> &Arc<crate::events::EventHub> {
        &self.events
    }

    /// The configuration it started with.
    pub(crate) fn config(&self) -> &NodeConfig {
        &self.config
    }
}

impl AppState {
    /// Opens the data directory, loads and re-validates the stored chain, and starts the
    /// store writer.
    ///
    /// # Errors
    ///
    /// A [`StartError`] that says what is wrong; nothing is served then.
    pub(crate) fn open(config: NodeConfig) -> Result<Arc<AppState>, StartError> {
        // Before anything is made on disk: a store is stamped with its network's genesis.
        config.params.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
            what: format!("cannot create data directory {}", config.data_dir.display()),
            source,
        })?;
        let params = config.params.clone();
        let store =
            Arc::new(Store::open(&config.data_dir.join("chain.redb"), params.genesis().hash())?);
        let miner = match &config.miner {
            Some(address) => {
                params.verifier().check_address(address).map_err(|source| {
                    let hex = address.to_string();
                    let address = hex.get(..16).map_or(hex.clone(), |start| format!("{start}…"));
                    StartError::MinerAddress { address, source }
                })?;
                address.clone()
            }
            None => load_or_make_wallet(&config.data_dir.join("wallet.key"))?.address(),
        };
        let metrics = Arc::new(crate::metrics::Metrics::new());
        // Its checks counted and timed for the metrics.
        let verifier = crate::verifier(&params);
        let verifier = match verifier.engine() {
            Some(engine) => verifier.with_engine(metrics.counting(engine)),
            None => verifier,
        };
        let mut node = Node::new(params.clone(), verifier, config.fork_choice.boxed())?
            .with_policy(config.policy.clone());
        let checker = node.checker();
        let blocks = store.main_chain()?;
        if !blocks.is_empty() {
            let outcome =
                node.handle_chain(blocks, now()).map_err(StartError::InvalidStoredChain)?;
            debug_assert!(matches!(outcome, ChainOutcome::Adopted { .. }));
            while node.poll_event().is_some() {} // already stored
        }
        if config.persist_mempool {
            reload_pending(&mut node, &store)?;
        } else {
            // A volatile mempool starts empty, whatever an earlier durable run stored.
            store.clear_pending()?;
        }
        let peers = Peers::new(config.limits.max_peers);
        // The command line's peers first; stored ones past the limit never stop a start.
        let mut configured = vec![];
        for peer in &config.peers {
            configured.push(PeerUrl::parse(peer.as_str(), config.limits.peer_policy)?);
        }
        // Stored peers pass today's policy too (they may have been registered under a
        // laxer one); a name is checked again whenever it is dialled.
        for peer in store.peers()? {
            match PeerUrl::parse(&peer, config.limits.peer_policy) {
                Ok(url) => configured.push(url),
                Err(error) => tracing::warn!(%peer, %error, "a stored peer is not used"),
            }
        }
        let left_out = peers.add_up_to_limit(&configured);
        if !left_out.is_empty() {
            tracing::warn!(
                max = config.limits.max_peers,
                ?left_out,
                "more peers than the limit: these are not used (DELETE /nodes/{{url}} removes them)"
            );
        }
        let network = crate::network::Network::new(config.network.clone());
        let client = PeerClient::new(&config.limits);
        // A number of this run, so an event id of an earlier run is not taken for one of this.
        let events = Arc::new(crate::events::EventHub::new(os_random_u64()));
        let writer =
            StoreWriter::spawn(Arc::clone(&store), Arc::clone(&metrics), Arc::clone(&events));
        let activity = Arc::new(crate::pacer::Activity::new());
        Ok(Arc::new(AppState {
            node: Mutex::new(node),
            store,
            writer,
            peers,
            network,
            tips_from_peers: AtomicU64::new(0),
            tips_from_peers_seen: AtomicU64::new(0),
            client,
            miner,
            checker,
            refused_blocks: RefusedBlocks::default(),
            encoded: crate::encoded::EncodedBlocks::new(crate::encoded::DEFAULT_BUDGET),
            streams: Arc::new(tokio::sync::Semaphore::new(crate::server::MAX_STREAMS)),
            stream_clients: Arc::new(crate::server::PerClient::new(
                crate::server::MAX_STREAMS_PER_CLIENT,
                &config.limits,
            )),
            event_clients: Arc::new(crate::server::PerClient::new(
                crate::server::MAX_EVENT_STREAMS_PER_CLIENT,
                &config.limits,
            )),
            activity: Arc::clone(&activity),
            chain_pacer: Arc::new(crate::pacer::Pacer::new(
                config.limits.chain_send_rate,
                activity,
            )),
            mining: tokio::sync::Mutex::new(()),
            last_resolve: tokio::sync::Mutex::new(None),
            metrics,
            events,
            config,
        }))
    }

    /// Reads the core node: `read` runs with the node locked, and sees it as it is between
    /// two core calls. The lock is held only while it runs (so never across an `await`);
    /// changes go through [`AppState::apply`].
    pub(crate) fn read<T>(&self, read: impl FnOnce(&CoreNode) -> T) -> T {
        read(&self.node())
    }

    /// Locks the core node (for this module's calls, which drain its events with it).
    fn node(&self) -> MutexGuard<'_, CoreNode> {
        self.node.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a store read or write on a blocking thread.
    ///
    /// # Errors
    ///
    /// A 500 if the store fails.
    pub(crate) async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    /// Checks a transaction on its own outside the node's lock (after a cheap look, under
    /// it, that it is not already known).
    ///
    /// # Errors
    ///
    /// The core's error.
    pub(crate) fn verify_transaction(
        &self,
        tx: SignedTransaction,
    ) -> Result<VerifiedTransaction, ApiError> {
        let tx = tx.identify();
        self.node().check_not_known(&tx.id())?;
        Ok(self.checker.check_transaction(tx).map_err(CoreError::from)?)
    }

    /// Checks blocks on their own outside the node's lock, on every core, reusing what the
    /// mempool already verified; the first failure in chain order is the answer.
    ///
    /// # Errors
    ///
    /// The first invalid block's error.
    pub(crate) async fn check_blocks(
        self: &Arc<Self>,
        blocks: Vec<Block>,
    ) -> Result<Vec<CheckedBlock>, ApiError> {
        let state = Arc::clone(self);
        tokio::task::spawn_blocking(move || state.check_blocks_on_threads(blocks))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
    }

    /// Checks one block the node prechecked ([`gophercoin_core::Node::precheck_block`])
    /// outside its lock, reusing what the mempool verified: the node's invalid-block cache
    /// remembers it if it is refused.
    ///
    /// # Errors
    ///
    /// The block's error.
    pub(crate) async fn check_prechecked(
        self: &Arc<Self>,
        block: Block,
        prechecked: Prechecked,
    ) -> Result<CheckedBlock, ApiError> {
        let state = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let pending = |tx: &IdentifiedTransaction| state.pending(tx);
            Ok(state.checker.check_block(block, Some(&prechecked), pending)?)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    }

    /// The mempool's verified form of a transfer, looked up by the id the check computes
    /// anyway, the lock held for just that.
    fn pending(&self, tx: &IdentifiedTransaction) -> Option<VerifiedTransaction> {
        self.node().mempool().get(&tx.id()).cloned()
    }

    fn check_blocks_on_threads(&self, blocks: Vec<Block>) -> Result<Vec<CheckedBlock>, ApiError> {
        Ok(check_blocks_in_parallel(blocks, &self.checker, |tx| self.pending(tx))?)
    }

    /// Runs one core call under the lock, then persists what it connected (before
    /// returning) and relays what it asks to relay (in the background).
    ///
    /// The store writes are queued while the lock is held, so they reach the disk in the
    /// order the core made them; the lock is released before waiting for the disk.
    ///
    /// # Errors
    ///
    /// The core's error as an [`ApiError`], a 500 if the store write failed, or a 503 if
    /// the store writer has stopped.
    pub(crate) async fn apply<T>(
        self: &Arc<Self>,
        call: impl FnOnce(&mut CoreNode, UnixTime) -> Result<T, CoreError>,
    ) -> Result<T, ApiError> {
        self.apply_counted(None, call).await
    }

    /// [`AppState::apply`] for a payment the store writer counts as being checked: the
    /// count ends when its writes are queued, so a commit that waits for it takes them.
    ///
    /// # Errors
    ///
    /// As [`AppState::apply`].
    pub(crate) async fn apply_checked<T>(
        self: &Arc<Self>,
        checking: CheckingGuard,
        call: impl FnOnce(&mut CoreNode, UnixTime) -> Result<T, CoreError>,
    ) -> Result<T, ApiError> {
        self.apply_counted(Some(checking), call).await
    }

    async fn apply_counted<T>(
        self: &Arc<Self>,
        checking: Option<CheckingGuard>,
        call: impl FnOnce(&mut CoreNode, UnixTime) -> Result<T, CoreError>,
    ) -> Result<T, ApiError> {
        let (result, effects, written) = {
            let mut node = self.node();
            let result = call(&mut node, now());
            let mut effects = Effects::drain(&mut node, self.config.persist_mempool);
            self.metrics.blocks_moved(effects.connected, effects.disconnected);
            let live = std::mem::take(&mut effects.live);
            let written = self
                .writer
                .queue(std::mem::take(&mut effects.store), live, checking)
                .map_err(|closed| ApiError::unavailable(closed.to_string()))?;
            (result, effects, written)
        };
        if let Some(written) = written {
            match written.await {
                Ok(Ok(())) => {}
                Ok(Err(message)) => return Err(ApiError::internal(message)),
                Err(_) => return Err(ApiError::internal("the store writer has stopped")),
            }
        }
        self.network.relay(effects.relay);
        Ok(result?)
    }
}

impl crate::network::Host for AppState {
    fn config(&self) -> &NodeConfig {
        &self.config
    }

    fn network(&self) -> &crate::network::Network {
        &self.network
    }

    fn peer_urls(&self) -> Vec<PeerUrl> {
        self.peers.list()
    }

    fn read_node<T>(&self, read: impl FnOnce(&CoreNode) -> T) -> T {
        self.read(read)
    }

    /// Checks blocks from a peer on every core outside the node's lock, for what it
    /// leaves behind: the verifier's cache of good signatures, so that the check of the
    /// same blocks under the lock (the peer protocol's) costs a look-up per signature
    /// instead of an RSA operation. Only blocks whose proof of work holds are checked.
    fn check_ahead(&self, blocks: &[Block]) {
        let worth: Vec<Block> = blocks
            .iter()
            .filter(|block| block.header.check_pow(self.checker.params()).is_ok())
            .cloned()
            .collect();
        if !worth.is_empty() {
            let _ = self.check_blocks_on_threads(worth);
        }
    }

    /// Runs `call` (the peer protocol feeding the node) under the node's lock, queues the
    /// store writes it caused in order without waiting for them, and hands its relay
    /// events to `relay` with the node still locked. A write that fails is logged by the
    /// store writer; what it would have kept is fetched from peers again.
    fn apply_now<C>(
        &self,
        context: &mut C,
        call: impl FnOnce(&mut C, &mut CoreNode),
        relay: impl FnOnce(&mut C, &CoreNode, &[Event]),
    ) {
        let mut node = self.node();
        call(context, &mut node);
        let effects = Effects::drain(&mut node, self.config.persist_mempool);
        self.metrics.blocks_moved(effects.connected, effects.disconnected);
        if effects.tip_changed {
            self.tips_from_peers.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(error) = self.writer.queue(effects.store, effects.live, None) {
            tracing::warn!(%error, "a peer's block or transaction was not stored");
        }
        relay(context, &node, &effects.relay);
    }

    fn publish(&self, live: Vec<crate::events::LiveEvent>) {
        self.events.publish(live);
    }
}

/// The bodies of blocks the core refused for good (a refusal its invalid-block cache
/// remembered), with the answer each got: the same bytes sent again get the same answer
/// after a comparison, without being decoded (decoding parses every transfer's JSON, hex
/// and keys; comparing only reads the bytes once).
///
/// Only the very same bytes match (a body is found by its length and a hash of its ends,
/// then compared whole), so no crafted body can take another's answer. At most
/// [`RefusedBlocks::MAX_BYTES`] of bodies are kept, the oldest dropped first.
#[derive(Debug, Default)]
pub(crate) struct RefusedBlocks {
    inner: Mutex<RefusedInner>,
    /// Keys the hash of a body's ends (random per process).
    hasher: std::hash::RandomState,
}

#[derive(Debug, Default)]
struct RefusedInner {
    bodies: BTreeMap<(usize, u64), (Bytes, ApiError)>,
    order: VecDeque<(usize, u64)>,
    bytes: usize,
}

impl RefusedBlocks {
    /// The most bytes of bodies kept.
    pub(crate) const MAX_BYTES: usize = 16 << 20;

    /// A body's key: its length and a keyed hash of its first and last 4 KiB.
    fn key(&self, body: &[u8]) -> (usize, u64) {
        use std::hash::{BuildHasher, Hasher};
        const END: usize = 4096;
        let head = body.get(..END).unwrap_or(body);
        let tail = body.get(body.len().saturating_sub(END)..).unwrap_or(body);
        let mut hasher = self.hasher.build_hasher();
        hasher.write(head);
        hasher.write(tail);
        (body.len(), hasher.finish())
    }

    /// Returns the answer the very same bytes got, if they were refused for good.
    pub(crate) fn get(&self, body: &Bytes) -> Option<ApiError> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (kept, error) = inner.bodies.get(&self.key(body))?;
        (kept == body).then(|| error.clone())
    }

    /// Keeps a body the core refused for good, with its answer.
    pub(crate) fn insert(&self, body: Bytes, error: ApiError) {
        if body.len() > Self::MAX_BYTES {
            return;
        }
        let key = self.key(&body);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let added = body.len();
        if let Some((old, _)) = inner.bodies.insert(key, (body, error)) {
            inner.bytes -= old.len();
        } else {
            inner.order.push_back(key);
        }
        inner.bytes += added;
        while inner.bytes > Self::MAX_BYTES {
            let Some(oldest) = inner.order.pop_front() else { break };
            if let Some((old, _)) = inner.bodies.remove(&oldest) {
                inner.bytes -= old.len();
            }
        }
    }
}

/// Puts the stored pending transactions back in the mempool, each checked again as if it
/// were new; those no longer valid (mined, overdrawn by a block, or refused by a changed
/// policy) are dropped from the store, and counted in the log.
fn reload_pending(node: &mut CoreNode, store: &Store) -> Result<(), StartError> {
    let stored = store.pending()?;
    if stored.is_empty() {
        return Ok(());
    }
    let mut forget = vec![];
    for tx in stored {
        let id = tx.id();
        if let Err(error) = node.handle_transaction(tx) {
            tracing::info!(%id, %error, "a stored pending transaction is no longer valid");
            forget.push(StoreOp::Unpending(id));
        }
    }
    while let Some(event) = node.poll_event() {
        if let gophercoin_core::Event::TransactionDropped(id) = event {
            forget.push(StoreOp::Unpending(id));
        }
    }
    tracing::info!(
        pending = node.mempool().len(),
        dropped = forget.len(),
        "stored pending transactions checked again"
    );
    store.apply(&forget)?;
    Ok(())
}

/// Reads the node's wallet key, or makes one (owner-only permissions) on first start.
fn load_or_make_wallet(path: &Path) -> Result<RsaSigner, StartError> {
    let wallet_error = |source| StartError::Wallet { path: path.display().to_string(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse().map_err(wallet_error),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound) => {
            let signer = RsaSigner::generate(&mut getrandom::SysRng, DEFAULT_KEY_BITS)
                .map_err(wallet_error)?;
            crate::keyfile::write_private(path, &signer.to_pkcs8_hex()).map_err(|source| {
                StartError::Io {
                    what: format!("cannot write wallet key {}", path.display()),
                    source,
                }
            })?;
            tracing::info!("made a wallet for mining rewards in {}", path.display());
            Ok(signer)
        }
        Err(source) => Err(StartError::Io {
            what: format!("cannot read wallet key {}", path.display()),
            source,
        }),
    }
}

/// Checks blocks on their own on every core with a node's checker
/// ([`Checker::check_block`]; not prechecked, so no refusal is remembered), each
/// transfer for which `known` gives a verified form (identical, signature included) reused
/// rather than verified again; the first failure in the blocks' order is the answer.
///
/// The threads take the blocks a few at a time from one queue, so a core that runs slower
/// (a busy neighbour on a VM, a block with more transfers) takes fewer, and none sits idle
/// while another still has a long share to go. Once a block fails, no block after it is
/// started.
///
/// # Errors
///
/// The first invalid block's error.
pub fn check_blocks_in_parallel<V: Verifier + Sync>(
    blocks: Vec<Block>,
    checker: &Checker<V>,
    known: impl Fn(&IdentifiedTransaction) -> Option<VerifiedTransaction> + Sync,
) -> Result<Vec<CheckedBlock>, CoreError> {
    let check = |block: Block| checker.check_block(block, None, &known);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if blocks.len() < 2 || threads == 1 {
        return blocks.into_iter().map(check).collect();
    }
    let count = blocks.len();
    // Batches small enough to even out the threads' finishing times, large enough that
    // taking one is rare next to checking it.
    let batch = (count / (threads * 16)).clamp(1, 64);
    let queue = Mutex::new(blocks.into_iter().enumerate());
    let first_failure = AtomicUsize::new(usize::MAX);
    let work = || {
        let mut done = vec![];
        loop {
            let taken: Vec<(usize, Block)> = {
                let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
                queue.by_ref().take(batch).collect()
            };
            let Some(&(first, _)) = taken.first() else { break };
            if first > first_failure.load(Ordering::Relaxed) {
                break;
            }
            for (index, block) in taken {
                let result = check(block);
                if result.is_err() {
                    first_failure.fetch_min(index, Ordering::Relaxed);
                }
                done.push((index, result));
            }
        }
        done
    };
    let mut results: Vec<(usize, Result<CheckedBlock, CoreError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut results = work();
        for worker in workers {
            results.extend(worker.join().expect("a checking thread does not panic"));
        }
        results
    });
    results.sort_unstable_by_key(|(index, _)| *index);
    // Every block before the first failure was checked: the queue hands them out in order
    // and only blocks after a failure are skipped.
    results.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use gophercoin_core::{
        Amount, BlockTransaction, CryptoError, MostWork, Params, Signature, Transaction,
    };

    use super::*;

    /// A devnet chain of `count` blocks after genesis, a signed transfer in every fifth.
    fn chain(count: u64) -> (Vec<Block>, Params) {
        let params = Params::devnet();
        let key: RsaSigner =
            include_str!("../tests/data/alice.pkcs8.hex").trim().parse().expect("the test key");
        let mut node = Node::devnet();
        let mut now = params.genesis_timestamp;
        for height in 1..=count {
            if height > 1 && height % 5 == 0 {
                let tx = Transaction {
                    chain_id: params.chain_id,
                    sender: key.address(),
                    recipient: key.address(),
                    amount: Amount::positive(1).expect("positive"),
                    fee: Amount::ZERO,
                    nonce: height,
                }
                .sign(&key)
                .expect("signs");
                node.handle_transaction(tx).expect("accepted");
            }
            now += params.target_block_secs;
            let _ = node.mine_block(&key.address(), UnixTime::from_secs(now)).expect("mines");
        }
        let blocks = node.chain().main_chain_from(1).map(CheckedBlock::to_block).collect();
        (blocks, params)
    }

    /// Counts the signatures it checks (the count shared by its clones).
    #[derive(Clone)]
    struct Counting(RsaVerifier, Arc<AtomicUsize>);

    impl Verifier for Counting {
        fn check_address(&self, address: &Address) -> Result<(), CryptoError> {
            self.0.check_address(address)
        }

        fn verify(
            &self,
            address: &Address,
            msg: &[u8],
            sig: &Signature,
        ) -> Result<(), CryptoError> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.verify(address, msg, sig)
        }
        // `verify_with_sha256` is the trait's default, which calls `verify`.
    }

    #[test]
    fn transfers_known_to_be_verified_are_not_verified_again() {
        let (blocks, params) = chain(60);
        let verifier = Counting(params.verifier(), Default::default());
        let checker = Node::new(params, verifier.clone(), MostWork).expect("valid").checker();
        let transfers: Vec<_> = blocks
            .iter()
            .flat_map(|b| &b.transactions)
            .filter_map(|entry| match entry {
                BlockTransaction::Transfer(tx) => Some(tx.clone()),
                BlockTransaction::Reward(_) => None,
            })
            .collect();
        assert_eq!(transfers.len(), 12);
        // Every other transfer was verified before by the same node, as the mempool's are.
        let verify = |checker: &Checker<Counting>, tx: &SignedTransaction| {
            (tx.id(), checker.check_transaction(tx.clone().identify()).expect("valid"))
        };
        let known: std::collections::BTreeMap<_, _> =
            transfers.iter().step_by(2).map(|tx| verify(&checker, tx)).collect();
        let before = verifier.1.load(Ordering::Relaxed);
        let checked =
            check_blocks_in_parallel(blocks.clone(), &checker, |tx| known.get(&tx.id()).cloned());
        assert_eq!(checked.expect("a valid chain").len(), blocks.len());
        let verified = verifier.1.load(Ordering::Relaxed) - before;
        assert_eq!(verified, transfers.len() - known.len());
        // Verified by another node's checker, even of the same parameters, they are verified
        // again: a node reuses only what was checked under its own rules.
        let other = Node::new(Params::devnet(), verifier.clone(), MostWork).expect("valid");
        let foreign: std::collections::BTreeMap<_, _> =
            transfers.iter().map(|tx| verify(&other.checker(), tx)).collect();
        let before = verifier.1.load(Ordering::Relaxed);
        let checked =
            check_blocks_in_parallel(blocks.clone(), &checker, |tx| foreign.get(&tx.id()).cloned());
        assert_eq!(checked.expect("a valid chain").len(), blocks.len());
        assert_eq!(verifier.1.load(Ordering::Relaxed) - before, transfers.len());
    }

    #[test]
    fn parallel_checks_answer_as_checking_in_order_does() {
        let (blocks, _) = chain(60);
        let checker = Node::devnet().checker();
        let in_order = |blocks: &[Block]| {
            blocks
                .iter()
                .map(|b| checker.check_block(b.clone(), None, |_| None))
                .collect::<Result<Vec<_>, _>>()
        };
        let parallel = check_blocks_in_parallel(blocks.clone(), &checker, |_| None);
        let expected = in_order(&blocks).expect("a valid chain");
        let checked = parallel.expect("a valid chain");
        assert_eq!(checked.len(), blocks.len());
        for (ours, theirs) in checked.iter().zip(&expected) {
            assert_eq!(ours.hash(), theirs.hash(), "in the chain's order");
        }
        // Two bad blocks: the answer is the earlier one's error, wherever the threads were.
        for (first, second) in [(9, 41), (0, 59), (24, 25), (58, 59)] {
            let mut bad = blocks.clone();
            for index in [first, second] {
                bad[index].header.merkle_root = gophercoin_core::MerkleRoot::from_bytes([7; 32]);
            }
            let answer = check_blocks_in_parallel(bad.clone(), &checker, |_| None);
            let expected = in_order(&bad).expect_err("a bad block");
            assert_eq!(answer.expect_err("a bad block"), expected, "blocks {first} and {second}");
            let alone = checker.check_block(bad[first].clone(), None, |_| None);
            assert_eq!(expected, alone.expect_err("bad"));
        }
    }
}
