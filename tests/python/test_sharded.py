"""bn.sharded: a batch split into shards of 1, 2, 100 and 28 rows gives the
whole batch's BatchNorm forward and backward, against a float64 numpy
reference of the whole batch."""

import numpy as np
import pytest

import bn
from bn import sharded

SIZES = (1, 2, 100, 28)


def reference(x, dy, gamma, beta, eps=1e-5):
    x, dy = x.astype(np.float64), dy.astype(np.float64)
    mean, var = x.mean(0), x.var(0)
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * invstd
    y = gamma * xhat + beta
    db, dg = dy.sum(0), (dy * xhat).sum(0)
    n = x.shape[0]
    dx = gamma * invstd * (dy - db / n - xhat * dg / n)
    return y, dx, db, dg, mean, var


def test_shards_give_the_whole_batch():
    rng = np.random.default_rng(3)
    n, f = sum(SIZES), 6
    x = (rng.normal(size=(n, f)) * rng.uniform(0.1, 3, f) + rng.uniform(-5, 5, f)).astype(np.float32)
    dy = rng.normal(size=(n, f)).astype(np.float32)
    gamma = rng.normal(1, 0.5, f).astype(np.float32)
    beta = rng.normal(0, 1, f).astype(np.float32)
    y_ref, dx_ref, db_ref, dg_ref, mean_ref, var_ref = reference(x, dy, gamma, beta)

    bounds = np.cumsum((0,) + SIZES)
    shards = [slice(bounds[i], bounds[i + 1]) for i in range(len(SIZES))]
    total = sharded.Moments(0.0, np.zeros(f), np.zeros(f))
    for s in shards:
        total = sharded.moments_merge(total, sharded.batchnorm_moments(x[s]))
    assert total.samples == n
    np.testing.assert_allclose(total.mean, mean_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(total.var, var_ref, rtol=1e-10)

    layers = [bn.BatchNorm(f) for _ in shards]
    y, sums = np.empty_like(x), []
    for layer, s in zip(layers, shards):
        layer.gamma, layer.beta = gamma, beta
        y[s] = sharded.forward_with_moments(layer, x[s], total)
        sums.append(sharded.backward_sums(layer, dy[s]))
    sum_dy = sum(a for a, _ in sums)
    sum_dy_xhat = sum(b for _, b in sums)
    dx = np.empty_like(x)
    for layer, s in zip(layers, shards):
        dx[s] = sharded.backward_with_sums(layer, dy[s], sum_dy, sum_dy_xhat)
    scale = np.abs(y_ref).max()
    np.testing.assert_allclose(y, y_ref, atol=1e-6 * scale)
    np.testing.assert_allclose(dx, dx_ref, atol=1e-6 * np.abs(dx_ref).max())
    np.testing.assert_allclose(sum_dy, db_ref, atol=1e-9 * np.abs(dy).sum())
    np.testing.assert_allclose(sum(l.dgamma.astype(np.float64) for l in layers), dg_ref,
                               atol=1e-5 * np.abs(dg_ref).max())
    for layer in layers:  # one update with the whole batch, unbiased with n/(n-1)
        np.testing.assert_allclose(layer.running_mean, 0.1 * mean_ref, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * var_ref * n / (n - 1),
                                   rtol=1e-6)


def test_renorm_shards_give_the_whole_batch_layer():
    """Batch Renormalization: every shard's r and d come from the merged
    moments and the running statistics, so y, dx, the summed dgamma and
    dbeta and the running statistics are the whole-batch layer's (the
    single-process layer, itself tested against float64)."""
    rng = np.random.default_rng(5)
    n, f = sum(SIZES), 6
    x = (rng.normal(size=(n, f)) * rng.uniform(0.1, 3, f) + rng.uniform(-5, 5, f)).astype(np.float32)
    dy = rng.normal(size=(n, f)).astype(np.float32)

    def layer():
        b = bn.BatchNorm(f, renorm=True, rmax=1.5, dmax=0.5)
        b.gamma = np.linspace(0.5, 2, f, dtype=np.float32)
        b.running_mean = x.mean(0) + 0.5
        b.running_var = x.var(0) * np.linspace(0.3, 3, f).astype(np.float32)
        return b

    whole = layer()
    y_ref = whole.forward(x, training=True)
    dx_ref = whole.backward(dy)
    bounds = np.cumsum((0,) + SIZES)
    shards = [slice(bounds[i], bounds[i + 1]) for i in range(len(SIZES))]
    total = sharded.Moments(0.0, np.zeros(f), np.zeros(f))
    for s in shards:
        total = sharded.moments_merge(total, sharded.batchnorm_moments(x[s]))
    layers = [layer() for _ in shards]
    y, sums = np.empty_like(x), []
    for b, s in zip(layers, shards):
        y[s] = sharded.forward_with_moments(b, x[s], total)
        sums.append(sharded.backward_sums(b, dy[s]))
    sum_dy, sum_dy_xhat = sum(a for a, _ in sums), sum(c for _, c in sums)
    dx = np.empty_like(x)
    for b, s in zip(layers, shards):
        dx[s] = sharded.backward_with_sums(b, dy[s], sum_dy, sum_dy_xhat)
    np.testing.assert_allclose(y, y_ref, atol=1e-6 * np.abs(y_ref).max())
    np.testing.assert_allclose(dx, dx_ref, atol=1e-6 * np.abs(dx_ref).max())
    for name in ("dgamma", "dbeta"):
        want = getattr(whole, name)
        np.testing.assert_allclose(sum(getattr(b, name).astype(np.float64) for b in layers),
                                   want, atol=1e-5 * np.abs(want).max())
    for b in layers:
        np.testing.assert_allclose(b.running_mean, whole.running_mean, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(b.running_var, whole.running_var, rtol=1e-6)


def test_errors():
    layer = bn.BatchNorm(3)
    x = np.ones((4, 3), np.float32)
    m = sharded.batchnorm_moments(x)
    with pytest.raises(bn.InvalidArgumentError):
        sharded.forward_with_moments(layer, x, sharded.Moments(3.0, m.mean, m.m2))
    with pytest.raises(bn.NonFiniteError):
        sharded.batchnorm_moments(np.full((2, 3), np.inf, np.float32))
    with pytest.raises(bn.WrongStateError):
        sharded.backward_sums(layer, x, x)
    with pytest.raises(bn.ShapeMismatchError):
        sharded.moments_merge(m, sharded.Moments(1.0, np.zeros(2), np.zeros(2)))
