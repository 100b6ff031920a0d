"""The Dense (fully connected) layer y = x W^T + b (bn/dense.h) and the
folding of a following BatchNorm into it.

Arrays are numpy: x is (batch, in_features), y is (batch, out_features), the
weight is (out_features, in_features) exactly as PyTorch's Linear.weight.
"""

from __future__ import annotations

import ctypes
from typing import Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _arrays as _a
from . import _lib
from ._arrays import BytesLike, Float32Array
from ._enums import Choice
from ._errors import ShapeMismatchError, WrongStateError, error_for
from ._handle import Handle
from ._lib import lib
from .batchnorm import BatchNorm
from .rng import Rng, as_rng

__all__ = ["Dense", "Init", "fold"]


class Init(Choice):
    """Weight initialization schemes (enum bn_init); biases become 0."""

    ZEROS = _lib.BN_INIT_ZEROS  #: W = 0
    HE_NORMAL = _lib.BN_INIT_HE_NORMAL  #: W ~ N(0, 2/in)
    GLOROT_UNIFORM = _lib.BN_INIT_GLOROT_UNIFORM  #: W ~ U(-a, a), a = sqrt(6/(in+out))
    GLOROT_NORMAL = _lib.BN_INIT_GLOROT_NORMAL  #: W ~ N(0, 2/(in+out))

    @classmethod
    def of(cls, scheme: Union["Init", int, str, None], what: Optional[str] = None) -> "Init":
        """An Init from itself, its value, its name ("he_normal", ...), or None (zeros)."""
        return cls.ZEROS if scheme is None else super().of(scheme, what)


InitLike = Union[Init, int, str, None]


class Dense(Handle):
    """A dense layer y = x W^T + b from in_features to out_features (bn_dense).

    The products run in OpenBLAS (sgemm): y = W x, dW = dy x^T, dx = W^T dy
    in the C layout; the bias gradient is summed in double.

    Args:
        in_features, out_features: sizes (> 0, <= INT_MAX).
        bias: False for a layer without bias (e.g. when a BatchNorm follows).
        init: weight initialization: "he_normal" (default), "glorot_uniform",
            "glorot_normal", "zeros" (or an :class:`Init`); biases start at 0.
        seed: seed of the generator drawing the weights, or a :class:`bn.Rng`
            to continue (weights are drawn row by row, bit-identical on every
            machine for a given seed).

    The layer owns a C handle: release it with :meth:`close` or a ``with``
    block (also released when collected). One thread at a time: calls from
    several threads are serialized.

    Example::

        with bn.Dense(784, 128, bias=False) as fc:
            y = fc.forward(x)                 # x: (batch, 784) -> y: (batch, 128)
            dx = fc.backward(dy)              # uses the forward's x
            fc.weight -= lr * fc.dweight
    """

    _kind = _lib.DENSE

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: InitLike = "he_normal", seed: Union[int, Rng] = 0) -> None:
        n_in = _a.size(in_features, "in_features", 1)
        n_out = _a.size(out_features, "out_features", 1)
        flags = 0 if bias else _lib.BN_DENSE_NO_BIAS
        ptr = _lib.DenseHandle()
        _lib.check(lib.bn_dense_create(ctypes.byref(ptr), n_in, n_out, flags),
                   f"bn_dense_create(in={n_in}, out={n_out}, bias={bool(bias)})")
        self._adopt(ptr, n_in, n_out)
        try:
            scheme = Init.of(init)
            if scheme != Init.ZEROS:
                self.init(scheme, seed)
        except BaseException:
            self.close()
            raise

    def _adopt(self, ptr, n_in: int, n_out: int) -> None:
        Handle.__init__(self, ptr)
        self._in, self._out = n_in, n_out
        # The last forward's input (array, ld), kept by reference for backward().
        self._input: Optional[Tuple[np.ndarray, int]] = None

    @classmethod
    def _from_pointer(cls, ptr) -> "Dense":
        """Wrap a handle the library created (fold); queries its shape."""
        n_in, n_out = ctypes.c_size_t(), ctypes.c_size_t()
        status = lib.bn_dense_shape(ptr, ctypes.byref(n_in), ctypes.byref(n_out))
        if status:
            lib.bn_dense_destroy(ptr)
            _lib.check(status, "bn_dense_shape")
        layer = cls.__new__(cls)
        layer._adopt(ptr, n_in.value, n_out.value)
        return layer

    def init(self, scheme: InitLike = "he_normal", seed: Union[int, Rng] = 0) -> None:
        """Re-draw the weights with ``scheme`` (bn_dense_init); biases become 0.

        ``seed`` is an int (a fresh generator) or a :class:`bn.Rng`, which
        advances by one draw per weight.
        """
        scheme = Init.of(scheme)
        rng = as_rng(seed)
        with rng._lock:
            self._call(lib.bn_dense_init, int(scheme), rng._pointer())

    # -- forward / backward -----------------------------------------------------

    def forward(self, x: npt.ArrayLike, *, out: Optional[Float32Array] = None) -> Float32Array:
        """y = x W^T + b for x of shape (batch, in_features); returns (batch, out_features).

        x is kept by reference (no copy) for :meth:`backward`: do not modify it
        in between. ``out`` (float32, (batch, out_features)) must not overlap x.
        Non-finite inputs propagate (no error).
        """
        with self._lock:
            self._live()
            xa, ldx = _a.matrix(x, "x", self._in)
            y, ldy = _a.output(out, (xa.shape[0], self._out))
            _a.disjoint(y, "out", [("x", xa)])
            self._call(lib.bn_dense_forward, xa.shape[0], _a.pointer(xa), ldx,
                       _a.pointer(y), ldy)
            self._input = (xa, ldx)
        return y

    def backward(self, dy: npt.ArrayLike, x: Optional[npt.ArrayLike] = None,
                 need_dx: bool = True, *,
                 out: Optional[Float32Array] = None) -> Optional[Float32Array]:
        """Gradients of the forward: dweight = dy^T x and dbias = sum of dy over the
        batch (overwritten, read them as properties), and dx = dy W if need_dx.

        Args:
            dy: gradient w.r.t. y, (batch, out_features).
            x: the forward's input (batch, in_features); defaults to the array
                the last forward kept. The C layer keeps no copy of x, so a
                backward needs no forward when x is given.
            need_dx: False skips dx (one GEMM less; the first layer needs none).
            out: optional float32 (batch, in_features) array for dx; must not
                overlap x or dy.

        Returns:
            dx, or None when need_dx is False.
        """
        with self._lock:
            self._live()
            if x is not None:
                xa, ldx = _a.matrix(x, "x", self._in)
            elif self._input is not None:
                xa, ldx = self._input
            else:
                raise WrongStateError("backward() needs the forward's input: call forward() "
                                      "first or pass backward(dy, x=...)")
            dya, lddy = _a.matrix(dy, "dy", self._out)
            if dya.shape[0] != xa.shape[0]:
                raise ShapeMismatchError(f"dy has {dya.shape[0]} samples, x {xa.shape[0]}")
            if need_dx:
                dx, lddx = _a.output(out, xa.shape)
                _a.disjoint(dx, "out", [("x", xa), ("dy", dya)])
            elif out is not None:
                raise ValueError("out= given with need_dx=False")
            else:
                dx, lddx = None, 0
            self._call(lib.bn_dense_backward, xa.shape[0], _a.pointer(xa), ldx,
                       _a.pointer(dya), lddy, _a.pointer(dx), lddx)
        return dx

    # -- tensors ----------------------------------------------------------------

    def _get(self, which: int, shape: Tuple[int, ...]) -> Float32Array:
        values = np.empty(shape, dtype=np.float32)
        self._call(lib.bn_dense_get, which, _a.pointer(values), values.size)
        return values

    def _set(self, which: int, values: npt.ArrayLike, shape: Tuple[int, ...],
             name: str) -> None:
        v = _a.contiguous(values, shape, name)
        self._call(lib.bn_dense_set, which, _a.pointer(v), v.size)

    @property
    def weight(self) -> Float32Array:
        """W, shape (out_features, in_features) as PyTorch's Linear.weight (a copy).
        Setting it (finite values) copies the array into the layer."""
        return self._get(_lib.BN_DENSE_WEIGHT, (self._out, self._in))

    @weight.setter
    def weight(self, values: npt.ArrayLike) -> None:
        self._set(_lib.BN_DENSE_WEIGHT, values, (self._out, self._in), "weight")

    @property
    def bias(self) -> Float32Array:
        """b, shape (out_features,) (a copy); WrongStateError for a layer without bias."""
        return self._get(_lib.BN_DENSE_BIAS, (self._out,))

    @bias.setter
    def bias(self, values: npt.ArrayLike) -> None:
        self._set(_lib.BN_DENSE_BIAS, values, (self._out,), "bias")

    @property
    def dweight(self) -> Float32Array:
        """dL/dW of the last backward, (out_features, in_features); WrongStateError before one."""
        return self._get(_lib.BN_DENSE_DWEIGHT, (self._out, self._in))

    @property
    def dbias(self) -> Float32Array:
        """dL/db of the last backward, (out_features,); WrongStateError before one or without bias."""
        return self._get(_lib.BN_DENSE_DBIAS, (self._out,))

    @property
    def in_features(self) -> int:
        """Input features (fixed)."""
        self._live()
        return self._in

    @property
    def out_features(self) -> int:
        """Output features (fixed)."""
        self._live()
        return self._out

    @property
    def has_bias(self) -> bool:
        """Whether the layer has a bias vector (creation flag, or as loaded by from_bytes)."""
        flags = ctypes.c_uint()
        self._call(lib.bn_dense_flags, ctypes.byref(flags))
        return not flags.value & _lib.BN_DENSE_NO_BIAS

    # -- state ------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The layer's state blob (bn_dense_save_state): "BNDN", version, shape,
        flags, weights, biases, CRC-32. Gradients are not saved."""
        with self._lock:
            size = ctypes.c_size_t()
            self._call(lib.bn_dense_state_size, ctypes.byref(size))
            buffer = ctypes.create_string_buffer(size.value)
            written = ctypes.c_size_t()
            self._call(lib.bn_dense_save_state, buffer, size.value, ctypes.byref(written))
            return buffer.raw[: written.value]

    def from_bytes(self, blob: BytesLike) -> None:
        """Restore a blob from :meth:`to_bytes` of a layer of the same shape; its
        flags (bias or not), weights and biases replace this layer's and the
        gradients are forgotten. Raises a FormatError subclass or
        ShapeMismatchError; on error the layer is unchanged."""
        data = bytes(memoryview(blob))
        self._call(lib.bn_dense_load_state, data, len(data))

    save_state = to_bytes
    load_state = from_bytes

    def fold_batchnorm(self, batchnorm: BatchNorm) -> "Dense":
        """A new Dense equal to this layer followed by ``batchnorm`` in inference mode
        (bn_dense_fold_batchnorm); see :func:`bn.fold`."""
        return fold(self, batchnorm)

    def __reduce__(self):
        return (_restore, (self.in_features, self.out_features, self.to_bytes()))

    def __repr__(self) -> str:
        if self.closed:
            return "<bn.Dense (closed)>"
        return f"<bn.Dense in_features={self._in} out_features={self._out} bias={self.has_bias}>"


def _restore(n_in: int, n_out: int, blob: bytes) -> Dense:
    layer = Dense(n_in, n_out, init="zeros")
    layer.from_bytes(blob)
    return layer


def fold(dense: Dense, batchnorm: BatchNorm) -> Dense:
    """Fold an inference-mode BatchNorm that follows ``dense`` into a new Dense layer.

    W' = W * s per output row and b' = (b - running_mean) * s + beta with
    s = gamma / sqrt(running_var + eps), computed in double and rounded once
    (bn_dense_fold_batchnorm). The result always has a bias; neither input
    is modified. ``fold(d, b).forward(x)`` equals
    ``b.forward(d.forward(x), training=False)`` to rounding.

    Raises:
        ShapeMismatchError: dense.out_features != batchnorm.features.
        WrongStateError: the BatchNorm has no running statistics.
        UnsupportedError: the BatchNorm fuses a ReLU.
        NonFiniteError: a folded value overflows float32.
    """
    if not isinstance(dense, Dense):
        raise TypeError(f"dense must be a bn.Dense, got {type(dense).__name__}")
    if not isinstance(batchnorm, BatchNorm):
        raise TypeError(f"batchnorm must be a bn.BatchNorm, got {type(batchnorm).__name__}")
    folded = _lib.DenseHandle()
    with dense._lock, batchnorm._lock:
        dp, bp = dense._live(), batchnorm._live()
        status = lib.bn_dense_fold_batchnorm(dp, bp, ctypes.byref(folded))
        if status:
            raise error_for(status, dense._message(dp, status))
    return Dense._from_pointer(folded)
