"""A batch spread over shards: BatchNorm whose statistics span several workers.

Transport-agnostic building blocks (no MPI here; see :mod:`bn.distributed`
for mpi4py): each shard computes its :class:`Moments`, the shards' moments are
merged with :func:`moments_merge` (by whatever moves them: an allreduce,
threads, files), every shard normalizes with the merged statistics
(:func:`forward_with_moments`), then the backward's per-feature sums
(:func:`backward_sums`) are added over shards and each shard gets its dx
(:func:`backward_with_sums`): the single-process dx on its rows.

Arrays are (batch, features) as everywhere in the binding.
"""

from __future__ import annotations

import ctypes
from typing import NamedTuple, Optional, Tuple

import numpy as np
import numpy.typing as npt

from . import _arrays as _a
from . import _lib
from ._errors import ShapeMismatchError, WrongStateError
from ._lib import lib
from .batchnorm import BatchNorm

_F64P = ctypes.POINTER(ctypes.c_double)
Float64Array = npt.NDArray[np.float64]


def _f64(a: np.ndarray):
    return a.ctypes.data_as(_F64P)


def _doubles(values: npt.ArrayLike, features: int, name: str) -> Float64Array:
    a = np.ascontiguousarray(values, dtype=np.float64)
    if a.shape != (features,):
        raise ShapeMismatchError(f"{name} has shape {a.shape}, expected ({features},)")
    return a


class Moments(NamedTuple):
    """Per-feature moments of a set of samples: their number, mean and M2
    (sum of squared deviations from the mean), float64."""

    samples: float
    mean: Float64Array
    m2: Float64Array

    @property
    def var(self) -> Float64Array:
        """The biased variance M2 / count."""
        return self.m2 / self.samples


def batchnorm_moments(x: npt.ArrayLike) -> Moments:
    """A shard's moments (``bn_batchnorm_moments``): two passes in double.

    Raises NonFiniteError when x holds NaN or infinity.
    """
    xa, ldx = _a.matrix(x, "x")
    n, f = xa.shape
    mean, m2 = np.empty(f), np.empty(f)
    _lib.check(lib.bn_batchnorm_moments(f, n, _a.pointer(xa), ldx, _f64(mean), _f64(m2)),
               f"bn_batchnorm_moments(features={f}, batch={n})")
    return Moments(float(n), mean, m2)


def moments_merge(a: Moments, b: Moments) -> Moments:
    """The moments of the union of two sets (``bn_moments_merge``), exact
    for any sizes; a set with count 0 is the identity."""
    mean = np.array(a.mean, dtype=np.float64)  # copies: the inputs stay as they are
    m2 = np.array(a.m2, dtype=np.float64)
    f = mean.shape[0] if mean.ndim == 1 else -1
    bm, bq = _doubles(b.mean, f, "b.mean"), _doubles(b.m2, f, "b.m2")
    if m2.shape != mean.shape:
        raise ShapeMismatchError(f"a.m2 has shape {m2.shape}, a.mean {mean.shape}")
    _lib.check(lib.bn_moments_merge(f, float(a.samples), _f64(mean), _f64(m2), float(b.samples),
                                    _f64(bm), _f64(bq)),
               f"bn_moments_merge(features={f})")
    return Moments(float(a.samples) + float(b.samples), mean, m2)


def forward_with_moments(layer: BatchNorm, x: npt.ArrayLike, moments: Moments, *,
                         out: Optional[np.ndarray] = None) -> np.ndarray:
    """Training forward of this shard with the whole batch's moments
    (``bn_batchnorm_forward_with_moments``); the running statistics are
    updated as by a batch of ``moments.samples`` samples. The layer keeps a
    reference to x for the backward."""
    f = layer.features
    mean, m2 = _doubles(moments.mean, f, "mean"), _doubles(moments.m2, f, "m2")
    with layer._lock:
        layer._live()
        xa, ldx = _a.matrix(x, "x", f)
        y, ldy = _a.output(out, xa.shape)
        _a.disjoint(y, "out", [("x", xa)], alias=xa)
        layer._call(lib.bn_batchnorm_forward_with_moments, xa.shape[0], _a.pointer(xa), ldx,
                    _a.pointer(y), ldy, float(moments.samples), _f64(mean), _f64(m2))
        overwritten = np.may_share_memory(y, xa)
        layer._input = None if overwritten else (xa, ldx)
        layer._input_overwritten = overwritten
    return y


def _backward_operands(layer: BatchNorm, dy: npt.ArrayLike, x: Optional[npt.ArrayLike]):
    if x is not None:
        xa, ldx = _a.matrix(x, "x", layer.features)
    elif layer._input is not None:
        xa, ldx = layer._input
    else:
        raise WrongStateError("no forward input to differentiate (call forward_with_moments "
                              "first, or pass x=)")
    dya, lddy = _a.matrix(dy, "dy", layer.features)
    if dya.shape != xa.shape:
        raise ShapeMismatchError(f"dy has shape {dya.shape}, the forward's input {xa.shape}")
    return xa, ldx, dya, lddy


def backward_sums(layer: BatchNorm, dy: npt.ArrayLike, x: Optional[npt.ArrayLike] = None
                  ) -> Tuple[Float64Array, Float64Array]:
    """This shard's (sum dy, sum dy*xhat) per feature (``bn_batchnorm_backward_sums``);
    also this shard's share of dbeta and dgamma, left in the layer."""
    f = layer.features
    sum_dy, sum_dy_xhat = np.empty(f), np.empty(f)
    with layer._lock:
        layer._live()
        xa, ldx, dya, lddy = _backward_operands(layer, dy, x)
        layer._call(lib.bn_batchnorm_backward_sums, xa.shape[0], _a.pointer(xa), ldx,
                    _a.pointer(dya), lddy, _f64(sum_dy), _f64(sum_dy_xhat))
    return sum_dy, sum_dy_xhat


def backward_with_sums(layer: BatchNorm, dy: npt.ArrayLike, sum_dy: npt.ArrayLike,
                       sum_dy_xhat: npt.ArrayLike, x: Optional[npt.ArrayLike] = None, *,
                       out: Optional[np.ndarray] = None) -> np.ndarray:
    """This shard's dx from the sums over every shard (``bn_batchnorm_backward_with_sums``)."""
    f = layer.features
    sd, sdx = _doubles(sum_dy, f, "sum_dy"), _doubles(sum_dy_xhat, f, "sum_dy_xhat")
    with layer._lock:
        layer._live()
        xa, ldx, dya, lddy = _backward_operands(layer, dy, x)
        dx, lddx = _a.output(out, dya.shape)
        _a.disjoint(dx, "out", [("dy", dya), ("x", xa)], alias=dya)
        layer._call(lib.bn_batchnorm_backward_with_sums, xa.shape[0], _a.pointer(xa), ldx,
                    _a.pointer(dya), lddy, _a.pointer(dx), lddx, _f64(sd), _f64(sdx))
    return dx
