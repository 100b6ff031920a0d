"""Activations and losses against float64 numpy references written from the
formulas in include/bn/activations.h and include/bn/losses.h."""

import numpy as np
import pytest

import bn

TOL = dict(rtol=1e-6, atol=1e-7)  # transcendental functions: double, rounded once


def ref_forward(kind, x, alpha=1.0):
    x = np.asarray(x, dtype=np.float64)
    if kind == "identity":
        return x
    if kind == "relu":
        return np.maximum(x, 0)
    if kind == "elu":
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if kind == "tanh":
        return np.tanh(x)
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def ref_backward(kind, y, dy, alpha=1.0):
    y, dy = np.asarray(y, np.float64), np.asarray(dy, np.float64)
    if kind == "identity":
        return dy
    if kind == "relu":
        return dy * (y > 0)
    if kind == "elu":
        return np.where(y > 0, dy, dy * (y + alpha))
    if kind == "sigmoid":
        return dy * y * (1 - y)
    if kind == "tanh":
        return dy * (1 - y * y)
    return y * (dy - (y * dy).sum(axis=1, keepdims=True))


KINDS = ["identity", "relu", "elu", "sigmoid", "tanh", "softmax"]
FUNCS = {"identity": bn.identity, "relu": bn.relu, "elu": bn.elu, "sigmoid": bn.sigmoid,
         "tanh": bn.tanh, "softmax": bn.softmax}


@pytest.fixture
def xy(rng):
    return ((3 * rng.standard_normal((9, 7))).astype(np.float32),
            rng.standard_normal((9, 7)).astype(np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_forward_and_backward_match_reference(xy, kind):
    x, dy = xy
    alpha = 0.7 if kind == "elu" else 1.0
    y = bn.activation_forward(kind, x, alpha)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, ref_forward(kind, x, alpha), **TOL)
    if kind != "elu":
        np.testing.assert_array_equal(FUNCS[kind](x), y)
    dx = bn.activation_backward(bn.Activation[kind.upper()], y, dy, alpha)
    np.testing.assert_allclose(dx, ref_backward(kind, y, dy, alpha), rtol=1e-5, atol=1e-6)


def test_elu_alpha_and_errors(xy):
    x, _ = xy
    np.testing.assert_allclose(bn.elu(x, alpha=2.0), ref_forward("elu", x, 2.0), **TOL)
    for bad, rule in ((0.0, "> 0"), (-1.0, "> 0"), (1e-50, "> 0"), (float("nan"), "finite"),
                      (float("inf"), "finite")):
        with pytest.raises(bn.InvalidArgumentError, match=f"^alpha must be {rule}, got {bad!r}"):
            bn.elu(x, alpha=bad)
        with pytest.raises(bn.InvalidArgumentError, match="^alpha must be"):
            bn.activation_backward("elu", x, x, alpha=bad)
    bn.activation_forward("relu", x, alpha=-1.0)  # alpha is ELU's only


def test_kind_names_and_values():
    assert bn.Activation.of("ReLU") is bn.Activation.RELU
    assert bn.Activation.of(5) is bn.Activation.SOFTMAX
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        bn.activation_forward("gelu", np.ones((1, 1)))
    with pytest.raises(ValueError):
        bn.activation_forward(9, np.ones((1, 1)))


def test_softmax_is_stable_and_per_sample():
    x = np.array([[1e4, 1e4 - 1, -1e4], [0, 0, 0]], dtype=np.float32)
    y = bn.softmax(x)
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(y[1], 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(y[0], ref_forward("softmax", x)[0], rtol=1e-6, atol=1e-30)


def test_in_place_and_column_slices(xy):
    x, dy = xy
    wide = np.zeros((9, 12), np.float32)
    wide[:, :7] = x
    view = wide[:, :7]  # ld = 12, passed without a copy
    ref = ref_forward("tanh", x)
    out = bn.tanh(view, out=view)
    assert out is view
    np.testing.assert_allclose(wide[:, :7], ref, **TOL)
    assert not wide[:, 7:].any()  # nothing written past the slice
    y = bn.sigmoid(x)
    d = dy.copy()
    bn.activation_backward("sigmoid", y, d, out=d)  # dx over dy
    np.testing.assert_allclose(d, ref_backward("sigmoid", y, dy), rtol=1e-5, atol=1e-6)
    y2 = y.copy()
    bn.activation_backward("sigmoid", y2, dy, out=y2)  # dx over y
    np.testing.assert_allclose(y2, ref_backward("sigmoid", y, dy), rtol=1e-5, atol=1e-6)


def test_bad_arrays_are_refused_before_c(xy):
    x, dy = xy
    with pytest.raises(bn.ShapeMismatchError, match="2-D"):
        bn.relu(x[0])
    with pytest.raises(bn.ShapeMismatchError):
        bn.activation_backward("relu", x, dy[:, :3])
    with pytest.raises(ValueError, match="out overlaps x"):
        bn.relu(x[:, :6], out=x[:, 1:])  # shifted by one feature: a partial overlap
    with pytest.raises(ValueError, match="out overlaps dy"):
        bn.activation_backward("relu", x[:, :6], dy[:, 1:], out=dy[:, :6])
    with pytest.raises(TypeError, match="float32"):
        bn.relu(x, out=np.empty(x.shape))
    with pytest.raises(bn.InvalidArgumentError):
        bn.relu(np.empty((0, 3), np.float32))
    # NaN propagates through ReLU (the fused BatchNorm+ReLU maps it to 0 instead)
    assert np.isnan(bn.relu([[np.nan]])[0, 0])


# ---- losses ---------------------------------------------------------------------

def ref_softmax_ce(z, labels):
    z = np.asarray(z, np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    n = z.shape[0]
    loss = np.mean(lse - z[np.arange(n), labels])
    p = np.exp(z - lse[:, None])
    p[np.arange(n), labels] -= 1
    return loss, p / n


def ref_bce(z, t):
    z, t = np.asarray(z, np.float64), np.asarray(t, np.float64)
    loss = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
    return loss, (1 / (1 + np.exp(-z)) - t) / z.size


def test_softmax_cross_entropy(rng):
    z = (2 * rng.standard_normal((11, 5))).astype(np.float32)
    labels = rng.integers(0, 5, 11)  # int64: converted to int32 once
    loss, d = bn.softmax_cross_entropy(z, labels)
    rloss, rd = ref_softmax_ce(z, labels)
    assert isinstance(loss, float) and d.dtype == np.float32 and d.shape == z.shape
    np.testing.assert_allclose(loss, rloss, rtol=1e-6)
    np.testing.assert_allclose(d, rd, rtol=1e-5, atol=1e-8)
    loss2, none = bn.softmax_cross_entropy(z, labels.astype(np.int32), grad=False)
    assert none is None and loss2 == loss
    zc = z.copy()
    bn.softmax_cross_entropy(zc, labels, out=zc)  # gradient over the logits
    np.testing.assert_array_equal(zc, d)


def test_softmax_cross_entropy_is_stable():
    z = np.array([[1e4, 0, -1e4], [-3e4, 3e4, 0]], dtype=np.float32)
    loss, d = bn.softmax_cross_entropy(z, [1, 1])
    assert loss == pytest.approx(1e4 / 2, rel=1e-6)
    assert np.isfinite(d).all()


def test_softmax_cross_entropy_bad_inputs():
    z = np.zeros((3, 4), np.float32)
    with pytest.raises(bn.InvalidArgumentError, match=r"labels\[2\] = 4 is outside \[0, 4\)"):
        bn.softmax_cross_entropy(z, [0, 1, 4])
    with pytest.raises(bn.InvalidArgumentError, match=r"labels\[0\] = -1"):
        bn.softmax_cross_entropy(z, [-1, 1, 2])
    # would wrap to a valid label if narrowed to int32 before checking
    with pytest.raises(bn.InvalidArgumentError):
        bn.softmax_cross_entropy(z, np.array([2**32 + 1, 0, 0]))
    with pytest.raises(TypeError, match="integers"):
        bn.softmax_cross_entropy(z, [0.0, 1.0, 2.0])
    with pytest.raises(bn.ShapeMismatchError, match="one per sample"):
        bn.softmax_cross_entropy(z, [0, 1])
    z[1, 2] = np.inf
    with pytest.raises(bn.NonFiniteError, match="bn_softmax_cross_entropy"):
        bn.softmax_cross_entropy(z, [0, 1, 2])


def test_sigmoid_binary_cross_entropy(rng):
    z = (3 * rng.standard_normal((10, 2))).astype(np.float32)
    t = rng.uniform(0, 1, (10, 2)).astype(np.float32)  # soft targets
    loss, d = bn.sigmoid_binary_cross_entropy(z, t)
    rloss, rd = ref_bce(z, t)
    np.testing.assert_allclose(loss, rloss, rtol=1e-6)
    np.testing.assert_allclose(d, rd, rtol=1e-5, atol=1e-9)
    # logits and targets with different leading dimensions
    wide = np.zeros((10, 5), np.float32)
    wide[:, 1:3] = z
    loss2, d2 = bn.sigmoid_binary_cross_entropy(wide[:, 1:3], t)
    assert loss2 == loss
    np.testing.assert_array_equal(d2, d)
    tc = t.copy()
    bn.sigmoid_binary_cross_entropy(z, tc, out=tc)  # gradient over the targets
    np.testing.assert_array_equal(tc, d)
    big = np.array([[1e4], [-1e4]], np.float32)
    loss3, _ = bn.sigmoid_binary_cross_entropy(big, [[0.0], [1.0]])
    assert loss3 == pytest.approx(1e4, rel=1e-6)


def test_sigmoid_binary_cross_entropy_bad_targets():
    z = np.zeros((2, 1), np.float32)
    for bad in (1.5, -0.1, np.nan):
        with pytest.raises(bn.InvalidArgumentError):
            bn.sigmoid_binary_cross_entropy(z, [[0.0], [bad]])
    with pytest.raises(bn.ShapeMismatchError):
        bn.sigmoid_binary_cross_entropy(z, [[0.0, 1.0], [1.0, 0.0]])
