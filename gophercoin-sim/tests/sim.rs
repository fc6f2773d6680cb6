//! Small networks simulated in `cargo test`: convergence, propagation against the
//! shortest-path bound, determinism, and a partition that heals.

use gophercoin_sim::{SimConfig, html, run};

#[test]
fn fifty_nodes_converge_near_the_shortest_path_bound() {
    let config = SimConfig { nodes: 50, blocks: 20, ..SimConfig::default() };
    let report = run(&config);
    assert_eq!(report.mined, 20);
    assert!(report.converged, "{report:?}");
    assert!(report.bound_p95_ms > 0);
    assert!(
        report.propagation_p95_ms as f64 <= 1.5 * report.bound_p95_ms as f64,
        "p95 {} ms against a bound of {} ms",
        report.propagation_p95_ms,
        report.bound_p95_ms
    );
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let config = SimConfig { nodes: 30, blocks: 8, ..SimConfig::default() };
    let (first, again) = (run(&config), run(&config));
    assert_eq!(first, again);
    let other = run(&SimConfig { seed: 2, ..config });
    assert_ne!(first.trace, other.trace);
}

#[test]
fn after_a_partition_heals_every_node_is_on_one_tip() {
    // Two halves for ten minutes, each mining on its own.
    let config = SimConfig {
        nodes: 50,
        blocks: 80,
        miners: 50,
        partition: Some((30_000, 630_000)),
        ..SimConfig::default()
    };
    let report = run(&config);
    assert!(report.converged, "{report:?}");
    assert!(report.stale > 0, "both halves mined: {report:?}");
    // Within five times the p95 propagation delay of the same network unsplit.
    let unsplit = run(&SimConfig { partition: None, blocks: 20, ..config });
    let healed = report.healed_after_ms.expect("healed");
    assert!(
        healed <= 5 * unsplit.propagation_p95_ms,
        "{healed} ms to heal, p95 unsplit {} ms",
        unsplit.propagation_p95_ms
    );
    // The way back, sampled: split at first (about half on each tip), all on one at the end.
    let (first, last) = (report.convergence[0], *report.convergence.last().expect("samples"));
    assert!(first.1 < 1.0, "{:?}", report.convergence);
    assert_eq!(last, (healed, 1.0));
    let page = html::render(&config, &report);
    assert_eq!(page.matches("<svg").count(), 4, "the convergence plot too");
}

#[test]
fn with_a_fifth_of_the_nodes_hostile_the_honest_ones_converge_and_drop_them() {
    let config = SimConfig { nodes: 50, blocks: 20, hostile: 0.2, ..SimConfig::default() };
    let report = run(&config);
    assert_eq!(report.hostile, 10);
    assert!(report.converged, "{report:?}");
    assert!(report.hostile_dropped >= 10, "{report:?}");
    assert_eq!(report.hostile_not_dropped, 0, "{report:?}");
    assert_eq!(report.honest_dropped, 0, "{report:?}");
    // Poisoned address books: each hostile node holds at most one source's share of an
    // honest node's book.
    assert!(report.poisoned_max > 0, "{report:?}");
    assert!(
        report.poisoned_per_source_max
            <= gophercoin_core::net::Config::default().addresses_per_source,
        "{report:?}"
    );
}

#[test]
fn the_report_page_shows_the_figures_and_three_plots() {
    let config = SimConfig { nodes: 20, blocks: 6, ..SimConfig::default() };
    let report = run(&config);
    let page = html::render(&config, &report);
    assert!(page.starts_with("<!doctype html>"));
    assert_eq!(page.matches("<svg").count(), 3);
    assert!(
        page.contains(&format!("{} / {} ms", report.propagation_p50_ms, report.propagation_p95_ms))
    );
    // One point per block on the timeline.
    assert_eq!(page.matches("<circle").count(), report.mined);
}

#[test]
fn nodes_that_know_only_a_seed_find_each_other_and_converge() {
    let config = SimConfig { nodes: 150, blocks: 10, discovery: true, ..SimConfig::default() };
    let report = run(&config);
    assert!(report.converged, "{report:?}");
    assert!(report.min_peers >= 2, "{report:?}");
    // Each dials towards degree / 2 = 4 outbound peers, so about 8 in all.
    assert!(report.mean_peers >= 7.0, "{report:?}");
    assert!(
        report.propagation_p95_ms as f64 <= 1.5 * report.bound_p95_ms as f64,
        "p95 {} ms against a bound of {} ms",
        report.propagation_p95_ms,
        report.bound_p95_ms
    );
}

#[test]
fn nodes_that_leave_and_come_back_catch_up_and_lost_packets_only_delay() {
    // Every 5 s on average a node leaves for 30 s; one message in fifty loses a packet.
    let config = SimConfig {
        nodes: 50,
        blocks: 30,
        churn_ms: Some(5_000),
        offline_ms: 30_000,
        loss: 0.02,
        ..SimConfig::default()
    };
    let report = run(&config);
    assert!(report.converged, "{report:?}");
    assert!(report.rejoins >= 20, "{report:?}");
    assert_eq!(report.rejoins_behind, 0, "{report:?}");
    assert!(report.lost > 0, "{report:?}");
    // A node back from 30 s away catches up within a few round trips, not a block
    // interval.
    assert!(report.rejoin_max_ms < 10_000, "{report:?}");
    assert_eq!(report.honest_dropped, 0, "no honest node banned for leaving: {report:?}");
}
