"""POST /transactions/new under wrk against two or more node binaries by turns (A/B),
as wrk_vs_flask.py measures ours: each round starts every binary afresh on a copy of the
chain, pinned to core 1, wrk on core 0, 32 connections (CONNECTIONS=N for others), 3 s,
pre-signed bodies; the
order of the binaries is reversed every other round, so a drift of the machine's speed
weighs on all; each run also reports how much of the node's core stood idle or waited
for the disk (/proc/stat). Uses what wrk.sh made (target/wrk-bench) and its Python environment:

    target/compare-venv/bin/python benches/compare/wrk_ab.py old=PATH new=PATH [ROUNDS]"""

import os
import statistics
import sys
import tempfile

sys.dont_write_bytecode = True  # nothing written into the repository
sys.path.insert(0, os.path.dirname(__file__))
import wrk_vs_flask as w  # noqa: E402


def core_times(cpu):
    """/proc/stat's ticks for one CPU: user, nice, system, idle, iowait, irq, softirq."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                return [int(x) for x in line.split()[1:8]]
    return None


def idle_since(before, after):
    """How much of the time between two readings the CPU was idle or waiting for the disk."""
    if before is None or after is None:
        return "not measured"
    d = [b - a for a, b in zip(before, after)]
    total = sum(d) or 1
    return f"{100 * d[3] / total:.0f} % idle, {100 * d[4] / total:.0f} % waiting for the disk"


def main():
    args = sys.argv[1:]
    rounds = int(args.pop()) if args and args[-1].isdigit() else 4
    connections = int(os.environ.get("CONNECTIONS", "32"))
    bins = [arg.split("=", 1) for arg in args]
    if len(bins) < 2:
        raise SystemExit(__doc__)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    chain = os.path.join(root, "target/wrk-bench/chain")
    bodies = os.path.join(root, "target/wrk-bench/payments.txt")
    work = tempfile.mkdtemp()
    script = os.path.join(work, "post.lua")
    with open(script, "w") as f:
        f.write(w.POST_LUA)
    results = {name: [] for name, _ in bins}
    for r in range(rounds):
        for name, path in bins if r % 2 == 0 else list(reversed(bins)):
            node = w.ours(path, chain, work)
            before = core_times(1)
            res = w.wrk(f"{node.url}/transactions/new", connections, 3, script, [bodies])
            idle = idle_since(before, core_times(1))
            node.stop()
            results[name].append(res)
            print(f"round {r + 1} {name}: {res['ok_per_s']:.0f}/s, {res['not_2xx']} not 2xx, "
                  f"p99 {res['p99']:.1f} ms; the node's core {idle}", flush=True)
    for name, runs in results.items():
        rates = [r["ok_per_s"] for r in runs]
        print(f"{name}: median {statistics.median(rates):.0f}/s of {[round(x) for x in rates]}, "
              f"median p99 {statistics.median(r['p99'] for r in runs):.1f} ms")


if __name__ == "__main__":
    main()
