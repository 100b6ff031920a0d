#!/usr/bin/python3
"""PyTorch reference for `bn train`: the same network, data, optimizer,
schedule and epochs, to compare accuracy and time.

    /usr/bin/python3 docs/examples/train_torch_fmnist.py [--epochs 10] [--threads 2]

Network (bn train's default):
    784 -> BatchNorm1d -> Linear(784, 256, no bias) -> BatchNorm1d -> ReLU
        -> Linear(256, 128, no bias) -> BatchNorm1d -> ReLU -> Linear(128, 10)
softmax cross-entropy, He-normal weights (std sqrt(2/fan_in)), Adam lr 0.002
with the learning rate decayed along a half cosine every step, batch 256,
10 epochs, pixels scaled to [0, 1]. BatchNorm momentum 0.1, eps 1e-5
(PyTorch's defaults, which libbn uses too).

Needs Debian's python3-torch, python3-numpy and dataset-fashion-mnist; reads
the gzipped IDX files with gzip + numpy (no torchvision, no download).
"""
import argparse
import gzip
import math
import os
import time

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndims = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndims)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims)
    return data.reshape(dims)


def load(directory, prefix):
    images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def network(hidden=(256, 128), inputs=784, classes=10):
    layers = [nn.BatchNorm1d(inputs)]
    width = inputs
    for h in hidden:
        layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, classes))
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


@torch.no_grad()
def evaluate(net, x, y, loss_fn):
    net.eval()
    logits = net(x)
    loss = loss_fn(logits, y).item()
    accuracy = (logits.argmax(1) == y).float().mean().item()
    net.train()
    return loss, accuracy


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DATA)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x_train, y_train = load(args.data, "train")
    x_test, y_test = load(args.data, "t10k")
    net = network()
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    n = len(x_train)
    steps = args.epochs * math.ceil(n / args.batch_size)
    # As bn train: after step t the rate is lr/2 * (1 + cos(pi t / T)), floored at lr/1000.
    cosine = lambda t: max(0.5 * (1 + math.cos(math.pi * t / steps)), 1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, cosine if args.schedule == "cosine" else (lambda t: 1.0))
    params = sum(p.numel() for p in net.parameters())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {params} parameters")

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(n)
        loss_sum, correct = 0.0, 0
        for i in range(0, n, args.batch_size):
            idx = order[i:i + args.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples (bn train skips such a batch too)
                continue
            xb, yb = x_train[idx], y_train[idx]
            logits = net(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
        seconds = time.perf_counter() - t0
        test_loss, test_acc = evaluate(net, x_test, y_test, loss_fn)
        print(f"epoch {epoch:3d}/{args.epochs}  loss {loss_sum / n:.4f}  acc {correct / n:.4f}  "
              f"test_loss {test_loss:.4f}  test_acc {test_acc:.4f}  {seconds:6.1f}s  "
              f"{n / seconds:.0f} samples/s", flush=True)
    total = time.perf_counter() - start
    test_loss, test_acc = evaluate(net, x_test, y_test, loss_fn)
    print(f"test accuracy {test_acc:.4f}  test loss {test_loss:.4f}  "
          f"({args.epochs} epochs in {total:.1f} s)")


if __name__ == "__main__":
    main()
