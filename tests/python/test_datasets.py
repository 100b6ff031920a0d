"""bn.datasets: IDX files (gzipped or plain) read to the byte, malformed ones
refused with the file's name, and Debian's Fashion-MNIST when installed."""
import gzip
import os
import struct

import numpy as np
import pytest

import bn
from bn import datasets


def idx_bytes(values, magic_type=0x08):
    values = np.asarray(values, np.uint8)
    header = bytes([0, 0, magic_type, values.ndim])
    header += b"".join(struct.pack(">I", d) for d in values.shape)
    return header + values.tobytes()


def write(path, data, gz):
    if gz:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def write_set(folder, images, labels, test_images, test_labels, gz=True):
    write(folder / "train-images-idx3-ubyte", idx_bytes(images), gz)
    write(folder / "train-labels-idx1-ubyte", idx_bytes(labels), gz)
    write(folder / "t10k-images-idx3-ubyte", idx_bytes(test_images), gz)
    write(folder / "t10k-labels-idx1-ubyte", idx_bytes(test_labels), gz)


@pytest.fixture
def small(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 3, 4), dtype=np.uint8)
    images[0, 0, :2] = [0, 255]
    labels = rng.integers(0, 5, 7, dtype=np.uint8)
    test_images = rng.integers(0, 256, (2, 3, 4), dtype=np.uint8)
    test_labels = np.array([4, 1], np.uint8)
    return tmp_path, images, labels, test_images, test_labels


@pytest.mark.parametrize("gz", [True, False])
def test_load_idx_reads_every_byte(small, gz):
    folder, images, labels, test_images, test_labels = small
    write_set(folder, images, labels, test_images, test_labels, gz)
    (x, y), (xt, yt) = datasets.load_idx(folder)
    assert x.dtype == np.float32 and x.shape == (7, 12) and y.dtype == np.int32
    # float64 reference: each pixel / 255, rounded once to float32
    np.testing.assert_allclose(x, images.reshape(7, 12) / 255.0, rtol=2e-7, atol=0)
    assert x[0, 0] == 0.0 and x[0, 1] == 1.0
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(np.round(xt * 255).astype(np.uint8), test_images.reshape(2, 12))
    np.testing.assert_array_equal(yt, test_labels)
    (raw, _), _ = datasets.load_idx(str(folder), flatten=False, scale=False, limit=3)
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw, images[:3])


def test_gzip_is_preferred_when_both_exist(small):
    folder, images, labels, test_images, test_labels = small
    write_set(folder, images, labels, test_images, test_labels, gz=True)
    write(folder / "train-labels-idx1-ubyte", idx_bytes(np.zeros(7)), gz=False)
    (_, y), _ = datasets.load_idx(folder)
    np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:3], "truncated header"),
    (lambda b: b[:-1], r"truncated data \(6 of 7 bytes\)"),
    (lambda b: b + b"\0", "longer than the 7 values"),
    (lambda b: b"\0\0\x0d" + b[3:], "not an IDX file of unsigned bytes"),
    (lambda b: b"\0\0\x08\x01" + struct.pack(">I", 0), r"dimensions \(0,\) hold no value"),
])
def test_malformed_files_are_refused_with_their_name(small, damage, message):
    folder, images, labels, test_images, test_labels = small
    write_set(folder, images, labels, test_images, test_labels, gz=False)
    path = folder / "train-labels-idx1-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=f"train-labels-idx1-ubyte: {message}"):
        datasets.load_idx(folder)


def test_missing_files_and_mismatched_counts(small):
    folder, images, labels, test_images, test_labels = small
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        datasets.load_idx(folder)
    write_set(folder, images, labels[:6], test_images, test_labels)
    with pytest.raises(ValueError, match="holds 7 images but .* holds 6 labels"):
        datasets.load_idx(folder)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        if os.path.exists(datasets.FASHION_MNIST_DIR):
            raise FileNotFoundError("apt-get install dataset-fashion-mnist")  # installed here
        datasets.fashion_mnist()
    with pytest.raises(ValueError, match="limit must be"):
        datasets.load_idx(folder, limit=0)


def test_a_damaged_gzip_is_a_value_error(small):
    folder, images, labels, test_images, test_labels = small
    write_set(folder, images, labels, test_images, test_labels)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        datasets.load_idx(folder)


@pytest.mark.skipif(not os.path.exists(os.path.join(datasets.FASHION_MNIST_DIR,
                                                    "train-images-idx3-ubyte.gz")),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_the_debian_package():
    (x, y), (xt, yt) = bn.datasets.fashion_mnist()
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() == 1
    # the published set: balanced classes, the first labels 9, 0, 0, 3 (ankle boot, top, ...)
    assert np.bincount(y).tolist() == [6000] * 10
    assert np.bincount(yt).tolist() == [1000] * 10
    assert y[:4].tolist() == [9, 0, 0, 3] and yt[:4].tolist() == [9, 2, 1, 1]
    assert datasets.FASHION_MNIST_CLASSES[y[0]] == "Ankle boot"
