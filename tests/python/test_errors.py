"""Status codes as exceptions: hierarchy, numeric status, library messages,
and misuse caught before (or by) C."""

import ctypes
import pickle

import numpy as np
import pytest

import bn
from bn import _errors, _lib

HIERARCHY = [
    (bn.InvalidArgumentError, 1, ValueError),
    (bn.ShapeMismatchError, 2, ValueError),
    (bn.OutOfMemoryError, 3, MemoryError),
    (bn.SizeOverflowError, 4, OverflowError),
    (bn.WrongStateError, 5, RuntimeError),
    (bn.BatchTooSmallError, 6, ValueError),
    (bn.NonFiniteError, 7, FloatingPointError),
    (bn.InputOutputError, 8, OSError),
    (bn.BadMagicError, 9, ValueError),
    (bn.VersionMismatchError, 10, ValueError),
    (bn.BadSizeError, 11, ValueError),
    (bn.ChecksumError, 12, ValueError),
    (bn.BadFormatError, 13, ValueError),
    (bn.UnsupportedError, 14, NotImplementedError),
]


@pytest.mark.parametrize("cls,status,builtin", HIERARCHY,
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_status_maps_to_a_class(cls, status, builtin):
    err = _errors.error_for(status, "why")
    assert type(err) is cls
    assert isinstance(err, bn.Error) and isinstance(err, builtin)
    assert err.status == status and err.message == "why" and str(err) == "why"
    # the library knows a name for every code the binding maps
    assert _lib.status_string(status) != "unknown status"
    restored = pickle.loads(pickle.dumps(err))
    assert type(restored) is cls and restored.status == status


def test_format_family_and_unknown_status():
    for cls in (bn.BadMagicError, bn.VersionMismatchError, bn.BadSizeError, bn.ChecksumError,
                bn.BadFormatError):
        assert issubclass(cls, bn.FormatError)
    assert len({cls for cls, _, _ in HIERARCHY}) == len(HIERARCHY)
    err = _errors.error_for(999, "new code")
    assert type(err) is bn.Error and err.status == 999
    assert bn.status_string(999) == "unknown status"
    assert issubclass(bn.ClosedError, bn.WrongStateError)


def test_shape_errors_are_raised_before_c(rng, monkeypatch):
    called = []
    real = _lib.lib.bn_batchnorm_forward
    monkeypatch.setattr(_lib.lib, "bn_batchnorm_forward", lambda *a: called.append(a) or real(*a))
    with bn.BatchNorm(4) as layer:
        with pytest.raises(bn.ShapeMismatchError, match="has 3 features, expected 4"):
            layer.forward(np.zeros((5, 3), np.float32), training=True)
        with pytest.raises(ValueError, match="2-D"):
            layer.forward(np.zeros(4, np.float32), training=True)
        with pytest.raises(ValueError, match="2-D"):
            layer.forward(np.zeros((2, 5, 4), np.float32), training=True)
        with pytest.raises(TypeError, match="real numbers"):
            layer.forward(np.zeros((5, 4), complex), training=True)
    assert called == []


def test_training_is_required_and_must_be_a_bool(rng):
    x = np.ones((4, 2), np.float32)
    with bn.BatchNorm(2) as layer:
        with pytest.raises(TypeError):
            layer.forward(x)  # the caller has to say which mode
        with pytest.raises(TypeError):
            layer.forward(x, True)  # keyword-only
        with pytest.raises(TypeError, match="True or False"):
            layer.forward(x, training="no")
        layer.forward(x, training=np.bool_(False))


def test_unknown_mode_from_c_carries_the_library_message():
    with bn.BatchNorm(2) as layer:
        x = np.ones((3, 2), np.float32)
        y = np.empty_like(x)
        ptr = ctypes.POINTER(ctypes.c_float)
        with pytest.raises(bn.InvalidArgumentError, match="unknown mode 7") as info:
            layer._call(_lib.lib.bn_batchnorm_forward, 7, 3, x.ctypes.data_as(ptr), 2,
                        y.ctypes.data_as(ptr), 2)
        assert info.value.status == 1
        assert str(info.value).startswith("invalid argument: ")


def test_backward_before_forward():
    with bn.BatchNorm(3) as layer:
        dy = np.ones((4, 3), np.float32)
        with pytest.raises(bn.WrongStateError, match="before any forward"):
            layer.backward(dy)
        # with x given, C itself refuses, with its own message
        with pytest.raises(bn.WrongStateError, match="backward without a forward") as info:
            layer.backward(dy, x=np.ones((4, 3), np.float32))
        assert info.value.status == 5 and isinstance(info.value, RuntimeError)


def test_setting_a_parameter_invalidates_the_pending_backward(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    with bn.BatchNorm(3) as layer:
        layer.forward(x, training=True)
        layer.gamma = [2, 2, 2]
        with pytest.raises(bn.WrongStateError, match="backward without a forward"):
            layer.backward(np.ones_like(x))


def test_batch_of_one_in_training():
    with bn.BatchNorm(3) as layer:
        with pytest.raises(bn.BatchTooSmallError, match="at least 2 samples") as info:
            layer.forward(np.ones((1, 3), np.float32), training=True)
        assert info.value.status == 6 and isinstance(info.value, ValueError)
    with pytest.raises(bn.BatchTooSmallError, match="batch too small"):
        bn.batchnorm_forward_training(np.ones((1, 3)))


def test_backward_shapes(rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    with bn.BatchNorm(3) as layer:
        layer.forward(x, training=True)
        with pytest.raises(bn.ShapeMismatchError, match="forward's input"):
            layer.backward(np.ones((4, 3)))
        with pytest.raises(bn.ShapeMismatchError, match="features"):
            layer.backward(np.ones((5, 2)))
        # an explicit x of another batch than the forward's: C says so
        with pytest.raises(bn.ShapeMismatchError, match="differs from the forward's 5"):
            layer.backward(np.ones((4, 3)), x=x[:4])


def test_constructor_arguments():
    with pytest.raises(bn.InvalidArgumentError, match="^features must be >= 1, got 0$"):
        bn.BatchNorm(0)
    with pytest.raises(ValueError, match="^features must be >= 1, got -1$"):
        bn.BatchNorm(-1)
    with pytest.raises(OverflowError):
        bn.BatchNorm(2**64)
    with pytest.raises(bn.SizeOverflowError):
        bn.BatchNorm(2**62)
    with pytest.raises(TypeError):
        bn.BatchNorm(2.5)
    with pytest.raises(bn.InvalidArgumentError, match="CUMULATIVE_AVERAGE"):
        bn.BatchNorm(3, update_factor=None, running_stats=False)
    with pytest.raises(bn.InvalidArgumentError, match="eps"):
        bn.BatchNorm(3, eps=-1.0)
    with pytest.raises(bn.InvalidArgumentError, match="update factor"):
        bn.BatchNorm(3, update_factor=0.0)


def test_handle_types_are_distinct():
    other = _lib.handle_type("bn_other")()
    assert _lib.handle_type("bn_batchnorm") is not _lib.BatchNormHandle
    flags = ctypes.c_uint()
    with pytest.raises(ctypes.ArgumentError):
        _lib.lib.bn_batchnorm_flags(other, ctypes.byref(flags))
    with pytest.raises(ctypes.ArgumentError):
        _lib.lib.bn_batchnorm_flags(ctypes.c_void_p(1234), ctypes.byref(flags))
    with pytest.raises(ctypes.ArgumentError):  # a float64 pointer is not a float*
        x = np.zeros(3)
        _lib.lib.bn_batchnorm_get(_lib.BatchNormHandle(), 1,
                                  x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), 3)
