"""numpy <-> C layout: validation and (at most one) conversion of arrays.

libbn matrices are column-major (features x batch) with a leading dimension
ld >= features. A numpy float32 array of shape (batch, features) whose rows are
contiguous (unit stride along features) is exactly that, with
ld = strides[0] / 4, whether it is C-contiguous (ld = features) or a column
slice of a wider array (ld > features). Such inputs are passed as they are;
anything else (another dtype, non-contiguous rows, negative strides) is
converted once to a C-contiguous float32 copy. Outputs are never copied: an
``out=`` array that does not fit is an error.

Every check here runs before a pointer reaches C.
"""

from __future__ import annotations

import ctypes
import operator
from typing import Iterable, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._errors import InvalidArgumentError, NonFiniteError, ShapeMismatchError

FLOAT_P = ctypes.POINTER(ctypes.c_float)
INT32_P = ctypes.POINTER(ctypes.c_int32)
#: Largest value a size_t argument can hold (ctypes would wrap larger ints silently).
SIZE_MAX = (1 << (8 * ctypes.sizeof(ctypes.c_size_t))) - 1
_F32 = np.dtype(np.float32)  # native byte order

#: A float32 numpy array: what the binding returns, and what an ``out=`` must be.
Float32Array = npt.NDArray[np.float32]
#: What the from_bytes() methods accept (anything with the buffer protocol).
BytesLike = Union[bytes, bytearray, memoryview]


def _leading_dimension(a: np.ndarray) -> Optional[int]:
    """ld if the 2-D array ``a`` can be handed to C as it is, else None."""
    if a.dtype != _F32 or not a.flags.aligned:
        return None
    batch, features = a.shape
    row_stride, col_stride = a.strides
    if features > 1 and col_stride != _F32.itemsize:
        return None
    if batch <= 1:
        return max(features, 1)
    if row_stride <= 0 or row_stride % _F32.itemsize:
        return None
    ld = row_stride // _F32.itemsize
    return ld if ld >= features else None


def _numeric(a: np.ndarray, name: str) -> None:
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")


def matrix(x, name: str, features: Optional[int] = None) -> Tuple[np.ndarray, int]:
    """An input of shape (batch, features) as (float32 array, ld), copied only if needed."""
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    if a.ndim != 2:
        raise ShapeMismatchError(f"{name} must be 2-D (batch, features), got shape {a.shape}")
    if features is not None and a.shape[1] != features:
        raise ShapeMismatchError(f"{name} has {a.shape[1]} features, expected {features} "
                                 f"(shape {a.shape})")
    _numeric(a, name)
    ld = _leading_dimension(a)
    if ld is None:
        a = np.ascontiguousarray(a, dtype=_F32)
        ld = max(a.shape[1], 1)
    return a, ld


def vector(v, features: int, name: str) -> np.ndarray:
    """An input of shape (features,) as a contiguous float32 array, copied only if needed."""
    a = v if isinstance(v, np.ndarray) else np.asarray(v)
    if a.shape != (features,):
        raise ShapeMismatchError(f"{name} must have shape ({features},), got {a.shape}")
    _numeric(a, name)
    if a.dtype == _F32 and a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.ascontiguousarray(a, dtype=_F32)


def contiguous(values, shape: Tuple[int, ...], name: str) -> np.ndarray:
    """An input of exactly ``shape`` as a C-contiguous float32 array, copied only if needed
    (a weight matrix (out, in), a vector (features,))."""
    a = values if isinstance(values, np.ndarray) else np.asarray(values)
    if a.shape != tuple(shape):
        raise ShapeMismatchError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    _numeric(a, name)
    if a.dtype == _F32 and a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.ascontiguousarray(a, dtype=_F32)


def labels(values, batch: int, classes: int, name: str = "labels") -> np.ndarray:
    """Class labels as a contiguous int32 array of shape (batch,), every value in
    [0, classes) (checked here, before any narrowing to int32 could wrap)."""
    a = values if isinstance(values, np.ndarray) else np.asarray(values)
    if a.ndim != 1 or a.shape[0] != batch:
        raise ShapeMismatchError(f"{name} must have shape ({batch},) (one per sample), "
                                 f"got {a.shape}")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {a.dtype}")
    if batch:
        low, high = int(a.min()), int(a.max())
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            index = int(np.argmax(a == bad))
            raise InvalidArgumentError(f"{name}[{index}] = {bad} is outside [0, {classes})")
    if a.dtype == np.int32 and a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.ascontiguousarray(a, dtype=np.int32)


def size(value, name: str, minimum: int = 0) -> int:
    """A size_t argument: an integer >= ``minimum`` that fits (else ValueError/OverflowError
    naming the argument: "batch_size must be >= 1, got 0")."""
    value = operator.index(value)
    if value < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {value}")
    if value > SIZE_MAX:
        raise OverflowError(f"{name} = {value} does not fit in size_t")
    return value


def positive(value: float, name: str, non_finite: type = NonFiniteError) -> float:
    """A scalar the library takes as a float32 that must be finite and > 0 (eps,
    ELU's alpha), checked here so that the error names it: the stateless kernels
    return a bare status. ``non_finite`` is the error the library gives for
    NaN or infinity (NonFiniteError for eps, InvalidArgumentError for alpha)."""
    number = float(value)
    if not np.isfinite(number):
        raise non_finite(f"{name} must be finite, got {value!r}")
    if not np.float32(number) > 0:
        rounds = " (it rounds to 0 in float32)" if number > 0 else ""
        raise InvalidArgumentError(f"{name} must be > 0, got {value!r}{rounds}")
    return number


def output(out: Optional[np.ndarray], shape: Tuple[int, ...], name: str = "out"
           ) -> Tuple[np.ndarray, int]:
    """A new (batch, features) float32 array, or ``out`` checked to be usable as it is."""
    if out is None:
        return np.empty(shape, dtype=_F32), max(shape[1], 1)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(out).__name__}")
    if out.dtype != _F32:
        raise TypeError(f"{name} must have dtype float32, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ShapeMismatchError(f"{name} has shape {out.shape}, expected {tuple(shape)}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    ld = _leading_dimension(out)
    if ld is None:
        raise ValueError(
            f"{name} must have unit stride along features and a positive row stride of at "
            f"least features*4 bytes (strides {out.strides}); outputs are never copied")
    return out, ld


def disjoint(out: np.ndarray, out_name: str, inputs: Iterable[Tuple[str, Optional[np.ndarray]]],
             alias: Optional[np.ndarray] = None) -> None:
    """Reject an output that overlaps an input, except ``out`` being ``alias`` itself.

    The C kernels allow y == x (same buffer, same leading dimension) and
    nothing else; a partial overlap would silently give wrong results.
    """
    for in_name, a in inputs:
        if a is None or not np.may_share_memory(out, a):
            continue
        if (a is alias and a.ctypes.data == out.ctypes.data and a.shape == out.shape
                and a.strides == out.strides):
            continue
        if np.shares_memory(out, a):
            allowed = f" (only {out_name} = {in_name} itself is allowed)" if a is alias else ""
            raise ValueError(f"{out_name} overlaps {in_name}{allowed}")


def pointer(a: Optional[np.ndarray]):
    """float * to the first element of ``a``, or NULL for None."""
    return None if a is None else a.ctypes.data_as(FLOAT_P)


def int32_pointer(a: Optional[np.ndarray]):
    """int32_t * to the first element of ``a``, or NULL for None."""
    return None if a is None else a.ctypes.data_as(INT32_P)
