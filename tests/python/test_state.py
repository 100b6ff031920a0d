"""State blob: round trip, corruption mapped to the right FormatError, copy/pickle.

The tests know the documented blob layout (include/bn/batchnorm.h); the
binding does not."""

import copy
import pickle
import struct
import zlib

import numpy as np
import pytest

import bn

HEADER = 56  # "BNST", u32 version, u64 F, u32 flags, f32 eps, f32 factor, u32 0, u64 tracked,
#             f32 rmax, f32 dmax, u32 options, u32 0 (version 2, docs/formats.md)


def trained(rng, f=5, **kwargs):
    layer = bn.BatchNorm(f, **kwargs)
    layer.gamma = rng.uniform(0.5, 1.5, f)
    layer.beta = rng.uniform(-1, 1, f)
    for _ in range(3):
        layer.forward(rng.standard_normal((8, f)) * 2 + 1, training=True)
    layer.eps = 1e-3
    return layer


def snapshot(layer):
    return dict(gamma=layer.gamma, beta=layer.beta, running_mean=layer.running_mean,
                running_var=layer.running_var, eps=layer.eps,
                update_factor=layer.update_factor, batches_tracked=layer.batches_tracked,
                flags=layer.flags)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def with_crc(body):
    return body + struct.pack("<I", zlib.crc32(body))


def test_round_trip(rng):
    with trained(rng, update_factor=0.3) as src, bn.BatchNorm(5) as dst:
        blob = src.to_bytes()
        assert isinstance(blob, bytes) and blob[:4] == b"BNST"
        assert len(blob) == HEADER + 4 * 5 * 4 + 4
        dst.from_bytes(blob)
        assert_same(snapshot(dst), snapshot(src))
        x = rng.standard_normal((6, 5)).astype(np.float32)
        np.testing.assert_array_equal(dst.forward(x, training=False),
                                      src.forward(x, training=False))
        # aliases and any bytes-like object
        dst.load_state(bytearray(src.save_state()))
        dst.from_bytes(memoryview(blob))


def test_blob_carries_the_flags(rng):
    with trained(rng, update_factor=None, fuse_relu=True, unbiased_running_var=False) as src, \
            bn.BatchNorm(5) as dst:
        dst.from_bytes(src.to_bytes())
        assert dst.flags == (bn.BatchNormFlag.CUMULATIVE_AVERAGE | bn.BatchNormFlag.FUSE_RELU
                             | bn.BatchNormFlag.BIASED_RUNNING_VAR)
        assert dst.update_factor is None


def corruptions(blob):
    body = blob[:-4]
    bad_var = bytearray(body)
    struct.pack_into("<f", bad_var, len(body) - 4, -1.0)  # last running var < 0
    bad_flags = bytearray(body)
    struct.pack_into("<I", bad_flags, 16, 1 << 30)
    bad_eps = bytearray(body)
    struct.pack_into("<f", bad_eps, 20, float("nan"))
    flipped = bytearray(blob)
    flipped[HEADER + 3] ^= 0x10
    return [
        ("empty", b"", bn.BadSizeError),
        ("truncated", blob[:-1], bn.BadSizeError),
        ("header only", blob[:HEADER], bn.BadSizeError),
        ("trailing byte", blob + b"\0", bn.BadSizeError),
        ("magic", b"XNST" + blob[4:], bn.BadMagicError),
        ("version", blob[:4] + struct.pack("<I", 3) + blob[8:], bn.VersionMismatchError),
        ("flipped bit", bytes(flipped), bn.ChecksumError),
        ("negative running var", with_crc(bytes(bad_var)), bn.BadFormatError),
        ("unknown flag", with_crc(bytes(bad_flags)), bn.BadFormatError),
        ("nan eps", with_crc(bytes(bad_eps)), bn.BadFormatError),
    ]


@pytest.mark.parametrize("case", range(10))
def test_corrupt_blobs_raise_the_matching_error_and_change_nothing(rng, case):
    with trained(rng) as src, bn.BatchNorm(5) as dst:
        name, bad, cls = corruptions(src.to_bytes())[case]
        before = snapshot(dst)
        with pytest.raises(cls) as info:
            dst.from_bytes(bad)
        err = info.value
        assert isinstance(err, bn.FormatError) and isinstance(err, ValueError), name
        assert err.status == cls.default_status
        assert err.message and ": " in err.message  # "<status name>: <library message>"
        assert_same(snapshot(dst), before)


def test_feature_count_mismatch(rng):
    with trained(rng) as src, bn.BatchNorm(4) as dst:
        with pytest.raises(bn.ShapeMismatchError, match="5 features, the layer 4"):
            dst.from_bytes(src.to_bytes())


def test_from_bytes_rejects_non_bytes():
    with bn.BatchNorm(2) as layer:
        with pytest.raises(TypeError):
            layer.from_bytes("BNST")


def test_loading_invalidates_the_pending_backward(rng):
    with trained(rng) as layer:
        x = rng.standard_normal((4, 5))
        layer.forward(x, training=True)
        layer.from_bytes(layer.to_bytes())
        with pytest.raises(bn.WrongStateError, match="backward without a forward"):
            layer.backward(np.ones((4, 5)))


@pytest.mark.parametrize("clone", [copy.copy, copy.deepcopy,
                                   lambda l: pickle.loads(pickle.dumps(l))],
                         ids=["copy", "deepcopy", "pickle"])
def test_copies_are_independent_layers(rng, clone):
    with trained(rng, fuse_relu=True) as layer:
        twin = clone(layer)
        assert twin is not layer and twin._ptr is not layer._ptr
        assert_same(snapshot(twin), snapshot(layer))
        layer.close()
        assert twin.features == 5  # the copy owns its own handle
        twin.gamma = np.zeros(5)
        twin.close()
