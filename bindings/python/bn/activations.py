"""Stateless activation kernels (bn/activations.h).

Arrays are (batch, features): elementwise functions act on each value,
softmax normalizes each sample (row) over its features. Transcendental
functions are evaluated in double and rounded once to float32. Non-finite
values propagate (ReLU keeps NaN; a softmax row holding NaN or +inf becomes
all NaN).

Outputs may be written in place: ``out=x`` for a forward, ``out=dy`` (or
``out=y``) for a backward; any other overlap is refused.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy.typing as npt

from . import _arrays as _a
from . import _lib
from ._arrays import Float32Array
from ._enums import Choice
from ._errors import InvalidArgumentError, ShapeMismatchError
from ._lib import lib

__all__ = [
    "Activation",
    "activation_forward",
    "activation_backward",
    "identity",
    "relu",
    "elu",
    "sigmoid",
    "tanh",
    "softmax",
]


class Activation(Choice):
    """Activation functions (enum bn_activation); :meth:`of` also takes a name ("relu")."""

    IDENTITY = _lib.BN_ACT_IDENTITY  #: y = x
    RELU = _lib.BN_ACT_RELU  #: y = max(0, x)
    ELU = _lib.BN_ACT_ELU  #: y = x if x > 0 else alpha*(exp(x) - 1)
    SIGMOID = _lib.BN_ACT_SIGMOID  #: y = 1/(1 + exp(-x))
    TANH = _lib.BN_ACT_TANH  #: y = tanh(x)
    SOFTMAX = _lib.BN_ACT_SOFTMAX  #: y = exp(x - max)/sum exp(x - max) per sample


ActivationLike = Union[Activation, int, str]


def activation_forward(kind: ActivationLike, x: npt.ArrayLike, alpha: float = 1.0, *,
                       out: Optional[Float32Array] = None) -> Float32Array:
    """y = act(x) (bn_activation_forward) for x of shape (batch, features).

    Args:
        kind: an :class:`Activation`, its value or its name.
        x: input, (batch, features) with batch, features > 0.
        alpha: ELU's alpha (finite, > 0); ignored by the others.
        out: optional float32 array for y; may be ``x`` itself.

    Returns:
        y, float32, the shape of x.

    Raises:
        InvalidArgumentError: a bad alpha, an empty array.
    """
    act = Activation.of(kind)
    alpha = _a.positive(alpha, "alpha", InvalidArgumentError) if act == Activation.ELU else alpha
    xa, ldx = _a.matrix(x, "x")
    n, f = xa.shape
    y, ldy = _a.output(out, xa.shape)
    _a.disjoint(y, "out", [("x", xa)], alias=xa)
    _lib.check(lib.bn_activation_forward(act, float(alpha), f, n, _a.pointer(xa), ldx,
                                         _a.pointer(y), ldy),
               f"bn_activation_forward({act.name}, alpha={alpha}, features={f}, batch={n})")
    return y


def activation_backward(kind: ActivationLike, y: npt.ArrayLike, dy: npt.ArrayLike,
                        alpha: float = 1.0, *,
                        out: Optional[Float32Array] = None) -> Float32Array:
    """dx = dy * act'(x), expressed through the forward's output y (bn_activation_backward).

    identity: dy; relu: dy*(y > 0); elu: dy if y > 0 else dy*(y + alpha);
    sigmoid: dy*y*(1 - y); tanh: dy*(1 - y**2);
    softmax: y*(dy - sum_k y_k dy_k) per sample.

    Args:
        kind: the forward's activation.
        y: the forward's output, (batch, features).
        dy: gradient w.r.t. y, same shape.
        alpha: ELU's alpha, as in the forward.
        out: optional float32 array for dx; may be ``dy`` or ``y`` itself.
    """
    act = Activation.of(kind)
    alpha = _a.positive(alpha, "alpha", InvalidArgumentError) if act == Activation.ELU else alpha
    ya, ldy = _a.matrix(y, "y")
    dya, lddy = _a.matrix(dy, "dy", ya.shape[1])
    if dya.shape != ya.shape:
        raise ShapeMismatchError(f"dy has shape {dya.shape}, y {ya.shape}")
    n, f = ya.shape
    dx, lddx = _a.output(out, ya.shape)
    _a.disjoint(dx, "out", [("y", ya)], alias=ya)
    _a.disjoint(dx, "out", [("dy", dya)], alias=dya)
    _lib.check(lib.bn_activation_backward(act, float(alpha), f, n, _a.pointer(ya), ldy,
                                          _a.pointer(dya), lddy, _a.pointer(dx), lddx),
               f"bn_activation_backward({act.name}, alpha={alpha}, features={f}, batch={n})")
    return dx


def identity(x: npt.ArrayLike, *, out: Optional[Float32Array] = None) -> Float32Array:
    """y = x as float32 (a copy, or ``out``)."""
    return activation_forward(Activation.IDENTITY, x, out=out)


def relu(x: npt.ArrayLike, *, out: Optional[Float32Array] = None) -> Float32Array:
    """y = max(0, x) (NaN stays NaN)."""
    return activation_forward(Activation.RELU, x, out=out)


def elu(x: npt.ArrayLike, alpha: float = 1.0, *,
        out: Optional[Float32Array] = None) -> Float32Array:
    """y = x if x > 0 else alpha*(exp(x) - 1); alpha finite and > 0."""
    return activation_forward(Activation.ELU, x, alpha, out=out)


def sigmoid(x: npt.ArrayLike, *, out: Optional[Float32Array] = None) -> Float32Array:
    """y = 1/(1 + exp(-x)), stable for large |x|."""
    return activation_forward(Activation.SIGMOID, x, out=out)


def tanh(x: npt.ArrayLike, *, out: Optional[Float32Array] = None) -> Float32Array:
    """y = tanh(x)."""
    return activation_forward(Activation.TANH, x, out=out)


def softmax(x: npt.ArrayLike, *, out: Optional[Float32Array] = None) -> Float32Array:
    """Softmax of each sample (row of x) over its features, max-subtracted."""
    return activation_forward(Activation.SOFTMAX, x, out=out)
