"""Summarises node.sh's repeated load rounds. Reads lines of
`accepted_per_second p50_ms p99_ms accepted total requests_per_second verify_before verify_after`
on stdin, prints each round and the medians; the argument is the Flask baseline's
accepted transactions per second from the same run."""

import statistics
import sys


def main():
    flask = float(sys.argv[1])
    rows = []
    print()
    print(f"{'round':>5} {'accepted/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'verify/s':>17} {'ratio':>7}")
    for n, line in enumerate(sys.stdin, 1):
        rate, p50, p99, accepted, total, _, before, after = line.split()
        assert accepted == total, f"round {n}: {accepted} of {total} accepted"
        rate, before, after = float(rate), float(before), float(after)
        verify = (before + after) / 2
        rows.append((rate, float(p50), float(p99), rate / verify))
        print(f"{n:5d} {rate:11.0f} {float(p50):7.1f} {float(p99):7.1f} "
              f"{before:8.0f}-{after:<8.0f} {100 * rate / verify:6.1f}%")
    median = statistics.median
    rate = median(r[0] for r in rows)
    print(f"median: {rate:.0f} accepted/s, p99 {median(r[2] for r in rows):.1f} ms, "
          f"{100 * median(r[3] for r in rows):.1f}% of the node core's verify rate "
          f"(rounds {100 * min(r[3] for r in rows):.1f}-{100 * max(r[3] for r in rows):.1f}%), "
          f"{rate / flask:.1f}x the Flask baseline")


if __name__ == "__main__":
    main()
