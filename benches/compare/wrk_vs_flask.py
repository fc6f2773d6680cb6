"""The headline figures of GopherCoin's node against the Flask baseline, with wrk (run by
wrk.sh, which builds what it needs). Both nodes hold a chain of 202 blocks and 2,201
transactions (201 rewards, 2,000 transfers); the nodes run on core 1, wrk on core 0.

- GET /chain: wrk, 8 connections, 5 s, on each node; then the same asking for gzip
  (`Accept-Encoding: gzip`, as browsers and most HTTP clients ask): ours answers gzip, the
  original plain (Flask compresses nothing).
- POST /transactions/new: wrk, 32 connections, 3 s, pre-signed bodies (ours: payments of
  the wallet the chain pays; Flask's: the original's shape, RSA-1024/SHA-1), ROUNDS rounds
  each on a node started afresh on a copy of the chain, our node's core's verify rate
  measured just before and after each round (verify_rate, the same build's verifier).
  ROUNDS=0 measures GET /chain only.
- The floor under both, on the same core with the same wrk: nginx (a standard server)
  answering a fixed 201 to the payments and sending our /chain answer from a file, and
  http_floor, a server of our node's own parts doing only part of its work (answering
  201; decoding and verifying each payment, in each round beside ours; sending our /chain
  answer from memory). What a node that does more cannot pass on this machine.

Usage: python wrk_vs_flask.py BIN VERIFY_RATE HTTP_FLOOR CHAIN_DIR OUR_BODIES FLASK_PYTHON WORK"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

import requests

sys.dont_write_bytecode = True  # nothing written into the repository
sys.path.insert(0, os.path.dirname(__file__))
from node_vs_flask import flask_bodies  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
POST_LUA = """
local bodies = {}
local sent = 0
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
request = function()
  sent = math.min(sent + 1, #bodies)
  return wrk.format("POST", "/transactions/new", {["Content-Type"] = "application/json"}, bodies[sent])
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url):
    for _ in range(200):
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def wrk(url, connections, seconds, script=None, args=(), headers=()):
    command = ["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", script]
    out = subprocess.run(command + [url, "--", *args], check=True, capture_output=True, text=True).stdout
    requests_done, duration = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out).group(1, 2)
    unit = re.search(r"\d+ requests in [\d.]+(m?s)", out).group(1)
    seconds = float(duration) / (1000 if unit == "ms" else 1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(bad.group(1)) if bad else 0
    errors = re.search(r"Socket errors: (.*)", out)

    def ms(percentile):
        value, unit = re.search(rf"\s{percentile}%\s+([\d.]+)(us|ms|s)", out).group(1, 2)
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    return {
        "ok_per_s": (int(requests_done) - bad) / seconds,
        "requests": int(requests_done),
        "not_2xx": bad,
        "p50": ms(50),
        "p99": ms(99),
        "errors": errors.group(1) if errors else "",
    }


class Node:
    def __init__(self, command, url):
        self.process = subprocess.Popen(["taskset", "-c", "1", *command],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = url

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def ours(bin, chain, work):
    data = os.path.join(work, "node")
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(chain, data)
    port = free_port()
    # Every payment is from one wallet: the per-sender bound and the pool are opened up.
    # NODE_ARGS adds flags (e.g. --volatile-mempool, to see what durability costs).
    extra = os.environ.get("NODE_ARGS", "").split()
    node = Node([bin, "node", "-p", str(port), "--p2p-port", str(free_port()), "--data-dir", data,
                 "--max-pending-per-sender", "1000000", "--mempool-size", "1000000", *extra],
                f"http://127.0.0.1:{port}")
    wait_up(f"{node.url}/health")
    return node


def floor(tool, mode, *args):
    """http_floor on core 1 (benches/src/bin/http_floor.rs)."""
    port = free_port()
    server = Node([tool, str(port), mode, *args], f"http://127.0.0.1:{port}")
    wait_up_tcp(port)
    return server


NGINX_CONF = """worker_processes 1;
daemon off;
master_process off;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir};
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_buffer_size 16k;
  server {{
    listen 127.0.0.1:{port};
    location = /chain {{ default_type application/json; root {dir}; }}
    location = /transactions/new {{ return 201 '{answer}'; }}
  }}
}}
"""

# Our node's answer to a payment, of the same length.
ANSWER = '{"message":"Transaction will be added to Block 203","id":"' + "0" * 64 + '"}'


def nginx(work, chain_answer):
    """nginx on core 1, one worker: a fixed 201 to payments, our /chain answer from a file."""
    directory = os.path.join(work, "nginx")
    os.makedirs(directory, exist_ok=True)
    shutil.copyfile(chain_answer, os.path.join(directory, "chain"))
    port = free_port()
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=directory, port=port, answer=ANSWER))
    server = Node([shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf, "-e", os.path.join(directory, "error.log")],
                  f"http://127.0.0.1:{port}")
    wait_up_tcp(port)
    return server


def wait_up_tcp(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def verify_rate(tool, bodies):
    out = subprocess.run(["taskset", "-c", "1", tool, bodies], check=True, capture_output=True, text=True)
    return float(out.stdout)


def main():
    bin, verify_tool, floor_tool, chain, our_bodies, flask_python, work = sys.argv[1:8]
    rounds = int(os.environ.get("ROUNDS", "3"))
    script = os.path.join(work, "post.lua")
    with open(script, "w") as f:
        f.write(POST_LUA)

    # The Flask baseline, its chain built as ours: 201 blocks mined, 10 transfers in each
    # of the last 200.
    port = free_port()
    flask = Node([flask_python, os.path.join(HERE, "flask_node.py"), str(port)], f"http://127.0.0.1:{port}")
    wait_up(f"{flask.url}/chain")
    transfers = flask_bodies(2000 + 20000)
    session = requests.Session()
    session.get(f"{flask.url}/mine", timeout=60).raise_for_status()
    for block in range(200):
        for body in transfers[block * 10:block * 10 + 10]:
            assert session.post(f"{flask.url}/transactions/new", json=body, timeout=60).status_code == 201
        session.get(f"{flask.url}/mine", timeout=60).raise_for_status()
    flask_chain = session.get(f"{flask.url}/chain", timeout=60).json()
    flask_txs = sum(len(b["transactions"]) for b in flask_chain["chain"])
    flask_body_file = os.path.join(work, "flask-bodies.txt")
    with open(flask_body_file, "w") as f:
        for body in transfers[2000:]:
            f.write(json.dumps(body) + "\n")

    node = ours(bin, chain, work)
    our_chain = session.get(f"{node.url}/chain", timeout=60)
    ours_json = our_chain.json()
    our_txs = sum(len(b["transactions"]) for b in ours_json["chain"])
    print(f"chains: ours {ours_json['length']} blocks, {our_txs} transactions, {len(our_chain.content):,} bytes; "
          f"Flask {flask_chain['length']} blocks, {flask_txs} transactions, "
          f"{len(session.get(f'{flask.url}/chain').content):,} bytes")
    gzip = "Accept-Encoding: gzip"
    our_gzip = session.get(f"{node.url}/chain", headers={"Accept-Encoding": "gzip"}, stream=True)
    our_gzip_bytes = len(our_gzip.raw.read(decode_content=False))
    assert our_gzip.headers.get("Content-Encoding") == "gzip", our_gzip.headers
    flask_gzip = session.get(f"{flask.url}/chain", headers={"Accept-Encoding": "gzip"}, stream=True)
    flask_gzip_bytes = len(flask_gzip.raw.read(decode_content=False))
    print(f"asking for gzip: ours {our_gzip_bytes:,} bytes (gzip), Flask {flask_gzip_bytes:,} bytes "
          f"({flask_gzip.headers.get('Content-Encoding', 'plain')})")
    chain_ours = wrk(f"{node.url}/chain", 8, 5)
    chain_flask = wrk(f"{flask.url}/chain", 8, 5)
    chain_ours_gzip = wrk(f"{node.url}/chain", 8, 5, headers=[gzip])
    chain_flask_gzip = wrk(f"{flask.url}/chain", 8, 5, headers=[gzip])
    node.stop()
    chain_answer = os.path.join(work, "chain.json")
    with open(chain_answer, "wb") as f:
        f.write(our_chain.content)
    server = floor(floor_tool, "chain", "--chain", chain_answer)
    chain_floor = wrk(f"{server.url}/chain", 8, 5)
    server.stop()
    server = nginx(work, chain_answer)
    chain_nginx = wrk(f"{server.url}/chain", 8, 5)
    post_nginx = wrk(f"{server.url}/transactions/new", 32, 3, script, [our_bodies])
    server.stop()

    post_flask = [wrk(f"{flask.url}/transactions/new", 32, 3, script, [flask_body_file]) for _ in range(rounds)]
    flask.stop()
    post_ours = []
    post_floor = []
    for _ in range(rounds):
        node = ours(bin, chain, work)
        before = verify_rate(verify_tool, our_bodies)
        result = wrk(f"{node.url}/transactions/new", 32, 3, script, [our_bodies])
        after = verify_rate(verify_tool, our_bodies)
        node.stop()
        result["verify"] = (before + after) / 2
        post_ours.append(result)
        server = floor(floor_tool, "verify")
        result = wrk(f"{server.url}/transactions/new", 32, 3, script, [our_bodies])
        server.stop()
        result["verify"] = (before + after) / 2
        post_floor.append(result)
    if rounds:
        server = floor(floor_tool, "empty")
        post_empty = wrk(f"{server.url}/transactions/new", 32, 3, script, [our_bodies])
        server.stop()

    median = statistics.median
    print()
    print(f"{'':44} {'gophercoin':>11} {'flask':>9} {'ratio':>7}")
    for name, ours_, flask_ in [("GET /chain, requests/s (8 connections)", chain_ours, chain_flask),
                                ("GET /chain asking for gzip", chain_ours_gzip, chain_flask_gzip)]:
        print(f"{name:44} {ours_['ok_per_s']:11.0f} "
              f"{flask_['ok_per_s']:9.0f} {ours_['ok_per_s'] / flask_['ok_per_s']:6.1f}×")
        print(f"{'  p50 / p99 ms':44} {ours_['p50']:5.1f}/{ours_['p99']:5.1f} "
              f"{flask_['p50']:4.0f}/{flask_['p99']:4.0f}")
    flask_chain_rate = chain_flask["ok_per_s"]
    for name, result in [("  floor: our /chain answer from memory", chain_floor),
                         ("  floor: nginx, the same answer from a file", chain_nginx)]:
        print(f"{name:44} {result['ok_per_s']:11.0f} {'':9} {result['ok_per_s'] / flask_chain_rate:6.1f}×")
    if not post_ours:
        return
    ours_rate = median(r["ok_per_s"] for r in post_ours)
    flask_rate = median(r["ok_per_s"] for r in post_flask)
    print(f"{'POST /transactions/new, accepted/s (median)':44} {ours_rate:11.0f} {flask_rate:9.0f} "
          f"{ours_rate / flask_rate:6.1f}×")
    print(f"{'  p99 ms (median of rounds)':44} {median(r['p99'] for r in post_ours):11.1f} "
          f"{median(r['p99'] for r in post_flask):9.1f}")
    share = median(r["ok_per_s"] / r["verify"] for r in post_ours)
    print(f"{'  of the node core verify rate (median)':44} {100 * share:10.1f}%")
    floor_rate = median(r["ok_per_s"] for r in post_floor)
    floor_share = median(r["ok_per_s"] / r["verify"] for r in post_floor)
    print(f"{'  floor: decode and verify only (median)':44} {floor_rate:11.0f} {'':9} "
          f"{floor_rate / flask_rate:6.1f}×  {100 * floor_share:.1f}% of the verify rate")
    for name, result in [("  floor: answer 201 only", post_empty), ("  floor: nginx, answer 201 only", post_nginx)]:
        print(f"{name:44} {result['ok_per_s']:11.0f} {'':9} {result['ok_per_s'] / flask_rate:6.1f}×")
    for i, (o, f) in enumerate(zip(post_ours, post_flask), 1):
        print(f"  round {i}: ours {o['ok_per_s']:.0f}/s ({o['not_2xx']} not 2xx, p99 {o['p99']:.1f} ms, "
              f"verify {o['verify']:.0f}/s: {100 * o['ok_per_s'] / o['verify']:.1f}%{', ' + o['errors'] if o['errors'] else ''}); "
              f"Flask {f['ok_per_s']:.0f}/s ({f['not_2xx']} not 2xx, p99 {f['p99']:.1f} ms)")
    for i, r in enumerate(post_floor, 1):
        print(f"  round {i}: floor (decode and verify only) {r['ok_per_s']:.0f}/s, p99 {r['p99']:.1f} ms, "
              f"{100 * r['ok_per_s'] / r['verify']:.1f}% of the verify rate")


if __name__ == "__main__":
    main()
