"""The seeded random generator (bn/rng.h).

xoshiro256** seeded by splitmix64, with normals from the Marsaglia polar
method on libbn's own logarithm: the same seed gives bit-identical sequences
(and so identical initial weights) on every machine. There is no global
generator; each :class:`Rng` is its own state, held in Python memory.
"""

from __future__ import annotations

import ctypes
import operator
import threading
from typing import Any, Dict, Iterable, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _lib
from ._lib import lib

__all__ = ["Rng"]

_U64 = 1 << 64


def _seed(value: int) -> int:
    value = operator.index(value)
    if not 0 <= value < _U64:
        raise OverflowError(f"seed must be in [0, 2**64), got {value}")
    return value


class Rng:
    """A seeded generator (struct bn_rng): pass it to :meth:`bn.Dense.init`,
    :meth:`bn.MLP.init` or :meth:`bn.MLP.fit` to make them reproducible.

    Any seed in [0, 2**64) is valid. One thread at a time (calls from several
    threads are serialized). Copies (``copy.copy``, pickling) continue the
    same sequence independently.

    Example::

        rng = bn.Rng(42)
        rng.next_u64(), rng.uniform(), rng.normal(), rng.normal(size=3)
    """

    def __init__(self, seed: int = 0) -> None:
        self._struct = _lib.RngState()
        self._lock = threading.Lock()
        _lib.check(lib.bn_rng_seed(ctypes.byref(self._struct), _seed(seed)),
                   f"bn_rng_seed({seed})")

    def _pointer(self):
        """A ``bn_rng *`` for a C call (the caller holds ``self._lock``)."""
        return ctypes.pointer(self._struct)

    def _draw(self, fn, ctype, what: str, size: Optional[int]):
        value = ctype()
        with self._lock:
            if size is None:
                _lib.check(fn(ctypes.byref(self._struct), ctypes.byref(value)), what)
                return value.value
            n = operator.index(size)
            if n < 0:
                raise ValueError(f"size must be >= 0, got {n}")
            out = np.empty(n, dtype=np.uint64 if ctype is ctypes.c_uint64 else np.float64)
            for i in range(n):
                _lib.check(fn(ctypes.byref(self._struct), ctypes.byref(value)), what)
                out[i] = value.value
            return out

    def next_u64(self, size: Optional[int] = None) -> Union[int, npt.NDArray[np.uint64]]:
        """The next 64 random bits (bn_rng_next_u64); an array of ``size`` of them if given."""
        return self._draw(lib.bn_rng_next_u64, ctypes.c_uint64, "bn_rng_next_u64", size)

    def uniform(self, size: Optional[int] = None) -> Union[float, npt.NDArray[np.float64]]:
        """Uniform double in [0, 1) (bn_rng_uniform: (next_u64 >> 11) * 2**-53)."""
        return self._draw(lib.bn_rng_uniform, ctypes.c_double, "bn_rng_uniform", size)

    def normal(self, size: Optional[int] = None) -> Union[float, npt.NDArray[np.float64]]:
        """Standard normal double (bn_rng_normal, polar method; the second variate is dropped)."""
        return self._draw(lib.bn_rng_normal, ctypes.c_double, "bn_rng_normal", size)

    @property
    def state(self) -> Tuple[int, int, int, int]:
        """The four xoshiro256** state words (settable; not all zero)."""
        with self._lock:
            a, b, c, d = (int(w) for w in self._struct.state)
        return (a, b, c, d)

    @state.setter
    def state(self, words: Iterable[int]) -> None:
        words = tuple(operator.index(w) for w in words)
        if len(words) != 4 or not all(0 <= w < _U64 for w in words):
            raise ValueError("state must be four integers in [0, 2**64)")
        if not any(words):
            raise ValueError("state must not be all zero (xoshiro would only return zeros)")
        with self._lock:
            self._struct.state[:] = words

    def __getstate__(self) -> Dict[str, Any]:
        return {"state": self.state}

    def __setstate__(self, d: Dict[str, Any]) -> None:
        self._struct = _lib.RngState()
        self._lock = threading.Lock()
        self.state = d["state"]

    def __repr__(self) -> str:
        return f"<bn.Rng state={self.state}>"


def as_rng(seed: Union[int, Rng]) -> Rng:
    """``seed`` itself if it is an Rng, else a new Rng seeded with it."""
    return seed if isinstance(seed, Rng) else Rng(seed)
