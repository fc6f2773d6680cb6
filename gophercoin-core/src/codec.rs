//! The canonical binary encoding: what is signed, hashed and stored.
//!
//! Variable-length values are encoded with [`postcard`], a small, deterministic serde
//! format (see `docs/adr/0001-canonical-encoding.md`): the same value always gives the same
//! bytes. What is signed or hashed is prefixed with a domain tag that names the kind of
//! value and the encoding version, so a transaction's bytes can never be mistaken for a
//! reward's or a future version's. The block header is the one deliberate exception: it
//! has a fixed 96-byte layout of its own ([`BlockHeader::to_bytes`](crate::BlockHeader::to_bytes)),
//! so a miner can hash everything but the nonce once.

use serde::{Serialize, de::DeserializeOwned};

/// The domain tag of a transaction's signing payload.
pub(crate) const TX_TAG: &[u8] = b"gophercoin/tx/v2\0";
/// The domain tag of a reward's id.
pub(crate) const REWARD_TAG: &[u8] = b"gophercoin/reward/v1\0";
/// The domain tag of a merkle leaf.
pub(crate) const MERKLE_LEAF_TAG: &[u8] = b"gophercoin/merkle-leaf/v1\0";
/// The domain tag of an inner merkle node.
pub(crate) const MERKLE_NODE_TAG: &[u8] = b"gophercoin/merkle-node/v1\0";
/// The domain tag of the genesis block's commitment.
pub(crate) const GENESIS_TAG: &[u8] = b"gophercoin/genesis/v1\0";

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input is larger than the limit for its kind.
    #[error("{len} bytes is more than the {max} allowed")]
    TooLarge {
        /// The input's length.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// The bytes are not an encoding of the expected value.
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// The bytes decode, but are not the value's canonical encoding (an over-long
    /// integer).
    #[error("not the canonical encoding of the value")]
    NonCanonical,
    /// A value was decoded but bytes were left over.
    #[error("{0} bytes left over after the value")]
    TrailingBytes(usize),
}

/// Encodes a value canonically.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    encode_tagged(&[], value)
}

/// The length of a value's canonical encoding, measured without encoding it into memory.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        .expect("in-memory postcard encoding of core types can't fail")
}

/// Encodes a value canonically after a domain tag, into one allocation of the exact size
/// (measuring first costs a pass over the value; growing a vector would copy it).
pub(crate) fn encode_tagged<T: Serialize + ?Sized>(tag: &[u8], value: &T) -> Vec<u8> {
    const INFALLIBLE: &str = "in-memory postcard encoding of core types can't fail";
    let len = postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        .expect(INFALLIBLE);
    let mut out = Vec::with_capacity(tag.len() + len);
    out.extend_from_slice(tag);
    postcard::to_extend(value, out).expect(INFALLIBLE)
}

/// Decodes a value of at most `max` bytes, with nothing left over, that is the canonical
/// encoding of the value.
///
/// # Consensus
///
/// Rules:
/// - [enc-postcard](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#enc-postcard)
/// - [enc-canonical-decoding](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#enc-canonical-decoding)
///
/// # Errors
///
/// [`CodecError`] for too much input, malformed bytes or leftovers.
pub fn decode<T: DeserializeOwned + Serialize>(bytes: &[u8], max: usize) -> Result<T, CodecError> {
    if bytes.len() > max {
        return Err(CodecError::TooLarge { len: bytes.len(), max });
    }
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| CodecError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes(rest.len()));
    }
    // postcard accepts over-long varints; only the canonical bytes of a value are valid,
    // so bytes and values correspond one to one.
    if encode(&value) != bytes {
        return Err(CodecError::NonCanonical);
    }
    Ok(value)
}

/// Serde for byte values that read as hex text in human-readable formats (JSON) and as
/// raw bytes in binary ones (this codec), shared by hashes, addresses and signatures.
pub(crate) mod hex_or_bytes {
    use core::{fmt::Display, str::FromStr};

    use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

    /// Writes `text` (hex) to human-readable formats, `bytes` to binary ones.
    pub(crate) fn serialize<S: Serializer>(
        text: &impl Display,
        bytes: &(impl Serialize + ?Sized),
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(text)
        } else {
            bytes.serialize(serializer)
        }
    }

    /// Reads hex text through `FromStr`, or raw bytes through `from_bytes`.
    pub(crate) fn deserialize<'de, D, T, B, E>(
        deserializer: D,
        from_bytes: impl FnOnce(B) -> Result<T, E>,
    ) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr<Err: Display>,
        B: Deserialize<'de>,
        E: Display,
    {
        if deserializer.is_human_readable() {
            // Parsed where it lies (serde_json lends the text unless it has escapes): the
            // text of a key or signature is never copied.
            deserializer.deserialize_str(Text(core::marker::PhantomData))
        } else {
            from_bytes(B::deserialize(deserializer)?).map_err(de::Error::custom)
        }
    }

    /// Variable-length bytes, written in one piece (`serialize_bytes`) rather than element by
    /// element; in this codec both are the length and then the bytes.
    pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

    impl Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }

    /// Variable-length bytes read in one piece (`deserialize_byte_buf`), the counterpart of
    /// [`Bytes`]; a format that hands over a sequence instead is read element by element.
    pub(crate) struct ByteBuf(pub(crate) Vec<u8>);

    impl<'de> Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_byte_buf(ByteBufVisitor)
        }
    }

    struct ByteBufVisitor;

    impl<'de> de::Visitor<'de> for ByteBufVisitor {
        type Value = ByteBuf;

        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<ByteBuf, E> {
            Ok(ByteBuf(bytes.to_vec()))
        }

        fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<ByteBuf, E> {
            Ok(ByteBuf(bytes))
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
            let mut bytes = Vec::new();
            while let Some(byte) = seq.next_element()? {
                bytes.push(byte);
            }
            Ok(ByteBuf(bytes))
        }
    }

    /// Visits a string and parses it with `FromStr`.
    struct Text<T>(core::marker::PhantomData<T>);

    impl<T: FromStr<Err: Display>> de::Visitor<'_> for Text<T> {
        type Value = T;

        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            text.parse().map_err(E::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block::Block, transaction::SignedTransaction};

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(matches!(
            SignedTransaction::decode(&[0xff; 40], 4096),
            Err(CodecError::Malformed(_))
        ));
        assert!(matches!(Block::decode(&[], 4096), Err(CodecError::Malformed(_))));
        assert_eq!(Block::decode(&[0; 10], 5), Err(CodecError::TooLarge { len: 10, max: 5 }));
        let genesis = crate::Params::devnet().genesis();
        let mut bytes = genesis.encode();
        assert_eq!(Block::decode(&bytes, 1 << 20), Ok(genesis));
        bytes.push(0);
        assert_eq!(Block::decode(&bytes, 1 << 20), Err(CodecError::TrailingBytes(1)));
        // 0 as an over-long varint.
        assert_eq!(decode::<u64>(&[0x80, 0x00], 8), Err(CodecError::NonCanonical));
        assert_eq!(decode::<u64>(&[0x00], 8), Ok(0));
    }

    #[test]
    fn keys_and_signatures_are_a_length_then_their_bytes() {
        use crate::{Address, Signature};

        let address = Address::from_der(vec![7; 300]).expect("short enough");
        let bytes = encode(&address);
        // 300 as a varint, then the bytes: the same as a sequence of 300 bytes would give.
        assert_eq!(bytes.get(..2), Some(&[0xac, 0x02][..]));
        assert_eq!(bytes.len(), 302);
        assert_eq!(bytes, postcard::to_allocvec(&vec![7u8; 300]).expect("encodes"));
        assert_eq!(decode::<Address>(&bytes, 4096), Ok(address));

        // A length beyond the input is refused without reading past it.
        let mut short = encode(&Signature::from_bytes(vec![1; 256]).expect("short enough"));
        short.truncate(100);
        assert!(matches!(decode::<Signature>(&short, 4096), Err(CodecError::Malformed(_))));
        // And one beyond the most a signature may have, by the constructor.
        let long = postcard::to_allocvec(&vec![1u8; Signature::MAX_LEN + 1]).expect("encodes");
        assert!(matches!(decode::<Signature>(&long, 4096), Err(CodecError::Malformed(_))));
    }
}
