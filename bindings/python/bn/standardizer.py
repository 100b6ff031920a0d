"""The input standardizer (bn/standardizer.h), shaped like scikit-learn's
StandardScaler.

Arrays are numpy, shape (batch, features): sample j is row j. Data are
float32 (other inputs are converted once); the fitted attributes are float64,
as the C library keeps them.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Dict, Optional, Tuple

import numpy as np
import numpy.typing as npt

from . import _arrays as _a
from . import _lib
from ._arrays import BytesLike, Float32Array
from ._errors import ClosedError, InvalidArgumentError, WrongStateError
from ._handle import Handle
from ._lib import lib

__all__ = ["Standardizer"]

_F64P = ctypes.POINTER(ctypes.c_double)


class _StandardizerHandle(Handle):
    """One bn_standardizer of a fixed feature count (owned by a Standardizer)."""

    _kind = _lib.STANDARDIZER

    def __init__(self, pointer: Any, features: int) -> None:
        super().__init__(pointer)
        self.features = features

    @classmethod
    def create(cls, features: int) -> "_StandardizerHandle":
        ptr = _lib.StandardizerHandle()
        _lib.check(lib.bn_standardizer_create(ctypes.byref(ptr), features),
                   f"bn_standardizer_create(features={features})")
        return cls(ptr, features)

    @classmethod
    def from_state(cls, blob: bytes) -> "_StandardizerHandle":
        ptr = _lib.StandardizerHandle()
        _lib.check(lib.bn_standardizer_create_from_state(ctypes.byref(ptr), blob, len(blob)),
                   "bn_standardizer_create_from_state")
        features = ctypes.c_size_t()
        handle = cls(ptr, 0)
        handle._call(lib.bn_standardizer_features, ctypes.byref(features))
        handle.features = features.value
        return handle

    def count(self) -> int:
        value = ctypes.c_uint64()
        self._call(lib.bn_standardizer_count, ctypes.byref(value))
        return value.value

    def vector(self, which: int) -> np.ndarray:
        values = np.empty(self.features, dtype=np.float64)
        self._call(lib.bn_standardizer_get, which, values.ctypes.data_as(_F64P), self.features)
        return values

    def option(self, param: int) -> bool:
        value = ctypes.c_double()
        self._call(lib.bn_standardizer_get_parameter, param, ctypes.byref(value))
        return value.value != 0.0

    def set_option(self, param: int, on: bool) -> None:
        self._call(lib.bn_standardizer_set_parameter, param, 1.0 if on else 0.0)

    def to_bytes(self) -> bytes:
        return self._state_blob(lib.bn_standardizer_state_size, lib.bn_standardizer_save_state)


class Standardizer:
    """Standardize features by their mean and standard deviation over a whole
    data set (bn_standardizer), as scikit-learn's StandardScaler::

        y = (x - mean_) / scale_

    per feature, with the population (biased) variance ``var_`` and
    ``scale_ = sqrt(var_)``, except that a constant feature gets scale 1 (it is
    only centered). :meth:`partial_fit` over chunks gives the statistics of
    their concatenation (exact count/mean/M2 merge in double).

    Differences from scikit-learn, on purpose: data are float32 (transforms
    return float32, computed in double and rounded once); NaN or infinity in
    the data given to fit is refused (:class:`bn.NonFiniteError`) instead of
    being skipped as missing; transforming before fitting raises
    :class:`bn.WrongStateError`; sparse input and ``sample_weight`` are not
    supported; ``mean_``, ``var_`` and ``scale_`` follow the current
    ``with_mean`` / ``with_std`` (which may be changed at any time without
    refitting).

    The object owns a C handle once fitted: release it with :meth:`close` or a
    ``with`` block (it is also released when the object is collected). Calls
    from several threads are serialized.

    Example::

        with bn.Standardizer() as scaler:
            y = scaler.fit_transform(x_train)      # x_train: (batch, features)
            y_test = scaler.transform(x_test)
            state = scaler.to_bytes()
    """

    def __init__(self, *, copy: bool = True, with_mean: bool = True,
                 with_std: bool = True) -> None:
        self._lock = threading.RLock()
        self._handle: Optional[_StandardizerHandle] = None
        self._closed = False
        #: Default of the ``copy`` argument of :meth:`transform` and
        #: :meth:`inverse_transform`: False lets them work in place when the
        #: input is a writable float32 array with contiguous rows.
        self.copy = bool(copy)
        self._with_mean = bool(with_mean)
        self._with_std = bool(with_std)

    # -- lifetime ----------------------------------------------------------

    def close(self) -> None:
        """Release the C handle now. Idempotent; later calls raise :class:`bn.ClosedError`."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
            self._handle = None
            self._closed = True

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def __enter__(self) -> "Standardizer":
        self._live()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _live(self) -> None:
        if self._closed:
            raise ClosedError("this Standardizer is closed")

    def _fitted(self) -> _StandardizerHandle:
        """The handle of a fitted standardizer, or AttributeError (as an unfitted
        scikit-learn estimator has no fitted attributes)."""
        self._live()
        handle = self._handle
        if handle is None or handle.count() == 0:
            raise AttributeError("this Standardizer is not fitted yet: call fit() or "
                                 "partial_fit() first")
        return handle

    def _replace(self, handle: _StandardizerHandle) -> None:
        old, self._handle = self._handle, handle
        if old is not None:
            old.close()

    def _new_handle(self, features: int) -> _StandardizerHandle:
        handle = _StandardizerHandle.create(features)
        try:
            handle.set_option(_lib.BN_STANDARDIZER_WITH_MEAN, self._with_mean)
            handle.set_option(_lib.BN_STANDARDIZER_WITH_STD, self._with_std)
        except BaseException:
            handle.close()
            raise
        return handle

    # -- fitting -----------------------------------------------------------

    @staticmethod
    def _no_weights(sample_weight: Optional[npt.ArrayLike]) -> None:
        if sample_weight is not None:
            raise NotImplementedError("sample_weight is not supported by bn.Standardizer")

    def fit(self, X: npt.ArrayLike, y: Any = None,
            sample_weight: Optional[npt.ArrayLike] = None) -> "Standardizer":
        """Compute the mean and standard deviation of each feature of ``X``
        (shape (samples, features)), replacing any earlier statistics; the
        feature count may differ from an earlier fit. ``y`` is ignored.

        Raises:
            InvalidArgumentError: no samples or no features.
            NonFiniteError: X holds NaN or infinity (nothing changes).
        """
        self._no_weights(sample_weight)
        with self._lock:
            self._live()
            xa, ld = _a.matrix(X, "X")
            samples, features = xa.shape
            handle = self._handle
            fresh = handle is None or handle.features != features
            if handle is None or handle.features != features:  # = fresh; this lets mypy narrow
                if features == 0:
                    raise InvalidArgumentError(f"X has no features (shape {xa.shape})")
                handle = self._new_handle(features)
            try:
                handle._call(lib.bn_standardizer_fit, samples, _a.pointer(xa), ld)
            except BaseException:
                if fresh:
                    handle.close()
                raise
            if fresh:
                self._replace(handle)
        return self

    def partial_fit(self, X: npt.ArrayLike, y: Any = None,
                    sample_weight: Optional[npt.ArrayLike] = None) -> "Standardizer":
        """Add the samples of ``X`` to the statistics (the first call fits).
        ``y`` is ignored.

        Raises:
            ShapeMismatchError: X's feature count differs from the fitted one.
            InvalidArgumentError, NonFiniteError: as :meth:`fit` (nothing changes).
        """
        self._no_weights(sample_weight)
        with self._lock:
            self._live()
            handle = self._handle
            if handle is None:
                return self.fit(X)
            xa, ld = _a.matrix(X, "X", handle.features)
            handle._call(lib.bn_standardizer_partial_fit, xa.shape[0], _a.pointer(xa), ld)
        return self

    # -- transforms --------------------------------------------------------

    def _apply(self, fn: Any, X: npt.ArrayLike, copy: Optional[bool], name: str
               ) -> Float32Array:
        with self._lock:
            self._live()
            handle = self._handle
            if handle is None:
                raise WrongStateError(f"{name}() before fit(): this Standardizer is not fitted "
                                      "yet")
            xa, ldx = _a.matrix(X, "X", handle.features)
            want_copy = self.copy if copy is None else bool(copy)
            in_place = not want_copy and xa is X and xa.flags.writeable
            if in_place:
                out, ldout = xa, ldx
            else:
                out, ldout = _a.output(None, xa.shape)
            handle._call(fn, xa.shape[0], _a.pointer(xa), ldx, _a.pointer(out), ldout)
        return out

    def transform(self, X: npt.ArrayLike, copy: Optional[bool] = None) -> Float32Array:
        """Standardize ``X`` (shape (samples, features)): a float32 array.

        Args:
            X: the data; float32 with contiguous rows is read in place.
            copy: False writes the result into ``X`` itself when it is a
                writable float32 array with contiguous rows (otherwise a new
                array is returned anyway); None uses the ``copy`` given at
                construction.
        Raises:
            WrongStateError: not fitted.
            ShapeMismatchError: another feature count than the fitted one.
        """
        return self._apply(lib.bn_standardizer_transform, X, copy, "transform")

    def inverse_transform(self, X: npt.ArrayLike, copy: Optional[bool] = None) -> Float32Array:
        """Undo :meth:`transform`: ``X * scale_ + mean_`` per feature (float32).
        ``copy`` as in :meth:`transform`."""
        return self._apply(lib.bn_standardizer_inverse_transform, X, copy, "inverse_transform")

    def fit_transform(self, X: npt.ArrayLike, y: Any = None,
                      sample_weight: Optional[npt.ArrayLike] = None) -> Float32Array:
        """:meth:`fit` to ``X``, then return :meth:`transform` of ``X``."""
        return self.fit(X, y, sample_weight).transform(X)

    # -- options -------------------------------------------------------------

    def _set_option(self, param: int, value: bool) -> None:
        with self._lock:
            self._live()
            if self._handle is not None:
                self._handle.set_option(param, bool(value))
            if param == _lib.BN_STANDARDIZER_WITH_MEAN:
                self._with_mean = bool(value)
            else:
                self._with_std = bool(value)

    @property
    def with_mean(self) -> bool:
        """Subtract the mean in the transforms (changeable at any time)."""
        return self._with_mean

    @with_mean.setter
    def with_mean(self, value: bool) -> None:
        self._set_option(_lib.BN_STANDARDIZER_WITH_MEAN, value)

    @property
    def with_std(self) -> bool:
        """Divide by the scale in the transforms (changeable at any time)."""
        return self._with_std

    @with_std.setter
    def with_std(self, value: bool) -> None:
        self._set_option(_lib.BN_STANDARDIZER_WITH_STD, value)

    def get_params(self, deep: bool = True) -> Dict[str, bool]:
        """The constructor's arguments, as scikit-learn's get_params."""
        return {"copy": self.copy, "with_mean": self.with_mean, "with_std": self.with_std}

    def set_params(self, **params: bool) -> "Standardizer":
        """Set constructor arguments by name (copy, with_mean, with_std); returns self."""
        unknown = set(params) - {"copy", "with_mean", "with_std"}
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)} for Standardizer")
        for name, value in params.items():
            setattr(self, name, bool(value))
        return self

    # -- fitted attributes -----------------------------------------------------

    @property
    def n_features_in_(self) -> int:
        """Number of features seen by fit (AttributeError before)."""
        return self._fitted().features

    @property
    def n_samples_seen_(self) -> int:
        """Number of samples the statistics come from (AttributeError before a fit)."""
        return self._fitted().count()

    @property
    def mean_(self) -> Optional[np.ndarray]:
        """Per-feature mean, float64 (a copy); None when neither with_mean nor with_std."""
        handle = self._fitted()
        if not (self._with_mean or self._with_std):
            return None
        return handle.vector(_lib.BN_STANDARDIZER_MEAN)

    @property
    def var_(self) -> Optional[np.ndarray]:
        """Per-feature population variance, float64 (a copy); None without
        with_std (as scikit-learn)."""
        handle = self._fitted()
        if not self._with_std:
            return None
        return handle.vector(_lib.BN_STANDARDIZER_VAR)

    @property
    def scale_(self) -> Optional[np.ndarray]:
        """Per-feature scale sqrt(var_), 1 for constant features, float64 (a
        copy); None without with_std."""
        handle = self._fitted()
        if not self._with_std:
            return None
        return handle.vector(_lib.BN_STANDARDIZER_SCALE)

    # -- state -------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The state blob (bn_standardizer_save_state): options, count, means
        and M2, CRC-checked; a later :meth:`partial_fit` after :meth:`from_bytes`
        continues exactly. WrongStateError before any fit."""
        with self._lock:
            self._live()
            if self._handle is None:
                raise WrongStateError("to_bytes() before fit(): there is no state to save")
            return self._handle.to_bytes()

    def from_bytes(self, blob: BytesLike) -> None:
        """Replace the state (feature count and options included) by a blob
        from :meth:`to_bytes`. Raises a FormatError subclass (BadSizeError,
        BadMagicError, VersionMismatchError, ChecksumError, BadFormatError);
        on error nothing changes."""
        data = bytes(memoryview(blob))
        with self._lock:
            self._live()
            handle = _StandardizerHandle.from_state(data)
            self._with_mean = handle.option(_lib.BN_STANDARDIZER_WITH_MEAN)
            self._with_std = handle.option(_lib.BN_STANDARDIZER_WITH_STD)
            self._replace(handle)

    save_state = to_bytes
    load_state = from_bytes

    def __reduce__(self) -> Tuple[Any, ...]:
        with self._lock:
            self._live()
            blob = None if self._handle is None else self._handle.to_bytes()
            return (_restore, (self.get_params(), blob))

    def __repr__(self) -> str:
        if self._closed:
            return "<bn.Standardizer (closed)>"
        params = f"with_mean={self._with_mean} with_std={self._with_std}"
        handle = self._handle
        if handle is None or handle.count() == 0:
            return f"<bn.Standardizer {params} (not fitted)>"
        return (f"<bn.Standardizer {params} features={handle.features} "
                f"n_samples_seen={handle.count()}>")


def _restore(params: Dict[str, bool], blob: Optional[bytes]) -> Standardizer:
    scaler = Standardizer(**params)
    if blob is not None:
        scaler.from_bytes(blob)
    return scaler
