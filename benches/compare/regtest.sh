#!/usr/bin/env bash
# 200 `GET /mine` in a row on a regtest node and on a devnet node, as a script would call
# them: one curl process, one keep-alive connection, the node (release build) on core 1
# and curl on core 0. Regtest never retargets; the devnet makes blocks mined faster than
# its 5-second target four times harder every 20 blocks, so it is given at most
# DEVNET_SECS (60) and reports how far it got.
#
#   bash benches/compare/regtest.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release -p gophercoin-cli --bin gophercoin
work=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null || true; rm -rf "$work"' EXIT
urls=$(for _ in $(seq 1 200); do printf 'http://127.0.0.1:%s/mine ' PORT; done)

run() {
    local network=$1 port=$2 limit=$3
    taskset -c 1 target/release/gophercoin node --network "$network" -p "$port" \
        --data-dir "$work/$network" > "$work/$network.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/health" && break
        sleep 0.1
    done
    local start end height
    start=$(date +%s.%N)
    # shellcheck disable=SC2086 # one argument a URL
    timeout "$limit" taskset -c 0 curl -s ${urls//PORT/$port} > /dev/null || true
    end=$(date +%s.%N)
    height=$(curl -s "http://127.0.0.1:$port/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])')
    target=$(curl -s "http://127.0.0.1:$port/blocks/height/$height" | python3 -c 'import json,sys; print(json.load(sys.stdin)["block"]["target"])')
    kill "$pid"
    wait "$pid" 2> /dev/null || true
    printf '%-8s %3d blocks in %6.2f s (tip target %s)\n' "$network" "$height" "$(echo "$end - $start" | bc)" "$target"
}

run regtest 5390 600
run devnet 5391 "${DEVNET_SECS:-60}"
