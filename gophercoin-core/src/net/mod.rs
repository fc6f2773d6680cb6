//! The peer protocol, sans-IO: the messages nodes exchange ([`message`]) and the state
//! machine that decides, for one node, what to announce, fetch, answer, dial and drop
//! ([`protocol`]). Drivers (a network stack, a simulator, tests) do the IO: they open
//! connections, carry bytes, read the clock, and feed the results in.

pub mod message;
pub mod protocol;

pub use message::{Inventory, Message, MessageError, PROTOCOL_VERSION, PeerAddr};
pub use protocol::{Config, Direction, DisconnectReason, Output, PeerId, Protocol};
