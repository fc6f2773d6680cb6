//! Typed 32-byte hashes: [`BlockHash`], [`TxId`] and [`MerkleRoot`].
//!
//! Each is its own type so a transaction id can never be passed where a block hash is
//! expected. Hex exists only at the edges: `Display`/`FromStr` and human-readable serde
//! (JSON) use lower-case hex, binary serde uses the raw bytes.

use core::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::codec::hex_or_bytes;

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 hex digits: {reason}")]
pub struct HashParseError {
    reason: String,
}

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The all-zero value (the genesis block's parent).
            pub const ZERO: Self = Self([0; 32]);

            /// Wraps 32 raw bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// Returns the raw bytes.
            pub const fn to_bytes(self) -> [u8; 32] {
                self.0
            }

            /// Returns the raw bytes by reference.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(hex::Buffer::<32>::new().format(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = HashParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut bytes = [0; 32];
                hex::decode_to_slice(s, &mut bytes)
                    .map_err(|e| HashParseError { reason: e.to_string() })?;
                Ok(Self(bytes))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                hex_or_bytes::serialize(self, &self.0, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                hex_or_bytes::deserialize(deserializer, |bytes: [u8; 32]| {
                    Ok::<_, HashParseError>(Self(bytes))
                })
            }
        }
    };
}

hash_newtype! {
    /// The SHA-256 hash of a block header's fixed-size encoding; it identifies the block.
    BlockHash
}

hash_newtype! {
    /// The SHA-256 hash of a transaction's unsigned, domain-tagged encoding.
    ///
    /// It covers every field but the signature, so re-signing a payload can't make a new
    /// transaction out of an old one (replay protection keys on it).
    TxId
}

hash_newtype! {
    /// The root of the merkle tree over a block's transaction ids.
    MerkleRoot
}

hash_newtype! {
    /// A node of the merkle tree over a block's transaction ids: a tagged leaf hash or an
    /// inner node's hash, as an inclusion proof's branch carries them
    /// ([`crate::merkle::MerkleProof`]).
    MerkleNode
}

/// Returns the SHA-256 digest of `parts` concatenated.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let id = TxId::from_bytes([0xab; 32]);
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<TxId>(), Ok(id));
        assert!("zz".repeat(32).parse::<TxId>().is_err());
        assert!("ab".repeat(31).parse::<TxId>().is_err());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<TxId>(&json).unwrap(), id);
    }
}
