#!/usr/bin/env python3
"""Training and test curves of the same MLP on Fashion-MNIST with and without
BatchNorm, written to a PNG (needs Debian's python3-matplotlib).

Both networks start from the same seeded weights, see the same batches in the
same order and use the same optimizer (SGD with momentum 0.9, learning rate
0.05, batch 128); the only difference is a BatchNorm between each dense layer
and its ReLU. The figure in docs/batchnorm_curves.png was made with:

    PYTHONPATH=bindings/python /usr/bin/python3 docs/examples/plot_batchnorm_curves.py \\
        --epochs 15 --output docs/batchnorm_curves.png

(about 2 minutes on 2 cores). Exits 77 when matplotlib is missing.
"""
import argparse
import os
import sys

import numpy as np

import bn
from train_fmnist import FMNIST, load_fashion_mnist


def run(placement, data, args):
    x_train, y_train, x_test, y_test = data
    with bn.MLP(784, args.hidden, 10, batchnorm=placement, seed=args.seed,
                optimizer="momentum", learning_rate=args.learning_rate, momentum=0.9) as model:
        label = "with BatchNorm" if placement else "without BatchNorm"
        history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                            seed=args.seed, validation_data=(x_test, y_test),
                            callback=lambda e: print(f"{label:18s} epoch {e.epoch:2d}  "
                                                     f"train {e.loss:.4f}/{e.accuracy:.4f}  "
                                                     f"test {e.val_loss:.4f}/"
                                                     f"{e.val_accuracy:.4f}"))
    return label, history


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=FMNIST)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--hidden", type=int, nargs="*", default=[256, 128])
    ap.add_argument("--learning-rate", type=float, default=0.05)
    ap.add_argument("--train-samples", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--output", default="batchnorm_curves.png")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (Debian: apt-get install python3-matplotlib)")
        return 77

    data = load_fashion_mnist(args.data)
    if args.train_samples:
        data = (data[0][: args.train_samples], data[1][: args.train_samples]) + data[2:]
    runs = [run("before", data, args), run(None, data, args)]

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (label, history), color in zip(runs, ("tab:blue", "tab:orange")):
        epochs = [e.epoch for e in history]
        ax_loss.plot(epochs, [e.loss for e in history], color=color, label=f"{label}, training")
        ax_loss.plot(epochs, [e.val_loss for e in history], color=color, linestyle="--",
                     label=f"{label}, test")
        ax_acc.plot(epochs, [e.accuracy for e in history], color=color,
                    label=f"{label}, training")
        ax_acc.plot(epochs, [e.val_accuracy for e in history], color=color, linestyle="--",
                    label=f"{label}, test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    hidden = "-".join(map(str, args.hidden))
    fig.suptitle(f"Fashion-MNIST, MLP 784-{hidden}-10 (ReLU), SGD momentum 0.9, "
                 f"lr {args.learning_rate}, batch {args.batch_size}, "
                 f"{len(data[0])} training images (libbn {bn.__version__})", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"wrote {os.path.abspath(args.output)}")
    final = {label: history[-1].val_accuracy for label, history in runs}
    print("final test accuracy:", ", ".join(f"{k} {v:.4f}" for k, v in final.items()))
    return 0 if all(np.isfinite(h[-1].loss) for _, h in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
