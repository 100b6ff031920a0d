#!/usr/bin/python3
"""PyTorch's side of bench_mlp: the same network and steps, for the ratios.

784 -> BatchNorm1d -> Linear(256, no bias) -> BatchNorm1d -> ReLU
    -> Linear(128, no bias) -> BatchNorm1d -> ReLU -> Linear(10)
with cross-entropy. One training step is zero_grad, forward, loss, backward,
optimizer.step (Adam lr 1e-3, or SGD with momentum 0.9 lr 1e-2), on random
data of the given batch; one-sample latency is eval mode under
torch.inference_mode(). Thread counts are set with set_threads (torch's and
OpenBLAS's: this PyTorch's matrix products run in OpenBLAS, whose pool
torch.set_num_threads leaves at its default of every core).
Prints lines in bench_mlp's format:
  RESULT_MLP,<what>,<optimizer>,<threads>,<batch>,<ns>,-,-
Usage: /usr/bin/python3 bench_mlp_torch.py [--batches 32,128,256] [--threads 1,2]
                                           [--reps 21] [--budget 2.0] [--clock wall|cpu]
(--clock cpu: the calling thread's CPU time, as bench_mlp --clock cpu; one-thread runs only)
"""
import argparse
import ctypes
import os
import time

# PyTorch's OpenMP workers spin while they wait for work (libgomp's default
# policy); this PyTorch runs its matrix products in OpenBLAS, whose workers
# spin too, and on this 2-core machine the two pools spin against each other:
# a two-thread run of bench_train_torch.py took 34-39 s against 14-15 s on
# one thread; PASSIVE makes OpenMP's workers sleep instead (13.7-14.4 s,
# 2026-12-03). libgomp reads it when torch loads, hence before
# `import torch`; a value the caller set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
WAIT_POLICY = os.environ["OMP_WAIT_POLICY"]

import torch  # noqa: E402  (after the wait policy above)

from bench_torch import measure  # one timing rule for every PyTorch benchmark


def set_threads(n):
    """Run PyTorch on n threads, its OpenBLAS products included."""
    torch.set_num_threads(n)
    try:  # the library torch already loaded: dlopen returns the same instance
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(n)
    except (OSError, AttributeError):  # not OpenBLAS: torch's own count is all there is
        pass


def network():
    nn = torch.nn
    return nn.Sequential(
        nn.BatchNorm1d(784),
        nn.Linear(784, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(),
        nn.Linear(256, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(),
        nn.Linear(128, 10))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", default="32,128,256")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=21)
    p.add_argument("--budget", type=float, default=2.0)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    a = p.parse_args()
    clock = time.thread_time if a.clock == "cpu" else time.perf_counter
    torch.manual_seed(0)
    print(f"# bench_mlp_torch: torch {torch.__version__}, OMP_WAIT_POLICY={WAIT_POLICY}")
    for threads in (int(t) for t in a.threads.split(",")):
        set_threads(threads)
        for batch in (int(b) for b in a.batches.split(",")):
            x = torch.rand(batch, 784)
            y = torch.randint(0, 10, (batch,))
            for name in ("adam", "momentum"):
                net = network().train()
                opt = (torch.optim.Adam(net.parameters(), lr=1e-3) if name == "adam"
                       else torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9))
                loss_fn = torch.nn.CrossEntropyLoss()

                def step():
                    opt.zero_grad(set_to_none=True)
                    loss_fn(net(x), y).backward()
                    opt.step()

                t = measure(step, a.reps, a.budget, clock)
                print(f"RESULT_MLP,train_step,{name},{threads},{batch},{t * 1e9:.0f},-,-",
                      flush=True)
        net = network()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.rand(256, 784)
        y = torch.randint(0, 10, (256,))
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        net.eval()
        one = torch.rand(1, 784)

        def predict():
            with torch.inference_mode():
                torch.softmax(net(one), dim=1)

        t = measure(predict, a.reps, a.budget, clock)
        print(f"RESULT_MLP,predict_1,torch_eval,{threads},1,{t * 1e9:.0f},-,-", flush=True)


if __name__ == "__main__":
    main()
