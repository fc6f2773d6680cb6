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
}

mod encapsulate {
    /// A non-negative amount of GopherCoin, counted in its smallest unit.
    ///
    /// The field is private: every `Amount` passed [`Amount::from_units`], so it is at most
    /// [`Amount::MAX`]. There is no panicking `+` or `-`; use [`Amount::checked_add`] and
    /// [`Amount::checked_sub`].
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
