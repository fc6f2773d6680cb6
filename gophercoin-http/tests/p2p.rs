//! The peer network over libp2p, with real nodes on 127.0.0.1: identities, encryption,
//! refused handshakes, wrong peer ids, bans of a peer that sends a forged block, and the
//! request-forgery policy on learned addresses. A hostile peer here is a real libp2p
//! node speaking the protocol's own messages.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use gophercoin_core::{
    Block, Params, RsaSigner, Signer as _,
    block::BlockTransaction,
    net::{Message, PeerAddr},
    pow,
};
use gophercoin_http::{Multiaddr, PeerPolicy, dto::BlockDto};
use libp2p::{PeerId, StreamProtocol, Swarm, Transport as _, identity};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

const PROTOCOL: StreamProtocol = StreamProtocol::new("/gophercoin/peer/1");

/// A node's `p2p` section of `/health`.
async fn p2p(node: &TestNode) -> Value {
    node.get("/health").await.1["p2p"].clone()
}

async fn advertised(node: &TestNode) -> Multiaddr {
    p2p(node).await["advertised"].as_str().expect("an advertised address").parse().unwrap()
}

async fn peer_id(node: &TestNode) -> PeerId {
    p2p(node).await["peer_id"].as_str().unwrap().parse().unwrap()
}

/// The TCP port a node listens for peers on.
async fn p2p_port(node: &TestNode) -> u16 {
    let addr = advertised(node).await;
    addr.iter()
        .find_map(|part| match part {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap()
}

/// Whether `node` lists `other` among its peers (registered or connected).
async fn lists(node: &TestNode, other: &Multiaddr) -> bool {
    let (_, answer) = node.get("/nodes/get").await;
    let nodes = answer["nodes"].as_array().cloned().unwrap_or_default();
    nodes.iter().any(|n| n.as_str() == Some(other.to_string().as_str()))
}

/// A libp2p node of our own, speaking the protocol's messages by hand.
struct Hostile {
    control: libp2p_stream::Control,
    local: PeerId,
    _swarm: tokio::task::JoinHandle<()>,
    dial: tokio::sync::mpsc::UnboundedSender<Multiaddr>,
}

impl Hostile {
    fn new(key: identity::Keypair) -> Hostile {
        let local = key.public().to_peer_id();
        let transport = libp2p::tcp::tokio::Transport::new(libp2p::tcp::Config::new())
            .upgrade(libp2p::core::upgrade::Version::V1)
            .authenticate(libp2p::noise::Config::new(&key).unwrap())
            .multiplex(libp2p::yamux::Config::default())
            .boxed();
        let behaviour = libp2p_stream::Behaviour::new();
        let control = behaviour.new_control();
        let mut swarm = Swarm::new(
            transport,
            behaviour,
            local,
            libp2p::swarm::Config::with_tokio_executor()
                .with_idle_connection_timeout(Duration::from_secs(60)),
        );
        let (dial, mut dials) = tokio::sync::mpsc::unbounded_channel::<Multiaddr>();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(addr) = dials.recv() => { let _ = swarm.dial(addr); }
                    _ = swarm.select_next_some() => {}
                }
            }
        });
        Hostile { control, local, _swarm: task, dial }
    }

    /// Connects to `addr` and opens the protocol's stream, framed; `None` if refused.
    async fn open(
        &mut self,
        addr: &Multiaddr,
    ) -> Option<
        tokio_util::codec::Framed<
            tokio_util::compat::Compat<libp2p::Stream>,
            tokio_util::codec::LengthDelimitedCodec,
        >,
    > {
        use tokio_util::compat::FuturesAsyncReadCompatExt as _;
        let peer = addr
            .iter()
            .find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(id) => Some(id),
                _ => None,
            })
            .unwrap();
        self.dial.send(addr.clone()).unwrap();
        let open = async {
            // The dial lands first; the stream needs the connection.
            for _ in 0..40 {
                if let Ok(stream) = self.control.open_stream(peer, PROTOCOL).await {
                    return Some(stream);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        };
        let stream = tokio::time::timeout(Duration::from_secs(5), open).await.ok().flatten()?;
        let codec = tokio_util::codec::LengthDelimitedCodec::builder()
            .max_frame_length(gophercoin_core::net::message::MAX_MESSAGE_BYTES)
            .new_codec();
        Some(tokio_util::codec::Framed::new(stream.compat(), codec))
    }
}

/// Reads frames until the stream ends; true if it ended within `within`.
async fn closed_within<S, T>(frames: &mut S, within: Duration) -> bool
where
    S: futures_util::Stream<Item = std::io::Result<T>> + Unpin,
{
    tokio::time::timeout(within, async { while let Some(Ok(_)) = frames.next().await {} })
        .await
        .is_ok()
}

fn hello(listen: Option<PeerAddr>) -> Message {
    let genesis = Params::devnet().genesis().hash();
    Message::Hello { genesis, tip: genesis, height: 0, listen }
}

/// A block on the node's tip, solved, with its last transfer's signature broken (the
/// block's hash does not cover signatures, so it is the honest block's twin).
async fn forged_block(node: &TestNode, alice: &RsaSigner, bob: &RsaSigner) -> (Block, Block) {
    let (_, answer) = node.get(&format!("/mining/template?address={}", bob.address())).await;
    let dto: BlockDto = serde_json::from_value(answer["block"].clone()).unwrap();
    let mut good = dto.into_block(Params::devnet().chain_id);
    good.transactions.push(BlockTransaction::Transfer(pay(alice, bob, 1_000, 0)));
    good.header.merkle_root =
        gophercoin_core::block::merkle_root(good.transactions.iter().map(|t| t.id()));
    good.header.nonce = 0;
    assert!(pow::solve(&mut good.header, 100_000_000));
    let mut bad = good.clone();
    let BlockTransaction::Transfer(tx) = &mut bad.transactions[1] else { unreachable!() };
    let mut signature = tx.signature.as_bytes().to_vec();
    signature[3] ^= 1;
    tx.signature = gophercoin_core::Signature::from_bytes(signature).unwrap();
    assert_eq!(bad.hash(), good.hash());
    (good, bad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_keeps_its_identity_in_a_private_file_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), Some(key("alice").address()))).await;
    let first = p2p(&node).await;
    let id = first["peer_id"].as_str().unwrap().to_owned();
    let advertised = first["advertised"].as_str().unwrap();
    assert!(advertised.starts_with("/ip4/127.0.0.1/tcp/"), "{advertised}");
    assert!(advertised.ends_with(&format!("/p2p/{id}")), "{advertised}");
    node.stop().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("p2p.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = TestNode::start(config(dir.path(), Some(key("alice").address()))).await;
    assert_eq!(p2p(&again).await["peer_id"].as_str(), Some(id.as_str()));
    again.stop().await;
    // A damaged key stops the start with a clear error, never a new identity.
    std::fs::write(dir.path().join("p2p.key"), "00zz\n").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = config(dir.path(), Some(key("alice").address()));
    let error = gophercoin_http::serve_node(config, listener, std::future::pending())
        .await
        .expect_err("a damaged key is refused");
    match &error {
        gophercoin_http::StartError::P2p(gophercoin_http::TransportError::Key(key)) => {
            assert!(key.path.ends_with("p2p.key"), "{error}");
        }
        other => panic!("not a key error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_on_the_peer_port_is_dropped_and_peers_still_connect() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = TestNode::start(config(dirs[0].path(), Some(key("alice").address()))).await;
    let port = p2p_port(&a).await;
    // Plain TCP with junk, and plain TCP with HTTP: neither is a Noise handshake.
    for junk in [vec![0x5a_u8; 64 * 1024], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()] {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let _ = tcp.write_all(&junk).await;
        let closed = tokio::time::timeout(Duration::from_secs(7), async {
            let mut buf = [0_u8; 4096];
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the junk connection was dropped");
    }
    // An honest node still joins, and its block arrives.
    let b = TestNode::start(config(dirs[1].path(), Some(key("bob").address()))).await;
    b.register(&[&a]).await;
    b.mine().await;
    eventually("b's block reaches a", 200, || async { a.height().await == 1 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_expecting_one_peer_id_refuses_another() {
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let nodes = [
        TestNode::start(config(dirs[0].path(), Some(key("alice").address()))).await,
        TestNode::start(config(dirs[1].path(), Some(key("bob").address()))).await,
        TestNode::start(config(dirs[2].path(), Some(key("alice").address()))).await,
    ];
    let [a, b, c] = &nodes;
    let a_addr = advertised(a).await;
    // B's port, C's identity: whoever answers there is not who A expects.
    let wrong = format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", p2p_port(b).await, peer_id(c).await);
    let (status, answer) = a.post("/nodes/register", &json!({ "nodes": [wrong] })).await;
    assert_eq!(status, 201, "{answer}");
    b.mine().await;
    // A dials (at once, then after each back-off) and never connects: B never lists
    // A, and B's block never reaches A.
    for _ in 0..30 {
        assert!(!lists(b, &a_addr).await, "b never sees a connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(a.height().await, 0);
    // The right identity at the same port connects.
    let right = advertised(b).await.to_string();
    let (status, answer) = a.post("/nodes/register", &json!({ "nodes": [right] })).await;
    assert_eq!(status, 201, "{answer}");
    eventually("a connects to b", 200, || async { lists(b, &a_addr).await }).await;
    eventually("b's block reaches a", 200, || async { a.height().await == 1 }).await;
    // The operator removes the wrong one by its multiaddr (one path segment, escaped).
    let mut url = url::Url::parse(&a.url).unwrap();
    url.path_segments_mut().unwrap().push("nodes").push(&wrong);
    let response = client().delete(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (_, listed) = a.get("/nodes/get").await;
    assert!(!listed["nodes"].as_array().unwrap().iter().any(|n| n.as_str() == Some(&wrong)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_sends_a_forged_block_is_banned_and_nobody_adopts_it() {
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let (alice, bob) = (key("alice"), key("bob"));
    let a = TestNode::start(config(dirs[0].path(), Some(alice.address()))).await;
    let b = TestNode::start(config(dirs[1].path(), Some(alice.address()))).await;
    let c = TestNode::start(config(dirs[2].path(), Some(alice.address()))).await;
    // C hears of blocks only through A and B, once connected to both.
    c.register(&[&a, &b]).await;
    let c_addr = advertised(&c).await;
    for node in [&a, &b] {
        eventually("c connects", 200, || async { lists(node, &c_addr).await }).await;
    }
    a.mine().await; // alice: 20 coins, on every node
    for node in [&b, &c] {
        eventually("the first block spreads", 200, || async { node.height().await == 1 }).await;
    }
    let (good, bad) = forged_block(&a, &alice, &bob).await;
    let key = identity::Keypair::generate_ed25519();
    let mut mallory = Hostile::new(key.clone());
    let tip = a.get("/health").await.1["tip"].as_str().unwrap().to_owned();
    for victim in [&a, &b] {
        let addr = advertised(victim).await;
        let mut stream = mallory.open(&addr).await.expect("mallory connects");
        let genesis = Params::devnet().genesis().hash();
        let greeting = Message::Hello { genesis, tip: genesis, height: 0, listen: None };
        stream.send(frame(greeting)).await.unwrap();
        stream.send(frame(Message::Block(Box::new(bad.clone())))).await.unwrap();
        assert!(closed_within(&mut stream, Duration::from_secs(10)).await, "mallory dropped");
        // Banned by identity: a new connection from mallory is refused.
        assert!(mallory.open(&addr).await.is_none(), "mallory refused");
    }
    // A fresh identity is not banned (the ban is on mallory, not on 127.0.0.1).
    let mut other = Hostile::new(identity::Keypair::generate_ed25519());
    let mut stream = other.open(&advertised(&a).await).await.expect("another peer connects");
    stream.send(frame(hello(None))).await.unwrap();
    for node in [&a, &b, &c] {
        assert_eq!(node.tip().await, tip, "nobody adopted the forged block");
    }
    // The honest twin is taken, and spreads to C.
    let body = serde_json::to_value(BlockDto::from_block(&good)).unwrap();
    let (status, answer) = a.post("/blocks", &body).await;
    assert_eq!(status, 201, "{answer}");
    eventually("the honest twin reaches c", 200, || async { c.height().await == 2 }).await;
    let _ = mallory.local;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_node_never_dials_a_private_address_it_learns() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), Some(key("alice").address()));
    config.limits.peer_policy = PeerPolicy::PublicOnly;
    let node = TestNode::start(config).await;
    // Loopback multiaddrs are refused at registration, as loopback URLs are.
    let some_id = PeerId::random();
    let private = format!("/ip4/127.0.0.1/tcp/9/p2p/{some_id}");
    let (status, answer) = node.post("/nodes/register", &json!({ "nodes": [private] })).await;
    assert_eq!(status, 400, "{answer}");
    // A peer hands it a loopback address where something listens: never dialled.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dialled = tokio::spawn(async move { listener.accept().await.is_ok() });
    let mut peer = Hostile::new(identity::Keypair::generate_ed25519());
    let mut stream = peer.open(&advertised(&node).await).await.expect("an inbound peer");
    stream.send(frame(hello(None))).await.unwrap();
    let learned: Vec<PeerAddr> = (0..3)
        .map(|_| {
            PeerAddr::new(format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", PeerId::random())).unwrap()
        })
        .collect();
    stream.send(frame(Message::Addr(learned))).await.unwrap();
    // Top-ups run every second; three of them dial nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!dialled.is_finished(), "the node dialled a loopback address it learned");
    dialled.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_connections_are_capped_per_ip() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), Some(key("alice").address()));
    config.limits.per_ip_limits_on_loopback = true;
    config.limits.p2p_max_per_ip = 2;
    let node = TestNode::start(config).await;
    let port = p2p_port(&node).await;
    // Two connections that never finish their handshake hold the client's two places.
    let mut held = vec![];
    for _ in 0..2 {
        held.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buf = [0_u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(2), third.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "the third is closed at once: {read:?}");
    // Once they go, a peer from the same IP gets in.
    drop(held);
    let mut peer = Hostile::new(identity::Keypair::generate_ed25519());
    let addr = advertised(&node).await;
    let mut opened = None;
    for _ in 0..20 {
        if let Some(stream) = peer.open(&addr).await {
            opened = Some(stream);
            break;
        }
    }
    assert!(opened.is_some(), "a place freed by closed connections is taken");
}

/// A message as one frame.
fn frame(message: Message) -> tokio_util::bytes::Bytes {
    message.encode().into()
}
