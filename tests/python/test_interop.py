"""PyTorch state_dict and Keras weights in and out, as plain numpy arrays
(no torch or keras needed): checked against a float64 numpy forward of the
described nn.Sequential."""

import numpy as np
import pytest

import bn
from bn import interop

ACT = {"ReLU": lambda x: np.maximum(x, 0), "Tanh": np.tanh,
       "Sigmoid": lambda x: 1 / (1 + np.exp(-x)), "ELU": lambda x: np.where(x > 0, x, np.expm1(x)),
       "Dropout": lambda x: x}


def sequential_forward(layers, state, x, eps=1e-5):
    """Inference forward of an nn.Sequential given as (name, kwargs) + state_dict."""
    x = np.asarray(x, np.float64)
    for i, (name, kw) in enumerate(layers):
        p = {k.split(".", 1)[1]: np.asarray(v, np.float64) for k, v in state.items()
             if k.split(".", 1)[0] == str(i)}
        if name == "Linear":
            x = x @ p["weight"].T + p.get("bias", 0)
        elif name == "BatchNorm1d":
            x = (x - p["running_mean"]) / np.sqrt(p["running_var"] + kw.get("eps", eps)) \
                * p.get("weight", 1) + p.get("bias", 0)
        else:
            x = ACT[name](x)
    return x


def torch_like_state(rng, bias_before_bn=True):
    """A state_dict like that of nn.Sequential(BatchNorm1d(5), Linear(5,8), BatchNorm1d(8),
    ReLU(), Dropout(), Linear(8,6), BatchNorm1d(6), ReLU(), Linear(6,3))."""
    s = {}

    def norm(i, f):
        s[f"{i}.weight"] = rng.uniform(0.5, 1.5, f).astype(np.float32)
        s[f"{i}.bias"] = rng.standard_normal(f).astype(np.float32)
        s[f"{i}.running_mean"] = rng.standard_normal(f).astype(np.float32)
        s[f"{i}.running_var"] = rng.uniform(0.2, 2, f).astype(np.float32)
        s[f"{i}.num_batches_tracked"] = np.array(7)

    def linear(i, fi, fo, bias=True):
        s[f"{i}.weight"] = rng.standard_normal((fo, fi)).astype(np.float32)
        if bias:
            s[f"{i}.bias"] = rng.standard_normal(fo).astype(np.float32)

    norm(0, 5)
    linear(1, 5, 8, bias_before_bn)
    norm(2, 8)
    linear(5, 8, 6, bias_before_bn)
    norm(6, 6)
    linear(8, 6, 3)
    layers = [("BatchNorm1d", {}), ("Linear", {}), ("BatchNorm1d", {}), ("ReLU", {}),
              ("Dropout", {}), ("Linear", {}), ("BatchNorm1d", {}), ("ReLU", {}), ("Linear", {})]
    return s, layers


@pytest.mark.parametrize("bias", [True, False])
def test_import_state_dict_computes_the_same_function(rng, bias):
    state, layers = torch_like_state(rng, bias)
    x = rng.standard_normal((20, 5)).astype(np.float32)
    with interop.mlp_from_state_dict(state, activation="relu") as m:
        assert (m.inputs, m.hidden, m.outputs) == (5, (8, 6), 3)
        assert m.input_batchnorm and m.batchnorm is bn.Placement.BEFORE
        np.testing.assert_allclose(m.predict_logits(x), sequential_forward(layers, state, x),
                                   rtol=1e-5, atol=1e-5)
        # a bias before a BatchNorm is absorbed into its running mean
        expect = state["2.running_mean"] - (state["1.bias"] if bias else 0)
        np.testing.assert_allclose(m.layer(1).running_mean, expect, rtol=1e-6)


def test_export_round_trip_and_layers(rng):
    for kw in (dict(batchnorm="before", input_batchnorm=True), dict(batchnorm="after"),
               dict(batchnorm=None, activation="tanh")):
        with bn.MLP(5, [8, 6], 3, seed=2, **kw) as m:
            x = rng.standard_normal((64, 5)).astype(np.float32)
            m.fit(x, rng.integers(0, 3, 64), epochs=2, batch_size=16)
            state, layers = interop.mlp_to_state_dict(m), interop.torch_layers(m)
            assert all(v.dtype == np.float32 for k, v in state.items()
                       if not k.endswith("num_batches_tracked"))
            np.testing.assert_allclose(m.predict_logits(x), sequential_forward(layers, state, x),
                                       rtol=1e-5, atol=1e-5)
            act = kw.get("activation", "relu")
            with interop.mlp_from_state_dict(state, activation=act) as back:
                assert back.batchnorm == m.batchnorm
                np.testing.assert_array_equal(back.predict_logits(x), m.predict_logits(x))
            prefixed = interop.mlp_to_state_dict(m, prefix="net.")
            assert set(prefixed) == {"net." + k for k in state}
            with interop.mlp_from_state_dict({**prefixed, "head.w": np.ones(1)}, activation=act,
                                        prefix="net.") as back:
                np.testing.assert_array_equal(back.predict_logits(x), m.predict_logits(x))


def test_layers_description():
    with bn.MLP(4, [5], 2, activation="elu", elu_alpha=0.5, bn_epsilon=1e-3,
                bn_update_factor=0.01) as m:
        assert interop.torch_layers(m) == [
            ("Linear", {"in_features": 4, "out_features": 5, "bias": False}),
            ("BatchNorm1d", {"num_features": 5, "eps": 1e-3, "momentum": 0.01}),
            ("ELU", {"alpha": 0.5}),
            ("Linear", {"in_features": 5, "out_features": 2, "bias": True})]
        assert list(interop.mlp_to_state_dict(m)) == [
            "0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
            "1.num_batches_tracked", "3.weight", "3.bias"]


def test_bad_state_dicts(rng):
    state, _ = torch_like_state(rng)
    with pytest.raises(ValueError, match="'<index>.<name>'"):
        interop.mlp_from_state_dict({"fc.weight": np.ones((2, 2))})
    with pytest.raises(ValueError, match="neither Linear nor BatchNorm1d"):
        interop.mlp_from_state_dict({"0.weight": np.ones(3)})
    with pytest.raises(ValueError, match="end with a Linear"):
        interop.mlp_from_state_dict({k: v for k, v in state.items() if not k.startswith("8.")})
    with pytest.raises(ValueError, match="no activation"):
        interop.mlp_from_state_dict({"0.weight": np.ones((3, 2)), "1.weight": np.ones((2, 3))})
    mixed = {"0.weight": np.ones((3, 2)), "1.weight": np.ones(3), "1.bias": np.ones(3),
             "1.running_mean": np.zeros(3), "1.running_var": np.ones(3),
             "3.weight": np.ones((3, 3)), "5.weight": np.ones((2, 3))}
    with pytest.raises(ValueError, match="same way"):
        interop.mlp_from_state_dict(mixed)
    with pytest.raises(bn.ShapeMismatchError):
        interop.mlp_from_state_dict({"0.weight": np.ones((3, 2)), "2.weight": np.ones((2, 4))})


# ---- Keras ---------------------------------------------------------------------------

def test_keras_batchnorm(rng):
    gamma, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    mean, var = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    x = rng.standard_normal((10, 4)).astype(np.float32)
    with interop.batchnorm_from_keras([gamma, beta, mean, var]) as layer:
        assert layer.eps == pytest.approx(1e-3) and layer.update_factor == pytest.approx(0.01)
        assert layer.flags & bn.BatchNormFlag.BIASED_RUNNING_VAR
        want = gamma * (x - mean) / np.sqrt(var + 1e-3) + beta
        np.testing.assert_allclose(layer.forward(x, training=False), want, rtol=1e-5, atol=1e-6)
        # Keras's update: moving = momentum*moving + (1-momentum)*batch, biased variance
        layer.forward(x, training=True)
        np.testing.assert_allclose(layer.running_var, 0.99 * var + 0.01 * x.var(axis=0),
                                   rtol=1e-5)
        out = interop.batchnorm_to_keras(layer)
        assert set(out) == {"gamma", "beta", "moving_mean", "moving_variance", "epsilon",
                            "momentum"}
        assert out["momentum"] == pytest.approx(0.99)
    named = dict(gamma=gamma, beta=beta, moving_mean=mean, moving_variance=var)
    with interop.batchnorm_from_keras(named, epsilon=1e-5) as layer:
        np.testing.assert_allclose(layer.gamma, gamma, rtol=1e-6)
    with interop.batchnorm_from_keras([mean, var], center=False, scale=False) as layer:
        assert interop.batchnorm_to_keras(layer).keys() == {
            "moving_mean", "moving_variance", "epsilon", "momentum"}
    with pytest.raises(ValueError, match="expected 4 arrays"):
        interop.batchnorm_from_keras([gamma, beta, mean])


def test_keras_mlp(rng):
    """Dense(8, use_bias=False) -> BatchNormalization -> ReLU -> Dense(3)."""
    kernel1, kernel2, bias2 = (rng.standard_normal((5, 8)), rng.standard_normal((8, 3)),
                               rng.standard_normal(3))
    norm = [rng.uniform(0.5, 1.5, 8), rng.standard_normal(8), rng.standard_normal(8),
            rng.uniform(0.5, 2, 8)]
    x = rng.standard_normal((12, 5)).astype(np.float32)
    h = x @ kernel1
    h = np.maximum((h - norm[2]) / np.sqrt(norm[3] + 1e-3) * norm[0] + norm[1], 0)
    want = h @ kernel2 + bias2
    with interop.mlp_from_keras([[kernel1], norm, [kernel2, bias2]]) as m:
        assert m.bn_epsilon == pytest.approx(1e-3) and m.bn_update_factor == pytest.approx(0.01)
        np.testing.assert_allclose(m.predict_logits(x), want, rtol=1e-5, atol=1e-5)
        weights = interop.mlp_to_keras(m)
        assert [[a.shape for a in w] for w in weights] == [[(5, 8)], [(8,)] * 4, [(8, 3), (3,)]]
        with interop.mlp_from_keras(weights) as back:
            np.testing.assert_array_equal(back.predict_logits(x), m.predict_logits(x))
    dicts = [dict(kernel=kernel1, bias=None),
             dict(zip(("gamma", "beta", "moving_mean", "moving_variance"), norm)),
             dict(kernel=kernel2, bias=bias2)]
    with interop.mlp_from_keras(dicts, batchnorm="before") as m:
        np.testing.assert_allclose(m.predict_logits(x), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="neither Dense nor BatchNormalization"):
        interop.mlp_from_keras([[np.ones(3)]])


# ---- the compatibility methods ---------------------------------------------------------

def keyed(keras_weights):
    """Keras set_weights() lists as {(layer, index): array}."""
    return {(i, j): a for i, layer in enumerate(keras_weights) for j, a in enumerate(layer)}


def assert_same_arrays(mine, theirs):
    assert mine.keys() == theirs.keys()
    for key in mine:
        np.testing.assert_array_equal(mine[key], theirs[key])


def test_compatibility_methods_give_what_the_functions_give(rng):
    """MLP.from_state_dict/state_dict/torch_layers/from_keras/to_keras and
    BatchNorm.from_keras/to_keras, kept from before bn.interop, pass their
    arguments through: the same networks and arrays as the functions."""
    state, _ = torch_like_state(rng)
    x = rng.standard_normal((7, 5)).astype(np.float32)
    with bn.MLP.from_state_dict(state, "relu", "softmax", bn_epsilon=1e-4) as old, \
            interop.mlp_from_state_dict(state, "relu", "softmax", bn_epsilon=1e-4) as new:
        assert old.bn_epsilon == pytest.approx(1e-4)
        np.testing.assert_array_equal(old.predict_logits(x), new.predict_logits(x))
        assert old.torch_layers() == interop.torch_layers(new)
        assert_same_arrays(old.state_dict("net."), interop.mlp_to_state_dict(new, "net."))
        weights = interop.mlp_to_keras(new)
        assert_same_arrays(keyed(old.to_keras()), keyed(weights))
    with bn.MLP.from_keras(weights, "relu", batchnorm="after", epsilon=1e-2) as old, \
            interop.mlp_from_keras(weights, "relu", batchnorm="after", epsilon=1e-2) as new:
        assert old.bn_epsilon == pytest.approx(1e-2)
        np.testing.assert_array_equal(old.predict_logits(x), new.predict_logits(x))
    norm = [rng.uniform(0.5, 1.5, 4), rng.standard_normal(4), rng.standard_normal(4),
            rng.uniform(0.5, 2, 4)]
    with bn.BatchNorm.from_keras(norm, 1e-4, 0.9) as old, \
            interop.batchnorm_from_keras(norm, 1e-4, 0.9) as new:
        assert old.to_bytes() == new.to_bytes()
        assert_same_arrays(old.to_keras(), interop.batchnorm_to_keras(new))
    with bn.BatchNorm.from_keras(norm[2:], center=False, scale=False) as old:
        assert old.to_keras().keys() == {"moving_mean", "moving_variance", "epsilon", "momentum"}
