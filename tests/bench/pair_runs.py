#!/usr/bin/python3
"""Paired runs of two builds of one benchmark program.

Runs OLD and NEW alternately (OLD, NEW, NEW, OLD, ... so neither always
goes first) for --rounds rounds with the same arguments, reads their
RESULT lines (bench_common.h's format: the time in ns is the ninth field;
bench_mlp's RESULT_MLP lines too),
and prints per measurement the median time of each build, the median of
the per-round ratios new/old, and each build's GB/s at its median. On a
machine whose speed swings minute to minute only such side-by-side ratios
mean anything (docs/performance.md).

Usage: pair_runs.py OLD_PROGRAM NEW_PROGRAM [--rounds 6] [-- ARGS...]
Example (from the worktree, with a build of the old tree in build-old/):
  flock -x /tmp/bench.lock tests/bench/pair_runs.py \\
      build-old/bench/tests/bench/bench_optimizer \\
      build-bench/tests/bench/bench_optimizer --rounds 6 -- --clock cpu --budget 0.5
A measurement, never a pass/fail test.
"""
import argparse
import statistics
import subprocess
import sys


def results(program, args):
    """{(bench, op, F, N): (ns, bytes)} of one run's RESULT lines."""
    out = subprocess.run([program] + args, check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        f = line.split(",")
        if len(f) == 10 and f[0] == "RESULT":
            found[(f[1], f[4], f[5], f[6])] = (float(f[8]), float(f[7]))
        elif len(f) == 8 and f[0] == "RESULT_MLP":  # bench_mlp: no byte count
            found[(f[1], f[2], "threads=" + f[3], "batch=" + f[4])] = (float(f[5]), 0.0)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=6)
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a = parser.parse_args(argv[:cut])
    a.args = argv[cut + 1:]  # the programs' arguments
    runs = {"old": [], "new": []}
    for r in range(a.rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        for which in order:
            runs[which].append(results(getattr(a, which), a.args))
    print("%-36s %12s %12s %8s %9s %9s" % ("measurement", "old ns", "new ns", "new/old",
                                            "old GB/s", "new GB/s"))
    for key in runs["old"][0]:
        old = [run[key][0] for run in runs["old"] if key in run]
        new = [run[key][0] for run in runs["new"] if key in run]
        if not old or not new:
            continue
        ratio = statistics.median(n / o for o, n in zip(old, new))
        size = runs["old"][0][key][1]
        mo, mn = statistics.median(old), statistics.median(new)
        print("%-36s %12.0f %12.0f %8.3f %9.1f %9.1f" % (
            " ".join(key), mo, mn, ratio, size / mo, size / mn))
    return 0


if __name__ == "__main__":
    sys.exit(main())
