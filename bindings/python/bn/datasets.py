"""Datasets in IDX files (LeCun's MNIST format), as ``bn train --data`` reads them.

A folder holds ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``, each gzipped
(``.gz``, preferred when both exist) or plain. An IDX file is: bytes 0, 0,
0x08 (unsigned bytes), the number of dimensions, one big-endian u32 per
dimension, then the values in row-major order; a file that is short, too
long or announces something else is refused with its name.

:func:`fashion_mnist` reads Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``), the CLI's default data.

Example::

    (x_train, y_train), (x_test, y_test) = bn.datasets.fashion_mnist()
    x_train.shape, x_train.dtype, y_train[:3]   # (60000, 784) float32 [9 0 0]
"""

from __future__ import annotations

import gzip
import os
import zlib
from typing import BinaryIO, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__all__ = ["read_idx", "load_idx", "fashion_mnist", "FASHION_MNIST_DIR",
           "FASHION_MNIST_PACKAGE", "FASHION_MNIST_CLASSES"]

#: Where Debian's dataset-fashion-mnist installs the four files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
#: The Debian package holding them.
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
#: The names of labels 0..9.
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")

_UBYTE = 0x08
PathLike = Union[str, "os.PathLike[str]"]
#: (images, labels): float32 rows in [0, 1] by default (uint8 with scale=False).
Split = Tuple[np.ndarray, npt.NDArray[np.int32]]


def _read_exact(stream: BinaryIO, count: int, path: str, what: str) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise ValueError(f"{path}: truncated {what} ({len(data)} of {count} bytes)")
    return data


def read_idx(path: PathLike) -> npt.NDArray[np.uint8]:
    """One IDX file of unsigned bytes (gzipped when its name ends in .gz) as a
    uint8 array of the shape its header gives.

    Raises:
        FileNotFoundError / OSError: the file cannot be read.
        ValueError: not an IDX file of unsigned bytes, a zero dimension, or a
            size that differs from what the header announces (named in the message).
    """
    name = os.fspath(path)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(name, "rb") as stream:  # type: ignore[operator]
        try:
            magic = _read_exact(stream, 4, name, "header")
            if magic[0] != 0 or magic[1] != 0 or magic[2] != _UBYTE:
                raise ValueError(f"{name}: not an IDX file of unsigned bytes (magic "
                                 f"{magic.hex(' ')}, expected 00 00 08 0N)")
            dims = np.frombuffer(_read_exact(stream, 4 * magic[3], name, "header"), ">u4")
            shape = tuple(int(d) for d in dims)
            if not shape or 0 in shape:
                raise ValueError(f"{name}: dimensions {shape} hold no value")
            count = int(np.prod(shape, dtype=object))
            values = np.frombuffer(_read_exact(stream, count, name, "data"), np.uint8)
            if stream.read(1):
                raise ValueError(f"{name}: longer than the {count} values its header announces")
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:  # a damaged .gz
            raise ValueError(f"{name}: {error}") from None
    return values.reshape(shape)


def _find(directory: str, name: str) -> str:
    for candidate in (f"{name}.gz", name):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{os.path.join(directory, name)}[.gz] is missing ({directory} "
                            f"should hold train- and t10k-images-idx3-ubyte[.gz] and "
                            f"-labels-idx1-ubyte[.gz])")


def _split(directory: str, prefix: str, flatten: bool, scale: bool,
           limit: Optional[int]) -> Split:
    images_path = _find(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(directory, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim not in (2, 3):
        raise ValueError(f"{images_path}: {images.ndim} dimensions, expected 2 or 3")
    if labels.ndim != 1:
        raise ValueError(f"{labels_path}: {labels.ndim} dimensions, expected 1")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images_path} holds {images.shape[0]} images but {labels_path} "
                         f"holds {labels.shape[0]} labels")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    if flatten:
        images = images.reshape(images.shape[0], -1)
    # bn train's scaling, (float)byte * (1.0f/255.0f), bit for bit
    x = images.astype(np.float32) * (np.float32(1) / np.float32(255)) if scale else images
    return x, labels.astype(np.int32)


def load_idx(directory: PathLike, *, flatten: bool = True, scale: bool = True,
             limit: Optional[int] = None) -> Tuple[Split, Split]:
    """The training and test sets of an IDX folder, as ``bn train --data DIR`` reads it.

    Args:
        directory: holds train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
            t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz].
        flatten: images as rows (samples, height*width), the MLP's input
            (False keeps (samples, height, width)).
        scale: pixels as float32 in [0, 1], computed as bn train does (False
            keeps the uint8 values).
        limit: use the first ``limit`` training samples (``bn train --limit``).

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` as Keras' ``load_data()``;
        labels are int32.

    Raises:
        FileNotFoundError: a file is missing (its name is in the message).
        ValueError: a malformed file, or images and labels that do not pair up.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise ValueError(f"limit must be an integer >= 1 or None, got {limit!r}")
    folder = os.fspath(directory)
    return (_split(folder, "train", flatten, scale, limit),
            _split(folder, "t10k", flatten, scale, None))


def fashion_mnist(directory: Optional[PathLike] = None, **kwargs: object) -> Tuple[Split, Split]:
    """Fashion-MNIST from Debian's dataset-fashion-mnist (or ``directory``):
    60000 training and 10000 test images of 28x28 pixels, 10 classes
    (:data:`FASHION_MNIST_CLASSES`). Keywords as :func:`load_idx`.

    Raises:
        FileNotFoundError: saying which package to install when it is absent.
    """
    folder = FASHION_MNIST_DIR if directory is None else os.fspath(directory)
    try:
        return load_idx(folder, **kwargs)  # type: ignore[arg-type]
    except FileNotFoundError as error:
        if directory is not None:
            raise
        raise FileNotFoundError(f"Fashion-MNIST is not installed here: {error}. Install the "
                                f"Debian package: apt-get install {FASHION_MNIST_PACKAGE}"
                                ) from None
