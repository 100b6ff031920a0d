#!/usr/bin/python3
"""PyTorch CPU batch-norm benchmark on the same shapes and bytes as bench_bn.

x is a C-contiguous (N, F) float32 tensor (the same bytes as libbn's F x N,
ld = F). Measured, with torch.set_num_threads(1) and then (2):
  fwd_train / fwd_inf   torch.nn.functional.batch_norm(training=True/False)
                        with weight, bias and running statistics;
  bwd_train             torch.autograd.grad of that forward (native
                        batch_norm_backward: dx, dweight, dbias);
  *_relu                the same followed by torch.relu (PyTorch has no fused
                        BN+ReLU on the CPU, so these are two operators);
and "clone", x.clone(): the same minimal bytes as a forward, as a reference.
Every call allocates its output (PyTorch 1.13 has no CPU out= variant of
native_batch_norm): for large tensors that means fresh pages from the OS,
i.e. page faults, on every call; "clone" pays the same.

Minimal bytes as in bench_bn: forward 8 F N, backward 12 F N. Prints RESULT
lines (see bench_common.h). Usage:
  /usr/bin/python3 bench_torch.py [--threads 1,2] [--features 64,256,1024,4096]
                                  [--mib 1,8,256] [--reps 11] [--budget 1.0]
                                 [--shapes FxN,...]  (instead of the features x MiB grid)
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as Fn


def measure(fn, reps, budget, clock=time.perf_counter):
    """Median seconds per call; a sample is enough calls to last >= 2 ms.

    clock: wall time by default; time.thread_time (the calling thread's CPU
    time) keeps other jobs out of one-thread figures on a loaded machine."""
    t0 = clock()
    fn()
    one = clock() - t0
    inner = max(1, int(2e-3 / max(one, 1e-7)) + 1) if one < 2e-3 else 1
    samples = []
    start = time.perf_counter()
    while len(samples) < reps and (len(samples) < 3 or time.perf_counter() - start < budget):
        a = clock()
        for _ in range(inner):
            fn()
        samples.append((clock() - a) / inner)
    return statistics.median(samples)


def result(impl, threads, op, F, N, nbytes, sec):
    print(f"RESULT,torch,{impl},{threads},{op},{F},{N},{nbytes:.0f},{sec * 1e9:.0f},"
          f"{nbytes / sec * 1e-9:.2f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--features", default="64,256,1024,4096")
    ap.add_argument("--mib", default="1,8,256")
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--budget", type=float, default=1.0)
    ap.add_argument("--shapes", default="")
    a = ap.parse_args()
    eps, mom = 1e-5, 0.1
    print(f"# torch {torch.__version__}, {torch.__config__.parallel_info().splitlines()[-1].strip()}")
    torch.manual_seed(0)
    if a.shapes:
        shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
    else:
        shapes = [(F, int(mib * 1024 * 1024) // 4 // F) for mib in (float(v) for v in a.mib.split(","))
                  for F in (int(v) for v in a.features.split(","))]
    for F, N in shapes:
        if True:
            x = torch.empty(N, F).uniform_(-1, 3)
            dy = torch.empty(N, F).uniform_(-1, 1)
            w = torch.empty(F).uniform_(0.5, 1.5)
            b = torch.empty(F).uniform_(-0.5, 0.5)
            rm, rv = torch.zeros(F), torch.ones(F)
            xg, wg, bg = (t.clone().requires_grad_(True) for t in (x, w, b))
            fwd_bytes, bwd_bytes = 8.0 * F * N, 12.0 * F * N
            for threads in (int(v) for v in a.threads.split(",")):
                torch.set_num_threads(threads)
                with torch.no_grad():
                    ops = {
                        "fwd_train": (lambda: Fn.batch_norm(x, rm, rv, w, b, True, mom, eps), fwd_bytes),
                        "fwd_train_relu": (lambda: torch.relu(Fn.batch_norm(x, rm, rv, w, b, True, mom, eps)), fwd_bytes),
                        "fwd_inf": (lambda: Fn.batch_norm(x, rm, rv, w, b, False, mom, eps), fwd_bytes),
                        "fwd_inf_relu": (lambda: torch.relu(Fn.batch_norm(x, rm, rv, w, b, False, mom, eps)), fwd_bytes),
                    }
                    for op, (fn, nb) in ops.items():
                        result("functional", threads, op, F, N, nb, measure(fn, a.reps, a.budget))
                y = Fn.batch_norm(xg, rm.clone(), rv.clone(), wg, bg, True, mom, eps)
                yr = torch.relu(Fn.batch_norm(xg, rm.clone(), rv.clone(), wg, bg, True, mom, eps))
                for op, out in (("bwd_train", y), ("bwd_train_relu", yr)):
                    fn = lambda out=out: torch.autograd.grad(out, (xg, wg, bg), dy, retain_graph=True)
                    result("functional", threads, op, F, N, bwd_bytes, measure(fn, a.reps, a.budget))
                del y, yr
                # Reference: a copy into a fresh tensor moves the forward's
                # minimal bytes, allocation and page faults included.
                with torch.no_grad():
                    result("functional", threads, "clone", F, N, fwd_bytes,
                           measure(lambda: x.clone(), a.reps, a.budget))
            x = dy = xg = None  # free the large tensors before the next shape


if __name__ == "__main__":
    main()
