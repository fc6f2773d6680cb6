//! The hostile node of `benches/compare/seed.py`: a libp2p peer with an identity of its
//! own that connects to nodes and sends each, after its greeting, a block with a forged
//! signature (valid proof of work on the node's tip, a transfer whose signature has one
//! bit flipped). For each node it prints whether the node dropped it and whether a second
//! connection with the same identity was refused, then the forged block's hash.
//!
//! `forger --node URL --payer KEY_FILE --recipient KEY_FILE MULTIADDR...`

use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use gophercoin_core::{
    Amount, Block, Params, RsaSigner, Signer as _, Transaction, block::BlockTransaction,
    net::Message,
};
use gophercoin_http::{Multiaddr, dto::BlockDto};
use libp2p::{PeerId, StreamProtocol, Swarm, Transport as _, identity, multiaddr::Protocol};
use serde_json::json;
use tokio_util::{
    codec::{Framed, LengthDelimitedCodec},
    compat::{Compat, FuturesAsyncReadCompatExt as _},
};

/// Sends a block with a forged signature to nodes.
#[derive(Parser)]
struct Cli {
    /// A node whose mining template the block is made from.
    #[arg(long)]
    node: String,
    /// The payer's key (hex PKCS#8), with funds on the node's chain and no spend yet.
    #[arg(long)]
    payer: std::path::PathBuf,
    /// The payee's key.
    #[arg(long)]
    recipient: std::path::PathBuf,
    /// The nodes to send it to (`/ip4/.../tcp/.../p2p/...`).
    targets: Vec<Multiaddr>,
}

const PROTOCOL: StreamProtocol = StreamProtocol::new("/gophercoin/peer/1");

type Frames = Framed<Compat<libp2p::Stream>, LengthDelimitedCodec>;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let read_key = |path: &std::path::Path| -> RsaSigner {
        std::fs::read_to_string(path).expect("a key file").trim().parse().expect("a key")
    };
    let (payer, recipient) = (read_key(&cli.payer), read_key(&cli.recipient));
    let forged = forge(&cli.node, &payer, &recipient).await;
    let key = identity::Keypair::generate_ed25519();
    let (mut control, dial) = swarm(key);
    for target in &cli.targets {
        let peer = target
            .iter()
            .find_map(|p| match p {
                Protocol::P2p(id) => Some(id),
                _ => None,
            })
            .expect("a /p2p/ part");
        let Some(mut frames) = open(&mut control, &dial, target, peer).await else {
            println!("{}", json!({ "target": target.to_string(), "connected": false }));
            continue;
        };
        let genesis = Params::devnet().genesis().hash();
        let hello = Message::Hello { genesis, tip: genesis, height: 0, listen: None };
        let sent = Instant::now();
        let _ = frames.send(frame(hello)).await;
        let _ = frames.send(frame(Message::Block(Box::new(forged.clone())))).await;
        let dropped = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(Ok(_)) = frames.next().await {}
        })
        .await
        .is_ok();
        let dropped_ms = sent.elapsed().as_millis();
        let refused = open(&mut control, &dial, target, peer).await.is_none();
        println!(
            "{}",
            json!({ "target": target.to_string(), "connected": true, "dropped": dropped,
                    "dropped_ms": dropped_ms, "refused_again": refused })
        );
    }
    println!("{}", json!({ "block": forged.hash().to_string() }));
}

/// A block on the node's tip with one transfer whose signature is broken.
async fn forge(node: &str, payer: &RsaSigner, recipient: &RsaSigner) -> Block {
    let url = format!("{node}/mining/template?address={}", payer.address());
    let answer: serde_json::Value =
        reqwest::get(url).await.expect("the node answers").json().await.expect("JSON");
    let dto: BlockDto = serde_json::from_value(answer["block"].clone()).expect("a template");
    let mut block = dto.into_block(Params::devnet().chain_id);
    let transfer = Transaction {
        chain_id: Params::devnet().chain_id,
        sender: payer.address(),
        recipient: recipient.address(),
        amount: Amount::positive(1_000).expect("positive"),
        fee: Amount::ZERO,
        nonce: 0,
    }
    .sign(payer)
    .expect("signs");
    let mut signature = transfer.signature.as_bytes().to_vec();
    signature[3] ^= 1;
    let mut forged = transfer;
    forged.signature = gophercoin_core::Signature::from_bytes(signature).expect("same length");
    block.transactions.push(BlockTransaction::Transfer(forged));
    block.header.merkle_root =
        gophercoin_core::block::merkle_root(block.transactions.iter().map(|t| t.id()));
    block.header.nonce = 0;
    assert!(gophercoin_miner::solve(&mut block.header, u64::MAX), "solved");
    block
}

/// A swarm that only opens streams, run on its own task; dial through the sender.
fn swarm(
    key: identity::Keypair,
) -> (libp2p_stream::Control, tokio::sync::mpsc::UnboundedSender<Multiaddr>) {
    let local = key.public().to_peer_id();
    let transport = libp2p::tcp::tokio::Transport::new(libp2p::tcp::Config::new())
        .upgrade(libp2p::core::upgrade::Version::V1)
        .authenticate(libp2p::noise::Config::new(&key).expect("a noise key"))
        .multiplex(libp2p::yamux::Config::default())
        .boxed();
    let behaviour = libp2p_stream::Behaviour::new();
    let control = behaviour.new_control();
    let config = libp2p::swarm::Config::with_tokio_executor()
        .with_idle_connection_timeout(Duration::from_secs(60));
    let mut swarm = Swarm::new(transport, behaviour, local, config);
    let (dial, mut dials) = tokio::sync::mpsc::unbounded_channel::<Multiaddr>();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(addr) = dials.recv() => { let _ = swarm.dial(addr); }
                _ = swarm.select_next_some() => {}
            }
        }
    });
    (control, dial)
}

/// Dials `target` and opens the protocol's stream within 5 s, or `None`.
async fn open(
    control: &mut libp2p_stream::Control,
    dial: &tokio::sync::mpsc::UnboundedSender<Multiaddr>,
    target: &Multiaddr,
    peer: PeerId,
) -> Option<Frames> {
    dial.send(target.clone()).ok()?;
    let open = async {
        for _ in 0..40 {
            if let Ok(stream) = control.open_stream(peer, PROTOCOL).await {
                return Some(stream);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    };
    let stream = tokio::time::timeout(Duration::from_secs(5), open).await.ok().flatten()?;
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(gophercoin_core::net::message::MAX_MESSAGE_BYTES)
        .new_codec();
    Some(Framed::new(stream.compat(), codec))
}

/// A message as one frame.
fn frame(message: Message) -> tokio_util::bytes::Bytes {
    message.encode().into()
}
