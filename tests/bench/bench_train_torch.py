#!/usr/bin/python3
"""PyTorch's side of the end-to-end comparison with `bn train` (bench_train.sh).

The recipe of `bn train` with its defaults: Fashion-MNIST from the IDX files
(pixels / 255), 784 -> BatchNorm1d -> 256 -> 128 -> 10 with BatchNorm before
ReLU (bench_mlp_torch.network), Adam lr 0.002 on a half cosine to 0 updated
every step, batch 256, 10 epochs, the training set reshuffled each epoch, the
test set evaluated (eval mode, loss and accuracy) after every epoch. The
timed span is data loading + training + evaluation (not `import torch`).
Prints a comment line with the thread count and OpenMP's wait policy
(PASSIVE unless the caller set OMP_WAIT_POLICY; bench_mlp_torch.py says why)
and one line:
  RESULT_TRAIN,torch,<threads>,<batch>,<epochs>,<wall s>,<process cpu s>,<test accuracy>
Usage: /usr/bin/python3 bench_train_torch.py [--threads N] [--epochs 10] [--batch-size 256]
                                             [--data DIR]
"""
import argparse
import gzip
import math
import os
import time

import numpy as np

# the same network and threads as bench_mlp's; first, since it sets PyTorch's
# OpenMP wait policy (PASSIVE unless the caller chose one), which must come
# before `import torch`
from bench_mlp_torch import WAIT_POLICY, network, set_threads
import torch  # noqa: E402


def load_idx(path):
    """An IDX file (gzipped or not) as a numpy array of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(os.path.join(directory, stem))


def load(directory, part):
    images = load_idx(find(directory, f"{part}-images-idx3-ubyte"))
    labels = load_idx(find(directory, f"{part}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--data", default=os.environ.get("BN_DATA", "/usr/share/datasets/fashion-mnist"))
    a = p.parse_args()
    set_threads(a.threads)
    torch.manual_seed(42)
    wall0, cpu0 = time.perf_counter(), time.process_time()

    x, y = load(a.data, "train")
    xt, yt = load(a.data, "t10k")
    net = network()
    opt = torch.optim.Adam(net.parameters(), lr=0.002)
    steps = a.epochs * math.ceil(len(x) / a.batch_size)
    cosine = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, steps) / steps)))
    loss_fn = torch.nn.CrossEntropyLoss()
    accuracy = 0.0
    for _ in range(a.epochs):
        net.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), a.batch_size):
            idx = order[start:start + a.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
            cosine.step()
        net.eval()
        with torch.inference_mode():
            total, hits = 0.0, 0
            for start in range(0, len(xt), 1024):
                z = net(xt[start:start + 1024])
                total += float(loss_fn(z, yt[start:start + 1024])) * len(z)
                hits += int((z.argmax(1) == yt[start:start + 1024]).sum())
            accuracy = hits / len(xt)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(f"# bench_train_torch: {a.threads} threads, OMP_WAIT_POLICY={WAIT_POLICY}")
    print(f"RESULT_TRAIN,torch,{a.threads},{a.batch_size},{a.epochs},{wall:.2f},{cpu:.2f},"
          f"{accuracy:.4f}", flush=True)


if __name__ == "__main__":
    main()
