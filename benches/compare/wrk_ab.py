"""POST /transactions/new under wrk against two or more node binaries by turns (A/B),
as wrk_vs_flask.py measures ours: each round starts every binary afresh on a copy of the
chain, pinned to core 1, wrk on core 0, 32 connections, 3 s, pre-signed bodies; the
order of the binaries is reversed every other round, so a drift of the machine's speed
weighs on all. Uses what wrk.sh made (target/wrk-bench) and its Python environment:

    target/compare-venv/bin/python benches/compare/wrk_ab.py old=PATH new=PATH [ROUNDS]"""

import os
import statistics
import sys
import tempfile

sys.dont_write_bytecode = True  # nothing written into the repository
sys.path.insert(0, os.path.dirname(__file__))
import wrk_vs_flask as w  # noqa: E402


def main():
    args = sys.argv[1:]
    rounds = int(args.pop()) if args and args[-1].isdigit() else 4
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
            res = w.wrk(f"{node.url}/transactions/new", 32, 3, script, [bodies])
            node.stop()
            results[name].append(res)
            print(f"round {r + 1} {name}: {res['ok_per_s']:.0f}/s, {res['not_2xx']} not 2xx, "
                  f"p99 {res['p99']:.1f} ms", flush=True)
    for name, runs in results.items():
        rates = [r["ok_per_s"] for r in runs]
        print(f"{name}: median {statistics.median(rates):.0f}/s of {[round(x) for x in rates]}, "
              f"median p99 {statistics.median(r['p99'] for r in runs):.1f} ms")


if __name__ == "__main__":
    main()
