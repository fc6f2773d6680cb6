//! The store writer: one thread that commits the node's store writes in the order the core
//! made them, gathering the writes queued close together into one commit (group commit),
//! so that under load each acknowledged payment costs a fraction of a commit.
//!
//! The request threads queue a [`Job`] with the node locked (so jobs keep the core's
//! order) and wait for its answer outside the lock. The writer takes every job queued
//! while the previous commit ran, and goes on gathering while payments are being checked
//! (counted by [`CheckingGuard`]s) or jobs keep arriving, for at most [`GATHER`].

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use crate::{
    events::{EventHub, LiveEvent},
    metrics::Metrics,
    store::{Store, StoreOp},
};

/// How long a commit gathers writes at most ([`next_group`]). Without the wait, when the
/// writer shares a core with the request threads, writes reach it one or two at a time
/// and each small commit pays a commit's fixed cost (in the kernel's writeback and the
/// virtual disk's notifications as much as in the database; benches/README.md, "Store
/// commit", and benches/NOTES.md, "Load and limits"). A write with no payment being
/// checked behind it is committed at once, so a lone payment waits for no one.
///
/// The wait is short so that a commit starts while other payments are still being
/// checked, and they fill the core while the commit waits for the disk. Gathering for
/// longer let a group take in every client's payment: each commit then found nothing
/// left to check, and the core stood idle through the end of the gathering and the whole
/// commit (benches/NOTES.md, "Durability, (F)").
const GATHER: Duration = Duration::from_millis(3);

/// How long the writer sleeps between looks at the queue while it gathers. It goes on
/// gathering only if a payment is being checked or a job arrived during the last step.
const GATHER_STEP: Duration = Duration::from_millis(1);

/// At most this many jobs go into one commit, so none waits without bound.
const MAX_JOBS: usize = 10_000;

/// How much lower than the node's other threads the writer runs (a Unix nice increment).
/// When it shares a core with the request threads, a writer at the same priority is run
/// as soon as the first payment of a group is queued; a step lower, it mostly runs once
/// the requests ready on that core have queued theirs, so a commit holds more payments
/// and each pays less of its fixed cost (benches/README.md, "Store commit"). It is not
/// starved: under a core kept full by other work it still gets a share of it (a weight
/// of 335 against 1,024 at nice 5), and on an idle core it runs at once.
const WRITER_NICE: i32 = 5;

/// Store writes queued together, with what `/events` reports once they are on disk.
struct Job {
    /// The writes, in the core's order.
    ops: Vec<StoreOp>,
    /// What `/events` reports once they are on disk.
    live: Vec<LiveEvent>,
    /// Where the writes' result goes, if anyone waits for it.
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// The queue between the request threads and the writer.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    /// Wakes the writer: a first job, or the end.
    wake: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: Vec<Job>,
    /// Payments between their arrival and their job's place in `jobs`.
    checking: usize,
    /// The writer waits on [`Queue::wake`] for a first job.
    waiting: bool,
    /// The writer has taken jobs and not yet published their events.
    committing: bool,
    /// No more jobs: the writer finishes what is queued and stops.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The writer was closed: the node is stopping.
#[derive(Debug, thiserror::Error)]
#[error("the store writer has stopped")]
pub(crate) struct Closed;

/// The store writer: its thread and the queue to it. Dropping it lets the thread
/// commit what is queued, and waits for it.
pub(crate) struct StoreWriter {
    queue: Arc<Queue>,
    events: Arc<EventHub>,
    thread: Option<JoinHandle<()>>,
}

impl StoreWriter {
    /// Starts the writer thread for `store`; it publishes each job's live events to
    /// `events` once the job's writes are on disk, and times its commits in `metrics`.
    pub(crate) fn spawn(store: Arc<Store>, metrics: Arc<Metrics>, events: Arc<EventHub>) -> Self {
        let queue = Arc::new(Queue::default());
        let shared = Arc::clone(&queue);
        let hub = Arc::clone(&events);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                let _closed = CloseOnExit(Arc::clone(&shared));
                lower_this_thread_priority(WRITER_NICE);
                while let Some(jobs) = next_group(&shared) {
                    commit(&shared, &store, &metrics, &hub, jobs);
                }
            })
            .expect("the store writer thread starts");
        StoreWriter { queue, events, thread: Some(thread) }
    }

    /// Counts one payment as being checked until the guard is dropped or handed to
    /// [`StoreWriter::queue`] with the payment's writes: a commit starting meanwhile
    /// waits for it a little.
    pub(crate) fn checking(&self) -> CheckingGuard {
        self.queue.lock().checking += 1;
        CheckingGuard(Some(Arc::clone(&self.queue)))
    }

    /// Queues store writes and the live events they report (call with the node locked,
    /// so jobs keep the core's order: events are published once the writes before them
    /// are on disk), and ends `checked`'s count in the same step; returns where the
    /// writes' result will come, if there were any.
    ///
    /// Events with no writes of their own, queued when no earlier writes wait for the
    /// disk (a payment taken into a mempool that is not stored), are published at once,
    /// without waking the writer.
    ///
    /// # Errors
    ///
    /// [`Closed`] if there are writes or events to queue and the writer has stopped: the
    /// node is stopping, or the writer's thread ended with a panic.
    pub(crate) fn queue(
        &self,
        ops: Vec<StoreOp>,
        live: Vec<LiveEvent>,
        checked: Option<CheckingGuard>,
    ) -> Result<Option<oneshot::Receiver<Result<(), String>>>, Closed> {
        let mut state = self.queue.lock();
        if let Some(mut checked) = checked {
            checked.0 = None;
            state.checking -= 1;
        }
        if ops.is_empty() && live.is_empty() {
            return Ok(None);
        }
        if state.closed {
            return Err(Closed);
        }
        if ops.is_empty() && state.jobs.is_empty() && !state.committing {
            // Under the queue's lock: a job queued after this one publishes after it.
            self.events.publish(live);
            return Ok(None);
        }
        let (done, written) = if ops.is_empty() {
            (None, None)
        } else {
            let (done, written) = oneshot::channel();
            (Some(done), Some(written))
        };
        state.jobs.push(Job { ops, live, done });
        self.wake_if_due(&state);
        Ok(written)
    }

    /// Wakes the writer if it waits for a first job.
    fn wake_if_due(&self, state: &QueueState) {
        if state.waiting && !state.jobs.is_empty() {
            self.queue.wake.notify_one();
        }
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Closes the queue when the writer's thread ends, however it ends: the jobs still queued
/// are dropped, so their requests get an error instead of waiting for ever, and later
/// ones are refused ([`Closed`]).
struct CloseOnExit(Arc<Queue>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("the store writer stopped: nothing more will be stored");
        }
        let dropped = {
            let mut state = self.0.lock();
            state.closed = true;
            std::mem::take(&mut state.jobs)
        };
        drop(dropped);
    }
}

/// One payment being checked ([`StoreWriter::checking`]).
pub(crate) struct CheckingGuard(Option<Arc<Queue>>);

impl Drop for CheckingGuard {
    fn drop(&mut self) {
        if let Some(queue) = self.0.take() {
            queue.lock().checking -= 1;
        }
    }
}

/// Waits for the next group of jobs to commit; `None` once closed with nothing queued.
///
/// Once a first job is queued, the group gathers in steps of [`GATHER_STEP`] for as long
/// as payments are being checked or jobs arrived during the last step, for at most
/// [`GATHER`]: the writer is not woken by each arrival, only by the first.
fn next_group(queue: &Queue) -> Option<Vec<Job>> {
    let mut state = queue.lock();
    while state.jobs.is_empty() {
        if state.closed {
            return None;
        }
        state.waiting = true;
        state = queue.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        state.waiting = false;
    }
    let until = Instant::now() + GATHER;
    let mut arrived = false;
    while (state.checking > 0 || arrived) && state.jobs.len() < MAX_JOBS && !state.closed {
        let Some(left) = until.checked_duration_since(Instant::now()) else { break };
        let before = state.jobs.len();
        state = queue
            .wake
            .wait_timeout(state, GATHER_STEP.min(left))
            .unwrap_or_else(|e| e.into_inner())
            .0;
        arrived = state.jobs.len() > before;
    }
    let take = state.jobs.len().min(MAX_JOBS);
    let rest = state.jobs.split_off(take);
    state.committing = true;
    Some(std::mem::replace(&mut state.jobs, rest))
}

/// Commits a group of jobs in one write, then publishes their events and answers them.
fn commit(queue: &Queue, store: &Store, metrics: &Metrics, events: &EventHub, jobs: Vec<Job>) {
    let mut ops = vec![];
    let mut live = vec![];
    let mut done = vec![];
    for job in jobs {
        ops.extend(job.ops);
        live.extend(job.live);
        done.extend(job.done);
    }
    let started = Instant::now();
    let result = store.apply(&ops).map_err(|e| {
        tracing::error!("store write failed: {e}");
        e.to_string()
    });
    if !ops.is_empty() {
        metrics.store_commit(ops.len(), started.elapsed());
    }
    // Reported once on disk. What failed to be stored is not reported, and the node's
    // state has moved on without it: followers are told to look again.
    if result.is_ok() {
        events.publish(live);
    } else {
        let reason = "a store write failed: what the node holds may not be stored";
        events.publish([LiveEvent::Reset { reason: reason.to_owned() }]);
    }
    for answer in done {
        let _ = answer.send(result.clone());
    }
    queue.lock().committing = false;
}

/// Lowers the calling thread's scheduling priority by `increment` (raising its nice value),
/// where the platform allows one thread's alone; elsewhere, and if refused, it stays as it
/// was, which costs only speed.
fn lower_this_thread_priority(increment: i32) {
    #[cfg(target_os = "linux")]
    {
        // On Linux the nice value is each thread's own, and `setpriority` on a thread id
        // changes that thread alone.
        let tid = rustix::thread::gettid();
        let now = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
        if let Err(error) = rustix::process::setpriority_process(Some(tid), now + increment) {
            tracing::debug!(%error, "could not lower the store writer's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = increment;
}

#[cfg(test)]
mod tests {
    use gophercoin_core::{Params, RsaSigner, SignedTransaction, Transaction};

    use super::*;

    fn payment() -> SignedTransaction {
        let key: RsaSigner =
            include_str!("../tests/data/alice.pkcs8.hex").trim().parse().expect("a test key");
        let me = gophercoin_core::Signer::address(&key);
        Transaction {
            chain_id: Params::devnet().chain_id,
            sender: me.clone(),
            recipient: me,
            amount: gophercoin_core::Amount::positive(1).expect("positive"),
            fee: gophercoin_core::Amount::ZERO,
            nonce: 7,
        }
        .sign(&key)
        .expect("signs")
    }

    #[test]
    fn queued_writes_are_committed_in_order_and_a_closed_writer_refuses_more() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("chain.redb");
        let store = Arc::new(Store::open(&path, Params::devnet().genesis().hash()).expect("opens"));
        let events = Arc::new(EventHub::new(1));
        let writer =
            StoreWriter::spawn(Arc::clone(&store), Arc::new(Metrics::new()), Arc::clone(&events));
        let tx = payment();
        let pending = StoreOp::Pending { id: tx.id(), tx: Box::new(tx.clone()) };
        // A payment counted as being checked, whose count ends with its job: both jobs
        // are answered, and their writes reach the store in the order queued.
        let checking = writer.checking();
        let first = writer.queue(vec![pending], vec![], None).expect("queued").expect("a write");
        let second = writer
            .queue(vec![StoreOp::Unpending(tx.id())], vec![], Some(checking))
            .expect("queued")
            .expect("a write");
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        assert_eq!(runtime.block_on(first).expect("answered"), Ok(()));
        assert_eq!(runtime.block_on(second).expect("answered"), Ok(()));
        assert!(store.pending().expect("reads").is_empty(), "added, then removed");
        // Nothing to write and nothing to report: no job, no answer to wait for.
        assert!(writer.queue(vec![], vec![], None).expect("open").is_none());
        let queue = Arc::clone(&writer.queue);
        drop(writer);
        let stopped = StoreWriter { queue, events: Arc::clone(&events), thread: None };
        let refused = stopped.queue(vec![StoreOp::Unpending(tx.id())], vec![], None);
        assert!(matches!(refused, Err(Closed)), "a stopped writer takes no job");
        // A call that leaves nothing to store (a refused payment) is not refused for it.
        let checking = stopped.checking();
        assert!(matches!(stopped.queue(vec![], vec![], Some(checking)), Ok(None)));
        assert_eq!(stopped.queue.lock().checking, 0, "every count ended");
    }

    #[test]
    fn events_without_writes_wait_only_for_writes_queued_or_committing_before_them() {
        let events = Arc::new(EventHub::new(1));
        // No thread: what is queued stays queued until taken here.
        let writer =
            StoreWriter { queue: Arc::default(), events: Arc::clone(&events), thread: None };
        let accepted = || vec![LiveEvent::Transaction { id: payment().id() }];
        assert!(writer.queue(vec![], accepted(), None).expect("open").is_none());
        assert_eq!(events.published(), 1, "nothing before it: published at once");
        // Behind a write still queued: it waits for it.
        let write = vec![StoreOp::Unpending(payment().id())];
        let _written = writer.queue(write.clone(), vec![], None).expect("open").expect("a write");
        assert!(writer.queue(vec![], accepted(), None).expect("open").is_none());
        assert_eq!(events.published(), 1, "queued behind the write");
        // Behind a write being committed: it waits too.
        let group = next_group(&writer.queue).expect("two jobs");
        assert_eq!(group.len(), 2);
        assert!(writer.queue(vec![], accepted(), None).expect("open").is_none());
        assert_eq!((events.published(), writer.queue.lock().jobs.len()), (1, 1));
        // Once the commit is done and nothing waits, at once again.
        let dir = tempfile::tempdir().expect("a directory");
        let genesis = Params::devnet().genesis().hash();
        let store = Store::open(&dir.path().join("chain.redb"), genesis).expect("opens");
        let metrics = Metrics::new();
        commit(&writer.queue, &store, &metrics, &events, group);
        assert_eq!(events.published(), 2, "the second, once the write is on disk");
        let rest = next_group(&writer.queue).expect("the third");
        commit(&writer.queue, &store, &metrics, &events, rest);
        assert_eq!(events.published(), 3, "the third, after it");
        assert!(writer.queue(vec![], accepted(), None).expect("open").is_none());
        assert_eq!(events.published(), 4, "nothing before it again: at once");
    }
}
