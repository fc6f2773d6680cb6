//! A run's report as one self-contained HTML page a learner can read: the figures in a
//! table, and plots drawn as inline SVG (propagation delay CDF against the shortest-path
//! bound, blocks over time with the stale ones marked, bytes sent per node, and, after a
//! partition, how the nodes came back to one tip).

use std::fmt::Write as _;

use crate::{Report, SimConfig};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const MARGIN: f64 = 48.0;

/// The page for one run.
pub fn render(config: &SimConfig, report: &Report) -> String {
    let mut page = String::new();
    let stale_rate = report.stale as f64 / report.mined.max(1) as f64;
    let expected = 1.0 - (-report.miner_delay_ms / config.block_interval_ms.max(1) as f64).exp();
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>GopherCoin network simulation</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:720px;margin:2em auto;color:#222}}\
         td,th{{padding:2px 10px;text-align:left}}svg{{background:#fafafa;border:1px solid #ddd}}\
         </style></head><body><h1>GopherCoin network simulation</h1>\
         <p>{nodes} nodes, mean degree {degree}, one-way latency {lo}–{hi} ms, {bw} bytes/s \
         links, a block every {interval} ms on average from {miners} miners, new blocks \
         pushed to {push} peers; seed {seed}.</p><table>\
         <tr><th>blocks mined</th><td>{mined}</td></tr>\
         <tr><th>stale blocks</th><td>{stale} ({rate:.2} %; 1 − e<sup>−Δ/T</sup> = \
         {expected:.2} % with Δ = {delta:.0} ms)</td></tr>\
         <tr><th>propagation p50 / p95</th><td>{p50} / {p95} ms (shortest-path bound p95 \
         {bound} ms)</td></tr>\
         <tr><th>one tip at the end</th><td>{converged}</td></tr>\
         <tr><th>messages</th><td>{messages} ({bytes} bytes)</td></tr></table>",
        nodes = config.nodes,
        degree = config.degree,
        lo = config.latency_ms.0,
        hi = config.latency_ms.1,
        bw = config.bandwidth,
        interval = config.block_interval_ms,
        miners = config.miners,
        push = config.push_blocks,
        seed = config.seed,
        mined = report.mined,
        stale = report.stale,
        rate = stale_rate * 100.0,
        expected = expected * 100.0,
        delta = report.miner_delay_ms,
        p50 = report.propagation_p50_ms,
        p95 = report.propagation_p95_ms,
        bound = report.bound_p95_ms,
        converged = if report.converged { "yes" } else { "no" },
        messages = report.messages,
        bytes = report.bytes,
    );
    if let Some(healed) = report.healed_after_ms {
        let _ = write!(
            page,
            "<p>After the partition healed, every node was on one tip in {healed} ms.</p>"
        );
    }
    if !report.convergence.is_empty() {
        page.push_str(
            "<h2>Back to one tip after the partition</h2><p>From the moment the two halves \
             could talk again: the share of honest nodes on the tip most of them were on, \
             every 20 ms, until all were.</p>",
        );
        page.push_str(&convergence(&report.convergence));
    }
    page.push_str(
        "<h2>How long a block takes to reach a node</h2><p>For every block and every node: \
         the share of nodes that had the block (validated) that many milliseconds after it \
         was mined. The dashed line is the 95th percentile of the shortest-path bound: what \
         a block would reach if every hop took only its latency, transfer and validation.</p>",
    );
    page.push_str(&cdf(&report.delays, report.bound_p95_ms));
    page.push_str(
        "<h2>Blocks over time</h2><p>Each block mined, at its time; the red ones did not end \
         on the main chain (stale: another block at the same height won).</p>",
    );
    page.push_str(&timeline(&report.blocks));
    page.push_str(
        "<h2>Bytes sent per node</h2><p>Nodes sorted from the one that sent the most.</p>",
    );
    page.push_str(&bytes(&report.bytes_per_node));
    page.push_str("</body></html>\n");
    page
}

/// An SVG frame with its axis labels.
fn frame(x_label: &str, x_max: f64, y_top: &str, body: &str) -> String {
    format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">\
         <line x1=\"{m}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#888\"/>\
         <line x1=\"{m}\" y1=\"{t}\" x2=\"{m}\" y2=\"{b}\" stroke=\"#888\"/>\
         <text x=\"{m}\" y=\"{lb}\" font-size=\"11\">0</text>\
         <text x=\"{r}\" y=\"{lb}\" font-size=\"11\" text-anchor=\"end\">{x_max:.0} {x_label}</text>\
         <text x=\"4\" y=\"{t}\" font-size=\"11\">{y_top}</text>{body}</svg>",
        w = WIDTH,
        h = HEIGHT,
        m = MARGIN,
        t = MARGIN / 2.0,
        b = HEIGHT - MARGIN,
        r = WIDTH - MARGIN / 2.0,
        lb = HEIGHT - MARGIN + 16.0,
    )
}

fn x_of(value: f64, max: f64) -> f64 {
    MARGIN + value / max.max(1.0) * (WIDTH - 1.5 * MARGIN)
}

fn y_of(value: f64, max: f64) -> f64 {
    HEIGHT - MARGIN - value / max.max(f64::MIN_POSITIVE) * (HEIGHT - 1.5 * MARGIN)
}

fn cdf(delays: &[u64], bound: u64) -> String {
    let x_max = delays.last().copied().unwrap_or(1).max(bound) as f64;
    let n = delays.len().max(1) as f64;
    let step = (delays.len() / 400).max(1);
    let mut points = String::new();
    for (i, delay) in delays.iter().enumerate().step_by(step) {
        let _ = write!(
            points,
            "{:.1},{:.1} ",
            x_of(*delay as f64, x_max),
            y_of((i + 1) as f64 / n, 1.0)
        );
    }
    let bx = x_of(bound as f64, x_max);
    let body = format!(
        "<polyline fill=\"none\" stroke=\"#2563eb\" stroke-width=\"2\" points=\"{points}\"/>\
         <line x1=\"{bx:.1}\" y1=\"{t}\" x2=\"{bx:.1}\" y2=\"{b}\" stroke=\"#444\" stroke-dasharray=\"4\"/>",
        t = MARGIN / 2.0,
        b = HEIGHT - MARGIN,
    );
    frame("ms", x_max, "all nodes", &body)
}

fn convergence(samples: &[(u64, f64)]) -> String {
    let x_max = samples.last().map_or(1.0, |(at, _)| *at as f64).max(1.0);
    let mut points = String::new();
    for (at, share) in samples {
        let _ = write!(points, "{:.1},{:.1} ", x_of(*at as f64, x_max), y_of(*share, 1.0));
    }
    let body = format!(
        "<polyline fill=\"none\" stroke=\"#9333ea\" stroke-width=\"2\" points=\"{points}\"/>"
    );
    frame("ms", x_max, "all nodes", &body)
}

fn timeline(blocks: &[(u64, bool)]) -> String {
    let mut sorted = blocks.to_vec();
    sorted.sort_unstable();
    let x_max = sorted.last().map_or(1.0, |(at, _)| *at as f64 / 1_000.0);
    let mut body = String::new();
    for (i, (at, stale)) in sorted.iter().enumerate() {
        let (x, y) = (x_of(*at as f64 / 1_000.0, x_max), y_of((i + 1) as f64, sorted.len() as f64));
        let color = if *stale { "#dc2626" } else { "#2563eb" };
        let _ = write!(body, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{color}\"/>");
    }
    frame("s", x_max, &format!("{} blocks", sorted.len()), &body)
}

fn bytes(per_node: &[u64]) -> String {
    let mut sorted = per_node.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let y_max = sorted.first().copied().unwrap_or(1) as f64;
    let x_max = sorted.len().max(1) as f64;
    let mut points = String::new();
    for (i, sent) in sorted.iter().enumerate() {
        let _ = write!(points, "{:.1},{:.1} ", x_of(i as f64, x_max), y_of(*sent as f64, y_max));
    }
    let body = format!(
        "<polyline fill=\"none\" stroke=\"#16a34a\" stroke-width=\"2\" points=\"{points}\"/>"
    );
    frame("nodes", x_max, &format!("{y_max:.0} bytes"), &body)
}
