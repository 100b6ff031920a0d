"""Ownership of one C handle: close(), context manager, finalizer, errors.

A subclass sets ``_kind`` (a :class:`bn._lib.HandleKind`) and calls
``Handle.__init__`` with a freshly created pointer. BatchNorm uses it; Dense
and MLP are meant to reuse it unchanged.

Thread-safety: the C API allows one thread per handle at a time, and ctypes
releases the GIL during calls, so every call on a handle (and close()) runs
under a per-object lock. Concurrent use from several threads is serialized
rather than undefined, and close() can never free a handle mid-call.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any, Callable, ClassVar, Optional, TypeVar

from . import _lib
from ._errors import ClosedError, error_for

_H = TypeVar("_H", bound="Handle")


class Handle:
    """Base class of the Python objects that own a libbn handle."""

    _kind: ClassVar[_lib.HandleKind]

    def __init__(self, pointer: Any) -> None:
        self._ptr: Optional[Any] = pointer
        self._lock = threading.RLock()
        # Releases the handle when the object is collected (or at exit), once.
        self._finalizer = weakref.finalize(self, self._kind.destroy, pointer)

    # -- lifetime ---------------------------------------------------------

    def close(self) -> None:
        """Release the C handle now. Idempotent; later calls raise :class:`bn.ClosedError`."""
        with self._lock:
            self._ptr = None
            self._finalizer()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._ptr is None

    def __enter__(self: _H) -> _H:
        self._live()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __reduce__(self):
        # The default would copy the raw pointer into a second object (double
        # free). Subclasses that can serialize themselves override this.
        raise TypeError(f"{type(self).__name__} objects cannot be copied or pickled")

    # -- calls ------------------------------------------------------------

    def _live(self) -> Any:
        ptr = self._ptr
        if ptr is None:
            raise ClosedError(f"this {self._kind.name} is closed")
        return ptr

    def _call(self, fn: Callable[..., int], *args: Any) -> None:
        """Call ``fn(handle, *args)`` and raise the matching bn.Error on failure.

        The message is the handle's last error, prefixed with the status name.
        """
        with self._lock:
            ptr = self._live()
            status = fn(ptr, *args)
            if status:
                raise error_for(status, self._message(ptr, status))

    def _message(self, ptr: Any, status: int) -> str:
        name = _lib.status_string(status)
        text = (self._kind.last_error(ptr) or b"").decode("utf-8", "replace")
        return f"{name}: {text}" if text else name

    def _state_blob(self, size_fn: Callable[..., int], save_fn: Callable[..., int]) -> bytes:
        """A state blob through the C pair ``size_fn(handle, size_t *)`` and
        ``save_fn(handle, buffer, capacity, size_t *written)``."""
        with self._lock:
            size = ctypes.c_size_t()
            self._call(size_fn, ctypes.byref(size))
            buffer = ctypes.create_string_buffer(size.value)
            written = ctypes.c_size_t()
            self._call(save_fn, buffer, size.value, ctypes.byref(written))
            return buffer.raw[: written.value]
