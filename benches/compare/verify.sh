#!/usr/bin/env bash
# RSA-2048 PKCS#1 v1.5 / SHA-256 verification side by side on one core, in one run:
# `openssl speed -seconds 3 rsa2048` (the standard tool) and, 3 s each, aws-lc-rs, ring,
# the rsa crate and GopherCoin's verifier with each engine (benches/compare/rsa-libs, a
# crate outside the workspace, so its C libraries are built only here). Three rounds by
# turns; each one's best round is reported (a noisy machine only adds time), with its
# time against the fastest. Pins everything to CPU ${VERIFY_CPU:-1}.
set -euo pipefail
cd "$(dirname "$0")/../.."
cpu=${VERIFY_CPU:-1}
rounds=${VERIFY_ROUNDS:-3}
cargo build -q --release --manifest-path benches/compare/rsa-libs/Cargo.toml
openssl version
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
    taskset -c "$cpu" openssl speed -seconds 3 rsa2048 2>/dev/null | awk '
        /^version/ { v = $2 }
        /^rsa 2048 bits/ { printf "OpenSSL %s (openssl speed)\t%.2f\n", v, 1e6 / $7 }' >> "$results"
    taskset -c "$cpu" benches/compare/rsa-libs/target/release/rsa-libs >> "$results"
    echo "round $round of $rounds done" >&2
done
awk -F '\t' '
    !($1 in best) { order[++n] = $1 }
    !($1 in best) || $2 < best[$1] { best[$1] = $2 }
    { runs[$1] = runs[$1] sprintf(" %.1f", $2) }
    END {
        fastest = 1e9
        for (name in best) if (name ~ /^(OpenSSL|aws-lc-rs|ring)/ && best[name] < fastest) fastest = best[name]
        printf "%-44s %9s %8s  %s\n", "", "best µs", "÷ fastest", "every round (µs)"
        for (i = 1; i <= n; i++)
            printf "%-44s %9.1f %8.2f× %s\n", order[i], best[order[i]], best[order[i]] / fastest, runs[order[i]]
        printf "(fastest of OpenSSL, aws-lc-rs and ring: %.1f µs)\n", fastest
    }' "$results"
