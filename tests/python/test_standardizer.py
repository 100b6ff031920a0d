"""bn.Standardizer against scikit-learn's StandardScaler (when the Debian
package python3-sklearn is installed; those tests are skipped, and say so,
otherwise) and against float64 numpy references: statistics, transforms,
chunked partial_fit, the options, hostile input, state blobs and lifetime."""

import pickle

import numpy as np
import pytest

import bn


def sklearn_scaler():
    """sklearn.preprocessing.StandardScaler, or a visible skip."""
    preprocessing = pytest.importorskip(
        "sklearn.preprocessing", reason="scikit-learn is not installed (apt-get install "
        "python3-sklearn) - the comparisons with StandardScaler were skipped")
    return preprocessing.StandardScaler


MEANS = np.array([0.0, -3.5, 1e4, 250.0, 1e-3])
SDS = np.array([1.0, 0.25, 1e-2, 40.0, 1e-5])


def data(rng, n=400):
    """float32 (n, 5): features of very different scales, one with mean 1e6 x its spread."""
    return (MEANS + SDS * rng.standard_normal((n, MEANS.size))).astype(np.float32)


def reference(x):
    """float64 two-pass mean, population variance and scikit-learn's scale."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    n, eps = x.shape[0], np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    return mean, var, np.where(constant, 1.0, np.sqrt(var))


# ---- against numpy --------------------------------------------------------------

def test_statistics_match_float64_reference(rng):
    x = data(rng)
    mean, var, scale = reference(x)
    with bn.Standardizer() as s:
        assert s.fit(x) is s
        assert s.n_samples_seen_ == 400 and type(s.n_samples_seen_) is int
        assert s.n_features_in_ == 5
        for got in (s.mean_, s.var_, s.scale_):
            assert got.dtype == np.float64 and got.shape == (5,)
        np.testing.assert_allclose(s.mean_, mean, rtol=1e-14, atol=0)
        np.testing.assert_allclose(s.var_, var, rtol=1e-12)
        np.testing.assert_allclose(s.scale_, scale, rtol=1e-12)


def test_transform_and_inverse_match_reference(rng):
    x = data(rng)
    mean, _, scale = reference(x)
    with bn.Standardizer() as s:
        y = s.fit_transform(x)
        assert y.dtype == np.float32 and y.shape == x.shape
        want = (x.astype(np.float64) - mean) / scale
        np.testing.assert_allclose(y, want, rtol=1.2e-7, atol=1e-6)
        np.testing.assert_allclose(y.mean(axis=0, dtype=np.float64), 0, atol=1e-6)
        np.testing.assert_allclose(y.var(axis=0, dtype=np.float64), 1, rtol=1e-5)
        back = s.inverse_transform(y).astype(np.float64)
        # within float rounding of the terms: |x| and |x - mean| (= scale*|y|)
        magnitude = np.abs(x) + np.abs(x - mean)
        assert np.all(np.abs(back - x) <= 2.5e-7 * magnitude)


def test_mean_dwarfing_spread(rng):
    """mean 1e4, standard deviation 1e-2: E[x^2] - E[x]^2 would lose the variance."""
    x = (1e4 + 1e-2 * rng.standard_normal((5000, 2))).astype(np.float32)
    _, var, _ = reference(x)
    with bn.Standardizer() as s:
        y = s.fit_transform(x)
        np.testing.assert_allclose(s.var_, var, rtol=1e-9)
        np.testing.assert_allclose(y.std(axis=0, dtype=np.float64), 1, rtol=1e-6)


def test_chunked_partial_fit_equals_one_fit(rng):
    x = data(rng, 500)
    with bn.Standardizer() as whole, bn.Standardizer() as parts:
        whole.fit(x)
        for start, stop in ((0, 1), (1, 8), (8, 108), (108, 500)):
            parts.partial_fit(x[start:stop])
        assert parts.n_samples_seen_ == 500
        np.testing.assert_allclose(parts.mean_, whole.mean_, rtol=1e-15)
        # the merge's cross term carries eps*mean/sd: ~1e-11 for the 1e4/1e-2 feature
        tolerance = 1e-12 + 0.25 * np.finfo(np.float64).eps * np.abs(MEANS) / SDS
        assert np.all(np.abs(parts.var_ - whole.var_) <= tolerance * whole.var_)


def test_constant_feature_is_only_centered():
    x = np.column_stack([np.full(30, 3.7), np.full(30, 1e4), np.arange(30.0)]).astype(np.float32)
    with bn.Standardizer() as s:
        s.partial_fit(x[:11]).partial_fit(x[11:])
        assert s.var_[0] == 0 and s.var_[1] == 0
        np.testing.assert_array_equal(s.scale_[:2], [1.0, 1.0])
        y = s.transform(x)
        np.testing.assert_array_equal(y[:, :2], 0)


def test_options_and_none_attributes(rng):
    x = data(rng, 50)
    mean, var, scale = reference(x)
    xd = x.astype(np.float64)
    with bn.Standardizer(with_mean=False) as s:
        s.fit(x)
        np.testing.assert_allclose(s.mean_, mean, rtol=1e-14)  # computed, not applied
        np.testing.assert_allclose(s.transform(x), xd / scale, rtol=1.2e-7)
        s.with_std = False
        assert s.scale_ is None and s.mean_ is None and s.var_ is None
        np.testing.assert_array_equal(s.transform(x), x)
        s.set_params(with_mean=True)
        assert s.get_params() == {"copy": True, "with_mean": True, "with_std": False}
        np.testing.assert_allclose(s.transform(x), xd - mean, rtol=1.2e-7, atol=1e-7)
        assert s.var_ is None and s.scale_ is None  # as scikit-learn without with_std
        np.testing.assert_allclose(s.mean_, mean, rtol=1e-14)
        s.with_std = True
        np.testing.assert_allclose(s.var_, var, rtol=1e-12)
        with pytest.raises(ValueError):
            s.set_params(with_variance=True)


def test_copy_false_works_in_place_and_ld_is_respected(rng):
    wide = data(rng, 20)
    x = np.ascontiguousarray(np.concatenate([wide, wide], axis=1))[:, :5]  # rows of stride 10
    assert not x.flags.c_contiguous
    with bn.Standardizer(copy=False) as s:
        s.fit(x)
        before = x.copy()
        want = s.transform(before, copy=True)
        y = s.transform(x)
        assert y is x
        np.testing.assert_array_equal(y, want)
        np.testing.assert_array_equal(x.base[:, 5:], wide)  # the other half is untouched
        x64 = before.astype(np.float64)
        y64 = s.transform(x64)  # converted: a new array, the input untouched
        assert y64 is not x64 and y64.dtype == np.float32
        z = s.transform(before, copy=True)
        assert z is not before
        np.testing.assert_array_equal(z, want)


# ---- against scikit-learn ------------------------------------------------------------

@pytest.mark.parametrize("with_mean,with_std", [(True, True), (False, True), (True, False),
                                                (False, False)])
def test_matches_sklearn(rng, with_mean, with_std):
    StandardScaler = sklearn_scaler()
    x = data(rng)
    ref = StandardScaler(with_mean=with_mean, with_std=with_std).fit(x.astype(np.float64))
    with bn.Standardizer(with_mean=with_mean, with_std=with_std) as s:
        s.fit(x)
        assert s.n_samples_seen_ == ref.n_samples_seen_
        for name in ("mean_", "var_", "scale_"):
            got, want = getattr(s, name), getattr(ref, name)
            if want is None:
                assert got is None, name
            else:
                np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=name)
        want = ref.transform(x.astype(np.float64))
        np.testing.assert_allclose(s.transform(x), want, rtol=1.2e-7, atol=1e-6)
        np.testing.assert_allclose(s.inverse_transform(want.astype(np.float32)),
                                   ref.inverse_transform(want), rtol=2.5e-7, atol=1e-6)


def test_partial_fit_and_constant_features_match_sklearn(rng):
    StandardScaler = sklearn_scaler()
    x = data(rng, 300)
    x[:, 1] = 2.5  # constant
    ref = StandardScaler()
    with bn.Standardizer() as s:
        for chunk in np.array_split(x, [3, 50, 51, 200]):
            ref.partial_fit(chunk.astype(np.float64))
            s.partial_fit(chunk)
        assert s.n_samples_seen_ == ref.n_samples_seen_
        np.testing.assert_allclose(s.mean_, ref.mean_, rtol=1e-12)
        np.testing.assert_allclose(s.var_, ref.var_, rtol=1e-9, atol=1e-30)  # 0 vs rounding noise
        np.testing.assert_array_equal(s.scale_[1], ref.scale_[1])
        np.testing.assert_allclose(s.scale_, ref.scale_, rtol=1e-9)


def test_sklearn_also_refuses_empty_and_infinite_input():
    StandardScaler = sklearn_scaler()
    for bad in (np.zeros((0, 3)), np.array([[1.0, np.inf], [2.0, 3.0]])):
        with pytest.raises(ValueError):
            StandardScaler().fit(bad)
        with bn.Standardizer() as s, pytest.raises((ValueError, FloatingPointError)):
            s.fit(bad)


# ---- hostile input -----------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_fit_is_refused_and_changes_nothing(rng, bad):
    x = data(rng, 40)
    dirty = x.copy()
    dirty[17, 3] = bad
    with bn.Standardizer() as s:
        s.fit(x)
        state = s.to_bytes()
        for call in (s.fit, s.partial_fit):
            with pytest.raises(bn.NonFiniteError, match="feature 3"):
                call(dirty)
            assert s.to_bytes() == state
        y = s.transform(dirty)  # transforms carry it through (IEEE)
        assert np.isnan(y[17, 3]) if np.isnan(bad) else y[17, 3] == bad
        assert np.isfinite(np.delete(y.ravel(), 17 * 5 + 3)).all()
    with bn.Standardizer() as fresh:
        with pytest.raises(bn.NonFiniteError):
            fresh.fit(dirty)
        assert not hasattr(fresh, "mean_")


def test_zero_samples_and_features():
    with bn.Standardizer() as s:
        with pytest.raises(bn.InvalidArgumentError):
            s.fit(np.zeros((0, 3), np.float32))
        with pytest.raises(bn.InvalidArgumentError):
            s.fit(np.zeros((4, 0), np.float32))
        with pytest.raises(bn.ShapeMismatchError):
            s.fit(np.zeros(4, np.float32))
        s.fit(np.arange(6, dtype=np.float32).reshape(2, 3))
        with pytest.raises(bn.InvalidArgumentError):
            s.partial_fit(np.zeros((0, 3), np.float32))
        with pytest.raises(bn.InvalidArgumentError):
            s.transform(np.zeros((0, 3), np.float32))
        assert s.n_samples_seen_ == 2


def test_mismatched_features(rng):
    with bn.Standardizer() as s:
        s.fit(data(rng, 10))
        with pytest.raises(bn.ShapeMismatchError):
            s.transform(np.zeros((4, 4), np.float32))
        with pytest.raises(bn.ShapeMismatchError):
            s.inverse_transform(np.zeros((4, 6), np.float32))
        with pytest.raises(bn.ShapeMismatchError):
            s.partial_fit(np.zeros((4, 2), np.float32))
        assert s.n_samples_seen_ == 10
        s.fit(np.arange(8, dtype=np.float32).reshape(4, 2))  # fit starts over, any width
        assert s.n_features_in_ == 2 and s.n_samples_seen_ == 4


def test_unfitted_standardizer():
    s = bn.Standardizer()
    for name in ("mean_", "var_", "scale_", "n_samples_seen_", "n_features_in_"):
        assert not hasattr(s, name)
    with pytest.raises(bn.WrongStateError):
        s.transform(np.zeros((2, 2), np.float32))
    with pytest.raises(bn.WrongStateError):
        s.inverse_transform(np.zeros((2, 2), np.float32))
    with pytest.raises(bn.WrongStateError):
        s.to_bytes()
    with pytest.raises(NotImplementedError):
        s.fit(np.zeros((2, 2)), sample_weight=np.ones(2))
    assert "not fitted" in repr(s)
    s.close()


# ---- state and lifetime ---------------------------------------------------------------

def test_state_round_trip_continues_exactly(rng):
    x = data(rng, 90)
    with bn.Standardizer(with_std=False) as s, bn.Standardizer() as t:
        s.partial_fit(x[:40])
        blob = s.to_bytes()
        assert blob[:4] == b"BNSD" and len(blob) == 36 + 16 * 5
        t.from_bytes(blob)
        assert t.with_std is False and t.with_mean is True and t.n_features_in_ == 5
        assert t.to_bytes() == blob
        s.partial_fit(x[40:])
        t.partial_fit(x[40:])
        assert t.to_bytes() == s.to_bytes()
        np.testing.assert_array_equal(t.transform(x), s.transform(x))
        copy = pickle.loads(pickle.dumps(s))
        with copy:
            assert copy.to_bytes() == s.to_bytes() and copy.get_params() == s.get_params()
    unfitted = pickle.loads(pickle.dumps(bn.Standardizer(with_mean=False)))
    assert unfitted.get_params()["with_mean"] is False and not hasattr(unfitted, "mean_")


def test_damaged_blobs_are_rejected_and_change_nothing(rng):
    with bn.Standardizer() as s:
        s.fit(data(rng, 12))
        blob = s.to_bytes()
        s.fit(data(rng, 7))
        state = s.to_bytes()
        flipped = bytearray(blob)
        flipped[40] ^= 1
        cases = {bn.BadSizeError: blob[:-1], bn.BadMagicError: b"XXXX" + blob[4:],
                 bn.VersionMismatchError: blob[:4] + b"\x02" + blob[5:],
                 bn.ChecksumError: bytes(flipped)}
        for error, damaged in cases.items():
            with pytest.raises(error):
                s.from_bytes(damaged)
            assert s.to_bytes() == state


def test_closed_standardizer_refuses_calls(rng):
    s = bn.Standardizer()
    with s:
        s.fit(data(rng, 5))
    assert s.closed
    s.close()  # idempotent
    assert repr(s) == "<bn.Standardizer (closed)>"
    for call in (lambda: s.fit(data(rng, 5)), lambda: s.transform(data(rng, 5)),
                 lambda: s.mean_, lambda: s.to_bytes()):
        with pytest.raises(bn.ClosedError):
            call()
    with pytest.raises(bn.ClosedError):
        with s:
            pass
