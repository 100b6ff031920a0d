#!/usr/bin/python3
"""How libbn's layer and oneDNN vary from process to process, with and
without huge pages.

Starts --procs pairs of processes, bench_bn (layer ops) and bench_dnnl
alternately (which goes first alternates too, so that the machine's drift
hits both alike), each under `flock -x /tmp/bench.lock` of its own. Each
process measures every op --repeat times on the same buffers, so the spread
inside a process can be told from the spread between processes. With
--hugepages off,on both programs run in both settings (bench_common.h's
BENCH_HUGEPAGES), alternated too. Every process reports its buffers
(BENCH_ALLOC_REPORT=1). --pin 0,1 pins the i-th pair to the i-th CPU of
the list, round robin (both processes of a pair to the same CPU).

Writes one JSON object per process to --log and prints, per (huge pages,
threads, shape, op): for each library the median over processes of the
process medians, their min and max and max/min (between processes), the
median of max/min inside a process; and oneDNN / libbn of the medians
and of each pair (median, min, max).

Usage: /usr/bin/python3 tests/bench/process_spread.py --bench-dir build-bench/tests/bench
           [--shapes 256x65536] [--threads 1] [--procs 12] [--repeat 2]
           [--hugepages off,on] [--reps 9] [--budget 0.3] [--pin 0,1] [--log FILE]
A measurement, never a pass/fail test.
"""
import argparse
import json
import os
import statistics
import subprocess
import time

OPS = {"layer_fwd_train": "fwd_train", "layer_fwd_inf": "fwd_inf", "layer_bwd": "bwd_train"}


def run(cmd, env):
    """(per-op list of times in ns in order, buffer lines) of one process."""
    out = subprocess.run(["flock", "-x", "/tmp/bench.lock"] + cmd, env=env, check=True,
                         capture_output=True, text=True).stdout
    times, allocs = {}, []
    for line in out.splitlines():
        f = line.split(",")
        if f[0] == "RESULT":
            times.setdefault((OPS.get(f[4], f[4]), f[5] + "x" + f[6]), []).append(float(f[8]))
        elif line.startswith("# bench_alloc:"):
            allocs.append(line[len("# bench_alloc: "):])
    return times, allocs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-dir", required=True)
    ap.add_argument("--shapes", default="256x65536")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--procs", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--hugepages", default="off,on")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--budget", type=float, default=0.3)
    ap.add_argument("--pin", default="")
    ap.add_argument("--log", default="process_spread.jsonl")
    a = ap.parse_args()
    shapes = ",".join(s for s in a.shapes.split(",") for _ in range(a.repeat))
    common = ["--shapes", shapes, "--reps", str(a.reps), "--budget", str(a.budget)]
    pins = [c for c in a.pin.split(",") if c]
    modes = a.hugepages.split(",")
    rows = []
    with open(a.log, "a") as log:
        for i in range(a.procs):
            for t in (int(v) for v in a.threads.split(",")):
                for m in (modes if i % 2 == 0 else modes[::-1]):
                    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", BENCH_ALLOC_REPORT="1",
                               BENCH_HUGEPAGES="1" if m == "on" else "0")
                    env.pop("BN_ISA", None)
                    pre = ["taskset", "-c", pins[i % len(pins)]] if pins else []
                    bn = pre + [os.path.join(a.bench_dir, "bench_bn"), "--isa", "default",
                                "--threads", str(t), "--ops", ",".join(OPS)] + common
                    dn = pre + [os.path.join(a.bench_dir, "bench_dnnl"),
                                "--ops", ",".join(OPS.values())] + common
                    pair = [("libbn", bn, env), ("oneDNN", dn, dict(env, OMP_NUM_THREADS=str(t)))]
                    for lib, cmd, e in (pair if i % 2 == 0 else pair[::-1]):
                        times, allocs = run(cmd, e)
                        rec = {"i": i, "lib": lib, "threads": t, "huge": m,
                               "cpu": pins[i % len(pins)] if pins else "",
                               "utc": time.strftime("%H:%M:%S", time.gmtime()),
                               "times": {f"{op} {s}": v for (op, s), v in times.items()},
                               "allocs": allocs}
                        log.write(json.dumps(rec) + "\n")
                        log.flush()
                        rows.append(rec)
    print("| huge pages | threads | F x N | op | libbn µs (min-max, max/min) | in-process max/min |"
          " oneDNN µs (min-max, max/min) | in-process max/min | oneDNN / libbn | per pair |")
    print("|---" * 10 + "|")
    for m in modes:
        for t in (int(v) for v in a.threads.split(",")):
            for s in a.shapes.split(","):
                for op in OPS.values():
                    key = f"{op} {s}"
                    cell, med, per = [], {}, {}
                    for lib in ("libbn", "oneDNN"):
                        got = [r for r in rows if r["lib"] == lib and r["huge"] == m and
                               r["threads"] == t and key in r["times"]]
                        pm = [statistics.median(r["times"][key]) for r in got]
                        inner = [max(r["times"][key]) / min(r["times"][key]) for r in got]
                        if not pm:
                            break
                        med[lib] = statistics.median(pm)
                        per[lib] = {r["i"]: v for r, v in zip(got, pm)}
                        cell.append(f"{med[lib] / 1e3:.0f} ({min(pm) / 1e3:.0f}-{max(pm) / 1e3:.0f},"
                                    f" {max(pm) / min(pm):.2f})")
                        cell.append(f"{statistics.median(inner):.2f}")
                    if len(med) < 2:
                        continue
                    pr = [per["oneDNN"][i] / per["libbn"][i] for i in per["libbn"]
                          if i in per["oneDNN"]]
                    print(f"| {m} | {t} | {s.replace('x', ' x ')} | {op} | " + " | ".join(cell) +
                          f" | {med['oneDNN'] / med['libbn']:.2f} | {statistics.median(pr):.2f}"
                          f" ({min(pr):.2f}-{max(pr):.2f}) |")


if __name__ == "__main__":
    main()
