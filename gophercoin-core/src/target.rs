//! Proof-of-work targets: the compact form a header carries, the 256-bit value a header
//! hash must not exceed, the work it proves, and why a target is refused. A leaf module:
//! the rules that use these values are [`BlockHeader::check_pow`](crate::BlockHeader::check_pow)
//! and [`pow::next_target`](crate::pow::next_target).
//!
//! A block is valid work if its header hash, read as a 256-bit big-endian number, is at
//! most the target. The header carries the target in Bitcoin's compact form
//! ([`CompactTarget`]); the work a block proves is `2^256 / (target + 1)`, summed along a
//! chain for the [`MostWork`](crate::chain::MostWork) fork choice.

use core::fmt;

use crypto_bigint::{NonZero, U256};
use serde::{Deserialize, Serialize};

use crate::hash::BlockHash;

/// A target in its 32-bit compact form, as the block header carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompactTarget(u32);

impl CompactTarget {
    /// Wraps the 32-bit compact value (one size byte, three mantissa bytes).
    pub const fn from_consensus(bits: u32) -> Self {
        CompactTarget(bits)
    }

    /// Returns the 32-bit compact value.
    pub const fn to_consensus(self) -> u32 {
        self.0
    }
}

impl fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// Text that is not a compact target: exactly 8 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target {text:?} is not 8 hex digits")]
pub struct CompactTargetParseError {
    text: String,
}

impl core::str::FromStr for CompactTarget {
    type Err = CompactTargetParseError;

    /// Reads the 8 hex digits [`Display`](fmt::Display) writes, `1f00ffff`. Whether the
    /// value is a valid target is [`Target::from_compact`]'s question.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refused = || CompactTargetParseError { text: text.chars().take(16).collect() };
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(refused());
        }
        u32::from_str_radix(text, 16).map(CompactTarget).map_err(|_| refused())
    }
}

/// Serde for a [`CompactTarget`] as its 8 hex digits (`#[serde(with = ...)]`), the form
/// the HTTP API shows; the derived serde is the 32-bit number the encoding carries.
///
/// ```
/// use gophercoin_core::CompactTarget;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Shown {
///     #[serde(with = "gophercoin_core::pow::compact_hex")]
///     target: CompactTarget,
/// }
/// let shown: Shown = serde_json::from_str(r#"{"target": "1f00ffff"}"#).unwrap();
/// assert_eq!(shown.target, CompactTarget::from_consensus(0x1f00_ffff));
/// assert!(serde_json::from_str::<Shown>(r#"{"target": "1f00fff"}"#).is_err());
/// ```
pub mod compact_hex {
    use serde::{Deserialize as _, Deserializer, Serializer, de::Error as _};

    use super::CompactTarget;

    /// Writes the 8 hex digits.
    ///
    /// # Errors
    ///
    /// The serializer's.
    pub fn serialize<S: Serializer>(
        target: &CompactTarget,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(target)
    }

    /// Reads 8 hex digits.
    ///
    /// # Errors
    ///
    /// Anything but a string of 8 hex digits.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<CompactTarget, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// A 256-bit proof-of-work target; a header hash must be at most this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target([u8; 32]);

/// The work a block proves, or a chain's sum of it: the expected number of hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Work([u8; 32]);

/// Why a target is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PowError {
    /// The compact value has the sign bit set, a zero mantissa, or does not fit 256 bits.
    #[error("compact target {0} is not a valid positive 256-bit number")]
    BadCompactTarget(CompactTarget),
    /// The target is easier than the network's limit.
    #[error("target {bits} is easier than the limit {limit}")]
    AboveLimit {
        /// The declared target.
        bits: CompactTarget,
        /// The easiest allowed.
        limit: CompactTarget,
    },
    /// The header hash is above its target.
    #[error("block hash {hash} is above its target {bits}")]
    HashAboveTarget {
        /// The header hash.
        hash: BlockHash,
        /// The declared target.
        bits: CompactTarget,
    },
}

impl Target {
    /// Decodes a compact target.
    ///
    /// # Consensus
    ///
    /// Rules: [pow-compact](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-compact)
    ///
    /// # Errors
    ///
    /// [`PowError::BadCompactTarget`] if negative, zero or wider than 256 bits.
    pub fn from_compact(compact: CompactTarget) -> Result<Target, PowError> {
        let bits = compact.0;
        let size = (bits >> 24) as usize;
        let mantissa = bits & 0x00ff_ffff;
        if mantissa & 0x0080_0000 != 0 || mantissa == 0 {
            return Err(PowError::BadCompactTarget(compact));
        }
        // value = mantissa * 256^(size - 3); mantissa byte i (0 = most significant) has
        // weight 256^(size - 1 - i), so it sits at big-endian index 31 - (size - 1 - i).
        let mut out = [0u8; 32];
        let mantissa_bytes = [(mantissa >> 16) as u8, (mantissa >> 8) as u8, mantissa as u8];
        for (i, byte) in mantissa_bytes.into_iter().enumerate() {
            // Byte i has weight 256^(size - 1 - i); below 256^0 it is shifted out.
            let Some(exponent) = size.checked_sub(1 + i) else {
                continue;
            };
            match 31usize.checked_sub(exponent).and_then(|index| out.get_mut(index)) {
                Some(slot) => *slot = byte,
                None if byte != 0 => return Err(PowError::BadCompactTarget(compact)),
                None => {}
            }
        }
        if out == [0; 32] {
            return Err(PowError::BadCompactTarget(compact));
        }
        Ok(Target(out))
    }

    /// Encodes the target in compact form, rounding down to three significant bytes.
    ///
    /// # Consensus
    ///
    /// Rules: [pow-compact](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-compact)
    pub fn to_compact(self) -> CompactTarget {
        let first = self.0.iter().position(|&b| b != 0).unwrap_or(31);
        let mut size = (32 - first) as u32;
        let byte = |i: usize| u32::from(self.0.get(i).copied().unwrap_or(0));
        let mut mantissa = (byte(first) << 16) | (byte(first + 1) << 8) | byte(first + 2);
        if mantissa & 0x0080_0000 != 0 {
            mantissa >>= 8;
            size += 1;
        }
        CompactTarget((size << 24) | mantissa)
    }

    /// Returns `true` if `hash` meets this target (is at most it, as a big-endian number).
    pub fn is_met_by(&self, hash: &BlockHash) -> bool {
        hash.as_bytes() <= &self.0
    }

    /// Returns the work a block at this target proves: `2^256 / (target + 1)`.
    ///
    /// # Consensus
    ///
    /// Rules: [pow-work](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#pow-work)
    pub fn work(&self) -> Work {
        let target = U256::from_be_slice(&self.0);
        // 2^256 / (t + 1) == (!t / (t + 1)) + 1, computed without a 257-bit number.
        let Some(divisor) = NonZero::new(target.wrapping_add(&U256::ONE)).into_option() else {
            return Work::from_u256(U256::ONE); // target == 2^256 - 1
        };
        Work::from_u256(target.not().wrapping_div(&divisor).wrapping_add(&U256::ONE))
    }

    /// Returns the target as 32 big-endian bytes.
    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0
    }

    pub(crate) fn to_u256(self) -> U256 {
        U256::from_be_slice(&self.0)
    }

    pub(crate) fn from_u256(value: &U256) -> Target {
        let mut out = [0u8; 32];
        out.copy_from_slice(value.to_be_bytes().as_ref());
        Target(out)
    }
}

impl Work {
    /// No work at all.
    pub const ZERO: Work = Work([0; 32]);

    /// Adds two amounts of work, saturating at `2^256 - 1`.
    #[must_use]
    pub fn saturating_add(self, other: Work) -> Work {
        Work::from_u256(self.to_u256().saturating_add(&other.to_u256()))
    }

    /// Multiplies the work by a count, saturating at `2^256 - 1`.
    #[must_use]
    pub fn saturating_mul(self, count: u64) -> Work {
        Work::from_u256(self.to_u256().saturating_mul(&U256::from_u64(count)))
    }

    /// Returns the work as 32 big-endian bytes.
    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0
    }

    /// Returns the work as a `u128`, saturating (for display and estimates).
    pub fn to_u128_saturating(self) -> u128 {
        let (high, low) = self.0.split_at(16);
        if high.iter().any(|&b| b != 0) {
            return u128::MAX;
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(low);
        u128::from_be_bytes(bytes)
    }

    fn to_u256(self) -> U256 {
        U256::from_be_slice(&self.0)
    }

    fn from_u256(value: U256) -> Work {
        let mut out = [0u8; 32];
        out.copy_from_slice(value.to_be_bytes().as_ref());
        Work(out)
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_u128_saturating() {
            u128::MAX => write!(f, "0x{}", hex::encode(self.0)),
            n => write!(f, "{n}"),
        }
    }
}
