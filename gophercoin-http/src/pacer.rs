//! The pacer of the chain answers: what all of them send together is held to a rate, so
//! that clients downloading the chain can't take the node's time from everyone else.

use std::time::Duration;

#[cfg(test)]
use std::sync::Arc;

/// Paces what all chain answers (`/chain`, `/nodes/resolve`) send together, so that
/// however many clients download the chain at once, and however fast they read, sending it
/// takes a bounded share of the node's time and the other requests are answered as
/// promptly as without them ([`Limits::chain_send_rate`](crate::Limits::chain_send_rate)).
/// Each piece takes its turn after the pieces before it; a pacer that was idle gives no
/// credit for it (no bursts).
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Bytes a second; 0 for no pacing.
    rate: u64,
    /// When the next piece may go out.
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    /// A pacer for `rate` bytes a second (0: no pacing).
    pub(crate) fn new(rate: u64) -> Self {
        Pacer { rate, next: std::sync::Mutex::new(tokio::time::Instant::now()) }
    }

    /// Waits until `bytes` may be sent.
    pub(crate) async fn turn(&self, bytes: usize) {
        if self.rate == 0 {
            // Still let other tasks run between pieces: a client that reads as fast as the
            // node sends would otherwise keep its task busy for a whole scheduling budget.
            tokio::task::yield_now().await;
            return;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.rate as f64);
        let now = tokio::time::Instant::now();
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let start = (*next).max(now);
            *next = start + cost;
            start
        };
        if start > now {
            tokio::time::sleep_until(start).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pieces_from_many_answers_share_one_pace() {
        let pacer = Arc::new(Pacer::new(1_000_000));
        let started = tokio::time::Instant::now();
        // Four answers of ten 25,000-byte pieces: 1 MB in all, so 1 s at 1 MB/s, the first
        // piece at once.
        let answers: Vec<_> = (0..4)
            .map(|_| {
                let pacer = Arc::clone(&pacer);
                tokio::spawn(async move {
                    for _ in 0..10 {
                        pacer.turn(25_000).await;
                    }
                })
            })
            .collect();
        for answer in answers {
            answer.await.expect("the answer finishes");
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(970) && took <= Duration::from_millis(1_000),
            "took {took:?}"
        );
        // An idle pacer gives no credit: after a pause, 0.1 MB still takes 0.1 s (the
        // first piece at once).
        tokio::time::sleep(Duration::from_secs(5)).await;
        let started = tokio::time::Instant::now();
        for _ in 0..5 {
            pacer.turn(25_000).await;
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(99) && took <= Duration::from_millis(101),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_of_zero_does_not_pace() {
        let pacer = Pacer::new(0);
        let started = tokio::time::Instant::now();
        for _ in 0..1_000 {
            pacer.turn(1 << 20).await;
        }
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
