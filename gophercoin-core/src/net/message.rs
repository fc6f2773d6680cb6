//! The peer protocol's messages: typed, versioned, with a canonical and size-bounded
//! encoding (a version byte, then the message in the core's canonical encoding,
//! [`crate::codec`]). Oversized input and unknown versions are refused before anything is
//! decoded, and every list a message carries has a bound checked as it is decoded.

use serde::{Deserialize, Serialize};

use crate::{
    block::Block,
    codec::{self, CodecError},
    hash::{BlockHash, TxId},
    transaction::SignedTransaction,
};

/// The protocol version this build speaks; the first byte of every encoded message.
pub const PROTOCOL_VERSION: u8 = 1;

/// The largest encoded message: a page of blocks ([`MAX_PAGE_BYTES`]) and its framing.
pub const MAX_MESSAGE_BYTES: usize = MAX_PAGE_BYTES + 64 * 1024;

/// The most bytes of blocks one [`Message::Blocks`] page may carry.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// The most blocks one page may carry.
pub const MAX_PAGE_BLOCKS: usize = 500;

/// The most items one [`Message::Inv`], [`Message::GetData`] or [`Message::NotFound`] may
/// name.
pub const MAX_INVENTORY: usize = 1_000;

/// The most hashes in a block locator ([`Message::GetBlocks`]).
pub const MAX_LOCATOR: usize = 64;

/// The most addresses one [`Message::Addr`] may carry.
pub const MAX_ADDRESSES: usize = 100;

/// The longest peer address, in bytes.
pub const MAX_ADDRESS_BYTES: usize = 256;

/// Where a peer can be reached, as its transport writes it (an HTTP URL, a libp2p
/// multiaddr); the protocol compares and stores addresses, the driver dials them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerAddr(String);

impl PeerAddr {
    /// An address, if it is not empty and at most [`MAX_ADDRESS_BYTES`] long.
    pub fn new(addr: impl Into<String>) -> Option<Self> {
        let addr = addr.into();
        (!addr.is_empty() && addr.len() <= MAX_ADDRESS_BYTES).then_some(PeerAddr(addr))
    }

    fn check(&self) -> Result<(), MessageError> {
        match self.0.len() {
            1..=MAX_ADDRESS_BYTES => Ok(()),
            len => Err(MessageError::BadAddress(len)),
        }
    }

    /// The address as its transport writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The network group the address is in, as Bitcoin Core groups them: the first two
    /// bytes of an IPv4 address (its /16), the first four of an IPv6 one (its /32), or
    /// the host name; read from a URL (`http://HOST:PORT`) or a multiaddr
    /// (`/ip4/HOST/...`), else the whole address. Many addresses of one operator tend to
    /// share a group, so a node that spreads its outbound peers over groups is harder to
    /// surround.
    ///
    /// ```
    /// use gophercoin_core::net::PeerAddr;
    ///
    /// let group = |a: &str| PeerAddr::new(a).unwrap().group();
    /// assert_eq!(group("http://203.0.113.7:5000"), group("/ip4/203.0.200.1/tcp/4001"));
    /// assert_ne!(group("http://203.0.113.7:5000"), group("http://198.51.100.7:5000"));
    /// assert_eq!(group("http://[2001:db8::1]:5000"), group("http://[2001:db8:0:1::2]:80"));
    /// ```
    pub fn group(&self) -> String {
        let text = self.0.as_str();
        let host = if let Some(rest) = text.split_once("://").map(|(_, rest)| rest) {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(v6),
                None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
            }
        } else if let Some(rest) = text.strip_prefix('/') {
            let mut parts = rest.split('/');
            match (parts.next(), parts.next()) {
                (Some("ip4" | "ip6" | "dns" | "dns4" | "dns6"), Some(host)) => host,
                _ => text,
            }
        } else {
            text
        };
        match host.parse::<core::net::IpAddr>() {
            Ok(core::net::IpAddr::V4(ip)) => {
                let [a, b, ..] = ip.octets();
                format!("{a}.{b}")
            }
            Ok(core::net::IpAddr::V6(ip)) => {
                let [a, b, ..] = ip.segments();
                format!("{a:x}:{b:x}")
            }
            Err(_) => host.to_ascii_lowercase(),
        }
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Something a node can have: a block or a transaction, by its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Inventory {
    /// A block.
    Block(BlockHash),
    /// A pending transaction.
    Tx(TxId),
}

/// One message between peers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// The first message each side sends: its network, its tip, and where it listens.
    Hello {
        /// The genesis block's hash: peers on another network part at once.
        genesis: BlockHash,
        /// The sender's tip.
        tip: BlockHash,
        /// The tip's height.
        height: u64,
        /// Where the sender accepts connections, if anywhere.
        listen: Option<PeerAddr>,
    },
    /// "I have these": new blocks and transactions, announced to peers that may lack them.
    Inv(Vec<Inventory>),
    /// "Send me these", in answer to an [`Message::Inv`].
    GetData(Vec<Inventory>),
    /// What a [`Message::GetData`] asked for and the sender does not have.
    NotFound(Vec<Inventory>),
    /// A block asked for.
    Block(Box<Block>),
    /// A transaction asked for.
    Tx(Box<SignedTransaction>),
    /// "Send me the main-chain blocks after the first of these I share with you": a
    /// catch-up page request. The locator runs from the asker's tip back to genesis.
    GetBlocks {
        /// Hashes of the asker's main chain, newest first, sparser further back.
        locator: Vec<BlockHash>,
    },
    /// A page of main-chain blocks in height order, in answer to [`Message::GetBlocks`].
    Blocks {
        /// The blocks, at most [`MAX_PAGE_BLOCKS`] and about [`MAX_PAGE_BYTES`].
        blocks: Vec<Block>,
        /// Whether the sender's main chain goes on past the page.
        more: bool,
    },
    /// "Tell me peers you know."
    GetAddr,
    /// Peers the sender knows.
    Addr(Vec<PeerAddr>),
}

/// Why bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Nothing was sent.
    #[error("an empty message")]
    Empty,
    /// The version byte is not one this build speaks.
    #[error("protocol version {0} is not spoken here (this node speaks {PROTOCOL_VERSION})")]
    UnknownVersion(u8),
    /// The message does not decode, or is too large.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A peer address is empty or longer than [`MAX_ADDRESS_BYTES`].
    #[error("a peer address of {0} bytes (1 to {MAX_ADDRESS_BYTES} allowed)")]
    BadAddress(usize),
    /// A list in the message is longer than its bound.
    #[error("{what}: {len} items is more than the {max} allowed")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The most allowed.
        max: usize,
    },
}

impl Message {
    /// The message's canonical bytes: the version, then the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![PROTOCOL_VERSION];
        bytes.extend_from_slice(&codec::encode(self));
        bytes
    }

    /// Decodes a message, refusing oversized input and unknown versions before decoding.
    ///
    /// # Errors
    ///
    /// [`MessageError`] if the bytes are empty, of another version, too large, not a
    /// canonical encoding, or carry a list over its bound.
    ///
    /// ```
    /// use gophercoin_core::net::{Message, MessageError};
    ///
    /// let bytes = Message::GetAddr.encode();
    /// assert_eq!(Message::decode(&bytes), Ok(Message::GetAddr));
    /// let mut future = bytes.clone();
    /// future[0] = 9;
    /// assert_eq!(Message::decode(&future), Err(MessageError::UnknownVersion(9)));
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<Message, MessageError> {
        let (&version, body) = bytes.split_first().ok_or(MessageError::Empty)?;
        if version != PROTOCOL_VERSION {
            return Err(MessageError::UnknownVersion(version));
        }
        let message: Message = codec::decode(body, MAX_MESSAGE_BYTES)?;
        message.check_bounds()?;
        Ok(message)
    }

    /// Checks every list against its bound.
    ///
    /// # Errors
    ///
    /// [`MessageError::TooMany`] for the first list over its bound.
    pub fn check_bounds(&self) -> Result<(), MessageError> {
        let bound = |what, len, max| {
            if len > max { Err(MessageError::TooMany { what, len, max }) } else { Ok(()) }
        };
        match self {
            Message::Inv(items) => bound("inv", items.len(), MAX_INVENTORY),
            Message::GetData(items) => bound("getdata", items.len(), MAX_INVENTORY),
            Message::NotFound(items) => bound("notfound", items.len(), MAX_INVENTORY),
            Message::GetBlocks { locator } => bound("locator", locator.len(), MAX_LOCATOR),
            Message::Blocks { blocks, .. } => bound("blocks", blocks.len(), MAX_PAGE_BLOCKS),
            Message::Addr(addresses) => {
                bound("addr", addresses.len(), MAX_ADDRESSES)?;
                addresses.iter().try_for_each(PeerAddr::check)
            }
            Message::Hello { listen: Some(listen), .. } => listen.check(),
            Message::Hello { .. } | Message::Block(_) | Message::Tx(_) | Message::GetAddr => Ok(()),
        }
    }
}
