#!/usr/bin/env bash
# Fuzzes the node's HTTP API from its own OpenAPI document with schemathesis: every
# operation gets generated valid and invalid requests, and every answer is checked against
# the document (status codes, content types, response schemas) and for server errors.
#
#   bash benches/api-fuzz.sh            # EXAMPLES=50 by default
#   EXAMPLES=500 bash benches/api-fuzz.sh
#
# `positive_data_acceptance` is left out: whether a key is a real RSA key, a signature
# verifies or a block meets its target can't be said in a JSON schema, so schema-valid
# requests are often, rightly, refused with 422.
# Peer registration and resolution are left out: generated peer URLs could point
# anywhere, and this machine only ever talks to itself. So is `/events`: an event stream
# has no end for a response check to wait for (tests/events.rs covers it).
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${EXAMPLES:-50}
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/st" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'schemathesis==4.32.5'
fi
cargo build -q -p gophercoin-cli

data=$(mktemp -d)
out="$data/node.out"
target/debug/gophercoin node -p 0 --data-dir "$data/node" > "$out" 2> "$data/node.err" &
node=$!
trap 'kill "$node" 2> /dev/null || true; rm -rf "$data"' EXIT
url=""
for _ in $(seq 1 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$out" | head -n 1 || true)
    if [ -n "$url" ] && curl -sf "$url/health" > /dev/null; then break; fi
    sleep 0.1
done
[ -n "$url" ] || { echo "the node did not start"; cat "$data/node.err"; exit 1; }

# schemathesis keeps a cache in its working directory: run it in the scratch one.
st="$PWD/$venv/bin/st"
cd "$data"
"$st" run "$url/openapi.json" \
    --checks all \
    --exclude-checks positive_data_acceptance \
    --max-examples "$examples" \
    --exclude-path-regex '^/(nodes/(register|resolve)|events)$' \
    --request-timeout 30 \
    --workers 2 \
    --generation-deterministic \
    --phases examples,fuzzing,stateful \
    --suppress-health-check all \
    --no-color
