"""Loading libbn and declaring every C function the binding calls.

This is the only module that touches the shared library's symbols. Each
function gets its argtypes and restype here, in one table, so ctypes checks
every call; each opaque handle type gets its own pointer type (see
:func:`handle_type`), so a handle of one kind cannot be passed where another
is expected. No struct layout is hard-coded: sizes come from the library.

Search order for the library (the first that exists is loaded):

1. the file named by the environment variable ``BN_LIBRARY``
   (an error if it cannot be loaded: no silent fallback);
2. ``libbn.so.1`` / ``libbn.so`` next to this package;
3. for an installed package (``cmake --install``), the installed library,
   whose directory relative to the package is written into ``bn/_config.py``
   at install time (so a moved prefix still works);
4. the build tree of the source checkout this package sits in
   (``<repo>/build*/src/``, the most recently built first);
5. the system: ``ctypes.util.find_library("bn")``, then the SONAME ``libbn.so.1``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (POINTER, c_char_p, c_double, c_float, c_int, c_int32, c_size_t, c_uint,
                    c_uint64, c_void_p)
from pathlib import Path
from typing import Callable, Iterator, List, NamedTuple, Tuple, Type

from ._errors import error_for

#: The ABI major this binding is written against (the number after libbn.so.).
ABI_MAJOR = 1

_NAMES = ("libbn.so.1", "libbn.so")


def _candidates() -> Iterator[Tuple[str, str]]:
    """(path or name, where it came from) in search order, BN_LIBRARY excluded."""
    here = Path(__file__).resolve().parent
    for name in _NAMES:
        path = here / name
        if path.exists():
            yield str(path), "package folder"
    try:
        from . import _config  # type: ignore[attr-defined]  # written by cmake --install
    except ImportError:
        pass
    else:
        path = (here / _config.LIBRARY_DIR / _config.LIBRARY_NAME).resolve()
        if path.exists():
            yield str(path), "installed library (bn/_config.py)"
    repo = here.parents[2]  # bindings/python/bn -> repository root
    if (repo / "include" / "bn").is_dir():  # a source checkout, not site-packages
        found = [path for build in repo.glob("build*") for name in _NAMES
                 if (path := build / "src" / name).is_file()]
        found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for path in found:
            yield str(path), "build tree"
    system = ctypes.util.find_library("bn")
    if system:
        yield system, "system (find_library)"
    yield "libbn.so.1", "system (SONAME)"


def _load() -> Tuple[ctypes.CDLL, str]:
    override = os.environ.get("BN_LIBRARY")
    if override:
        try:
            return ctypes.CDLL(override), override
        except OSError as exc:
            raise ImportError(f"bn: cannot load BN_LIBRARY={override!r}: {exc}") from exc
    tried: List[str] = []
    for path, origin in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as exc:
            tried.append(f"  {path} ({origin}): {exc}")
    raise ImportError(
        "bn: cannot find libbn. Build it (cmake -S . -B build && cmake --build build) "
        "or set BN_LIBRARY to the path of libbn.so.1. Tried:\n" + "\n".join(tried)
    )


lib, LIBRARY_PATH = _load()


def _check_abi() -> None:
    """Refuse a library whose ABI major (bn_abi_version) is not ours."""
    for name in ("bn_abi_version", "bn_version_string"):
        if not hasattr(lib, name):
            raise ImportError(f"bn: {LIBRARY_PATH} is not libbn, or one older than this "
                              f"binding (it does not export {name})")
    abi, string = lib.bn_abi_version, lib.bn_version_string
    abi.argtypes, abi.restype = [], c_uint
    string.argtypes, string.restype = [], c_char_p
    major = abi()
    if major != ABI_MAJOR:
        raise ImportError(
            f"bn: {LIBRARY_PATH} is libbn {string().decode('utf-8', 'replace')} "
            f"(ABI major {major}), this binding needs ABI major {ABI_MAJOR}; "
            f"point BN_LIBRARY at a matching build"
        )


_check_abi()


# ---- opaque handle types --------------------------------------------------

def handle_type(c_name: str) -> Type[ctypes._Pointer]:
    """A distinct ctypes pointer type for the opaque C struct ``c_name``.

    Two handle types never convert into each other, so ctypes rejects (with
    ``ctypes.ArgumentError``) a bn_batchnorm* passed where a bn_dense* is
    declared. Later layers add one line each: ``DenseHandle = handle_type("bn_dense")``.
    """
    opaque = type(c_name, (ctypes.Structure,), {"_fields_": []})
    return POINTER(opaque)


BatchNormHandle = handle_type("bn_batchnorm")
DenseHandle = handle_type("bn_dense")
MLPHandle = handle_type("bn_mlp")


class RngState(ctypes.Structure):
    """struct bn_rng (bn/rng.h): public so it can live in the caller's memory;
    its size and meaning are part of the ABI."""

    _fields_ = [("state", c_uint64 * 4)]


# ---- constants mirrored from the headers -----------------------------------

# bn_mode
BN_MODE_TRAINING = 1
BN_MODE_INFERENCE = 2

# bn_batchnorm_tensor
BN_BATCHNORM_GAMMA = 1
BN_BATCHNORM_BETA = 2
BN_BATCHNORM_RUNNING_MEAN = 3
BN_BATCHNORM_RUNNING_VAR = 4
BN_BATCHNORM_DGAMMA = 5
BN_BATCHNORM_DBETA = 6
BN_BATCHNORM_SAVED_MEAN = 7
BN_BATCHNORM_SAVED_INVSTD = 8

# bn_batchnorm_kernel_flags
BN_KERNEL_FUSE_RELU = 1 << 0

# bn_batchnorm_flags
BN_BATCHNORM_NO_SCALE = 1 << 0
BN_BATCHNORM_NO_SHIFT = 1 << 1
BN_BATCHNORM_NO_RUNNING_STATS = 1 << 2
BN_BATCHNORM_CUMULATIVE_AVERAGE = 1 << 3
BN_BATCHNORM_BIASED_RUNNING_VAR = 1 << 4
BN_BATCHNORM_FUSE_RELU = 1 << 5
BN_BATCHNORM_RENORM = 1 << 6

# bn_batchnorm_param (Batch Renormalization's)
BN_BATCHNORM_RENORM_RMAX = 5
BN_BATCHNORM_RENORM_DMAX = 6
BN_BATCHNORM_RENORM_SCHEDULE = 7

# bn_activation
BN_ACT_IDENTITY = 0
BN_ACT_RELU = 1
BN_ACT_ELU = 2
BN_ACT_SIGMOID = 3
BN_ACT_TANH = 4
BN_ACT_SOFTMAX = 5

# bn_dense_flags, bn_init, bn_dense_tensor
BN_DENSE_NO_BIAS = 1 << 0
BN_INIT_ZEROS = 0
BN_INIT_HE_NORMAL = 1
BN_INIT_GLOROT_UNIFORM = 2
BN_INIT_GLOROT_NORMAL = 3
BN_DENSE_WEIGHT = 1
BN_DENSE_BIAS = 2
BN_DENSE_DWEIGHT = 3
BN_DENSE_DBIAS = 4

# bn_mlp_placement, bn_mlp_head, bn_mlp_flags, bn_mlp_optimizer
BN_MLP_BN_NONE = 0
BN_MLP_BN_BEFORE = 1
BN_MLP_BN_AFTER = 2
BN_MLP_HEAD_SOFTMAX = 1
BN_MLP_HEAD_SIGMOID = 2
BN_MLP_INPUT_BATCHNORM = 1 << 0
BN_MLP_BIASED_RUNNING_VAR = 1 << 1
BN_MLP_STANDARDIZE = 1 << 2
BN_MLP_HEAD_BATCHNORM = 1 << 3
BN_MLP_RENORM = 1 << 4
BN_MLP_SGD = 1
BN_MLP_MOMENTUM = 2
BN_MLP_NESTEROV = 3
BN_MLP_ADAM = 4
# bn_mlp_param
BN_MLP_OPTIMIZER = 1
BN_MLP_LEARNING_RATE = 2
BN_MLP_MOMENTUM_COEF = 3
BN_MLP_ADAM_BETA1 = 4
BN_MLP_ADAM_BETA2 = 5
BN_MLP_ADAM_EPSILON = 6
BN_MLP_WEIGHT_DECAY = 7
BN_MLP_DECAY_ALL = 8
BN_MLP_ELU_ALPHA = 9
BN_MLP_BN_EPSILON = 10
BN_MLP_BN_UPDATE_FACTOR = 11
BN_MLP_STEP = 12
BN_MLP_RENORM_RMAX = 13
BN_MLP_RENORM_DMAX = 14
BN_MLP_RENORM_SCHEDULE = 15
# bn_mlp_output
BN_MLP_LOGITS = 1
BN_MLP_PROBABILITIES = 2
# bn_mlp_tensor
BN_MLP_WEIGHT = 1
BN_MLP_BIAS = 2
BN_MLP_GAMMA = 3
BN_MLP_BETA = 4
BN_MLP_RUNNING_MEAN = 5
BN_MLP_RUNNING_VAR = 6
BN_MLP_DWEIGHT = 7
BN_MLP_DBIAS = 8
BN_MLP_DGAMMA = 9
BN_MLP_DBETA = 10
# bn_mlp_save_flags
BN_MLP_SAVE_OPTIMIZER = 1 << 0

#: Largest value a size_t argument can hold (ctypes wraps larger ints silently).
SIZE_MAX = (1 << (8 * ctypes.sizeof(c_size_t))) - 1


# ---- declarations -----------------------------------------------------------

_status = c_int  # bn_status (an enum: int-sized)
_f32p = POINTER(c_float)  # float * and const float *
_BN = BatchNormHandle
_DN = DenseHandle
_RNG = POINTER(RngState)
_ML = MLPHandle
_szp = POINTER(c_size_t)

#: bn_mlp_epoch_callback: int (*)(void *user, size_t epoch, float loss, float accuracy, double seconds)
EpochCallback = ctypes.CFUNCTYPE(c_int, c_void_p, c_size_t, c_float, c_float, c_double)
#: bn_mlp_batch_callback: int (*)(void *user, size_t epoch, size_t done, size_t total,
#:                                float loss, float accuracy)
BatchCallback = ctypes.CFUNCTYPE(c_int, c_void_p, c_size_t, c_size_t, c_size_t, c_float, c_float)
_i32p = POINTER(c_int32)  # const int32_t * (labels)

_SIGNATURES = {
    # status.h
    "bn_status_string": (c_char_p, [c_int]),
    "bn_version_string": (c_char_p, []),
    "bn_version_number": (c_uint, []),
    "bn_abi_version": (c_uint, []),
    # batchnorm_kernels.h
    "bn_batchnorm_forward_training": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, _f32p, c_float, c_uint,
        _f32p, c_size_t, _f32p, _f32p, _f32p]),
    "bn_batchnorm_forward_inference": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, _f32p, _f32p, _f32p, c_float, c_uint,
        _f32p, c_size_t]),
    "bn_batchnorm_backward_training": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f32p, _f32p, _f32p, _f32p,
        c_uint, _f32p, c_size_t, _f32p, _f32p]),
    "bn_batchnorm_backward_inference": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f32p, _f32p, _f32p, _f32p,
        c_float, c_uint, _f32p, c_size_t, _f32p, _f32p]),
    "bn_batchnorm_workspace_size": (_status, [c_size_t, POINTER(c_size_t)]),
    "bn_batchnorm_forward_training_ws": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, _f32p, c_float, c_uint,
        _f32p, c_size_t, _f32p, _f32p, _f32p, POINTER(c_double), c_void_p, c_size_t]),
    "bn_batchnorm_forward_inference_ws": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, _f32p, _f32p, _f32p, c_float, c_uint,
        _f32p, c_size_t, c_void_p, c_size_t]),
    "bn_batchnorm_backward_training_ws": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f32p, _f32p, POINTER(c_double),
        _f32p, _f32p, c_uint, _f32p, c_size_t, _f32p, _f32p, c_void_p, c_size_t]),
    "bn_batchnorm_backward_inference_ws": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f32p, _f32p, _f32p, _f32p,
        c_float, c_uint, _f32p, c_size_t, _f32p, _f32p, c_void_p, c_size_t]),
    # batchnorm.h
    "bn_batchnorm_create": (_status, [POINTER(_BN), c_size_t, c_uint]),
    "bn_batchnorm_destroy": (None, [_BN]),
    "bn_batchnorm_last_error": (c_char_p, [_BN]),
    "bn_batchnorm_features": (_status, [_BN, POINTER(c_size_t)]),
    "bn_batchnorm_flags": (_status, [_BN, POINTER(c_uint)]),
    "bn_batchnorm_set_eps": (_status, [_BN, c_float]),
    "bn_batchnorm_get_eps": (_status, [_BN, POINTER(c_float)]),
    "bn_batchnorm_set_update_factor": (_status, [_BN, c_float]),
    "bn_batchnorm_get_update_factor": (_status, [_BN, POINTER(c_float)]),
    "bn_batchnorm_set_threads": (_status, [_BN, c_uint]),
    "bn_batchnorm_get_threads": (_status, [_BN, POINTER(c_uint)]),
    "bn_batchnorm_batches_tracked": (_status, [_BN, POINTER(c_uint64)]),
    "bn_batchnorm_set_batches_tracked": (_status, [_BN, c_uint64]),
    "bn_batchnorm_get": (_status, [_BN, c_int, _f32p, c_size_t]),
    "bn_batchnorm_set": (_status, [_BN, c_int, _f32p, c_size_t]),
    "bn_batchnorm_forward": (_status, [
        _BN, c_int, c_size_t, _f32p, c_size_t, _f32p, c_size_t]),
    "bn_batchnorm_backward": (_status, [
        _BN, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f32p, c_size_t]),
    "bn_batchnorm_state_size": (_status, [_BN, POINTER(c_size_t)]),
    "bn_batchnorm_save_state": (_status, [_BN, c_void_p, c_size_t, POINTER(c_size_t)]),
    "bn_batchnorm_load_state": (_status, [_BN, c_void_p, c_size_t]),
    # rng.h
    "bn_rng_seed": (_status, [_RNG, c_uint64]),
    "bn_rng_next_u64": (_status, [_RNG, POINTER(c_uint64)]),
    "bn_rng_uniform": (_status, [_RNG, POINTER(c_double)]),
    "bn_rng_normal": (_status, [_RNG, POINTER(c_double)]),
    # activations.h
    "bn_activation_forward": (_status, [
        c_int, c_float, c_size_t, c_size_t, _f32p, c_size_t, _f32p, c_size_t]),
    "bn_activation_backward": (_status, [
        c_int, c_float, c_size_t, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f32p, c_size_t]),
    # losses.h
    "bn_softmax_cross_entropy": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _i32p, _f32p, _f32p, c_size_t]),
    "bn_sigmoid_binary_cross_entropy": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, _f32p, _f32p, c_size_t]),
    # dense.h
    "bn_dense_create": (_status, [POINTER(_DN), c_size_t, c_size_t, c_uint]),
    "bn_dense_destroy": (None, [_DN]),
    "bn_dense_last_error": (c_char_p, [_DN]),
    "bn_dense_shape": (_status, [_DN, POINTER(c_size_t), POINTER(c_size_t)]),
    "bn_dense_flags": (_status, [_DN, POINTER(c_uint)]),
    "bn_dense_init": (_status, [_DN, c_int, _RNG]),
    "bn_dense_get": (_status, [_DN, c_int, _f32p, c_size_t]),
    "bn_dense_set": (_status, [_DN, c_int, _f32p, c_size_t]),
    "bn_dense_forward": (_status, [_DN, c_size_t, _f32p, c_size_t, _f32p, c_size_t]),
    "bn_dense_backward": (_status, [
        _DN, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f32p, c_size_t]),
    "bn_dense_state_size": (_status, [_DN, POINTER(c_size_t)]),
    "bn_dense_save_state": (_status, [_DN, c_void_p, c_size_t, POINTER(c_size_t)]),
    "bn_dense_load_state": (_status, [_DN, c_void_p, c_size_t]),
    "bn_dense_fold_batchnorm": (_status, [_DN, _BN, POINTER(_DN)]),
    # mlp.h
    "bn_mlp_create": (_status, [
        POINTER(_ML), c_size_t, _szp, c_size_t, c_size_t, c_int, c_int, c_int, c_uint]),
    "bn_mlp_destroy": (None, [_ML]),
    "bn_mlp_last_error": (c_char_p, [_ML]),
    "bn_mlp_architecture": (_status, [
        _ML, _szp, _szp, _szp, POINTER(c_int), POINTER(c_int), POINTER(c_int), POINTER(c_uint)]),
    "bn_mlp_hidden_sizes": (_status, [_ML, _szp, c_size_t]),
    "bn_mlp_parameter_count": (_status, [_ML, _szp]),
    "bn_mlp_init": (_status, [_ML, c_int, _RNG]),
    "bn_mlp_set_parameter": (_status, [_ML, c_int, c_double]),
    "bn_mlp_get_parameter": (_status, [_ML, c_int, POINTER(c_double)]),
    "bn_mlp_parameter_bounds": (_status, [c_int, POINTER(c_double), POINTER(c_double)]),
    "bn_mlp_get": (_status, [_ML, c_size_t, c_int, _f32p, c_size_t]),
    "bn_mlp_set": (_status, [_ML, c_size_t, c_int, _f32p, c_size_t]),
    "bn_mlp_train_step": (_status, [
        _ML, c_size_t, _f32p, c_size_t, _i32p, _f32p, POINTER(c_float)]),
    "bn_mlp_fit": (_status, [
        _ML, c_size_t, _f32p, c_size_t, _i32p, _f32p, c_size_t, c_size_t, _RNG,
        EpochCallback, c_void_p]),
    "bn_mlp_set_batch_callback": (_status, [_ML, BatchCallback]),
    "bn_mlp_predict": (_status, [
        _ML, c_int, c_int, c_size_t, _f32p, c_size_t, _f32p, c_size_t]),
    "bn_mlp_evaluate": (_status, [
        _ML, c_size_t, _f32p, c_size_t, _i32p, _f32p, POINTER(c_float), POINTER(c_float)]),
    "bn_mlp_recompute_statistics": (_status, [_ML, c_size_t, _f32p, c_size_t]),
    "bn_mlp_fold_batchnorm": (_status, [_ML, POINTER(_ML)]),
    "bn_mlp_serialized_size": (_status, [_ML, c_uint, _szp]),
    "bn_mlp_serialize": (_status, [_ML, c_uint, c_void_p, c_size_t, _szp]),
    "bn_mlp_deserialize": (_status, [POINTER(_ML), c_void_p, c_size_t, c_char_p, c_size_t]),
    "bn_mlp_deserialize_into": (_status, [_ML, c_void_p, c_size_t]),
    "bn_mlp_save": (_status, [_ML, c_char_p, c_uint]),
    "bn_mlp_load": (_status, [POINTER(_ML), c_char_p, c_char_p, c_size_t]),
    # batchnorm.h / dense.h: one API style (docs/architecture.md, Conventions)
    "bn_batchnorm_set_parameter": (_status, [_BN, c_int, c_double]),
    "bn_batchnorm_get_parameter": (_status, [_BN, c_int, POINTER(c_double)]),
    "bn_batchnorm_parameter_bounds": (_status, [c_int, POINTER(c_double), POINTER(c_double)]),
    "bn_batchnorm_serialized_size": (_status, [_BN, _szp]),
    "bn_batchnorm_serialize": (_status, [_BN, c_void_p, c_size_t, _szp]),
    "bn_batchnorm_deserialize": (_status, [_BN, c_void_p, c_size_t]),
    "bn_dense_serialized_size": (_status, [_DN, _szp]),
    "bn_dense_serialize": (_status, [_DN, c_void_p, c_size_t, _szp]),
    "bn_dense_deserialize": (_status, [_DN, c_void_p, c_size_t]),
    # batchnorm_kernels.h: Batch Renormalization
    "bn_batchnorm_renorm_forward_training": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, _f32p, c_float, c_uint, _f32p, _f32p,
        c_float, c_float, _f32p, c_size_t, _f32p, _f32p, _f32p, _f32p, _f32p]),
    "bn_batchnorm_renorm_backward_training": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f32p, _f32p, _f32p, _f32p,
        _f32p, _f32p, c_uint, _f32p, c_size_t, _f32p, _f32p]),
    "bn_batchnorm_renorm_forward_training_ws": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, _f32p, c_float, c_uint, _f32p, _f32p,
        c_float, c_float, _f32p, c_size_t, _f32p, _f32p, _f32p, _f32p, _f32p,
        POINTER(c_double), c_void_p, c_size_t]),
    "bn_batchnorm_renorm_backward_training_ws": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f32p, _f32p, _f32p, _f32p,
        POINTER(c_double), _f32p, _f32p, c_uint, _f32p, c_size_t, _f32p, _f32p, c_void_p,
        c_size_t]),
}


def _declare() -> None:
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError as exc:
            raise ImportError(f"bn: {LIBRARY_PATH} does not export {name}") from exc
        fn.restype = restype
        fn.argtypes = argtypes


_declare()


# ---- status checking --------------------------------------------------------

def status_string(status: int) -> str:
    """The library's short name for a status code (``bn_status_string``)."""
    return lib.bn_status_string(int(status)).decode("utf-8", "replace")


def check(status: int, context: str) -> None:
    """Raise the matching :class:`bn.Error` for a call that has no handle.

    The stateless functions report only a code, so the message is
    ``"<context>: <status name>"``.
    """
    if status:
        raise error_for(status, f"{context}: {status_string(status)}")


class HandleKind(NamedTuple):
    """What the binding needs to own one kind of C handle."""

    name: str  # Python class name, for messages
    pointer: Type[ctypes._Pointer]  # from handle_type()
    destroy: Callable  # void destroy(handle *)
    last_error: Callable  # const char *last_error(const handle *)


BATCHNORM = HandleKind("BatchNorm", BatchNormHandle, lib.bn_batchnorm_destroy,
                       lib.bn_batchnorm_last_error)
DENSE = HandleKind("Dense", DenseHandle, lib.bn_dense_destroy, lib.bn_dense_last_error)
MLP = HandleKind("MLP", MLPHandle, lib.bn_mlp_destroy, lib.bn_mlp_last_error)


# ---- standardizer.h ---------------------------------------------------------
# (one block, appended: the handle type, constants and declarations together)

StandardizerHandle = handle_type("bn_standardizer")

# bn_standardizer_param
BN_STANDARDIZER_WITH_MEAN = 1
BN_STANDARDIZER_WITH_STD = 2
# bn_standardizer_vector
BN_STANDARDIZER_MEAN = 1
BN_STANDARDIZER_SCALE = 2
BN_STANDARDIZER_VAR = 3

_SD = StandardizerHandle
_f64p = POINTER(c_double)
_SIGNATURES.update({
    "bn_standardizer_create": (_status, [POINTER(_SD), c_size_t]),
    "bn_mlp_fit_standardizer": (_status, [_ML, c_size_t, _f32p, c_size_t]),
    "bn_mlp_partial_fit_standardizer": (_status, [_ML, c_size_t, _f32p, c_size_t]),
    "bn_mlp_standardizer": (_status, [_ML, POINTER(_SD)]),
    "bn_mlp_set_training_record": (_status, [_ML, c_void_p, c_size_t]),
    "bn_mlp_training_record_size": (_status, [_ML, _szp]),
    "bn_mlp_get_training_record": (_status, [_ML, c_void_p, c_size_t, _szp]),
    "bn_standardizer_create_from_bytes": (_status, [POINTER(_SD), c_void_p, c_size_t,
                                                   c_char_p, c_size_t]),
    "bn_standardizer_destroy": (None, [_SD]),
    "bn_standardizer_last_error": (c_char_p, [_SD]),
    "bn_standardizer_features": (_status, [_SD, _szp]),
    "bn_standardizer_set_parameter": (_status, [_SD, c_int, c_double]),
    "bn_standardizer_get_parameter": (_status, [_SD, c_int, _f64p]),
    "bn_standardizer_parameter_bounds": (_status, [c_int, _f64p, _f64p]),
    "bn_standardizer_fit": (_status, [_SD, c_size_t, _f32p, c_size_t]),
    "bn_standardizer_partial_fit": (_status, [_SD, c_size_t, _f32p, c_size_t]),
    "bn_standardizer_transform": (_status, [_SD, c_size_t, _f32p, c_size_t, _f32p, c_size_t]),
    "bn_standardizer_inverse_transform": (_status, [
        _SD, c_size_t, _f32p, c_size_t, _f32p, c_size_t]),
    "bn_standardizer_count": (_status, [_SD, POINTER(c_uint64)]),
    "bn_standardizer_get": (_status, [_SD, c_int, _f64p, c_size_t]),
    "bn_standardizer_serialized_size": (_status, [_SD, _szp]),
    "bn_standardizer_serialize": (_status, [_SD, c_void_p, c_size_t, _szp]),
    "bn_standardizer_deserialize": (_status, [_SD, c_void_p, c_size_t]),
})
_declare()

STANDARDIZER = HandleKind("Standardizer", StandardizerHandle, lib.bn_standardizer_destroy,
                          lib.bn_standardizer_last_error)
# Model-file header queries and tensor sizes (bn/mlp.h).
_SIGNATURES.update({
    "bn_mlp_tensor_size": (_status, [_ML, c_size_t, c_int, _szp]),
    "bn_mlp_format_version": (_status, [POINTER(c_uint)]),
    "bn_mlp_read_header": (_status, [c_void_p, c_size_t, POINTER(c_uint), POINTER(c_uint),
                                     POINTER(c_uint64)]),
    "bn_mlp_read_file_header": (_status, [c_char_p, POINTER(c_uint), POINTER(c_uint),
                                          POINTER(c_uint64), c_char_p, c_size_t]),
})
_declare()


# ---- a batch spread over shards (batchnorm_kernels.h, batchnorm.h) ----------

_SIGNATURES.update({
    "bn_batchnorm_moments": (_status, [c_size_t, c_size_t, _f32p, c_size_t, _f64p, _f64p]),
    "bn_batchnorm_moments_ws": (_status, [
        c_size_t, c_size_t, _f32p, c_size_t, _f64p, _f64p, c_void_p, c_size_t]),
    "bn_moments_merge": (_status, [c_size_t, c_double, _f64p, _f64p, c_double, _f64p, _f64p]),
    "bn_batchnorm_forward_with_moments": (_status, [
        _BN, c_size_t, _f32p, c_size_t, _f32p, c_size_t, c_double, _f64p, _f64p]),
    "bn_batchnorm_backward_sums": (_status, [
        _BN, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f64p, _f64p]),
    "bn_batchnorm_backward_with_sums": (_status, [
        _BN, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f32p, c_size_t, _f64p, _f64p]),
})
_declare()

# bn_reduce_fn: bn_status (*)(void *context, bn_reduce_op op, double *data, size_t count)
ReduceFn = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, POINTER(c_double), c_size_t)
BN_REDUCE_SUM = 1
BN_REDUCE_MOMENTS = 2
_SIGNATURES.update({
    "bn_mlp_set_reducer": (_status, [_ML, ReduceFn, c_void_p, c_size_t, c_size_t]),
})
_declare()
