"""Python binding of libbn, batch normalization in C (a thin ctypes mirror).

One module per C header: :class:`BatchNorm` and the stateless
``batchnorm_*`` kernels (bn/batchnorm.h, bn/batchnorm_kernels.h),
:class:`Dense` and :func:`fold` (bn/dense.h), :class:`MLP` (bn/mlp.h), the activations
(bn/activations.h: :func:`relu`, :func:`softmax`, :func:`activation_backward`,
...), the losses (bn/losses.h: :func:`softmax_cross_entropy`,
:func:`sigmoid_binary_cross_entropy`) and :class:`Rng` (bn/rng.h).

Arrays are numpy, shape (batch, features); float32 arrays with contiguous
rows are used in place, other inputs are converted once, outputs are new
float32 arrays (or ``out=``). Status codes become :class:`bn.Error`
subclasses that also derive from the matching builtin (ValueError,
MemoryError, ...), carrying the library's message and numeric ``status``.

The library is found through ``BN_LIBRARY``, then next to this package, then
the source tree's build directories, then the system (see bn._lib).

Example::

    import numpy as np, bn
    x = np.random.default_rng(0).standard_normal((32, 8), dtype=np.float32)
    with bn.BatchNorm(8) as layer:
        y = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(y))
        state = layer.to_bytes()
"""

from . import _errors
from ._errors import (
    BadFormatError,
    BadMagicError,
    BadSizeError,
    BatchTooSmallError,
    ChecksumError,
    ClosedError,
    Error,
    FormatError,
    InputOutputError,
    InvalidArgumentError,
    NonFiniteError,
    OutOfMemoryError,
    ShapeMismatchError,
    SizeOverflowError,
    UnsupportedError,
    VersionMismatchError,
    WrongStateError,
)
from ._lib import ABI_MAJOR, LIBRARY_PATH, status_string
from ._lib import lib as _clib
from .activations import (
    Activation,
    activation_backward,
    activation_forward,
    elu,
    identity,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from .batchnorm import (
    BatchNorm,
    BatchNormFlag,
    batchnorm_backward_inference,
    batchnorm_backward_training,
    batchnorm_forward_inference,
    batchnorm_forward_training,
)
from .dense import Dense, Init, fold
from .mlp import MLP, Epoch, Head, MLPLayer, Optimizer, Param, Placement, Tensor
from . import interop
from .losses import sigmoid_binary_cross_entropy, softmax_cross_entropy
from .rng import Rng


def version_string() -> str:
    """The loaded library's version, "major.minor.patch" (bn_version_string)."""
    return _clib.bn_version_string().decode()


def abi_version() -> int:
    """The loaded library's ABI major (bn_abi_version), checked at import to equal ABI_MAJOR."""
    return int(_clib.bn_abi_version())


def version_number() -> int:
    """The loaded library's version as major*10000 + minor*100 + patch."""
    return int(_clib.bn_version_number())


__version__ = version_string()

__all__ = [
    "ABI_MAJOR",
    "LIBRARY_PATH",
    "BatchNorm",
    "BatchNormFlag",
    "batchnorm_forward_training",
    "batchnorm_forward_inference",
    "batchnorm_backward_training",
    "batchnorm_backward_inference",
    "Dense",
    "Init",
    "fold",
    "Rng",
    "MLP",
    "MLPLayer",
    "Epoch",
    "Head",
    "Optimizer",
    "Param",
    "Placement",
    "Tensor",
    "interop",
    "Activation",
    "activation_forward",
    "activation_backward",
    "identity",
    "relu",
    "elu",
    "sigmoid",
    "tanh",
    "softmax",
    "softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "status_string",
    "version_string",
    "version_number",
    "abi_version",
    # the exception hierarchy, as bn._errors lists it (its helper stays private)
    *(name for name in _errors.__all__ if name != "error_for"),
]

# bn/standardizer.h: the input standardizer (scikit-learn's StandardScaler).
from .standardizer import Standardizer  # noqa: E402

__all__.append("Standardizer")

# Training conveniences on top of the MLP (issue 14): History, schedules,
# datasets, recipes.
from . import datasets, recipes, schedules  # noqa: E402
from .history import History  # noqa: E402

__all__ += ["History", "datasets", "recipes", "schedules"]
