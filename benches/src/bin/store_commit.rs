//! What one store commit costs by the number of payments it holds: the store writer's
//! group commit in isolation, on a store of its own under `target/store-commit`.
//!
//! For each group size it commits groups of pending payments, each followed by a commit
//! removing them again (as a mined block does), for 3 s, and prints the wall time and the
//! thread's CPU time (`/proc/thread-self/schedstat`) per commit and per payment. Run it
//! pinned to one core: `taskset -c 1 target/release/store_commit`.

use std::time::Instant;

use gophercoin_benches::{sign_payments, test_key};
use gophercoin_core::Params;
use gophercoin_http::store::{Store, StoreOp};

/// This thread's CPU time so far, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    stat.split_whitespace().next().and_then(|ns| ns.parse().ok()).expect("a run time")
}

fn main() {
    let dir = std::path::PathBuf::from("target/store-commit");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("makes the store's directory");
    let store = Store::open(&dir.join("store.redb"), Params::devnet().genesis().hash())
        .expect("opens the store");
    let payments = sign_payments(&test_key(), 0, 4096);
    let mut next = 0;
    println!(
        "group  commits  wall µs/commit  CPU µs/commit  CPU µs/payment: both commits, adding, removing"
    );
    for group in [1usize, 4, 16, 32, 64, 256] {
        let (start, cpu) = (Instant::now(), thread_cpu_ns());
        let (mut commits, mut adding) = (0u64, 0u64);
        while start.elapsed().as_secs() < 3 {
            let txs: Vec<_> = (0..group)
                .map(|i| payments.get((next + i) % payments.len()).expect("in range"))
                .collect();
            next += group;
            let add: Vec<_> = txs
                .iter()
                .map(|tx| StoreOp::Pending { id: tx.id(), tx: Box::new((*tx).clone()) })
                .collect();
            let remove: Vec<_> = txs.iter().map(|tx| StoreOp::Unpending(tx.id())).collect();
            let before = thread_cpu_ns();
            store.apply(&add).expect("commits");
            adding += thread_cpu_ns() - before;
            store.apply(&remove).expect("commits");
            commits += 2;
        }
        let wall = start.elapsed().as_nanos() as f64;
        let cpu = (thread_cpu_ns() - cpu) as f64;
        let per_commit = |ns: f64| ns / commits as f64 / 1e3;
        let per_payment = |ns: f64| ns / (commits / 2 * group as u64) as f64 / 1e3;
        println!(
            "{group:5}  {commits:7}  {:14.0}  {:13.0}  {:14.1} {:7.1} {:8.1}",
            per_commit(wall),
            per_commit(cpu),
            per_payment(cpu),
            per_payment(adding as f64),
            per_payment(cpu - adding as f64)
        );
    }
}
