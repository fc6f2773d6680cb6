#!/usr/bin/env python3
"""The seed scenario on loopback, measured: a seed and 8 nodes started with only
`--peer http://SEED`; for blocks mined in turn on three different nodes, how long each
takes from the `/mine` request to the tip of all nine (each node polled every 5 ms on its own thread), and
how long three nodes killed with SIGKILL take to catch up once restarted.

    cargo build --release -p gophercoin-cli
    python3 benches/compare/seed.py [--rounds 12] [--base-port 17100]
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

BIN = os.path.join(os.path.dirname(__file__), "..", "..", "target", "release", "gophercoin")


def get(url, timeout=20):
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


def start(port, data, peer=None):
    args = [BIN, "node", "-p", str(port), "--data-dir", os.path.join(data, str(port))]
    if peer:
        args += ["--peer", peer]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "RUST_LOG": "warn"})


def wait_healthy(url):
    for _ in range(800):
        try:
            get(url + "/health", timeout=1)
            return
        except OSError:
            time.sleep(0.025)
    raise SystemExit(f"{url} did not come up")


def arrival(url, height, started, out, index, deadline):
    """Polls `url` until its height reaches `height`; stores the seconds it took."""
    while time.monotonic() < deadline:
        try:
            if get(url + "/health", timeout=2)["height"] >= height:
                out[index] = time.monotonic() - started
                return
        except OSError:
            pass
        time.sleep(0.005)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--base-port", type=int, default=17100)
    args = parser.parse_args()
    data = tempfile.mkdtemp()
    ports = [args.base_port + i for i in range(9)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    procs = [start(ports[0], data)]
    try:
        wait_healthy(urls[0])
        procs += [start(p, data, urls[0]) for p in ports[1:]]
        for url in urls:
            wait_healthy(url)
        begun = time.monotonic()
        while True:
            listed = set(get(urls[0] + "/nodes/get")["nodes"])
            if set(urls[1:]) <= listed:
                break
            if time.monotonic() - begun > 20:
                raise SystemExit(f"the seed lists only {sorted(listed)}")
            time.sleep(0.025)
        print(f"the seed lists all 8 nodes {time.monotonic() - begun:.2f} s after they answer")
        alls, medians = [], []
        for r in range(args.rounds):
            miner = [3, 0, 7][r % 3]
            started = time.monotonic()
            height = get(urls[miner] + "/mine")["index"]
            took = [None] * 9
            threads = [threading.Thread(target=arrival,
                                        args=(u, height, started, took, i, started + 30))
                       for i, u in enumerate(urls)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if None in took:
                raise SystemExit(f"block {height} did not reach all: {took}")
            # From the /mine request (mining at devnet difficulty included) to each node.
            alls.append(max(took))
            medians.append(statistics.median(took))
            print(f"block {height} mined on node {miner}: all 9 after {max(took) * 1000:.0f} ms "
                  f"(median node {statistics.median(took) * 1000:.0f} ms)")
        print(f"reaching all 9: median {statistics.median(alls) * 1000:.0f} ms, "
              f"max {max(alls) * 1000:.0f} ms over {len(alls)} blocks")
        # Three nodes killed; two more blocks; restarted, how long until they catch up.
        for i in (2, 5, 8):
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait()
        for _ in range(2):
            height = get(urls[1] + "/mine")["index"]
        started = time.monotonic()
        for i in (2, 5, 8):
            procs[i] = start(ports[i], data, urls[0])
        took = [None] * 3
        threads = [threading.Thread(target=arrival,
                                    args=(urls[i], height, started, took, n, started + 60))
                   for n, i in enumerate((2, 5, 8))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if None in took:
            raise SystemExit(f"the restarted nodes did not catch up: {took}")
        print(f"restarted after kill -9: caught up to height {height} in "
              + ", ".join(f"{t:.2f} s" for t in took) + " (process start included)")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
