#!/usr/bin/env bash
# Proof-of-work hash rate, side by side in one run: the original's Python rule against
# GopherCoin's miner (release build), one thread each, then GopherCoin on two threads.
#
#   bash benches/compare/pow.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-5}
cargo build -q --release -p gophercoin-cli
python_rate=$(python3 benches/compare/pow_rate.py "$secs")
rate() { target/release/gophercoin mine --benchmark "$secs" --threads "$1" | sed -E 's/.*: ([0-9.]+) MH\/s.*/\1/'; }
one=$(rate 1)
two=$(rate 2)
python3 - "$python_rate" "$one" "$two" <<'PY'
import sys
python, one, two = float(sys.argv[1]), float(sys.argv[2]) * 1e6, float(sys.argv[3]) * 1e6
print(f"original rule (Python, 1 thread): {python / 1e6:8.2f} M hashes/s")
print(f"gophercoin (1 thread):            {one / 1e6:8.2f} M hashes/s  ({one / python:.1f}x the original)")
print(f"gophercoin (2 threads):           {two / 1e6:8.2f} M hashes/s  ({two / one:.2f}x one thread)")
PY
