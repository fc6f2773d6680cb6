#!/usr/bin/env bash
# What clients can make a node hold (benches/limits.rs): slow clients, readers that never
# read, whole-chain downloads beside payments, and the cost of a durable mempool. Installs
# the standard tools it drives (wrk, slowhttptest) if they are missing, builds the release
# node, and pins the node to core 1 and the tools to core 0 (signed payments and the
# heavy chain are made once and kept under target/limits-bench). Arguments pick scenarios:
#
#   bash benches/compare/limits.sh [slow] [readers] [downloads] [durability]
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v wrk > /dev/null || ! command -v slowhttptest > /dev/null; then
    sudo_if_needed=$([ "$(id -u)" = 0 ] || echo sudo)
    $sudo_if_needed apt-get install -y -q wrk slowhttptest > /dev/null
fi
cargo build -q --release -p gophercoin-cli --bin gophercoin
cargo bench -q -p gophercoin-benches --bench limits --no-run
NODE_CPUS=1 TOOLS_CPUS=0 taskset -c 0 cargo bench -q -p gophercoin-benches --bench limits -- "$@"
