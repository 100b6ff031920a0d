"""The BatchNorm layer (bn/batchnorm.h) and the stateless kernels
(bn/batchnorm_kernels.h).

Arrays are numpy, shape (batch, features): sample j is row j. That is the C
layout (features x batch, column-major) without a copy; see bn._arrays.
"""

from __future__ import annotations

import ctypes
import enum
import operator
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _arrays as _a
from . import _lib
from ._arrays import BytesLike, Float32Array
from ._errors import ShapeMismatchError, WrongStateError
from ._handle import Handle
from ._lib import lib

__all__ = [
    "BatchNorm",
    "BatchNormFlag",
    "batchnorm_forward_training",
    "batchnorm_forward_inference",
    "batchnorm_backward_training",
    "batchnorm_backward_inference",
]


class BatchNormFlag(enum.IntFlag):
    """Creation flags of a layer (enum bn_batchnorm_flags)."""

    NO_SCALE = _lib.BN_BATCHNORM_NO_SCALE
    NO_SHIFT = _lib.BN_BATCHNORM_NO_SHIFT
    NO_RUNNING_STATS = _lib.BN_BATCHNORM_NO_RUNNING_STATS
    CUMULATIVE_AVERAGE = _lib.BN_BATCHNORM_CUMULATIVE_AVERAGE
    BIASED_RUNNING_VAR = _lib.BN_BATCHNORM_BIASED_RUNNING_VAR
    FUSE_RELU = _lib.BN_BATCHNORM_FUSE_RELU
    RENORM = _lib.BN_BATCHNORM_RENORM


def _flag_names(flags: int) -> str:
    return "|".join(str(f.name) for f in BatchNormFlag if f & flags) or "0"


class BatchNorm(Handle):
    """A BatchNorm layer over ``features`` features (bn_batchnorm).

    Training mode normalizes with the batch's mean and biased variance and
    updates the running statistics::

        running = (1 - update_factor) * running + update_factor * batch_stat

    with the running variance fed the unbiased batch variance var*N/(N-1)
    (as PyTorch) unless ``unbiased_running_var=False`` (as Keras).
    ``update_factor=None`` selects the cumulative average of all batches (as
    PyTorch's ``momentum=None``). Inference mode uses the running statistics
    (the batch's, if ``running_stats=False``).

    ``renorm=True`` makes it a Batch Renormalization layer (Ioffe 2017):
    training forwards correct the batch statistics towards the running ones
    by r = clip(sigma_B/sigma, 1/rmax, rmax) and d = clip((mu_B - mu)/sigma,
    -dmax, dmax); :attr:`rmax`, :attr:`dmax` and :attr:`renorm_schedule` can
    be changed at any time (docs/math.md).

    The layer owns a C handle: release it with :meth:`close` or a ``with``
    block (it is also released when the object is collected). One thread at a
    time: calls from several threads are serialized.

    Example::

        with bn.BatchNorm(8) as layer:
            y = layer.forward(x, training=True)    # x: (batch, 8)
            dx = layer.backward(dy)                # uses the forward's x
            layer.gamma -= lr * layer.dgamma
    """

    _kind = _lib.BATCHNORM

    def __init__(self, features: int, eps: float = 1e-5, update_factor: Optional[float] = 0.1,
                 scale: bool = True, shift: bool = True, running_stats: bool = True,
                 unbiased_running_var: bool = True, fuse_relu: bool = False,
                 renorm: bool = False, rmax: float = 3.0, dmax: float = 5.0) -> None:
        features = _a.size(features, "features", 1)
        flags = BatchNormFlag(0)
        if not scale:
            flags |= BatchNormFlag.NO_SCALE
        if not shift:
            flags |= BatchNormFlag.NO_SHIFT
        if not running_stats:
            flags |= BatchNormFlag.NO_RUNNING_STATS
        if update_factor is None:
            flags |= BatchNormFlag.CUMULATIVE_AVERAGE
        if not unbiased_running_var:
            flags |= BatchNormFlag.BIASED_RUNNING_VAR
        if fuse_relu:
            flags |= BatchNormFlag.FUSE_RELU
        if renorm:
            flags |= BatchNormFlag.RENORM
        ptr = _lib.BatchNormHandle()
        _lib.check(lib.bn_batchnorm_create(ctypes.byref(ptr), features, int(flags)),
                   f"bn_batchnorm_create(features={features}, flags={_flag_names(flags)})")
        super().__init__(ptr)
        self._features = features
        # The last forward's input (array, ld), kept by reference for backward().
        self._input: Optional[Tuple[np.ndarray, int]] = None
        self._input_overwritten = False
        try:
            self.eps = eps
            if update_factor is not None:
                self.update_factor = update_factor
            self.rmax = rmax
            self.dmax = dmax
        except BaseException:
            self.close()
            raise

    # -- forward / backward -----------------------------------------------

    def forward(self, x: npt.ArrayLike, *, training: bool,
                out: Optional[Float32Array] = None) -> Float32Array:
        """Normalize ``x`` (shape (batch, features)) and return y (float32, same shape).

        Args:
            x: input; float32 with contiguous rows is used in place, anything
                else is converted once. The layer keeps a reference to it (no
                copy) for :meth:`backward`: do not modify it in between.
            training: required. True: batch statistics (batch >= 2), running
                statistics updated. False: running statistics.
            out: optional float32 (batch, features) array to write y into;
                may be ``x`` itself (then backward needs ``x=`` the original input).

        Raises:
            BatchTooSmallError: training with a batch of 1.
            NonFiniteError: training and x holds NaN or infinity (nothing changes).
            ShapeMismatchError, TypeError, ValueError: unusable x or out.
        """
        if not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"training must be True or False, got {training!r}")
        mode = _lib.BN_MODE_TRAINING if training else _lib.BN_MODE_INFERENCE
        with self._lock:
            self._live()
            xa, ldx = _a.matrix(x, "x", self._features)
            y, ldy = _a.output(out, xa.shape)
            _a.disjoint(y, "out", [("x", xa)], alias=xa)
            self._call(lib.bn_batchnorm_forward, mode, xa.shape[0],
                       _a.pointer(xa), ldx, _a.pointer(y), ldy)
            overwritten = np.may_share_memory(y, xa)
            self._input = None if overwritten else (xa, ldx)
            self._input_overwritten = overwritten
        return y

    def backward(self, dy: npt.ArrayLike, x: Optional[npt.ArrayLike] = None, *,
                 out: Optional[Float32Array] = None) -> Float32Array:
        """Gradient w.r.t. the last forward's input; returns dx (float32, shape of dy).

        dgamma and dbeta are available afterwards as properties (overwritten,
        not accumulated). After a training-mode forward this is the full
        gradient; after an inference-mode forward the statistics are constants.

        Args:
            dy: gradient w.r.t. y, same shape as the forward's x.
            x: the forward's input; defaults to the array the layer kept.
            out: optional float32 array for dx; may be ``dy`` itself.

        Raises:
            WrongStateError: no forward since creation, from_bytes() or a
                parameter set; or the forward wrote over its input and no x
                was given.
            NonFiniteError: the reduced gradients are not finite.
        """
        with self._lock:
            self._live()
            if x is not None:
                xa, ldx = _a.matrix(x, "x", self._features)
            elif self._input is not None:
                xa, ldx = self._input
            elif self._input_overwritten:
                raise WrongStateError("the last forward wrote its output over its input "
                                      "(out=x); pass the original input as backward(dy, x=...)")
            else:
                raise WrongStateError("backward() before any forward(): there is no input "
                                      "to differentiate (call forward() first)")
            dya, lddy = _a.matrix(dy, "dy", self._features)
            if dya.shape != xa.shape:
                raise ShapeMismatchError(f"dy has shape {dya.shape}, the forward's input "
                                         f"{xa.shape}")
            dx, lddx = _a.output(out, dya.shape)
            _a.disjoint(dx, "out", [("dy", dya), ("x", xa)], alias=dya)
            self._call(lib.bn_batchnorm_backward, xa.shape[0], _a.pointer(xa), ldx,
                       _a.pointer(dya), lddy, _a.pointer(dx), lddx)
        return dx

    # -- vectors ------------------------------------------------------------

    def _get(self, which: int) -> Float32Array:
        values = np.empty(self._features, dtype=np.float32)
        self._call(lib.bn_batchnorm_get, which, _a.pointer(values), self._features)
        return values

    def _set(self, which: int, values: npt.ArrayLike, name: str) -> None:
        v = _a.vector(values, self._features, name)
        self._call(lib.bn_batchnorm_set, which, _a.pointer(v), self._features)

    @property
    def gamma(self) -> Float32Array:
        """Scale (a copy). Setting it (finite values) invalidates a pending backward.
        WrongStateError if the layer was created with scale=False."""
        return self._get(_lib.BN_BATCHNORM_GAMMA)

    @gamma.setter
    def gamma(self, values: npt.ArrayLike) -> None:
        self._set(_lib.BN_BATCHNORM_GAMMA, values, "gamma")

    @property
    def beta(self) -> Float32Array:
        """Shift (a copy); as gamma, WrongStateError with shift=False."""
        return self._get(_lib.BN_BATCHNORM_BETA)

    @beta.setter
    def beta(self, values: npt.ArrayLike) -> None:
        self._set(_lib.BN_BATCHNORM_BETA, values, "beta")

    @property
    def running_mean(self) -> Float32Array:
        """Running mean (a copy); WrongStateError with running_stats=False."""
        return self._get(_lib.BN_BATCHNORM_RUNNING_MEAN)

    @running_mean.setter
    def running_mean(self, values: npt.ArrayLike) -> None:
        self._set(_lib.BN_BATCHNORM_RUNNING_MEAN, values, "running_mean")

    @property
    def running_var(self) -> Float32Array:
        """Running variance (a copy); set values must be finite and >= 0."""
        return self._get(_lib.BN_BATCHNORM_RUNNING_VAR)

    @running_var.setter
    def running_var(self, values: npt.ArrayLike) -> None:
        self._set(_lib.BN_BATCHNORM_RUNNING_VAR, values, "running_var")

    @property
    def dgamma(self) -> Float32Array:
        """Gradient w.r.t. gamma from the last backward (WrongStateError before one)."""
        return self._get(_lib.BN_BATCHNORM_DGAMMA)

    @property
    def dbeta(self) -> Float32Array:
        """Gradient w.r.t. beta from the last backward (WrongStateError before one)."""
        return self._get(_lib.BN_BATCHNORM_DBETA)

    @property
    def saved_mean(self) -> Float32Array:
        """Batch mean of the last training-mode forward."""
        return self._get(_lib.BN_BATCHNORM_SAVED_MEAN)

    @property
    def saved_invstd(self) -> Float32Array:
        """1/sqrt(var + eps) of the last training-mode forward."""
        return self._get(_lib.BN_BATCHNORM_SAVED_INVSTD)

    # -- scalars ----------------------------------------------------------------

    @property
    def features(self) -> int:
        """Number of features F (fixed for the layer's lifetime)."""
        self._live()
        return self._features

    @property
    def flags(self) -> BatchNormFlag:
        """Creation flags (as given, or as loaded by :meth:`from_bytes`)."""
        value = ctypes.c_uint()
        self._call(lib.bn_batchnorm_flags, ctypes.byref(value))
        return BatchNormFlag(value.value)

    @property
    def eps(self) -> float:
        """Epsilon added to the variance (stored as float32; finite, > 0)."""
        value = ctypes.c_float()
        self._call(lib.bn_batchnorm_get_eps, ctypes.byref(value))
        return value.value

    @eps.setter
    def eps(self, value: float) -> None:
        self._call(lib.bn_batchnorm_set_eps, float(value))

    def _renorm_parameter(self, param: int) -> float:
        value = ctypes.c_double()
        self._call(lib.bn_batchnorm_get_parameter, param, ctypes.byref(value))
        return value.value

    @property
    def rmax(self) -> float:
        """Batch Renormalization's limit on r (r in [1/rmax, rmax]), >= 1,
        stored as float32; used by a layer created with ``renorm=True`` while
        :attr:`renorm_schedule` is off, kept in its state."""
        return self._renorm_parameter(_lib.BN_BATCHNORM_RENORM_RMAX)

    @rmax.setter
    def rmax(self, value: float) -> None:
        self._call(lib.bn_batchnorm_set_parameter, _lib.BN_BATCHNORM_RENORM_RMAX, float(value))

    @property
    def dmax(self) -> float:
        """Batch Renormalization's limit on d (d in [-dmax, dmax]), >= 0; as :attr:`rmax`."""
        return self._renorm_parameter(_lib.BN_BATCHNORM_RENORM_DMAX)

    @dmax.setter
    def dmax(self, value: float) -> None:
        self._call(lib.bn_batchnorm_set_parameter, _lib.BN_BATCHNORM_RENORM_DMAX, float(value))

    @property
    def renorm_schedule(self) -> bool:
        """True: rmax and dmax follow the paper's schedule of the batches
        tracked (1 and 0 for 5000 steps, then up to 3 and 5) instead of
        :attr:`rmax` and :attr:`dmax`. Default False."""
        return self._renorm_parameter(_lib.BN_BATCHNORM_RENORM_SCHEDULE) != 0.0

    @renorm_schedule.setter
    def renorm_schedule(self, on: bool) -> None:
        self._call(lib.bn_batchnorm_set_parameter, _lib.BN_BATCHNORM_RENORM_SCHEDULE,
                   1.0 if on else 0.0)

    @property
    def update_factor(self) -> Optional[float]:
        """Weight of a new batch in the running statistics, in (0, 1];
        None for a layer created with update_factor=None (cumulative average)."""
        value = ctypes.c_float()
        self._call(lib.bn_batchnorm_get_update_factor, ctypes.byref(value))
        if self.flags & BatchNormFlag.CUMULATIVE_AVERAGE:
            return None
        return value.value

    @update_factor.setter
    def update_factor(self, value: Optional[float]) -> None:
        cumulative = bool(self.flags & BatchNormFlag.CUMULATIVE_AVERAGE)
        if (value is None) != cumulative:
            raise ValueError(
                "the averaging mode is fixed at creation: this layer uses "
                + ("the cumulative average (update_factor=None)" if cumulative
                   else f"update_factor={self.update_factor:.7g}, it cannot become None"))
        if value is not None:
            self._call(lib.bn_batchnorm_set_update_factor, float(value))

    @property
    def threads(self) -> int:
        """Most threads each forward and backward may use, in [1, 64] (default 1).

        Only batches of at least 2**17 elements in the forward and 2**18 in
        the backward are split (into chunks of at least 2 samples; the
        environment variable BN_PARALLEL_MIN_ELEMENTS overrides both). With
        more than one thread the results may differ from the one-thread
        results in the last bits, but are deterministic for a given thread
        count. Not part of the saved state."""
        value = ctypes.c_uint()
        self._call(lib.bn_batchnorm_get_threads, ctypes.byref(value))
        return value.value

    @threads.setter
    def threads(self, value: int) -> None:
        value = operator.index(value)
        if not 0 <= value < 1 << 32:
            raise OverflowError(f"threads must be in [1, 64], got {value}")
        self._call(lib.bn_batchnorm_set_threads, value)  # InvalidArgumentError outside [1, 64]

    @property
    def batches_tracked(self) -> int:
        """Training-mode forwards that updated the running statistics."""
        value = ctypes.c_uint64()
        self._call(lib.bn_batchnorm_batches_tracked, ctypes.byref(value))
        return value.value

    @batches_tracked.setter
    def batches_tracked(self, value: int) -> None:
        value = operator.index(value)
        if not 0 <= value < 1 << 64:
            raise OverflowError(f"batches_tracked must be in [0, 2**64), got {value}")
        self._call(lib.bn_batchnorm_set_batches_tracked, value)

    # -- state -------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The layer's state blob (bn_batchnorm_save_state): flags, eps, update
        factor, batches tracked, gamma, beta and running statistics, CRC-checked."""
        with self._lock:
            size = ctypes.c_size_t()
            self._call(lib.bn_batchnorm_state_size, ctypes.byref(size))
            buffer = ctypes.create_string_buffer(size.value)
            written = ctypes.c_size_t()
            self._call(lib.bn_batchnorm_save_state, buffer, size.value, ctypes.byref(written))
            return buffer.raw[: written.value]

    def from_bytes(self, blob: BytesLike) -> None:
        """Restore a blob from :meth:`to_bytes` (same feature count) into this layer.

        Raises a FormatError subclass (BadSizeError, BadMagicError,
        VersionMismatchError, ChecksumError, BadFormatError) or
        ShapeMismatchError; on error the layer is unchanged. On success a
        pending backward is invalidated.
        """
        data = bytes(memoryview(blob))
        self._call(lib.bn_batchnorm_load_state, data, len(data))

    save_state = to_bytes
    load_state = from_bytes

    def __reduce__(self):
        return (_restore, (self.features, self.to_bytes()))

    # ---- compatibility: Keras weights -------------------------------------------
    # Kept for code written before these moved to bn.interop, whose functions
    # are the API. Each only delegates; bn.interop imports this module, so it
    # is imported when called (tests/python/test_structure.py allows exactly
    # these delegations).

    @classmethod
    def from_keras(cls, weights: Union[Sequence[npt.ArrayLike], Mapping[str, npt.ArrayLike]],
                   epsilon: float = 1e-3, momentum: float = 0.99,
                   center: bool = True, scale: bool = True) -> "BatchNorm":
        """Compatibility alias of :func:`bn.interop.batchnorm_from_keras`."""
        from .interop import batchnorm_from_keras
        return batchnorm_from_keras(weights, epsilon, momentum, center, scale)

    def to_keras(self) -> Dict[str, Any]:
        """Compatibility alias of :func:`bn.interop.batchnorm_to_keras`."""
        from .interop import batchnorm_to_keras
        return batchnorm_to_keras(self)

    def __repr__(self) -> str:
        if self.closed:
            return "<bn.BatchNorm (closed)>"
        value = self.update_factor
        factor = "None" if value is None else f"{value:.7g}"
        names = _flag_names(self.flags)
        return (f"<bn.BatchNorm features={self._features} eps={self.eps:.7g} "
                f"update_factor={factor} flags={names} batches_tracked={self.batches_tracked}>")


def _restore(features: int, blob: bytes) -> BatchNorm:
    layer = BatchNorm(features)
    layer.from_bytes(blob)
    return layer


# ---- stateless kernels --------------------------------------------------------

def _kernel_flags(relu: bool) -> int:
    return _lib.BN_KERNEL_FUSE_RELU if relu else 0


def _call(fn, context: str, *args) -> None:
    _lib.check(fn(*args), context)


def _optional(v: Optional[npt.ArrayLike], features: int, name: str) -> Optional[Float32Array]:
    return None if v is None else _a.vector(v, features, name)


def batchnorm_forward_training(x: npt.ArrayLike, gamma: Optional[npt.ArrayLike] = None,
                               beta: Optional[npt.ArrayLike] = None, eps: float = 1e-5,
                               relu: bool = False, *, out: Optional[Float32Array] = None
                               ) -> Tuple[Float32Array, Float32Array, Float32Array, Float32Array]:
    """Training-mode forward with the batch's own statistics.

    Args:
        x: (batch, features), batch >= 2.
        gamma, beta: (features,) or None for 1 and 0.
        eps: added to the variance; finite and > 0.
        relu: output max(0, bn(x)).
        out: optional float32 array for y; may be x.

    Returns:
        (y, saved_mean, saved_invstd, batch_var): batch_var is the biased variance.

    Raises:
        BatchTooSmallError, NonFiniteError (x holds NaN/inf), InvalidArgumentError.
    """
    xa, ldx = _a.matrix(x, "x")
    n, f = xa.shape
    g, b = _optional(gamma, f, "gamma"), _optional(beta, f, "beta")
    y, ldy = _a.output(out, xa.shape)
    _a.disjoint(y, "out", [("x", xa), ("gamma", g), ("beta", b)], alias=xa)
    mean, invstd, var = (np.empty(f, dtype=np.float32) for _ in range(3))
    _call(lib.bn_batchnorm_forward_training,
          f"bn_batchnorm_forward_training(features={f}, batch={n})",
          f, n, _a.pointer(xa), ldx, _a.pointer(g), _a.pointer(b), _a.positive(eps, "eps"),
          _kernel_flags(relu), _a.pointer(y), ldy,
          _a.pointer(mean), _a.pointer(invstd), _a.pointer(var))
    return y, mean, invstd, var


def batchnorm_forward_inference(x: npt.ArrayLike, mean: npt.ArrayLike, var: npt.ArrayLike,
                                gamma: Optional[npt.ArrayLike] = None,
                                beta: Optional[npt.ArrayLike] = None, eps: float = 1e-5,
                                relu: bool = False, *, out: Optional[Float32Array] = None
                                ) -> Float32Array:
    """Inference-mode forward with given statistics: y = gamma*(x-mean)/sqrt(var+eps) + beta.

    Any batch >= 1. Non-finite x propagates (no error); non-finite mean, var,
    gamma or beta raise NonFiniteError, a negative var InvalidArgumentError.
    """
    xa, ldx = _a.matrix(x, "x")
    n, f = xa.shape
    m, v = _a.vector(mean, f, "mean"), _a.vector(var, f, "var")
    g, b = _optional(gamma, f, "gamma"), _optional(beta, f, "beta")
    y, ldy = _a.output(out, xa.shape)
    _a.disjoint(y, "out", [("x", xa), ("mean", m), ("var", v), ("gamma", g), ("beta", b)],
                alias=xa)
    _call(lib.bn_batchnorm_forward_inference,
          f"bn_batchnorm_forward_inference(features={f}, batch={n})",
          f, n, _a.pointer(xa), ldx, _a.pointer(m), _a.pointer(v), _a.pointer(g),
          _a.pointer(b), _a.positive(eps, "eps"), _kernel_flags(relu), _a.pointer(y), ldy)
    return y


def batchnorm_backward_training(x: npt.ArrayLike, dy: npt.ArrayLike, saved_mean: npt.ArrayLike,
                                saved_invstd: npt.ArrayLike,
                                gamma: Optional[npt.ArrayLike] = None,
                                beta: Optional[npt.ArrayLike] = None, relu: bool = False, *,
                                out: Optional[Float32Array] = None
                                ) -> Tuple[Float32Array, Float32Array, Float32Array]:
    """Exact backward of :func:`batchnorm_forward_training`; returns (dx, dgamma, dbeta).

    ``saved_mean``/``saved_invstd`` come from the forward; with relu=True,
    ``beta`` must be the forward's (y is recomputed to mask dy).
    """
    xa, ldx = _a.matrix(x, "x")
    n, f = xa.shape
    dya, lddy = _a.matrix(dy, "dy", f)
    if dya.shape != xa.shape:
        raise ShapeMismatchError(f"dy has shape {dya.shape}, x {xa.shape}")
    sm, si = _a.vector(saved_mean, f, "saved_mean"), _a.vector(saved_invstd, f, "saved_invstd")
    g, b = _optional(gamma, f, "gamma"), _optional(beta, f, "beta")
    dx, lddx = _a.output(out, xa.shape)
    _a.disjoint(dx, "out", [("dy", dya), ("x", xa), ("saved_mean", sm), ("saved_invstd", si),
                            ("gamma", g), ("beta", b)], alias=dya)
    dgamma, dbeta = np.empty(f, dtype=np.float32), np.empty(f, dtype=np.float32)
    _call(lib.bn_batchnorm_backward_training,
          f"bn_batchnorm_backward_training(features={f}, batch={n})",
          f, n, _a.pointer(xa), ldx, _a.pointer(dya), lddy, _a.pointer(sm), _a.pointer(si),
          _a.pointer(g), _a.pointer(b), _kernel_flags(relu), _a.pointer(dx), lddx,
          _a.pointer(dgamma), _a.pointer(dbeta))
    return dx, dgamma, dbeta


def batchnorm_backward_inference(x: npt.ArrayLike, dy: npt.ArrayLike, mean: npt.ArrayLike,
                                 var: npt.ArrayLike, gamma: Optional[npt.ArrayLike] = None,
                                 beta: Optional[npt.ArrayLike] = None, eps: float = 1e-5,
                                 relu: bool = False, *, out: Optional[Float32Array] = None
                                 ) -> Tuple[Float32Array, Float32Array, Float32Array]:
    """Backward of :func:`batchnorm_forward_inference` (statistics are constants).

    Returns (dx, dgamma, dbeta) with dx = dy*gamma/sqrt(var+eps) (dy masked by
    y > 0 when relu=True), dgamma = sum dy*xhat, dbeta = sum dy.
    """
    xa, ldx = _a.matrix(x, "x")
    n, f = xa.shape
    dya, lddy = _a.matrix(dy, "dy", f)
    if dya.shape != xa.shape:
        raise ShapeMismatchError(f"dy has shape {dya.shape}, x {xa.shape}")
    m, v = _a.vector(mean, f, "mean"), _a.vector(var, f, "var")
    g, b = _optional(gamma, f, "gamma"), _optional(beta, f, "beta")
    dx, lddx = _a.output(out, xa.shape)
    _a.disjoint(dx, "out", [("dy", dya), ("x", xa), ("mean", m), ("var", v), ("gamma", g),
                            ("beta", b)], alias=dya)
    dgamma, dbeta = np.empty(f, dtype=np.float32), np.empty(f, dtype=np.float32)
    _call(lib.bn_batchnorm_backward_inference,
          f"bn_batchnorm_backward_inference(features={f}, batch={n})",
          f, n, _a.pointer(xa), ldx, _a.pointer(dya), lddy, _a.pointer(m), _a.pointer(v),
          _a.pointer(g), _a.pointer(b), _a.positive(eps, "eps"), _kernel_flags(relu), _a.pointer(dx), lddx,
          _a.pointer(dgamma), _a.pointer(dbeta))
    return dx, dgamma, dbeta
