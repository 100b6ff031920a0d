"""bn.BatchNorm against the float64 reference: forward in both modes,
backward, running statistics conventions, fused ReLU, scalar properties."""

import numpy as np
import pytest

import bn
import bnref

TOL = dict(rtol=1e-4, atol=2e-5)


def batch(rng, n=16, f=5, loc=0.5, scale=2.0):
    return (loc + scale * rng.standard_normal((n, f))).astype(np.float32)


def layer_with_params(rng, f, **kwargs):
    layer = bn.BatchNorm(f, **kwargs)
    if kwargs.get("scale", True):
        layer.gamma = rng.uniform(0.5, 1.5, f)
    if kwargs.get("shift", True):
        layer.beta = rng.uniform(-1, 1, f)
    return layer


def params(layer):
    flags = layer.flags
    gamma = None if flags & bn.BatchNormFlag.NO_SCALE else layer.gamma
    beta = None if flags & bn.BatchNormFlag.NO_SHIFT else layer.beta
    return gamma, beta


@pytest.mark.parametrize("scale,shift",
                         [(True, True), (False, True), (True, False), (False, False)])
def test_forward_training_matches_reference(rng, isa, scale, shift):
    x = batch(rng)
    with layer_with_params(rng, 5, scale=scale, shift=shift) as layer:
        gamma, beta = params(layer)
        y = layer.forward(x, training=True)
        ref, mean, invstd, _ = bnref.forward_training(x, gamma, beta)
        assert y.dtype == np.float32 and y.shape == x.shape
        np.testing.assert_allclose(y, ref, **TOL)
        np.testing.assert_allclose(layer.saved_mean, mean, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(layer.saved_invstd, invstd, rtol=1e-6)


def test_forward_inference_uses_running_statistics(rng, isa):
    x = batch(rng)
    with layer_with_params(rng, 5) as layer:
        layer.running_mean = rng.standard_normal(5)
        layer.running_var = rng.uniform(0.5, 2.0, 5)
        y = layer.forward(x, training=False)
        ref = bnref.forward_inference(x, layer.running_mean, layer.running_var,
                                      layer.gamma, layer.beta)
        np.testing.assert_allclose(y, ref, **TOL)
        assert layer.batches_tracked == 0  # inference does not update anything
        # a batch of one is fine in inference mode
        np.testing.assert_allclose(layer.forward(x[:1], training=False), ref[:1], **TOL)


def test_no_running_stats_uses_batch_statistics_in_both_modes(rng):
    x = batch(rng)
    with bn.BatchNorm(5, running_stats=False) as layer:
        ref = bnref.forward_training(x)[0]
        np.testing.assert_allclose(layer.forward(x, training=False), ref, **TOL)
        np.testing.assert_allclose(layer.forward(x, training=True), ref, **TOL)
        with pytest.raises(bn.WrongStateError, match="running mean"):
            layer.running_mean


def test_backward_training_matches_reference(rng, isa):
    x, dy = batch(rng, 12, 7), batch(rng, 12, 7, loc=0.0, scale=1.0)
    with layer_with_params(rng, 7) as layer:
        layer.forward(x, training=True)
        dx = layer.backward(dy)
        rdx, rdg, rdb = bnref.backward_training(x, dy, layer.gamma, layer.beta)
        assert dx.dtype == np.float32 and dx.shape == x.shape
        np.testing.assert_allclose(dx, rdx, **TOL)
        np.testing.assert_allclose(layer.dgamma, rdg, **TOL)
        np.testing.assert_allclose(layer.dbeta, rdb, **TOL)
        # again for the same forward, with x given explicitly: same result
        np.testing.assert_array_equal(layer.backward(dy, x), dx)


def test_backward_after_inference_forward_treats_statistics_as_constants(rng, isa):
    x, dy = batch(rng), batch(rng, loc=0.0, scale=1.0)
    with layer_with_params(rng, 5) as layer:
        layer.running_mean = rng.standard_normal(5)
        layer.running_var = rng.uniform(0.5, 2.0, 5)
        layer.forward(x, training=False)
        dx = layer.backward(dy)
        rdx, rdg, rdb = bnref.backward_inference(x, dy, layer.running_mean, layer.running_var,
                                                 layer.gamma, layer.beta)
        np.testing.assert_allclose(dx, rdx, **TOL)
        np.testing.assert_allclose(layer.dgamma, rdg, **TOL)
        np.testing.assert_allclose(layer.dbeta, rdb, **TOL)


def test_backward_finite_differences(rng):
    """dx of sum(y * w) agrees with central differences of the float64 reference."""
    x = batch(rng, 6, 3).astype(np.float64)
    w = rng.standard_normal((6, 3))
    with bn.BatchNorm(3) as layer:
        layer.gamma = [0.7, 1.3, 1.1]
        layer.beta = [0.1, -0.2, 0.3]
        layer.forward(x, training=True)
        dx = layer.backward(w)
        gamma, beta = layer.gamma, layer.beta
    loss = lambda xx: (bnref.forward_training(xx, gamma, beta)[0] * w).sum()  # noqa: E731
    h = 1e-5
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        num[idx] = (loss(xp) - loss(xm)) / (2 * h)
    np.testing.assert_allclose(dx, num, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("unbiased", [True, False], ids=["unbiased", "biased"])
@pytest.mark.parametrize("factor", [0.1, 0.25, 1.0, None],
                         ids=["f0.1", "f0.25", "f1", "cumulative"])
def test_running_statistics_conventions(rng, unbiased, factor):
    f = 4
    ref = bnref.RunningStats(f, factor, unbiased)
    with bn.BatchNorm(f, update_factor=factor, unbiased_running_var=unbiased) as layer:
        assert layer.update_factor == (None if factor is None else pytest.approx(factor))
        for step in range(6):
            x = batch(rng, n=5 + step, f=f, loc=step, scale=1 + step)
            layer.forward(x, training=True)
            ref.update(x)
            layer.forward(x, training=False)  # inference does not count
        assert layer.batches_tracked == 6
        np.testing.assert_allclose(layer.running_mean, ref.mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(layer.running_var, ref.var, rtol=1e-5, atol=1e-5)


def test_cumulative_average_is_the_plain_mean_of_batch_statistics(rng):
    xs = [batch(rng, 8, 3, loc=i) for i in range(4)]
    with bn.BatchNorm(3, update_factor=None, unbiased_running_var=False) as layer:
        for x in xs:
            layer.forward(x, training=True)
        np.testing.assert_allclose(layer.running_mean,
                                   np.mean([x.mean(0) for x in xs], axis=0), rtol=1e-5)
        np.testing.assert_allclose(layer.running_var,
                                   np.mean([x.astype(np.float64).var(0) for x in xs], axis=0),
                                   rtol=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_fused_relu_equals_unfused(rng, isa, training):
    x, dy = batch(rng, 20, 6), batch(rng, 20, 6, loc=0.0, scale=1.0)
    gamma, beta = rng.uniform(0.5, 1.5, 6), rng.uniform(-1, 1, 6)
    with bn.BatchNorm(6, fuse_relu=True) as fused, bn.BatchNorm(6) as plain:
        for layer in (fused, plain):
            layer.gamma, layer.beta = gamma, beta
        assert fused.flags == bn.BatchNormFlag.FUSE_RELU
        y_fused = fused.forward(x, training=training)
        y_plain = plain.forward(x, training=training)
        assert (y_fused > 0).any() and (y_fused == 0).any()
        np.testing.assert_allclose(y_fused, np.maximum(y_plain, 0), rtol=1e-6, atol=1e-7)
        dx_fused = fused.backward(dy)
        dx_plain = plain.backward(dy * (y_plain > 0))
        np.testing.assert_allclose(dx_fused, dx_plain, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fused.dgamma, plain.dgamma, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fused.dbeta, plain.dbeta, rtol=1e-5, atol=1e-6)


def test_nan_input_in_training_raises_and_changes_nothing(rng):
    x = batch(rng)
    with bn.BatchNorm(5) as layer:
        layer.forward(x, training=True)
        before = (layer.running_mean, layer.running_var, layer.batches_tracked)
        bad = x.copy()
        bad[3, 2] = np.nan
        out = np.full_like(x, 7.0)
        with pytest.raises(bn.NonFiniteError, match="not finite") as info:
            layer.forward(bad, training=True, out=out)
        assert isinstance(info.value, FloatingPointError)
        assert info.value.status == 7
        np.testing.assert_array_equal(out, 7.0)  # output untouched
        np.testing.assert_array_equal(layer.running_mean, before[0])
        np.testing.assert_array_equal(layer.running_var, before[1])
        assert layer.batches_tracked == before[2]
        # in inference mode NaN propagates by IEEE arithmetic, without an error
        y = layer.forward(bad, training=False)
        assert np.isnan(y[3, 2]) and np.isfinite(np.delete(y, 2, axis=1)).all()


def test_scalar_properties():
    with bn.BatchNorm(3, eps=1e-3, update_factor=0.2) as layer:
        assert layer.features == 3
        assert layer.eps == pytest.approx(1e-3)
        assert layer.update_factor == pytest.approx(0.2)
        assert layer.flags == bn.BatchNormFlag(0)
        layer.eps = 0.5
        layer.update_factor = 1.0
        layer.batches_tracked = 2**64 - 1
        assert (layer.eps, layer.update_factor, layer.batches_tracked) == (0.5, 1.0, 2**64 - 1)
        with pytest.raises(bn.InvalidArgumentError, match="eps"):
            layer.eps = 0.0
        with pytest.raises(bn.NonFiniteError):
            layer.eps = float("inf")
        with pytest.raises(bn.InvalidArgumentError, match=r"outside \(0, 1\]"):
            layer.update_factor = 1.5
        with pytest.raises(ValueError, match="fixed at creation"):
            layer.update_factor = None
        with pytest.raises(OverflowError):
            layer.batches_tracked = -1
        with pytest.raises(OverflowError):
            layer.batches_tracked = 2**64
        assert layer.eps == 0.5 and layer.update_factor == 1.0  # failed sets changed nothing
    with bn.BatchNorm(3, update_factor=None) as layer:
        assert layer.update_factor is None
        assert layer.flags == bn.BatchNormFlag.CUMULATIVE_AVERAGE
        with pytest.raises(ValueError, match="cumulative"):
            layer.update_factor = 0.5


def test_flags_from_constructor():
    F = bn.BatchNormFlag
    with bn.BatchNorm(2, scale=False, shift=False, running_stats=False,
                      unbiased_running_var=False, fuse_relu=True) as layer:
        assert layer.flags == F.NO_SCALE | F.NO_SHIFT | F.NO_RUNNING_STATS | \
            F.BIASED_RUNNING_VAR | F.FUSE_RELU
        assert "FUSE_RELU" in repr(layer)


def test_vector_properties_are_copies_and_validated(rng):
    with bn.BatchNorm(4) as layer:
        np.testing.assert_array_equal(layer.gamma, np.ones(4, np.float32))
        np.testing.assert_array_equal(layer.beta, np.zeros(4, np.float32))
        np.testing.assert_array_equal(layer.running_mean, np.zeros(4, np.float32))
        np.testing.assert_array_equal(layer.running_var, np.ones(4, np.float32))
        g = layer.gamma
        g[:] = 5
        np.testing.assert_array_equal(layer.gamma, 1)  # a copy, not a view
        layer.gamma = [1, 2, 3, 4]  # any real array-like, converted once
        assert layer.gamma.dtype == np.float32
        np.testing.assert_array_equal(layer.gamma, [1, 2, 3, 4])
        layer.gamma -= 0.5  # read-modify-write works as on a numpy attribute
        np.testing.assert_array_equal(layer.gamma, [0.5, 1.5, 2.5, 3.5])
        with pytest.raises(bn.ShapeMismatchError, match=r"\(4,\)"):
            layer.beta = np.zeros(5)
        with pytest.raises(ValueError):
            layer.beta = np.zeros((4, 1))
        with pytest.raises(bn.InvalidArgumentError, match="negative"):
            layer.running_var = [1, 1, -1, 1]
        with pytest.raises(bn.NonFiniteError, match=r"values\[1\]"):
            layer.running_mean = [0, np.inf, 0, 0]
        with pytest.raises(TypeError):
            layer.gamma = ["a", "b", "c", "d"]
        for name in ("dgamma", "dbeta", "saved_mean", "saved_invstd"):
            with pytest.raises(AttributeError):
                setattr(layer, name, np.zeros(4))


def test_unavailable_vectors_raise_wrong_state(rng):
    with bn.BatchNorm(3, scale=False, shift=False) as layer:
        for name in ("gamma", "beta"):
            with pytest.raises(bn.WrongStateError, match="disabled by the layer's flags"):
                getattr(layer, name)
        with pytest.raises(bn.WrongStateError):
            layer.gamma = np.ones(3)
        for name in ("dgamma", "dbeta", "saved_mean", "saved_invstd"):
            with pytest.raises(bn.WrongStateError, match="no forward/backward"):
                getattr(layer, name)
        layer.forward(batch(rng, 4, 3), training=False)
        with pytest.raises(bn.WrongStateError):  # inference forward saves no batch statistics
            layer.saved_mean


def test_concurrent_use_from_threads_is_serialized(rng):
    import threading

    x = batch(rng, 64, 32)
    with bn.BatchNorm(32) as layer:
        expected = layer.forward(x, training=False)
        results, errors = [], []

        def work():
            try:
                for _ in range(50):
                    results.append(layer.forward(x, training=False))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len(results) == 200
        for y in results:
            np.testing.assert_array_equal(y, expected)
