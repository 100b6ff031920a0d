"""Exceptions raised for libbn status codes (include/bn/status.h).

Every non-zero ``bn_status`` becomes an instance of a subclass of
:class:`Error`. Each subclass also derives from the builtin exception a Python
caller would expect (``ValueError`` for bad arguments, ``MemoryError`` for a
failed allocation, ...), so ``except ValueError`` keeps working for code that
does not know about libbn.

This module knows nothing about the shared library: callers pass the message
(a handle's last error, or ``bn_status_string``). Later layers (Dense, MLP)
reuse :func:`error_for` unchanged; a status code added to the C API needs one
class here and one entry in ``_BY_STATUS``.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "Error",
    "InvalidArgumentError",
    "ShapeMismatchError",
    "OutOfMemoryError",
    "SizeOverflowError",
    "WrongStateError",
    "ClosedError",
    "BatchTooSmallError",
    "NonFiniteError",
    "InputOutputError",
    "FormatError",
    "BadMagicError",
    "VersionMismatchError",
    "BadSizeError",
    "ChecksumError",
    "BadFormatError",
    "UnsupportedError",
    "error_for",
]

# Numeric values of bn_status; they never change meaning (status.h).
OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_SHAPE_MISMATCH = 2
ERR_OUT_OF_MEMORY = 3
ERR_SIZE_OVERFLOW = 4
ERR_WRONG_STATE = 5
ERR_BATCH_TOO_SMALL = 6
ERR_NON_FINITE = 7
ERR_IO = 8
ERR_BAD_MAGIC = 9
ERR_VERSION_MISMATCH = 10
ERR_BAD_SIZE = 11
ERR_CHECKSUM = 12
ERR_BAD_FORMAT = 13
ERR_UNSUPPORTED = 14


class Error(Exception):
    """Base class of every libbn error.

    Attributes:
        status: the numeric ``bn_status`` (``None`` only for an Error raised
            with no status).
        message: the library's explanation (the handle's last error, or the
            status name when the call had no handle).
    """

    #: The bn_status this class stands for (None on the base class).
    default_status: Optional[int] = None

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message: str = message
        self.status: Optional[int] = self.default_status if status is None else int(status)

    def __reduce__(self):  # keep .status through pickling (multiprocessing)
        return (type(self), (self.message, self.status))


class InvalidArgumentError(Error, ValueError):
    """BN_ERR_INVALID_ARGUMENT: a NULL pointer, zero size, ld < rows, option out of range."""

    default_status = ERR_INVALID_ARGUMENT


class ShapeMismatchError(Error, ValueError):
    """BN_ERR_SHAPE_MISMATCH: sizes that must agree do not."""

    default_status = ERR_SHAPE_MISMATCH


class OutOfMemoryError(Error, MemoryError):
    """BN_ERR_OUT_OF_MEMORY: an allocation failed; the object is unchanged."""

    default_status = ERR_OUT_OF_MEMORY


class SizeOverflowError(Error, OverflowError):
    """BN_ERR_SIZE_OVERFLOW: a size computation would overflow size_t."""

    default_status = ERR_SIZE_OVERFLOW


class WrongStateError(Error, RuntimeError):
    """BN_ERR_WRONG_STATE: the call is not valid now (e.g. backward before forward)."""

    default_status = ERR_WRONG_STATE


class ClosedError(WrongStateError):
    """The object was closed; its C handle is released. Raised by the binding."""


class BatchTooSmallError(Error, ValueError):
    """BN_ERR_BATCH_TOO_SMALL: training statistics need at least two samples."""

    default_status = ERR_BATCH_TOO_SMALL


class NonFiniteError(Error, FloatingPointError):
    """BN_ERR_NON_FINITE: a NaN or infinity where a finite value is required."""

    default_status = ERR_NON_FINITE


class InputOutputError(Error, OSError):
    """BN_ERR_IO: reading or writing a file failed (the message says why)."""

    default_status = ERR_IO


class FormatError(Error, ValueError):
    """Base of the errors for a serialized blob or file that cannot be read."""


class BadMagicError(FormatError):
    """BN_ERR_BAD_MAGIC: the blob does not start with the expected magic."""

    default_status = ERR_BAD_MAGIC


class VersionMismatchError(FormatError):
    """BN_ERR_VERSION_MISMATCH: a format version this library cannot read."""

    default_status = ERR_VERSION_MISMATCH


class BadSizeError(FormatError):
    """BN_ERR_BAD_SIZE: the blob is truncated or longer than its header says."""

    default_status = ERR_BAD_SIZE


class ChecksumError(FormatError):
    """BN_ERR_CHECKSUM: the blob's checksum does not match its contents."""

    default_status = ERR_CHECKSUM


class BadFormatError(FormatError):
    """BN_ERR_BAD_FORMAT: the blob is well-formed but holds invalid values."""

    default_status = ERR_BAD_FORMAT


class UnsupportedError(Error, NotImplementedError):
    """BN_ERR_UNSUPPORTED: valid, but not supported by this build."""

    default_status = ERR_UNSUPPORTED


_BY_STATUS: Dict[int, Type[Error]] = {
    int(cls.default_status or 0): cls  # each of these has its status
    for cls in (
        InvalidArgumentError,
        ShapeMismatchError,
        OutOfMemoryError,
        SizeOverflowError,
        WrongStateError,
        BatchTooSmallError,
        NonFiniteError,
        InputOutputError,
        BadMagicError,
        VersionMismatchError,
        BadSizeError,
        ChecksumError,
        BadFormatError,
        UnsupportedError,
    )
}


def error_for(status: int, message: str) -> Error:
    """The exception for a non-zero ``bn_status`` (an unknown code gives :class:`Error`)."""
    return _BY_STATUS.get(int(status), Error)(message, int(status))
