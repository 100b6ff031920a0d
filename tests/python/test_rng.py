"""bn.Rng: the exact sequence of bn/rng.h, recomputed here in pure Python."""

import copy
import math
import pickle

import numpy as np
import pytest

import bn

M64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


class Xoshiro:
    """xoshiro256** seeded with splitmix64 (the definition in bn/rng.h)."""

    def __init__(self, seed):
        self.s = []
        x = seed
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)

    def next(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

    def normal(self):
        while True:
            u, v = 2 * self.uniform() - 1, 2 * self.uniform() - 1
            s = u * u + v * v
            if 0 < s < 1:
                return u * math.sqrt(-2 * math.log(s) / s)


@pytest.mark.parametrize("seed", [0, 42, 2**64 - 1])
def test_sequence_matches_the_definition(seed):
    rng, ref = bn.Rng(seed), Xoshiro(seed)
    assert rng.state == tuple(ref.s)
    assert [rng.next_u64() for _ in range(5)] == [ref.next() for _ in range(5)]
    assert [rng.uniform() for _ in range(5)] == [ref.uniform() for _ in range(5)]
    # libbn computes log itself from IEEE operations: equal to libm's to ~1 ulp
    np.testing.assert_allclose(rng.normal(50), [ref.normal() for _ in range(50)], rtol=1e-14)
    assert rng.state == tuple(ref.s)  # the same number of draws was consumed


def test_published_literals():
    # tests/c/test_rng.c: seed 0, first output; seed 42, first uniform
    assert bn.Rng(0).next_u64() == 0x99EC5F36CB75F2B4
    assert bn.Rng(42).uniform() == float.fromhex("0x1.5780b2e0c2ecp-4")


def test_arrays_and_types():
    rng = bn.Rng(7)
    assert isinstance(rng.next_u64(), int) and isinstance(rng.normal(), float)
    u = rng.uniform(1000)
    assert u.dtype == np.float64 and u.shape == (1000,) and 0 <= u.min() and u.max() < 1
    assert rng.next_u64(3).dtype == np.uint64
    assert rng.normal(0).shape == (0,)
    with pytest.raises(ValueError):
        rng.normal(-1)


def test_copies_continue_independently():
    rng = bn.Rng(3)
    rng.normal()
    for other in (copy.copy(rng), copy.deepcopy(rng), pickle.loads(pickle.dumps(rng))):
        assert other.state == rng.state and other is not rng
        assert other.uniform(4).tolist() == copy.copy(rng).uniform(4).tolist()


def test_bad_seed_and_state():
    with pytest.raises(OverflowError):
        bn.Rng(-1)
    with pytest.raises(OverflowError):
        bn.Rng(2**64)
    with pytest.raises(TypeError):
        bn.Rng(1.5)
    rng = bn.Rng()
    with pytest.raises(ValueError, match="all zero"):
        rng.state = (0, 0, 0, 0)
    with pytest.raises(ValueError):
        rng.state = (1, 2, 3)
    rng.state = (1, 2, 3, 4)
    assert rng.state == (1, 2, 3, 4)
