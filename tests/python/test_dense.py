"""bn.Dense and bn.fold against float64 numpy references written from
include/bn/dense.h; initialization against bn.Rng; state, lifetime, errors."""

import ctypes
import math
import pickle

import numpy as np
import pytest

import bn
import bnref

TOL = dict(rtol=1e-5, atol=1e-5)


def f64(a):
    return np.asarray(a, np.float64)


@pytest.fixture
def layer(rng):
    d = bn.Dense(6, 4)
    d.bias = rng.standard_normal(4)
    yield d
    d.close()


def test_forward_backward_match_reference(rng, layer):
    x = rng.standard_normal((10, 6)).astype(np.float32)
    dy = rng.standard_normal((10, 4)).astype(np.float32)
    w, b = layer.weight, layer.bias
    assert w.shape == (4, 6) and w.dtype == np.float32 and b.shape == (4,)
    y = layer.forward(x)
    assert y.shape == (10, 4) and y.dtype == np.float32
    np.testing.assert_allclose(y, f64(x) @ f64(w).T + b, **TOL)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, f64(dy) @ f64(w), **TOL)
    np.testing.assert_allclose(layer.dweight, f64(dy).T @ f64(x), **TOL)
    np.testing.assert_allclose(layer.dbias, f64(dy).sum(axis=0), **TOL)
    # without dx, with an explicit x and no forward in between
    assert layer.backward(2 * dy, x, need_dx=False) is None
    np.testing.assert_allclose(layer.dweight, 2 * f64(dy).T @ f64(x), **TOL)


def test_backward_needs_an_input():
    with bn.Dense(2, 2) as d:
        with pytest.raises(bn.WrongStateError, match="forward"):
            d.backward(np.ones((3, 2)))
        with pytest.raises(bn.WrongStateError):
            d.dweight  # no backward yet: the library says so


def test_strided_and_converted_inputs(rng, layer):
    wide = rng.standard_normal((5, 9)).astype(np.float32)
    x = wide[:, 2:8]  # ld = 9, passed as it is
    ref = f64(x) @ f64(layer.weight).T + layer.bias
    np.testing.assert_allclose(layer.forward(x), ref, **TOL)
    np.testing.assert_allclose(layer.forward(f64(x)), ref, **TOL)  # converted once
    np.testing.assert_allclose(layer.forward(np.asfortranarray(x)), ref, **TOL)
    out = np.full((5, 8), 7, np.float32)
    layer.forward(x, out=out[:, 2:6])
    np.testing.assert_allclose(out[:, 2:6], ref, **TOL)
    assert (out[:, :2] == 7).all() and (out[:, 6:] == 7).all()


def test_shapes_are_checked_before_c(layer):
    with pytest.raises(bn.ShapeMismatchError, match="6"):
        layer.forward(np.ones((3, 5)))
    with pytest.raises(bn.ShapeMismatchError):
        layer.forward(np.ones(6))
    with pytest.raises(bn.ShapeMismatchError):
        layer.forward(np.ones((3, 6)), out=np.empty((3, 5), np.float32))
    layer.forward(np.ones((3, 6)))
    with pytest.raises(bn.ShapeMismatchError, match="samples"):
        layer.backward(np.ones((2, 4)))
    with pytest.raises(bn.ShapeMismatchError):
        layer.backward(np.ones((3, 5)))
    with pytest.raises(bn.ShapeMismatchError):
        layer.weight = np.ones((6, 4))  # transposed
    with pytest.raises(bn.ShapeMismatchError):
        layer.bias = np.ones(5)
    x = np.ones((3, 6), np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        layer.forward(x, out=x[:, :4])
    dy = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        layer.backward(np.ones((3, 4), np.float32), x=x, out=x)
    with pytest.raises(ValueError, match="need_dx"):
        layer.backward(dy, need_dx=False, out=np.empty((3, 6), np.float32))


def test_set_parameters(layer):
    w = np.arange(24, dtype=np.float64).reshape(4, 6) / 10
    layer.weight = w
    layer.bias = [1, 2, 3, 4]
    np.testing.assert_array_equal(layer.weight, w.astype(np.float32))
    np.testing.assert_array_equal(layer.bias, [1, 2, 3, 4])
    w[0, 0] = np.nan
    with pytest.raises(bn.NonFiniteError):
        layer.weight = w
    assert layer.weight[0, 0] == 0  # unchanged on error


def test_no_bias():
    with bn.Dense(3, 2, bias=False) as d:
        assert not d.has_bias
        with pytest.raises(bn.WrongStateError, match="bias"):
            d.bias
        with pytest.raises(bn.WrongStateError):
            d.bias = [0, 0]
        x = np.eye(3, dtype=np.float32)
        np.testing.assert_allclose(d.forward(x), d.weight.T, rtol=1e-6)
        d.backward(np.ones((3, 2)))
        with pytest.raises(bn.WrongStateError):
            d.dbias


@pytest.mark.parametrize("scheme", ["he_normal", "glorot_normal", "glorot_uniform", "zeros"])
def test_init_is_the_documented_draw(scheme):
    n_in, n_out, seed = 7, 5, 123
    with bn.Dense(n_in, n_out, init=scheme, seed=seed) as d:
        draws = bn.Rng(seed)
        if scheme == "he_normal":
            ref = math.sqrt(2.0 / n_in) * draws.normal(n_in * n_out)
        elif scheme == "glorot_normal":
            ref = math.sqrt(2.0 / (n_in + n_out)) * draws.normal(n_in * n_out)
        elif scheme == "glorot_uniform":
            ref = math.sqrt(6.0 / (n_in + n_out)) * (2 * draws.uniform(n_in * n_out) - 1)
        else:
            ref = np.zeros(n_in * n_out)
        # computed in double, rounded once: bit-identical
        np.testing.assert_array_equal(d.weight, ref.reshape(n_out, n_in).astype(np.float32))
        np.testing.assert_array_equal(d.bias, np.zeros(n_out))


def test_init_with_a_shared_rng_continues_the_sequence():
    rng = bn.Rng(9)
    a, b = bn.Dense(4, 3, seed=rng), bn.Dense(4, 3, seed=rng)
    assert not np.array_equal(a.weight, b.weight)
    again = bn.Rng(9)
    np.testing.assert_array_equal(bn.Dense(4, 3, seed=again).weight, a.weight)
    np.testing.assert_array_equal(bn.Dense(4, 3, seed=again).weight, b.weight)
    a.init("zeros")
    assert not a.weight.any()
    with pytest.raises(ValueError, match="unknown init"):
        a.init("lecun")


def test_state_round_trip_and_pickle(layer):
    blob = layer.to_bytes()
    assert blob[:4] == b"BNDN"
    with bn.Dense(6, 4, init="zeros") as other:
        other.from_bytes(blob)
        np.testing.assert_array_equal(other.weight, layer.weight)
        np.testing.assert_array_equal(other.bias, layer.bias)
    copy = pickle.loads(pickle.dumps(layer))
    assert isinstance(copy, bn.Dense) and copy.to_bytes() == blob
    bad = bytearray(blob)
    bad[-5] ^= 1
    with pytest.raises(bn.ChecksumError):
        layer.from_bytes(bytes(bad))
    with pytest.raises(bn.BadSizeError):
        layer.from_bytes(blob[:10])
    with bn.Dense(4, 6) as wrong, pytest.raises(bn.ShapeMismatchError):
        wrong.from_bytes(blob)


def test_closed_layer_and_handle_types(layer):
    assert repr(layer) == "<bn.Dense in_features=6 out_features=4 bias=True>"
    layer.close()
    assert repr(layer) == "<bn.Dense (closed)>"
    for use in (lambda: layer.weight, lambda: layer.forward(np.ones((1, 6))),
                lambda: layer.in_features, lambda: layer.to_bytes()):
        with pytest.raises(bn.ClosedError):
            use()
    # a BatchNorm handle cannot be passed where a bn_dense * is declared
    with bn.BatchNorm(3) as norm:
        with pytest.raises(ctypes.ArgumentError):
            bn._lib.lib.bn_dense_forward(norm._ptr, 1, None, 3, None, 3)


def test_sizes_are_validated():
    with pytest.raises(bn.InvalidArgumentError):
        bn.Dense(0, 3)
    with pytest.raises(ValueError):
        bn.Dense(-1, 3)
    with pytest.raises(OverflowError):
        bn.Dense(2**64, 3)
    with pytest.raises(bn.SizeOverflowError):
        bn.Dense(2**31, 1, init="zeros")


# ---- fold -----------------------------------------------------------------------

@pytest.mark.parametrize("bias,scale,shift", [(True, True, True), (False, True, True),
                                              (True, False, False)])
def test_fold_equals_dense_then_inference_batchnorm(rng, bias, scale, shift):
    x = rng.standard_normal((8, 5)).astype(np.float32)
    with bn.Dense(5, 3, bias=bias, seed=4) as d, bn.BatchNorm(3, scale=scale, shift=shift,
                                                             eps=1e-3) as norm:
        if bias:
            d.bias = rng.standard_normal(3)
        if scale:
            norm.gamma = rng.uniform(0.5, 2, 3)
        if shift:
            norm.beta = rng.standard_normal(3)
        norm.running_mean = rng.standard_normal(3)
        norm.running_var = rng.uniform(0.1, 3, 3)
        folded = bn.fold(d, norm)
        assert isinstance(folded, bn.Dense) and folded.has_bias
        assert (folded.in_features, folded.out_features) == (5, 3)
        want = bnref.forward_inference(f64(x) @ f64(d.weight).T + (d.bias if bias else 0),
                                       norm.running_mean, norm.running_var,
                                       norm.gamma if scale else None,
                                       norm.beta if shift else None, eps=norm.eps)
        np.testing.assert_allclose(folded.forward(x), want, **TOL)
        np.testing.assert_allclose(d.fold_batchnorm(norm).weight, folded.weight)
        folded.close()


def test_fold_errors():
    with bn.Dense(4, 3) as d:
        with bn.BatchNorm(2) as wrong, pytest.raises(bn.ShapeMismatchError):
            bn.fold(d, wrong)
        with bn.BatchNorm(3, running_stats=False) as norm, pytest.raises(bn.WrongStateError):
            bn.fold(d, norm)
        with bn.BatchNorm(3, fuse_relu=True) as norm, pytest.raises(bn.UnsupportedError):
            bn.fold(d, norm)
        with pytest.raises(TypeError):
            bn.fold(d, d)
        norm = bn.BatchNorm(3)
        norm.close()
        with pytest.raises(bn.ClosedError):
            bn.fold(d, norm)
