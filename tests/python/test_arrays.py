"""How numpy arrays reach C: no copy for float32 rows, one conversion for
anything else, leading dimension from the row stride, outputs never copied."""

import ctypes

import numpy as np
import pytest

import bn
import bnref
from bn import _arrays, _lib

TOL = dict(rtol=1e-4, atol=2e-5)


def data(rng, n, f):
    return (1.0 + 3.0 * rng.standard_normal((n, f))).astype(np.float32)


class PointerSpy:
    """Wraps a declared C function and records the float* arguments it receives."""

    def __init__(self, monkeypatch, name):
        self.fn = getattr(_lib.lib, name)
        self.addresses = []
        monkeypatch.setattr(_lib.lib, name, self)

    def __call__(self, *args):
        self.addresses.append([ctypes.cast(a, ctypes.c_void_p).value
                               for a in args if isinstance(a, ctypes.POINTER(ctypes.c_float))])
        return self.fn(*args)


def test_contiguous_float32_input_is_passed_without_copy(rng, monkeypatch):
    x = data(rng, 8, 5)
    spy = PointerSpy(monkeypatch, "bn_batchnorm_forward")
    with bn.BatchNorm(5) as layer:
        y = layer.forward(x, training=True)
        assert spy.addresses[0][0] == x.ctypes.data  # x itself reached C
        assert spy.addresses[0][1] == y.ctypes.data  # and C wrote into the returned array
        # backward uses the very array the forward saw, not a copy
        spy_b = PointerSpy(monkeypatch, "bn_batchnorm_backward")
        layer.backward(np.ones_like(x))
        assert spy_b.addresses[0][0] == x.ctypes.data


def test_in_place_forward_writes_into_x(rng):
    x = data(rng, 8, 5)
    ref = bnref.forward_training(x)[0]
    with bn.BatchNorm(5) as layer:
        y = layer.forward(x, training=True, out=x)
        assert y is x
        np.testing.assert_allclose(x, ref, **TOL)
        # the input is gone, so backward needs it explicitly
        with pytest.raises(bn.WrongStateError, match="over its input"):
            layer.backward(np.ones_like(x))


def test_in_place_backward_writes_into_dy(rng):
    x, dy = data(rng, 8, 5), data(rng, 8, 5)
    with bn.BatchNorm(5) as layer:
        layer.forward(x, training=True)
        expected = layer.backward(dy)
        dx = layer.backward(dy, out=dy)
        assert dx is dy
        np.testing.assert_array_equal(dy, expected)


def test_matrix_helper_keeps_float32_rows_and_reports_ld(rng):
    wide = data(rng, 6, 11)
    x = wide[:, 2:7]  # rows contiguous, row stride 11 floats
    a, ld = _arrays.matrix(x, "x")
    assert a is x and ld == 11
    a, ld = _arrays.matrix(wide, "x")
    assert a is wide and ld == 11
    one = wide[:1, :3]  # batch of one: ld is just the feature count
    a, ld = _arrays.matrix(one, "x")
    assert a is one and ld == 3


@pytest.mark.parametrize("make", [
    lambda x: x.astype(np.float64),
    lambda x: x.astype(np.float16),
    lambda x: np.asfortranarray(x),
    lambda x: x[::-1][::-1].copy()[::-1],  # negative row stride
    lambda x: np.repeat(x, 2, axis=1)[:, ::2],  # non-unit stride along features
    lambda x: x.astype(">f4"),  # non-native byte order
    lambda x: x.tolist(),
], ids=["float64", "float16", "fortran", "reversed", "strided", "big-endian", "list"])
def test_other_inputs_are_converted_once(rng, make):
    x = make(data(rng, 9, 4))
    expected_input = np.asarray(x, dtype=np.float32)
    snapshot = np.array(x, copy=True)
    with bn.BatchNorm(4) as layer:
        y = layer.forward(x, training=True)
        np.testing.assert_allclose(y, bnref.forward_training(expected_input)[0], **TOL)
        np.testing.assert_array_equal(np.asarray(x), snapshot)  # the input is not modified
        a, _ = _arrays.matrix(x, "x")
        assert a.dtype == np.float32 and a.flags.c_contiguous
        if isinstance(x, np.ndarray):
            assert not np.shares_memory(a, x)
        # backward reuses the converted copy held by the layer
        dx = layer.backward(np.ones((9, 4)))
        assert dx.dtype == np.float32


def test_integer_input_is_converted(rng):
    x = rng.integers(-5, 5, (7, 3))
    with bn.BatchNorm(3) as layer:
        np.testing.assert_allclose(layer.forward(x, training=True),
                                   bnref.forward_training(x)[0], **TOL)


def test_column_slice_input_uses_ld_greater_than_features(rng, isa, monkeypatch):
    wide = data(rng, 10, 9)
    x = wide[:, 3:7]
    spy = PointerSpy(monkeypatch, "bn_batchnorm_forward")
    with bn.BatchNorm(4) as layer:
        layer.gamma, layer.beta = rng.uniform(0.5, 2, 4), rng.uniform(-1, 1, 4)
        y = layer.forward(x, training=True)
        assert spy.addresses[0][0] == x.ctypes.data  # a pointer into wide, no copy
        np.testing.assert_allclose(y, bnref.forward_training(x, layer.gamma, layer.beta)[0], **TOL)
        # backward: x and dy are slices, dx is written into a slice of a wider array
        dy_wide = data(rng, 10, 6)
        dx_wide = np.full((10, 8), 42.0, np.float32)
        dx = layer.backward(dy_wide[:, 1:5], out=dx_wide[:, 2:6])
        assert np.shares_memory(dx, dx_wide)
        rdx = bnref.backward_training(x, dy_wide[:, 1:5], layer.gamma, layer.beta)[0]
        np.testing.assert_allclose(dx_wide[:, 2:6], rdx, **TOL)
        np.testing.assert_array_equal(dx_wide[:, :2], 42.0)  # neighbours untouched
        np.testing.assert_array_equal(dx_wide[:, 6:], 42.0)


def test_in_place_on_a_column_slice(rng):
    wide = data(rng, 10, 9)
    before = wide.copy()
    x = wide[:, 2:5]
    expected = bnref.forward_training(before[:, 2:5])[0]
    y = bn.batchnorm_forward_training(x, out=x)[0]
    assert y is x
    np.testing.assert_allclose(wide[:, 2:5], expected, **TOL)
    np.testing.assert_array_equal(wide[:, :2], before[:, :2])
    np.testing.assert_array_equal(wide[:, 5:], before[:, 5:])


def test_out_must_fit_exactly(rng):
    x = data(rng, 6, 4)
    with bn.BatchNorm(4) as layer:
        with pytest.raises(TypeError, match="float32"):
            layer.forward(x, training=True, out=np.empty((6, 4)))
        with pytest.raises(TypeError, match="numpy array"):
            layer.forward(x, training=True, out=[[0.0] * 4] * 6)
        with pytest.raises(bn.ShapeMismatchError, match="shape"):
            layer.forward(x, training=True, out=np.empty((6, 5), np.float32))
        with pytest.raises(ValueError, match="unit stride"):
            layer.forward(x, training=True, out=np.empty((6, 8), np.float32)[:, ::2])
        with pytest.raises(ValueError, match="unit stride"):
            layer.forward(x, training=True, out=np.empty((4, 6), np.float32).T)
        ro = np.empty((6, 4), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            layer.forward(x, training=True, out=ro)
        # none of these reached C: the layer still has no forward
        with pytest.raises(bn.WrongStateError):
            layer.saved_mean


def test_partially_overlapping_out_is_rejected(rng):
    buf = data(rng, 8, 6)
    x = buf[:, 0:4]
    with bn.BatchNorm(4) as layer:
        with pytest.raises(ValueError, match="overlaps x"):
            layer.forward(x, training=True, out=buf[:, 2:6])
        with pytest.raises(ValueError, match="overlaps x"):
            layer.forward(buf[:7, :4], training=True, out=buf[1:, :4])
        # interleaved but disjoint columns are fine
        wide = data(rng, 8, 8)
        expected = bnref.forward_training(wide[:, :4])[0]
        y = layer.forward(wide[:, :4], training=True, out=wide[:, 4:])
        assert np.shares_memory(y, wide)
        np.testing.assert_allclose(wide[:, 4:], expected, **TOL)
