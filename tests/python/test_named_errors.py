"""Errors name the argument as the Python caller spelled it ("learning_rate must
be > 0"), never a C position ("parameter 2"); the bounds quoted are the
library's (bn_mlp_parameter_bounds)."""
import math

import numpy as np
import pytest

import bn


@pytest.fixture
def model():
    with bn.MLP(4, [3], 2) as m:
        yield m


@pytest.mark.parametrize("name, value, expected, error", [
    ("learning_rate", 0, "learning_rate must be > 0 and <= 1000, got 0", bn.InvalidArgumentError),
    ("learning_rate", -1.5, "learning_rate must be > 0 and <= 1000, got -1.5",
     bn.InvalidArgumentError),
    ("momentum", 1.0, "momentum must be >= 0 and < 1, got 1.0", bn.InvalidArgumentError),
    ("beta2", 1.0, "beta2 must be >= 0 and < 1, got 1.0", bn.InvalidArgumentError),
    ("bn_update_factor", 0.0, "bn_update_factor must be > 0 and <= 1, got 0.0",
     bn.InvalidArgumentError),
    ("decay_all", 0.5, "decay_all must be >= 0 and <= 1 and an integer, got 0.5",
     bn.InvalidArgumentError),
    ("learning_rate", math.nan, "learning_rate must be finite, got nan", bn.NonFiniteError),
    ("bn_epsilon", 1e-50, "bn_epsilon: 1e-50 rounds to 0 in float", bn.InvalidArgumentError),
])
def test_a_tunable_out_of_bounds_is_named(model, name, value, expected, error):
    with pytest.raises(error) as info:
        model.set_parameter(name, value)
    assert str(info.value) == expected
    assert info.value.status == error.default_status
    assert "parameter " not in str(info.value)


def test_the_quoted_bounds_are_the_librarys(model):
    low, high = bn.MLP.parameter_bounds("learning_rate")
    with pytest.raises(bn.InvalidArgumentError, match=f"> {low:g} and <= {high:g}"):
        model.learning_rate = high * 2


def test_keywords_and_properties_name_the_tunable_too(model):
    with pytest.raises(bn.InvalidArgumentError, match="^learning_rate must be > 0"):
        bn.MLP(4, [3], 2, learning_rate=0)
    with pytest.raises(bn.InvalidArgumentError, match="^momentum must be >= 0"):
        model.momentum = -0.1
    with pytest.raises(bn.InvalidArgumentError, match="^learning_rate must be > 0"):
        model.fit(np.zeros((4, 4)), np.zeros(4, int), learning_rate=0)
    assert model.learning_rate == pytest.approx(1e-3)  # unchanged


@pytest.mark.parametrize("call, expected", [
    (lambda: bn.MLP(0, [3], 2), "inputs must be >= 1, got 0"),
    (lambda: bn.MLP(4, [3, 0], 2), r"hidden\[1\] must be >= 1, got 0"),
    (lambda: bn.MLP(4, [3], 1), r"outputs \(with the softmax head\) must be >= 2, got 1"),
    (lambda: bn.MLP(4, [3], 0, head="sigmoid"),
     r"outputs \(with the sigmoid head\) must be >= 1, got 0"),
    (lambda: bn.Dense(0, 3), "in_features must be >= 1, got 0"),
    (lambda: bn.Dense(3, 0), "out_features must be >= 1, got 0"),
])
def test_sizes_are_named(call, expected):
    with pytest.raises(bn.InvalidArgumentError, match=f"^{expected}$"):
        call()


def test_fit_names_its_sizes(model):
    x, y = np.zeros((4, 4), np.float32), np.zeros(4, int)
    with pytest.raises(bn.InvalidArgumentError, match="^batch_size must be >= 1, got 0$"):
        model.fit(x, y, batch_size=0)
    with pytest.raises(bn.InvalidArgumentError, match="^epochs must be >= 0, got -1$"):
        model.fit(x, y, epochs=-1)
