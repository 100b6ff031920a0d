#!/usr/bin/env python3
"""BatchNorm by hand on numpy data, with the libbn Python binding.

Normalizes a batch with a bn.BatchNorm layer, checks the result against the
textbook formula written in numpy, backpropagates, takes a few gradient
steps on gamma and beta, and shows the running statistics used at inference.
The stateless kernel gives the same numbers without a layer.

Run from the repository (after building libbn into build/):

    PYTHONPATH=bindings/python /usr/bin/python3 docs/examples/batchnorm_by_hand.py

Exits non-zero if a result disagrees with the formula (it is also a test).
"""
import sys

import numpy as np

import bn

np.set_printoptions(precision=3, suppress=True)
rng = np.random.default_rng(0)
# 64 samples, 4 features with very different scales and offsets
x = (rng.standard_normal((64, 4)) * [1, 10, 0.1, 100] + [5, -3, 0, 1000]).astype(np.float32)

with bn.BatchNorm(4) as layer:  # eps 1e-5, update factor 0.1: PyTorch's defaults
    y = layer.forward(x, training=True)

    # the formula: per feature, over the batch, with the biased variance
    mean, var = x.mean(axis=0, dtype=np.float64), x.var(axis=0, dtype=np.float64)
    expect = (x - mean) / np.sqrt(var + 1e-5)
    print("input  mean", x.mean(axis=0), " std", x.std(axis=0))
    print("output mean", y.mean(axis=0), " std", y.std(axis=0))
    worst = np.abs(y - expect).max()
    print(f"largest difference from the numpy formula: {worst:.2e}")

    # a target that wants feature j scaled by j+1 and shifted by -j: learn gamma, beta
    target = expect * [1, 2, 3, 4] - [0, 1, 2, 3]
    for step in range(200):
        y = layer.forward(x, training=True)
        dy = (y - target) / len(x)          # gradient of the mean squared error / 2
        layer.backward(dy)                  # dx returned; dgamma, dbeta kept
        layer.gamma = layer.gamma - 0.5 * layer.dgamma
        layer.beta = layer.beta - 0.5 * layer.dbeta
    gamma, beta = layer.gamma, layer.beta
    print("learned gamma", gamma, " beta", beta)

    # inference uses the running statistics (201 training forwards so far)
    print("running mean", layer.running_mean, " running var", layer.running_var,
          " batches", layer.batches_tracked)
    y_inf = layer.forward(x[:3], training=False)
    expect_inf = (x[:3] - layer.running_mean) / np.sqrt(layer.running_var + 1e-5) \
        * layer.gamma + layer.beta
    print("inference output of 3 samples:\n", y_inf)

    # the same training forward through the stateless kernel
    y2, kmean, kinvstd, _ = bn.batchnorm_forward_training(x, layer.gamma, layer.beta)
    y1 = layer.forward(x, training=True)

ok = (worst < 1e-4 and np.allclose(gamma, [1, 2, 3, 4], atol=1e-2)
      and np.allclose(beta, [0, -1, -2, -3], atol=1e-2)
      and np.allclose(y_inf, expect_inf, rtol=1e-4, atol=1e-4) and np.array_equal(y1, y2))
print("OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
