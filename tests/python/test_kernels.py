"""The stateless kernel functions against the float64 reference."""

import numpy as np
import pytest

import bn
import bnref

TOL = dict(rtol=1e-4, atol=2e-5)


@pytest.fixture
def case(rng):
    n, f = 13, 6
    return dict(
        x=(0.3 + 1.7 * rng.standard_normal((n, f))).astype(np.float32),
        dy=rng.standard_normal((n, f)).astype(np.float32),
        gamma=rng.uniform(0.5, 1.5, f).astype(np.float32),
        beta=rng.uniform(-1, 1, f).astype(np.float32),
        mean=rng.standard_normal(f).astype(np.float32),
        var=rng.uniform(0.2, 3.0, f).astype(np.float32),
    )


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("affine", [True, False])
def test_forward_training(case, isa, relu, affine):
    g, b = (case["gamma"], case["beta"]) if affine else (None, None)
    y, mean, invstd, var = bn.batchnorm_forward_training(case["x"], g, b, eps=1e-4, relu=relu)
    ry, rmean, rinvstd, rvar = bnref.forward_training(case["x"], g, b, eps=1e-4, relu=relu)
    for got in (y, mean, invstd, var):
        assert got.dtype == np.float32
    np.testing.assert_allclose(y, ry, **TOL)
    np.testing.assert_allclose(mean, rmean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(invstd, rinvstd, rtol=1e-6)
    np.testing.assert_allclose(var, rvar, rtol=1e-6)


@pytest.mark.parametrize("relu", [False, True])
def test_forward_inference(case, isa, relu):
    c = case
    y = bn.batchnorm_forward_inference(c["x"], c["mean"], c["var"], c["gamma"], c["beta"],
                                       eps=1e-3, relu=relu)
    ry = bnref.forward_inference(c["x"], c["mean"], c["var"], c["gamma"], c["beta"], 1e-3, relu)
    np.testing.assert_allclose(y, ry, **TOL)
    # batch of one, no gamma/beta
    np.testing.assert_allclose(bn.batchnorm_forward_inference(c["x"][:1], c["mean"], c["var"]),
                               bnref.forward_inference(c["x"][:1], c["mean"], c["var"]), **TOL)


@pytest.mark.parametrize("relu", [False, True])
def test_backward_training(case, isa, relu):
    c = case
    _, mean, invstd, _ = bn.batchnorm_forward_training(c["x"], c["gamma"], c["beta"], relu=relu)
    dx, dgamma, dbeta = bn.batchnorm_backward_training(c["x"], c["dy"], mean, invstd,
                                                       c["gamma"], c["beta"], relu=relu)
    rdx, rdg, rdb = bnref.backward_training(c["x"], c["dy"], c["gamma"], c["beta"], relu=relu)
    np.testing.assert_allclose(dx, rdx, **TOL)
    np.testing.assert_allclose(dgamma, rdg, **TOL)
    np.testing.assert_allclose(dbeta, rdb, **TOL)


@pytest.mark.parametrize("relu", [False, True])
def test_backward_inference(case, isa, relu):
    c = case
    args = (c["x"], c["dy"], c["mean"], c["var"], c["gamma"], c["beta"])
    dx, dgamma, dbeta = bn.batchnorm_backward_inference(*args, eps=1e-3, relu=relu)
    rdx, rdg, rdb = bnref.backward_inference(*args, eps=1e-3, relu=relu)
    np.testing.assert_allclose(dx, rdx, **TOL)
    np.testing.assert_allclose(dgamma, rdg, **TOL)
    np.testing.assert_allclose(dbeta, rdb, **TOL)


def test_in_place_kernels(case):
    c = case
    x = c["x"].copy()
    y, mean, invstd, _ = bn.batchnorm_forward_training(x, out=x)
    assert y is x
    np.testing.assert_allclose(x, bnref.forward_training(c["x"])[0], **TOL)
    dy = c["dy"].copy()
    dx = bn.batchnorm_backward_training(c["x"], dy, mean, invstd, out=dy)[0]
    assert dx is dy
    np.testing.assert_allclose(dy, bnref.backward_training(c["x"], c["dy"])[0], **TOL)


def test_kernel_errors(case):
    c = case
    x = c["x"]
    nan = x.copy()
    nan[0, 0] = np.nan
    with pytest.raises(bn.NonFiniteError, match="bn_batchnorm_forward_training"):
        bn.batchnorm_forward_training(nan)
    with pytest.raises(bn.InvalidArgumentError, match="^eps must be > 0, got 0.0$"):
        bn.batchnorm_forward_training(x, eps=0.0)
    with pytest.raises(bn.InvalidArgumentError, match=r"eps must be > 0, got 1e-50 \(it rounds"):
        bn.batchnorm_forward_inference(x, np.zeros(x.shape[1]), np.ones(x.shape[1]), eps=1e-50)
    with pytest.raises(bn.NonFiniteError, match="^eps must be finite, got nan$"):
        bn.batchnorm_backward_inference(x, x, np.zeros(x.shape[1]), np.ones(x.shape[1]),
                                        eps=float("nan"))
    with pytest.raises(bn.NonFiniteError):
        bn.batchnorm_forward_training(x, eps=float("nan"))
    with pytest.raises(bn.InvalidArgumentError):
        bn.batchnorm_forward_inference(x, c["mean"], -c["var"])
    bad_mean = c["mean"].copy()
    bad_mean[1] = np.inf
    with pytest.raises(bn.NonFiniteError):
        bn.batchnorm_forward_inference(x, bad_mean, c["var"])
    with pytest.raises(bn.ShapeMismatchError, match=r"gamma must have shape \(6,\)"):
        bn.batchnorm_forward_training(x, gamma=np.ones(5))
    with pytest.raises(bn.ShapeMismatchError, match="dy"):
        bn.batchnorm_backward_training(x, c["dy"][:4], c["mean"], c["var"])
    with pytest.raises(bn.BatchTooSmallError):
        bn.batchnorm_backward_training(x[:1], c["dy"][:1], c["mean"], c["var"])
    with pytest.raises(bn.InvalidArgumentError, match="features=0"):
        bn.batchnorm_forward_training(np.zeros((3, 0), np.float32))
    out = np.ones_like(x)
    with pytest.raises(ValueError, match="out overlaps gamma"):
        bn.batchnorm_forward_training(x, gamma=out[0], out=out)  # gamma read while y is written
