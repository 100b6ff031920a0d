"""The MLP's running-variance convention: PyTorch's unbiased update by
default, Keras' biased one with biased_running_var (and for models built
from Keras weights), checked against the closed form in float64."""
import numpy as np
import pytest

import bn
from bn import interop

F, H, C, N = 4, 5, 3, 16


def keras_weights(rng):
    def norm(n):
        return [rng.uniform(0.5, 1.5, n), rng.normal(size=n), rng.normal(size=n),
                rng.uniform(0.5, 2.0, n)]
    return [norm(F), [rng.normal(size=(F, H))], norm(H),
            [rng.normal(size=(H, C)), rng.normal(size=C)]]


def batch(rng):
    x = (1.0 + 2.0 * rng.standard_normal((N, F))).astype(np.float32)
    return x, rng.integers(0, C, N)


@pytest.mark.parametrize("biased", [False, True])
def test_input_running_variance_follows_the_convention(biased):
    rng = np.random.default_rng(3)
    x, y = batch(rng)
    with bn.MLP(F, [H], C, input_batchnorm=True, biased_running_var=biased, seed=1) as model:
        assert model.biased_running_var is biased
        factor = model.bn_update_factor
        before = model.layer(0).running_var.astype(np.float64)
        model.train_step(x, y)
        var = x.astype(np.float64).var(axis=0) * (1.0 if biased else N / (N - 1))
        expected = (1.0 - factor) * before + factor * var
        np.testing.assert_allclose(model.layer(0).running_var, expected, rtol=1e-6)


def test_keras_models_keep_keras_running_variance():
    rng = np.random.default_rng(4)
    model = interop.mlp_from_keras(keras_weights(rng))
    with model:
        assert model.biased_running_var
        assert model.bn_update_factor == pytest.approx(0.01)
        x, y = batch(rng)
        before = model.layer(0).running_var.astype(np.float64)
        model.train_step(x, y)
        expected = 0.99 * before + 0.01 * x.astype(np.float64).var(axis=0)
        np.testing.assert_allclose(model.layer(0).running_var, expected, rtol=1e-6)
        # the convention survives a save/load round trip
        copy = bn.MLP.from_bytes(model.to_bytes())
        with copy:
            assert copy.biased_running_var
