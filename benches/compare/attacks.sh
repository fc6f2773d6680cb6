#!/usr/bin/env bash
# The attacks on the long-run rules, against the release node on loopback: side blocks,
# a replayed block with a bad signature, a replayed block refused on a 100,000-block tip,
# and a mempool flood. See benches/attacks.rs; arguments pick scenarios by name.
#
#   bash benches/compare/attacks.sh [side] [bad-signature] [rejected-tip] [flood]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release -p gophercoin-cli --bin gophercoin
cargo bench -q -p gophercoin-benches --bench attacks -- "$@"
