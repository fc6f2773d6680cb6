#!/usr/bin/env bash
# The headline figures against the Flask baseline, with wrk: GET /chain of a 202-block,
# 2,201-transaction chain and POST /transactions/new of pre-signed payments, the nodes on
# core 1 and wrk on core 0 (benches/compare/wrk_vs_flask.py says how), with the floor
# under them: nginx and a server of the node's parts doing only part of its work.
# Installs wrk, nginx and the baseline's Python packages if missing; the chain and the bodies are made once and
# kept under target/wrk-bench.
#
#   bash benches/compare/wrk.sh            # the node built with --features aws-lc
#   FEATURES= bash benches/compare/wrk.sh  # the pure-Rust default build
set -euo pipefail
cd "$(dirname "$0")/../.."
# wrk, and nginx for the floor (the standard server's figures beside ours).
sudo_if_needed=$([ "$(id -u)" = 0 ] || echo sudo)
command -v wrk > /dev/null || $sudo_if_needed apt-get install -y -q wrk > /dev/null
[ -x /usr/sbin/nginx ] || command -v nginx > /dev/null || $sudo_if_needed apt-get install -y -q nginx-light > /dev/null
venv=target/compare-venv
if [ ! -x "$venv/bin/flask" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q flask pycryptodome requests
fi
features=${FEATURES-aws-lc}
cargo build -q --release -p gophercoin-cli --bin gophercoin ${features:+--features "$features"}
cargo build -q --release -p gophercoin-benches --bin bench_data --bin verify_rate --bin http_floor ${features:+--features "$features"}
data=target/wrk-bench
mkdir -p "$data"
[ -d "$data/chain" ] || target/release/bench_data chain "$data/chain" 200 10
[ -f "$data/payments.txt" ] || target/release/bench_data payments "$data/payments.txt" 1000000 80000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "node built with features: ${features:-none}"
"$venv/bin/python" benches/compare/wrk_vs_flask.py target/release/gophercoin target/release/verify_rate target/release/http_floor \
    "$data/chain" "$data/payments.txt" "$venv/bin/python" "$work"
