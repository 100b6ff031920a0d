#!/usr/bin/env python3
"""Train a BatchNorm MLP on Fashion-MNIST with bn.MLP, evaluate it, fold its
BatchNorm layers for inference, and save it as a model file.

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or
--data DIR holding the four *-ubyte.gz files. Run from the repository:

    PYTHONPATH=bindings/python /usr/bin/python3 docs/examples/train_fmnist.py
    PYTHONPATH=bindings/python /usr/bin/python3 docs/examples/train_fmnist.py \\
        --epochs 1 --train-samples 5000 --save /tmp/fmnist.bnm     # a quick run

Prints one line per epoch and the test accuracy (about 0.88-0.89 after 10
epochs of the default settings). Exits non-zero if the folded network
disagrees with the original or the saved file does not load back equal.
"""
import argparse
import gzip
import os
import sys
import tempfile

import numpy as np

import bn

FMNIST = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]


def load_fashion_mnist(folder=FMNIST):
    """(x_train, y_train, x_test, y_test): float32 pixels in [0, 1] as
    (samples, 784) rows, int labels 0..9, read from the IDX files."""
    def idx(name, offset):
        with gzip.open(os.path.join(folder, name)) as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    x_train = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    x_test = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    y_train = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int32)
    y_test = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int32)
    return (x_train / np.float32(255), y_train, x_test / np.float32(255), y_test)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=FMNIST, help="folder of the *-ubyte.gz files")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--hidden", type=int, nargs="*", default=[256, 128])
    ap.add_argument("--optimizer", default="adam", choices=["sgd", "momentum", "nesterov",
                                                             "adam"])
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--batchnorm", default="before", choices=["before", "after", "none"])
    ap.add_argument("--train-samples", type=int, default=None, help="use the first N only")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save", default=None, help="model file to write (default: a temp file)")
    args = ap.parse_args()

    x_train, y_train, x_test, y_test = load_fashion_mnist(args.data)
    if args.train_samples:
        x_train, y_train = x_train[: args.train_samples], y_train[: args.train_samples]
    print(f"Fashion-MNIST: {len(x_train)} training and {len(x_test)} test images; "
          f"libbn {bn.__version__}")

    model = bn.MLP(784, args.hidden, 10, activation="relu",
                   batchnorm=None if args.batchnorm == "none" else args.batchnorm,
                   seed=args.seed, optimizer=args.optimizer, learning_rate=args.learning_rate)
    print(model, f"({model.parameter_count} parameters)")

    def report(epoch):
        print(f"epoch {epoch.epoch:2d}  loss {epoch.loss:.4f}  accuracy {epoch.accuracy:.4f}  "
              f"test loss {epoch.val_loss:.4f}  test accuracy {epoch.val_accuracy:.4f}  "
              f"({epoch.seconds:.1f} s)")

    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              seed=args.seed, validation_data=(x_test, y_test), callback=report)

    loss, accuracy = model.evaluate(x_test, y_test)
    predicted = model.predict(x_test[:8])
    print(f"test accuracy {accuracy:.4f}; first test images:",
          ", ".join(f"{CLASSES[p]}{'' if p == t else ' (wrong: ' + CLASSES[t] + ')'}"
                    for p, t in zip(predicted, y_test[:8])))

    ok = True
    with model.fold_batchnorm() as folded:  # one dense layer per stage, same function
        diff = np.abs(folded.predict_proba(x_test) - model.predict_proba(x_test)).max()
        agree = (folded.predict(x_test) == model.predict(x_test)).mean()
        print(f"folded network: largest probability difference {diff:.1e}, "
              f"same class for {agree:.2%} of the test images")
        ok &= diff < 1e-3 and agree > 0.999

    path = args.save or os.path.join(tempfile.mkdtemp(), "fmnist.bnm")
    model.save(path)
    with bn.MLP.load(path) as loaded:
        same = np.array_equal(loaded.predict_logits(x_test), model.predict_logits(x_test))
        print(f"saved to {path} ({os.path.getsize(path)} bytes); reloaded equal: {same}")
        ok &= same
    model.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
