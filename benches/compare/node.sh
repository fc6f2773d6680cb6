#!/usr/bin/env bash
# GopherCoin's node against a minimal Flask node with the original's routes, on the same
# workload, in one run: mine 20 blocks at the same difficulty (16 leading zero bits, the
# original's "0000"), serve /chain, accept pre-signed transactions under load. The load
# generator runs on core 0, the nodes on core 1 (taskset).
#
#   bash benches/compare/node.sh [TRANSACTIONS]     # default 1000; ROUNDS=5
#
# After the side-by-side table, the transaction load is repeated ROUNDS times on our node,
# restarted on its own data each round (so its mempool is empty again), each round between
# two measurements of the node core's signature verification rate: the machine's speed
# drifts from second to second, so the ratio is taken round by round and the median
# reported.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-1000}
venv=target/compare-venv
if [ ! -x "$venv/bin/flask" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q flask pycryptodome requests
fi
cargo build -q --release -p gophercoin-cli -p gophercoin-benches --bin gophercoin --bin http_load --bin verify_rate
bin=target/release/gophercoin
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2> /dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do curl -sf "$1" > /dev/null && return 0; sleep 0.1; done; echo "$1 did not come up"; exit 1; }

"$bin" wallet new --key "$work/miner.key" > /dev/null
address=$("$bin" wallet address --key "$work/miner.key")
ours=$(free_port); wallet=$(free_port); flask=$(free_port)
start_ours() {
    # Every payment is from one wallet: the per-sender bound and the pool are opened up.
    taskset -c 1 "$bin" node -p "$ours" --data-dir "$work/node" --miner-address "$address" --pow-limit 1f00ffff \
        --max-pending-per-sender 1000000 --mempool-size 1000000 > /dev/null 2>&1 &
    our_pid=$!
    pids+=("$our_pid")
}
start_ours
taskset -c 1 "$bin" wallet serve -p "$wallet" > /dev/null 2>&1 & pids+=($!)
taskset -c 1 "$venv/bin/python" benches/compare/flask_node.py "$flask" > /dev/null 2>&1 & pids+=($!)
wait_up "http://127.0.0.1:$ours/health"
wait_up "http://127.0.0.1:$wallet/wallet/new"
wait_up "http://127.0.0.1:$flask/chain"
taskset -c 0 "$venv/bin/python" benches/compare/node_vs_flask.py \
    "http://127.0.0.1:$ours" "http://127.0.0.1:$wallet" "http://127.0.0.1:$flask" "$count" "$address" "$work/miner.key" target/release/http_load target/release/verify_rate \
    "$work/bodies.json" "$work/flask_rate"

rounds=${ROUNDS:-5}
for _ in $(seq 1 "$rounds"); do
    kill "$our_pid" && wait "$our_pid" 2> /dev/null || true
    start_ours
    wait_up "http://127.0.0.1:$ours/health"
    before=$(taskset -c 1 target/release/verify_rate "$work/bodies.json")
    load=$(taskset -c 0 target/release/http_load post "http://127.0.0.1:$ours/transactions/new" "$work/bodies.json" 32)
    after=$(taskset -c 1 target/release/verify_rate "$work/bodies.json")
    echo "$load $before $after" >> "$work/rounds"
done
python3 benches/compare/rounds.py "$(cat "$work/flask_rate")" < "$work/rounds"
