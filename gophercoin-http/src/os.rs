//! The clock and the random numbers the adapter reads from the operating system to hand
//! the core, which reads neither. (Keys are made from the OS RNG where they are made: the
//! node's wallet in [`crate::state`] and the wallet service's in its route, from
//! `getrandom::SysRng`; the peer identity in [`crate::p2p`], by libp2p.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gophercoin_core::UnixTime;

/// Returns the current time: the adapter's clock, read once per request and passed to the
/// core.
pub(crate) fn now() -> UnixTime {
    UnixTime::from_duration(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// Returns the time since the Unix epoch: the peer protocol's clock.
pub(crate) fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Returns a random number from the operating system's random number generator.
///
/// # Panics
///
/// If the OS has no randomness to give, which leaves no safe way to make keys.
pub(crate) fn os_random_u64() -> u64 {
    use rand_core::TryRng;
    getrandom::SysRng.try_next_u64().expect("the OS random number generator works")
}
