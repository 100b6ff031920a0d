"""Float64 numpy reference of batch normalization, written from the formulas
in include/bn/batchnorm_kernels.h and include/bn/batchnorm.h (not from libbn).

Arrays have shape (batch, features); statistics are per feature (axis 0).
"""

import numpy as np


def f64(a):
    return np.asarray(a, dtype=np.float64)


def forward_training(x, gamma=None, beta=None, eps=1e-5, relu=False):
    """(y, mean, invstd, biased var)"""
    x = f64(x)
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    invstd = 1.0 / np.sqrt(var + eps)
    y = (x - mean) * invstd
    if gamma is not None:
        y = y * f64(gamma)
    if beta is not None:
        y = y + f64(beta)
    if relu:
        y = np.maximum(y, 0.0)
    return y, mean, invstd, var


def forward_inference(x, mean, var, gamma=None, beta=None, eps=1e-5, relu=False):
    x = f64(x)
    y = (x - f64(mean)) / np.sqrt(f64(var) + eps)
    if gamma is not None:
        y = y * f64(gamma)
    if beta is not None:
        y = y + f64(beta)
    return np.maximum(y, 0.0) if relu else y


def backward_training(x, dy, gamma=None, beta=None, eps=1e-5, relu=False):
    """(dx, dgamma, dbeta) of forward_training, from the batch statistics of x."""
    x, dy = f64(x), f64(dy)
    n = x.shape[0]
    y, mean, invstd, _ = forward_training(x, gamma, beta, eps, relu)
    if relu:
        dy = dy * (y > 0)
    xhat = (x - mean) * invstd
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    g = 1.0 if gamma is None else f64(gamma)
    dx = g * invstd / n * (n * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def backward_inference(x, dy, mean, var, gamma=None, beta=None, eps=1e-5, relu=False):
    x, dy = f64(x), f64(dy)
    invstd = 1.0 / np.sqrt(f64(var) + eps)
    if relu:
        dy = dy * (forward_inference(x, mean, var, gamma, beta, eps) > 0)
    xhat = (x - f64(mean)) * invstd
    g = 1.0 if gamma is None else f64(gamma)
    return dy * g * invstd, (dy * xhat).sum(axis=0), dy.sum(axis=0)


class RunningStats:
    """The running-statistics update rule of bn/batchnorm.h."""

    def __init__(self, features, factor=0.1, unbiased=True):
        self.mean = np.zeros(features)
        self.var = np.ones(features)
        self.factor = factor  # None: cumulative average
        self.unbiased = unbiased
        self.tracked = 0

    def update(self, x):
        x = f64(x)
        n = x.shape[0]
        self.tracked += 1
        w = 1.0 / self.tracked if self.factor is None else self.factor
        var = x.var(axis=0) * (n / (n - 1) if self.unbiased else 1.0)
        self.mean = (1 - w) * self.mean + w * x.mean(axis=0)
        self.var = (1 - w) * self.var + w * var
