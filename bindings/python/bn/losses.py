"""Fused, numerically stable losses (bn/losses.h).

Logits are (batch, classes) or (batch, outputs). The loss is the mean over
the batch (accumulated in double, rounded once); the gradient is that of the
mean. Every input is validated before anything is written.
"""

from __future__ import annotations

import ctypes
from typing import List, Optional, Tuple

import numpy as np
import numpy.typing as npt

from . import _arrays as _a
from . import _lib
from ._arrays import Float32Array
from ._errors import ShapeMismatchError
from ._lib import lib

__all__ = ["softmax_cross_entropy", "sigmoid_binary_cross_entropy"]


def _gradient(grad: bool, out: Optional[Float32Array], shape: Tuple[int, ...],
              inputs: List[Tuple[str, np.ndarray]]
              ) -> Tuple[Optional[Float32Array], int]:
    if not grad:
        if out is not None:
            raise ValueError("out= given with grad=False")
        return None, 0
    d, ldd = _a.output(out, shape)
    for name, a in inputs:
        _a.disjoint(d, "out", [(name, a)], alias=a)
    return d, ldd


def softmax_cross_entropy(logits: npt.ArrayLike, labels: npt.ArrayLike, *,
                          grad: bool = True, out: Optional[Float32Array] = None
                          ) -> Tuple[float, Optional[Float32Array]]:
    """Softmax + cross-entropy from integer labels (bn_softmax_cross_entropy).

    loss = mean_j [logsumexp(z_j) - z_j[label_j]], stable for logits of any
    magnitude; dlogits = (softmax(z) - onehot(labels)) / batch.

    Args:
        logits: (batch, classes), finite.
        labels: (batch,) integers in [0, classes) (checked before the call).
        grad: False to skip the gradient (dlogits is then None).
        out: optional float32 (batch, classes) array for dlogits; may be ``logits``.

    Returns:
        (loss, dlogits).

    Raises:
        InvalidArgumentError: a label out of range, an empty batch.
        NonFiniteError: a logit is NaN or infinite.
    """
    za, ld = _a.matrix(logits, "logits")
    n, c = za.shape
    lab = _a.labels(labels, n, c)
    d, ldd = _gradient(grad, out, za.shape, [("logits", za)])
    loss = ctypes.c_float()
    _lib.check(lib.bn_softmax_cross_entropy(c, n, _a.pointer(za), ld, _a.int32_pointer(lab),
                                            ctypes.byref(loss), _a.pointer(d), ldd),
               f"bn_softmax_cross_entropy(classes={c}, batch={n})")
    return loss.value, d


def sigmoid_binary_cross_entropy(logits: npt.ArrayLike, targets: npt.ArrayLike, *,
                                 grad: bool = True, out: Optional[Float32Array] = None
                                 ) -> Tuple[float, Optional[Float32Array]]:
    """Sigmoid + binary cross-entropy per element (bn_sigmoid_binary_cross_entropy).

    loss = mean over every element of max(z,0) - z*t + log(1 + exp(-|z|));
    dlogits = (sigmoid(z) - t) / (batch*outputs).

    Args:
        logits: (batch, outputs), finite.
        targets: same shape, values in [0, 1] (soft targets allowed).
        grad: False to skip the gradient.
        out: optional float32 array for dlogits; may be ``logits`` or ``targets``.

    Returns:
        (loss, dlogits).

    Raises:
        InvalidArgumentError: a target outside [0, 1] (or NaN).
        NonFiniteError: a logit is NaN or infinite.
    """
    za, ld = _a.matrix(logits, "logits")
    n, k = za.shape
    ta, ldt = _a.matrix(targets, "targets", k)
    if ta.shape != za.shape:
        raise ShapeMismatchError(f"targets has shape {ta.shape}, logits {za.shape}")
    if ldt != ld:  # the C function reads both with one leading dimension
        za, ta = np.ascontiguousarray(za), np.ascontiguousarray(ta)
        ld = max(k, 1)
    d, ldd = _gradient(grad, out, za.shape, [("logits", za), ("targets", ta)])
    loss = ctypes.c_float()
    _lib.check(lib.bn_sigmoid_binary_cross_entropy(k, n, _a.pointer(za), ld, _a.pointer(ta),
                                                   ctypes.byref(loss), _a.pointer(d), ldd),
               f"bn_sigmoid_binary_cross_entropy(outputs={k}, batch={n})")
    return loss.value, d
