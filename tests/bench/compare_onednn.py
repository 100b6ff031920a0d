#!/usr/bin/python3
"""libbn's BatchNorm layer side by side with oneDNN (and PyTorch, and
optionally an older libbn) on the shapes of issue 12, on 1 and 2 threads.

For each round, shape and thread count it runs bench_bn (layer ops), the
older build's bench_bn if given, bench_dnnl and bench_torch.py back to back,
so that the load of a shared machine hits them alike; with several rounds
the median of the rounds' medians is reported. Prints one Markdown table:
time per call of each implementation and oneDNN's time over libbn's
(> 1: libbn is faster).

--hugepages sets BENCH_HUGEPAGES=1 for bench_bn and bench_dnnl alike, so
that both programs' buffers get transparent huge pages (bench_common.h; the
way numpy allocates large arrays). PyTorch 1.13's allocator has no such
switch: its runs are unchanged (compare the two libraries with --no-torch).

--paired times libbn and oneDNN in one process (bench_dnnl --paired 1:
alternating samples on the same buffers) instead of one process each, so
that the machine's changing speed (docs/performance.md, "Process to
process") hits both alike; not with --before-lib. One thread only: on two,
each library's idle workers (OpenMP's spin-wait, the pool's) take cores from
the other's next sample, so two-thread rows still run one process each.

Usage: /usr/bin/python3 tests/bench/compare_onednn.py --bench-dir build-bench/tests/bench
           [--before-lib /path/to/old/src] [--shapes 256x65536,1024x1024,300x128]
           [--threads 1,2] [--rounds 3] [--reps 9] [--budget 0.3] [--no-torch]
           [--hugepages] [--paired]
"""
import argparse
import os
import statistics
import subprocess
import sys

# libbn layer op -> the oneDNN / PyTorch op doing the same job
OPS = {"layer_fwd_train": "fwd_train", "layer_fwd_inf": "fwd_inf", "layer_bwd": "bwd_train"}


def results(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("RESULT,"):
            _, bench, _, _, op, F, N, _, ns, _ = line.split(",")
            yield bench, op, int(F), int(N), float(ns)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-dir", required=True)
    ap.add_argument("--before-lib", default="")
    ap.add_argument("--shapes", default="256x65536,1024x1024,300x128")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--budget", type=float, default=0.3)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--hugepages", action="store_true")
    ap.add_argument("--paired", action="store_true")
    a = ap.parse_args()
    if a.paired and a.before_lib:
        ap.error("--paired compares with oneDNN only; leave out --before-lib")
    here = os.path.dirname(os.path.abspath(__file__))
    times = {}  # (impl, threads, op, F, N) -> [round medians]
    common = ["--reps", str(a.reps), "--budget", str(a.budget)]
    for _ in range(a.rounds):
        for shape in a.shapes.split(","):
            for t in (int(v) for v in a.threads.split(",")):
                env = dict(os.environ)
                env.pop("BN_ISA", None)
                # bench_bn calls no BLAS, but libbn loads OpenBLAS, whose
                # idle server thread spins for its first ~0.1 s and takes a
                # core from the layer's two threads; bench_dnnl has no such
                # thread. One OpenBLAS thread starts none.
                env["OPENBLAS_NUM_THREADS"] = "1"
                env["BENCH_HUGEPAGES"] = "1" if a.hugepages else "0"
                bn = [os.path.join(a.bench_dir, "bench_bn"), "--isa", "default", "--shapes", shape,
                      "--threads", str(t), "--ops", ",".join(OPS)] + common
                paired = a.paired and t == 1
                runs = [] if paired else [("libbn", bn, env)]
                if a.before_lib:
                    runs.append(("libbn before", bn, dict(env, LD_LIBRARY_PATH=a.before_lib)))
                runs.append(("oneDNN", [os.path.join(a.bench_dir, "bench_dnnl"), "--shapes", shape,
                                        "--ops", ",".join(OPS.values())] + common +
                             (["--paired", "1"] if paired else []),
                             dict(env, OMP_NUM_THREADS=str(t))))
                if not a.no_torch:
                    runs.append(("PyTorch", [sys.executable, os.path.join(here, "bench_torch.py"),
                                             "--shapes", shape, "--threads", str(t)] + common, env))
                for impl, cmd, e in runs:
                    for bench, op, F, N, ns in results(cmd, e):
                        # a paired bench_dnnl run reports libbn's layer too
                        who = "libbn" if bench == "libbn" and impl == "oneDNN" else impl
                        times.setdefault((who, t, OPS.get(op, op), F, N), []).append(ns)
    impls = ["libbn"] + (["libbn before"] if a.before_lib else []) + ["oneDNN"] + \
        ([] if a.no_torch else ["PyTorch"])
    print("| F x N | threads | op | " + " | ".join(f"{i} µs" for i in impls) +
          " | oneDNN / libbn |" + (" oneDNN / libbn before |" if a.before_lib else ""))
    print("|---" * (4 + len(impls) + (1 if a.before_lib else 0)) + "|")
    for shape in a.shapes.split(","):
        F, N = (int(v) for v in shape.split("x"))
        for t in (int(v) for v in a.threads.split(",")):
            for op in OPS.values():
                med = {i: statistics.median(times[(i, t, op, F, N)])
                       for i in impls if (i, t, op, F, N) in times}
                if "libbn" not in med or "oneDNN" not in med:
                    continue
                cells = " | ".join(f"{med[i] / 1e3:.1f}" if i in med else "-" for i in impls)
                row = f"| {F} x {N} | {t} | {op} | {cells} | {med['oneDNN'] / med['libbn']:.2f} |"
                if a.before_lib and "libbn before" in med:
                    row += f" {med['oneDNN'] / med['libbn before']:.2f} |"
                print(row)


if __name__ == "__main__":
    main()
