//! The simulated network's shape: a random graph of a given degree, each link with its
//! one-way latency, and the shortest-path delays a block could reach each node in.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use rand_core::Rng;

/// Links between nodes `0..n`, each with its one-way latency in milliseconds.
#[derive(Debug, Clone)]
pub struct Graph {
    /// For each node, its neighbours and the link's latency.
    pub neighbours: Vec<BTreeMap<usize, u64>>,
}

impl Graph {
    /// A connected random graph: a ring (so it is connected) plus random links until the
    /// mean degree is about `degree`, latencies uniform in `latency` (inclusive).
    pub fn random(n: usize, degree: usize, latency: (u64, u64), rng: &mut impl Rng) -> Graph {
        let mut graph = Graph { neighbours: vec![BTreeMap::new(); n] };
        let span = latency.1.saturating_sub(latency.0) + 1;
        let mut links = 0;
        if n > 2 {
            for a in 0..n {
                let ms = latency.0 + rng.next_u64() % span;
                links += usize::from(graph.link(a, (a + 1) % n, ms));
            }
        }
        let wanted = n * degree / 2;
        let mut attempts = 0;
        while n > 1 && links < wanted && attempts < wanted * 20 {
            attempts += 1;
            let a = (rng.next_u64() % n as u64) as usize;
            let b = (rng.next_u64() % n as u64) as usize;
            let ms = latency.0 + rng.next_u64() % span;
            links += usize::from(graph.link(a, b, ms));
        }
        graph
    }

    /// Links `a` and `b` unless they are one node or linked already.
    fn link(&mut self, a: usize, b: usize, ms: u64) -> bool {
        if a == b || self.neighbours[a].contains_key(&b) {
            return false;
        }
        self.neighbours[a].insert(b, ms);
        self.neighbours[b].insert(a, ms);
        true
    }

    /// Nodes in the graph.
    pub fn len(&self) -> usize {
        self.neighbours.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.neighbours.is_empty()
    }

    /// The earliest time a block from `from` can reach each node when every hop costs
    /// the link's latency plus `per_hop` (transfer and validation): Dijkstra's shortest
    /// paths. Nodes in `cut` (a partition) are not crossed.
    pub fn shortest_delays(
        &self,
        from: usize,
        per_hop: u64,
        cut: &BTreeSet<(usize, usize)>,
    ) -> Vec<u64> {
        let mut best = vec![u64::MAX; self.len()];
        let mut queue = BinaryHeap::new();
        if let Some(slot) = best.get_mut(from) {
            *slot = 0;
            queue.push(std::cmp::Reverse((0u64, from)));
        }
        while let Some(std::cmp::Reverse((delay, node))) = queue.pop() {
            if delay > best[node] {
                continue;
            }
            for (&next, &latency) in &self.neighbours[node] {
                if cut.contains(&(node.min(next), node.max(next))) {
                    continue;
                }
                let reached = delay + latency + per_hop;
                if reached < best[next] {
                    best[next] = reached;
                    queue.push(std::cmp::Reverse((reached, next)));
                }
            }
        }
        best
    }
}
