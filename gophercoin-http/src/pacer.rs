//! The pacer of the chain answers: while other requests are being served, what all chain
//! answers send together is held to a rate, so that clients downloading the chain can't
//! take the node's time from everyone else; while nothing else asks, they go at full speed.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

/// How long after another request was last being served the chain answers stay paced: a
/// client that sends its next request as soon as it has its answer (a payment after a
/// payment) keeps them paced in between.
pub(crate) const ACTIVE_WINDOW: Duration = Duration::from_millis(100);

/// Whether requests other than chain answers are being served, or were within
/// [`ACTIVE_WINDOW`]: what decides whether the chain answers are paced.
#[derive(Debug)]
pub(crate) struct Activity {
    /// Other requests being served now.
    in_flight: AtomicUsize,
    /// When the last one was seen, in microseconds since `since`, plus one (0: never).
    last_seen: AtomicU64,
    since: Instant,
}

impl Activity {
    /// No request seen yet.
    pub(crate) fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            last_seen: AtomicU64::new(0),
            since: Instant::now(),
        }
    }

    /// Counts a request from now until the returned guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> Serving {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.seen();
        Serving(Arc::clone(self))
    }

    fn seen(&self) {
        let micros = u64::try_from(self.since.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        self.last_seen.fetch_max(micros + 1, Ordering::Relaxed);
    }

    /// Whether another request is being served, or was within [`ACTIVE_WINDOW`].
    fn busy(&self) -> bool {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return true;
        }
        match self.last_seen.load(Ordering::Relaxed) {
            0 => false,
            last => {
                let last = Duration::from_micros(last - 1);
                self.since.elapsed().saturating_sub(last) < ACTIVE_WINDOW
            }
        }
    }
}

/// A request counted by [`Activity::enter`], until dropped.
#[derive(Debug)]
pub(crate) struct Serving(Arc<Activity>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.seen();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Paces what all chain answers (`/chain`, `/nodes/resolve`) send together while other
/// requests are being served ([`Activity`]), so that however many clients download the
/// chain at once, and however fast they read, sending it takes a bounded share of the
/// node's time and the other requests are answered as promptly as without them
/// ([`Limits::chain_send_rate`](crate::Limits::chain_send_rate)). Each piece takes its turn
/// after the pieces before it; a pacer that was idle gives no credit for it (no bursts).
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Bytes a second; 0 for no pacing.
    rate: u64,
    /// What decides whether to pace.
    activity: Arc<Activity>,
    /// When the next piece may go out.
    next: std::sync::Mutex<Instant>,
}

impl Pacer {
    /// A pacer for `rate` bytes a second (0: no pacing) while `activity` is busy.
    pub(crate) fn new(rate: u64, activity: Arc<Activity>) -> Self {
        Pacer { rate, activity, next: std::sync::Mutex::new(Instant::now()) }
    }

    /// Waits until `bytes` may be sent.
    pub(crate) async fn turn(&self, bytes: usize) {
        if self.rate == 0 || !self.activity.busy() {
            // Still let other tasks run between pieces: a client that reads as fast as the
            // node sends would otherwise keep its task busy for a whole scheduling budget,
            // and a request arriving meanwhile would wait for it.
            tokio::task::yield_now().await;
            return;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.rate as f64);
        let now = Instant::now();
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
    async fn pieces_from_many_answers_share_one_pace_while_others_are_served() {
        let activity = Arc::new(Activity::new());
        let pacer = Arc::new(Pacer::new(1_000_000, Arc::clone(&activity)));
        let serving = activity.enter();
        let started = Instant::now();
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
        let started = Instant::now();
        for _ in 0..5 {
            pacer.turn(25_000).await;
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(99) && took <= Duration::from_millis(101),
            "{took:?}"
        );
        drop(serving);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_are_paced_only_while_and_shortly_after_others_are_served() {
        let activity = Arc::new(Activity::new());
        let pacer = Pacer::new(1_000_000, Arc::clone(&activity));
        let send = |pieces: u32| {
            let pacer = &pacer;
            async move {
                let started = Instant::now();
                for _ in 0..pieces {
                    pacer.turn(100_000).await;
                }
                started.elapsed()
            }
        };
        // Nothing else asked yet: 1 MB at once.
        assert_eq!(send(10).await, Duration::ZERO);
        // Another request being served: 0.1 s a piece after the first.
        let serving = activity.enter();
        assert_eq!(send(3).await, Duration::from_millis(200));
        // Just after it ended, still paced: the next piece waits for the 0.1 s of the last.
        drop(serving);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(send(1).await, Duration::from_millis(80));
        // A window after the last request was seen: at once again.
        tokio::time::sleep(ACTIVE_WINDOW).await;
        assert_eq!(send(10).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_of_zero_does_not_pace() {
        let activity = Arc::new(Activity::new());
        let pacer = Pacer::new(0, Arc::clone(&activity));
        let _serving = activity.enter();
        let started = Instant::now();
        for _ in 0..1_000 {
            pacer.turn(1 << 20).await;
        }
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
