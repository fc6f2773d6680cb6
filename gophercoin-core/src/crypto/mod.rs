//! Keys, addresses and signatures, behind two small traits.
//!
//! [`Signer`] and [`Verifier`] are what the rest of the core sees; the shipped scheme is
//! RSA PKCS#1 v1.5 over SHA-256 in [`rsa`]. An embedder can plug in another
//! scheme by implementing both traits.
//!
//! An [`Address`] is a public key: the DER bytes of its SubjectPublicKeyInfo, written as
//! hex at the edges, exactly as the original used the hex public key as the wallet id.

mod exp65537;
pub mod rsa;

use core::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use self::rsa::{PreparedRsaKey, RsaEngine, RsaSigner, RsaVerifier};
use crate::codec::hex_or_bytes;

/// Makes signatures with one private key.
pub trait Signer {
    /// Returns the address (public key) that verifies this signer's signatures.
    fn address(&self) -> Address;

    /// Signs `msg`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::SigningFailed`] if the scheme can't sign with this key.
    fn sign(&self, msg: &[u8]) -> Result<Signature, CryptoError>;
}

/// Checks keys and signatures.
pub trait Verifier {
    /// Checks that `address` is a key this scheme accepts (encoding, size, exponent).
    ///
    /// # Errors
    ///
    /// The [`CryptoError`] that says what is wrong with the key.
    fn check_address(&self, address: &Address) -> Result<(), CryptoError>;

    /// Checks that `signature` is `address`'s signature over `msg`, and that `address` is an
    /// acceptable key (as [`Verifier::check_address`]).
    ///
    /// # Errors
    ///
    /// [`CryptoError::BadSignature`] if the signature does not verify; the key's own error
    /// (never `BadSignature`) if the key is not acceptable.
    fn verify(
        &self,
        address: &Address,
        msg: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError>;

    /// As [`Verifier::verify`], also given `digest`, the SHA-256 of `msg`, which the caller
    /// has at hand (a transaction's id is the SHA-256 of its signing bytes): a scheme that
    /// signs the SHA-256 of the message, as the shipped RSA one does, checks the signature
    /// against `digest` instead of hashing `msg` again. By default the digest is ignored.
    ///
    /// `digest` must be the SHA-256 of `msg`; the core only ever passes one it computed.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`].
    fn verify_with_sha256(
        &self,
        address: &Address,
        msg: &[u8],
        digest: &[u8; 32],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let _ = digest;
        self.verify(address, msg, signature)
    }
}

/// What is wrong with a key, an address or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The text is not valid hex.
    #[error("invalid hex: {0}")]
    BadHex(String),
    /// The bytes are longer than any accepted key or signature.
    #[error("{what} is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// What was too long ("address", "signature", "private key").
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// The bytes are not a DER key of the expected kind.
    #[error("invalid {what}: {reason}")]
    BadKeyEncoding {
        /// Which kind of key was expected.
        what: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// The key's modulus is smaller than allowed.
    #[error("RSA key of {bits} bits is below the minimum of {min}")]
    KeyTooSmall {
        /// The key's size.
        bits: usize,
        /// The smallest accepted size.
        min: usize,
    },
    /// The key's modulus is larger than allowed.
    #[error("RSA key of {bits} bits is above the maximum of {max}")]
    KeyTooLarge {
        /// The key's size.
        bits: usize,
        /// The largest accepted size.
        max: usize,
    },
    /// The key's public exponent is not 65537.
    #[error("RSA public exponent must be 65537")]
    BadExponent,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// Signing or key generation failed.
    #[error("signing failed: {0}")]
    SigningFailed(String),
}

/// A wallet address: a public key as the DER bytes of its SubjectPublicKeyInfo.
///
/// Constructing one checks only the length; whether the bytes are an acceptable key is
/// the [`Verifier`]'s decision ([`Verifier::check_address`]). The bytes are shared: a clone
/// (into a ledger diff, a balance's key, a template) costs a reference count, not a copy.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(std::sync::Arc<[u8]>);

impl Address {
    /// The most bytes an address may have (a 4096-bit RSA key needs 550).
    pub const MAX_LEN: usize = 1024;

    /// Wraps DER bytes.
    ///
    /// # Consensus
    ///
    /// Rules: [key-address](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#key-address)
    ///
    /// # Errors
    ///
    /// [`CryptoError::TooLong`] above [`Address::MAX_LEN`] bytes.
    pub fn from_der(der: Vec<u8>) -> Result<Address, CryptoError> {
        check_len("address", der.len(), Self::MAX_LEN)?;
        Ok(Address(der.into()))
    }

    /// Returns the DER bytes.
    pub fn as_der(&self) -> &[u8] {
        &self.0
    }

    /// Returns the first 16 hex digits of the address's SHA-256, for logs and tables.
    pub fn short(&self) -> String {
        let digest = crate::hash::sha256(&[&self.0]);
        hex::encode(digest.get(..8).unwrap_or_default())
    }
}

/// A signature's bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Signature(Vec<u8>);

impl Signature {
    /// The most bytes a signature may have (a 4096-bit RSA signature has 512).
    pub const MAX_LEN: usize = 512;

    /// Wraps signature bytes.
    ///
    /// # Consensus
    ///
    /// Rules: [key-signature-scheme](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#key-signature-scheme)
    ///
    /// # Errors
    ///
    /// [`CryptoError::TooLong`] above [`Signature::MAX_LEN`] bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Signature, CryptoError> {
        check_len("signature", bytes.len(), Self::MAX_LEN)?;
        Ok(Signature(bytes))
    }

    /// Returns the bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), CryptoError> {
    if len > max {
        return Err(CryptoError::TooLong { what, len, max });
    }
    Ok(())
}

/// Decodes hex, refusing input that would decode to more than `max` bytes.
pub(crate) fn decode_hex(what: &'static str, s: &str, max: usize) -> Result<Vec<u8>, CryptoError> {
    check_len(what, s.len() / 2, max)?;
    hex::decode(s).map_err(|e| CryptoError::BadHex(e.to_string()))
}

macro_rules! hex_bytes_impls {
    ($name:ident, $ctor:ident, $what:literal) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let text = self.to_string();
                match text.get(..16) {
                    Some(head) if text.len() > 32 => {
                        write!(f, "{}({head}…{} bytes)", stringify!($name), self.0.len())
                    }
                    _ => write!(f, "{}({text})", stringify!($name)),
                }
            }
        }

        impl FromStr for $name {
            type Err = CryptoError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::$ctor(decode_hex($what, s, $name::MAX_LEN)?)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                hex_or_bytes::serialize(self, &hex_or_bytes::Bytes(&self.0), serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                hex_or_bytes::deserialize(deserializer, |bytes: hex_or_bytes::ByteBuf| {
                    $name::$ctor(bytes.0)
                })
            }
        }
    };
}

hex_bytes_impls!(Address, from_der, "address");
hex_bytes_impls!(Signature, from_bytes, "signature");
