//! Amounts of money: an integer count of the smallest unit, checked at every step.
//!
//! [`Amount`] has one validating door, [`Amount::from_units`], and serde goes through it
//! too, so a negative, fractional or out-of-range JSON number never becomes an `Amount`.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize};

pub use self::encapsulate::Amount;

/// Why a number is not an acceptable amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The amount is above [`Amount::MAX`].
    #[error("amount {units} is above the maximum of {max} units")]
    TooLarge {
        /// The rejected number of units.
        units: u64,
        /// The largest amount there can ever be.
        max: u64,
    },
    /// The amount is zero where a positive amount is required.
    #[error("amount must be greater than zero")]
    Zero,
    /// Text that is not an amount of coins ([`Amount::from_coins`]).
    #[error("not an amount of coins: digits with at most 8 decimals, like 5 or 0.25")]
    NotCoins,
}

mod encapsulate {
    /// A non-negative amount of GopherCoin, counted in its smallest unit.
    ///
    /// The field is private: every `Amount` passed [`Amount::from_units`], so it is at most
    /// [`Amount::MAX`]. There is no panicking `+` or `-`; use [`Amount::checked_add`] and
    /// [`Amount::checked_sub`].
    ///
    /// # Consensus
    ///
    /// Rules:
    /// - [amount-units](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#amount-units)
    /// - [amount-max](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#amount-max)
    ///
    /// # Examples
    ///
    /// ```
    /// use gophercoin_core::Amount;
    ///
    /// let a = Amount::from_units(20)?;
    /// let b = Amount::from_units(22)?;
    /// assert_eq!(a.checked_add(b), Some(Amount::from_units(42)?));
    /// assert_eq!(a.checked_sub(b), None);
    /// assert!(Amount::from_units(u64::MAX).is_err());
    /// # Ok::<(), gophercoin_core::Error>(())
    /// ```
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct Amount(u64);

    impl Amount {
        /// The amount zero.
        pub const ZERO: Amount = Amount(0);
        /// The largest amount there can be: 21 million coins of 10^8 units, below 2^53 so
        /// that JavaScript numbers hold every amount exactly.
        pub const MAX: Amount = Amount(21_000_000 * 100_000_000);

        /// Makes an amount of `units` smallest units.
        ///
        /// # Errors
        ///
        /// [`AmountError::TooLarge`](super::AmountError::TooLarge) above [`Amount::MAX`].
        pub const fn from_units(units: u64) -> Result<Amount, super::AmountError> {
            if units > Self::MAX.0 {
                return Err(super::AmountError::TooLarge { units, max: Self::MAX.0 });
            }
            Ok(Amount(units))
        }

        /// Returns the number of smallest units.
        pub const fn to_units(self) -> u64 {
            self.0
        }
    }
}

impl Amount {
    /// How many smallest units make one coin.
    pub const UNITS_PER_COIN: u64 = 100_000_000;

    /// Makes a positive amount: like [`Amount::from_units`], and zero is refused too.
    ///
    /// # Errors
    ///
    /// [`AmountError::Zero`] for zero, [`AmountError::TooLarge`] above [`Amount::MAX`].
    pub const fn positive(units: u64) -> Result<Amount, AmountError> {
        if units == 0 {
            return Err(AmountError::Zero);
        }
        Amount::from_units(units)
    }

    /// Returns `true` for the amount zero.
    pub const fn is_zero(self) -> bool {
        self.to_units() == 0
    }

    /// Adds two amounts, or returns `None` if the sum is above [`Amount::MAX`].
    ///
    /// # Consensus
    ///
    /// Rules: [amount-checked](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#amount-checked)
    #[must_use]
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        let sum = self.to_units().checked_add(other.to_units())?;
        Amount::from_units(sum).ok()
    }

    /// Subtracts `other`, or returns `None` if it is larger than `self`.
    #[must_use]
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.to_units()
            .checked_sub(other.to_units())
            .and_then(|units| Amount::from_units(units).ok())
    }

    /// Multiplies by a count, or returns `None` if the product is above [`Amount::MAX`].
    #[must_use]
    pub fn checked_mul(self, count: u64) -> Option<Amount> {
        let product = self.to_units().checked_mul(count)?;
        Amount::from_units(product).ok()
    }

    /// Reads an amount as people write it, in coins with at most 8 decimals: `5`, `0.25`,
    /// `.00000001`, `12.5`. Zero is an amount (a fee may be zero); see
    /// [`Amount::positive`] for a payment.
    ///
    /// ```
    /// use gophercoin_core::Amount;
    ///
    /// assert_eq!(Amount::from_coins("12.5")?.to_units(), 1_250_000_000);
    /// assert_eq!(Amount::from_coins(".00000001")?.to_units(), 1);
    /// assert!(Amount::from_coins("0.000000001").is_err()); // below one unit
    /// assert!(Amount::from_coins("21000001").is_err()); // above the supply
    /// assert_eq!(Amount::from_coins("12.5")?.coins().to_string(), "12.50000000");
    /// # Ok::<(), gophercoin_core::AmountError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`AmountError::NotCoins`] for anything but digits with at most one point and 8
    /// decimals, [`AmountError::TooLarge`] above [`Amount::MAX`].
    pub fn from_coins(text: &str) -> Result<Amount, AmountError> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty()
            || fraction.len() > 8
            || !digits(whole)
            || !digits(fraction)
        {
            return Err(AmountError::NotCoins);
        }
        let number = |s: &str| if s.is_empty() { Ok(0) } else { s.parse::<u64>() };
        let too_large = AmountError::TooLarge { units: u64::MAX, max: Amount::MAX.to_units() };
        let whole = number(whole).map_err(|_| too_large.clone())?;
        // "25" of "0.25" is 25,000,000 units: the decimals padded to eight.
        let scale = 10u64.pow(8 - fraction.len() as u32);
        let fraction = number(fraction).map_err(|_| AmountError::NotCoins)? * scale;
        let units = whole
            .checked_mul(Amount::UNITS_PER_COIN)
            .and_then(|units| units.checked_add(fraction))
            .ok_or(too_large)?;
        Amount::from_units(units)
    }

    /// Shows the amount in coins with all 8 decimals, `12.50000000`, as
    /// [`Amount::from_coins`] reads it back. (`Display` shows units.)
    pub fn coins(self) -> impl fmt::Display {
        struct Coins(u64);
        impl fmt::Display for Coins {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let per = Amount::UNITS_PER_COIN;
                write!(f, "{}.{:08}", self.0 / per, self.0 % per)
            }
        }
        Coins(self.to_units())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_units(), f)
    }
}

impl TryFrom<u64> for Amount {
    type Error = AmountError;

    fn try_from(units: u64) -> Result<Self, Self::Error> {
        Amount::from_units(units)
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.to_units())
    }
}

impl<'de> Deserialize<'de> for Amount {
    /// Reads a `u64` and passes it through [`Amount::from_units`]: negative, fractional,
    /// string and out-of-range numbers are errors of the deserializer.
    ///
    /// # Consensus
    ///
    /// Rules:
    /// - [amount-integer](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#amount-integer)
    /// - [amount-max](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#amount-max)
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let units = u64::deserialize(deserializer)?;
        Amount::from_units(units).map_err(serde::de::Error::custom)
    }
}

/// Deserializes an amount that must be positive (`#[serde(deserialize_with = ...)]`).
///
/// # Errors
///
/// Whatever [`Amount`]'s own deserializer refuses, and zero.
pub fn deserialize_positive<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Amount, D::Error> {
    let units = u64::deserialize(deserializer)?;
    Amount::positive(units).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rejects_what_is_not_an_amount() {
        for bad in ["-1", "1.5", "\"10\"", "null", "18446744073709551616", "2100000000000001"] {
            assert!(serde_json::from_str::<Amount>(bad).is_err(), "{bad} was accepted");
        }
        assert_eq!(serde_json::from_str::<Amount>("0").ok(), Some(Amount::ZERO));
        assert_eq!(serde_json::from_str::<Amount>("2100000000000000").ok(), Some(Amount::MAX));
    }

    #[test]
    fn checked_arithmetic_stays_in_range() {
        assert_eq!(Amount::MAX.checked_add(Amount::from_units(1).unwrap()), None);
        assert_eq!(Amount::ZERO.checked_sub(Amount::from_units(1).unwrap()), None);
        assert_eq!(Amount::from_units(3).unwrap().checked_mul(u64::MAX), None);
        assert_eq!(Amount::positive(0), Err(AmountError::Zero));
    }
}
