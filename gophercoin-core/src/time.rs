//! How the clock enters the core: [`UnixTime`], a moment in whole seconds since the Unix
//! epoch, made from a unit named at the call.
//!
//! The node never reads a clock. An adapter reads one and hands the node a `UnixTime`,
//! made with [`UnixTime::from_secs`], [`UnixTime::from_millis`] or
//! [`UnixTime::from_duration`] (a clock reading's distance from the epoch), so the unit of
//! the node's time is named where it is made: a bare integer does not compile, and a clock
//! in milliseconds goes through `from_millis`.
//! (A clock read in milliseconds and passed as seconds would put the node some 50,000
//! years ahead, and every block it made would be refused by its peers for good.)

use std::time::Duration;

/// A moment, in whole seconds since the Unix epoch: the node's idea of "now".
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use gophercoin_core::UnixTime;
///
/// let now = UnixTime::from_secs(1_700_000_000);
/// assert_eq!(UnixTime::from_millis(1_700_000_000_999), now);
/// assert_eq!(now.add_secs(5).secs(), 1_700_000_005);
/// // What an adapter's clock gives: `SystemTime::now().duration_since(UNIX_EPOCH)`.
/// let read = Duration::from_millis(1_700_000_000_250);
/// assert_eq!(UnixTime::from_duration(read), now);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The epoch itself.
    pub const EPOCH: UnixTime = UnixTime(0);

    /// The moment `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        UnixTime(secs)
    }

    /// The moment `millis` milliseconds after the epoch, to the second below.
    pub const fn from_millis(millis: u64) -> Self {
        UnixTime(millis / 1_000)
    }

    /// The moment `since_epoch` after the epoch (a clock reading's
    /// `duration_since(UNIX_EPOCH)`), to the second below.
    pub const fn from_duration(since_epoch: Duration) -> Self {
        UnixTime(since_epoch.as_secs())
    }

    /// Seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.0
    }

    /// The moment `secs` seconds later (the latest there is, if that overflows).
    #[must_use]
    pub const fn add_secs(self, secs: u64) -> Self {
        UnixTime(self.0.saturating_add(secs))
    }
}

impl std::fmt::Display for UnixTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} s after the Unix epoch", self.0)
    }
}
