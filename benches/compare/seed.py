#!/usr/bin/env python3
"""The seed scenario on loopback, measured: a seed and N-1 nodes (30 in all by default),
each started with only `--peer http://SEED`, peers over libp2p. It reports

- how long until every node has at least 6 peers (inbound and outbound, from `/health`);
- for blocks mined on five different nodes, how long each takes to reach all nodes (from
  the `/mine` answer, and from the request), every node polled on its own thread;
- how long 10 nodes killed with SIGKILL take to get back on the common tip once restarted
  (two blocks mined meanwhile; process start included);
- what a hostile peer that sends a block with a forged signature meets (`forger`): dropped
  and refused again by each node it sent it to, adopted by nobody;
- each node's resident memory.

    cargo build --release -p gophercoin-cli && cargo build --release -p gophercoin-benches --bin forger
    python3 benches/compare/seed.py [--nodes 30] [--base-port 17100]
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

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
BIN = os.path.join(ROOT, "target", "release", "gophercoin")
FORGER = os.path.join(ROOT, "target", "release", "forger")
BOB = os.path.join(ROOT, "gophercoin-core", "tests", "data", "bob.pkcs8.hex")


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


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def spread(urls, height, since, deadline_s):
    """Seconds after `since` at which each node reached `height` (None: not in time)."""
    took = [None] * len(urls)
    threads = [threading.Thread(target=arrival,
                                args=(u, height, since, took, i, since + deadline_s))
               for i, u in enumerate(urls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return took


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=30)
    parser.add_argument("--base-port", type=int, default=17100)
    args = parser.parse_args()
    n = args.nodes
    data = tempfile.mkdtemp()
    ports = [args.base_port + i for i in range(n)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    procs = [start(ports[0], data)]
    failures = []
    try:
        wait_healthy(urls[0])
        launched = time.monotonic()
        procs += [start(p, data, urls[0]) for p in ports[1:]]
        for url in urls:
            wait_healthy(url)
        answering = time.monotonic() - launched
        while True:
            counts = []
            for url in urls:
                c = get(url + "/health")["connections"]
                counts.append(c["inbound"] + c["outbound"])
            if min(counts) >= 6 or time.monotonic() - launched > 30:
                break
            time.sleep(0.05)
        took = time.monotonic() - launched
        print(f"{n} nodes launched; all answer after {answering:.2f} s; every node has >= 6 "
              f"peers after {took:.2f} s (peers: min {min(counts)}, median "
              f"{statistics.median(counts)}, max {max(counts)})")
        if min(counts) < 6 or took > 10:
            failures.append("peers")
        alls, from_request = [], []
        for miner in [0, 7, 13, 21, n - 1]:
            requested = time.monotonic()
            height = get(urls[miner] + "/mine")["index"]
            mined = time.monotonic()
            took = spread(urls, height, mined, 30)
            if None in took:
                raise SystemExit(f"block {height} did not reach all: {took}")
            alls.append(max(took))
            from_request.append(max(took) + (mined - requested))
            print(f"block {height} mined on node {miner}: all {n} {max(took) * 1000:.0f} ms "
                  f"after the /mine answer (median node {statistics.median(took) * 1000:.0f} "
                  f"ms; {(max(took) + mined - requested) * 1000:.0f} ms after the request)")
        print(f"reaching all {n}: max {max(alls) * 1000:.0f} ms after the /mine answer, "
              f"{max(from_request) * 1000:.0f} ms after the request, over {len(alls)} blocks")
        if max(alls) > 1:
            failures.append("propagation")
        rss = [rss_mib(p.pid) for p in procs]
        print(f"resident memory per node: median {statistics.median(rss):.1f} MiB, "
              f"max {max(rss):.1f} MiB")
        killed = list(range(1, n, max(1, n // 10)))[:10]
        for i in killed:
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait()
        for _ in range(2):
            height = get(urls[0] + "/mine")["index"]
        started = time.monotonic()
        for i in killed:
            procs[i] = start(ports[i], data, urls[0])
        took = spread([urls[i] for i in killed], height, started, 60)
        if None in took:
            raise SystemExit(f"the restarted nodes did not catch up: {took}")
        tips = {get(u + "/health")["tip"] for u in urls}
        print(f"{len(killed)} nodes killed with kill -9 and restarted: back on height {height} "
              f"after {max(took):.2f} s at most (median {statistics.median(took):.2f} s, "
              f"process start included); {len(tips)} tip(s) among all {n}")
        if max(took) > 5 or len(tips) != 1:
            failures.append("restart")
        # A hostile peer sends a block with a forged signature to three nodes.
        victims = [2, 4, 6]
        targets = [get(urls[i] + "/health")["p2p"]["advertised"] for i in victims]
        before = [get(u + "/health")["tip"] for u in urls]
        payer = os.path.join(data, str(ports[0]), "wallet.key")
        out = subprocess.run([FORGER, "--node", urls[0], "--payer", payer, "--recipient", BOB]
                             + targets, capture_output=True, text=True, timeout=120, check=True)
        lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        forged = lines[-1]["block"]
        for line in lines[:-1]:
            print(f"forged block to {line['target'][:40]}...: connected {line['connected']}, "
                  f"dropped {line.get('dropped')} after {line.get('dropped_ms')} ms, "
                  f"refused again {line.get('refused_again')}")
            if not (line["connected"] and line["dropped"] and line["refused_again"]):
                failures.append("ban")
        time.sleep(2)
        after = [get(u + "/health")["tip"] for u in urls]
        adopted = sum(1 for t in after if t == forged)
        print(f"nodes that adopted the forged block {forged[:16]}...: {adopted} of {n}; "
              f"tips unchanged on {sum(1 for a, b in zip(before, after) if a == b)} of {n}")
        if adopted or before != after:
            failures.append("forged")
        # The network still works: one more block reaches all.
        mined = time.monotonic()
        height = get(urls[5] + "/mine")["index"]
        took = spread(urls, height, time.monotonic(), 30)
        if None in took:
            failures.append("after")
        else:
            print(f"afterwards, a block mined on node 5 reached all {n} in {max(took) * 1000:.0f} ms")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(data, ignore_errors=True)
    if failures:
        raise SystemExit(f"failed: {failures}")
    print("all targets met")


if __name__ == "__main__":
    main()
