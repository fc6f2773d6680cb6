"""Drives GopherCoin's node and the Flask baseline with the same workload and prints the
ratios: mine 20 blocks at the same difficulty (16 leading zero bits), serve /chain, accept
pre-signed transactions under load. Usage:
python node_vs_flask.py OUR_URL WALLET_URL FLASK_URL TRANSACTIONS SENDER_ADDRESS SENDER_KEY_FILE LOAD_TOOL VERIFY_TOOL
BODIES_OUT FLASK_RATE_OUT (the sender is the wallet the GopherCoin node mines to). The node runs on core 1: the verify
tool measures that core's signature verification rate just before and just after the load."""

import binascii
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict

import requests
from Crypto.Hash import SHA
from Crypto.PublicKey import RSA
from Crypto.Signature import PKCS1_v1_5

CONCURRENCY = 32


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def mine(url, blocks=20):
    session = requests.Session()
    for _ in range(blocks):
        response = session.get(f"{url}/mine", timeout=600)
        assert response.status_code == 200, response.text


def serve_chain(url, tool, requests_count=2000):
    """GETs /chain from 8 connections with the Rust load tool; answers requests per second."""
    out = subprocess.run([tool, "get", f"{url}/chain", str(requests_count), "8"],
                         check=True, capture_output=True, text=True).stdout.split()
    rate, _p50, _p99, ok, _total, _requests_rate = out
    assert int(ok) == requests_count, f"{ok} of {requests_count} GET /chain answered 200"
    return float(rate)


def load(url, bodies, tool):
    """Posts the bodies with the Rust load tool (a Python client would be the bottleneck)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bodies, f)
    out = subprocess.run([tool, "post", f"{url}/transactions/new", f.name, str(CONCURRENCY)],
                         check=True, capture_output=True, text=True).stdout.split()
    os.unlink(f.name)
    rate, p50, p99, accepted, _total, requests_rate = out
    return float(rate), float(p50) / 1e3, float(p99) / 1e3, int(accepted), float(requests_rate)


def verify_rate(tool, bodies):
    """One core's (the node's) signature verification rate over the same bodies."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bodies, f)
    out = subprocess.run(["taskset", "-c", "1", tool, f.name],
                         check=True, capture_output=True, text=True).stdout
    os.unlink(f.name)
    return float(out)


def flask_bodies(count):
    key = RSA.generate(1024)
    sender = binascii.hexlify(key.publickey().exportKey(format="DER")).decode()
    signer = PKCS1_v1_5.new(key)
    bodies = []
    for i in range(count):
        tx = OrderedDict({"sender": sender, "recipient": "someone", "amount": i + 1})
        signature = binascii.hexlify(signer.sign(SHA.new(str(tx).encode("utf8")))).decode()
        bodies.append({**tx, "signature": signature})
    return bodies


def our_bodies(wallet_url, sender, count):
    recipient = requests.get(f"{wallet_url}/wallet/new", timeout=60).json()["public_key"]
    session = requests.Session()
    bodies = []
    for _ in range(count):
        answer = session.post(f"{wallet_url}/transactions/generate", json={
            "sender": sender["public_key"], "sender_private_key": sender["private_key"],
            "recipient": recipient, "amount": 1,
        }, timeout=60).json()
        bodies.append(answer)
    return bodies


def main():
    ours, wallet, flask = sys.argv[1:4]
    count = int(sys.argv[4])
    sender = {"public_key": sys.argv[5], "private_key": open(sys.argv[6]).read().strip()}

    _, ours_mine = timed(lambda: mine(ours))
    _, flask_mine = timed(lambda: mine(flask))
    tool, verify_tool = sys.argv[7], sys.argv[8]
    ours_chain = serve_chain(ours, tool)
    flask_chain = serve_chain(flask, tool)
    ours_txs = our_bodies(wallet, sender, count)
    flask_txs = flask_bodies(count)
    verify_before = verify_rate(verify_tool, ours_txs)
    ours_rate, ours_p50, ours_p99, ours_ok, _ = load(ours, ours_txs, tool)
    verify_after = verify_rate(verify_tool, ours_txs)
    verify = (verify_before + verify_after) / 2
    flask_rate, flask_p50, flask_p99, flask_ok, _ = load(flask, flask_txs, tool)
    # For the repeated rounds of node.sh: our bodies, and the Flask figure to compare with.
    with open(sys.argv[9], "w") as f:
        json.dump(ours_txs, f)
    with open(sys.argv[10], "w") as f:
        f.write(f"{flask_rate}\n")
    # The same bodies again: ours refuses each as already known before any signature work,
    # which leaves what HTTP and JSON cost per request. (The original would accept them all
    # again: it has no replay rule.)
    _, _, _, again_ok, again_rate = load(ours, ours_txs, tool)
    assert again_ok == 0, f"{again_ok} replays accepted"

    print(f"{'':34} {'gophercoin':>12} {'flask':>12} {'ratio':>8}")
    print(f"{'mine 20 blocks (16-bit target), s':34} {ours_mine:12.2f} {flask_mine:12.2f} {flask_mine / ours_mine:7.1f}x")
    print(f"{'GET /chain (21 blocks), requests/s':34} {ours_chain:12.0f} {flask_chain:12.0f} {ours_chain / flask_chain:7.1f}x")
    print(f"{'POST /transactions/new, accepted/s':34} {ours_rate:12.0f} {flask_rate:12.0f} {ours_rate / flask_rate:7.1f}x")
    print(f"{'  p50 latency, ms':34} {ours_p50 * 1e3:12.1f} {flask_p50 * 1e3:12.1f}")
    print(f"{'  p99 latency, ms':34} {ours_p99 * 1e3:12.1f} {flask_p99 * 1e3:12.1f}")
    print(f"{'  accepted of ' + str(count):34} {ours_ok:12d} {flask_ok:12d}")
    print(f"{'  one-core verify rate, /s':34} {verify:12.0f} {'':>12} "
          f"(before {verify_before:.0f}, after {verify_after:.0f})")
    print(f"{'  accepted / verify rate':34} {100 * ours_rate / verify:11.1f}%")
    print(f"{'same bodies again (refused), req/s':34} {again_rate:12.0f} {'-':>12}")
    print(f"{'  so per request, HTTP + JSON, us':34} {1e6 / again_rate:12.1f}")


if __name__ == "__main__":
    main()
