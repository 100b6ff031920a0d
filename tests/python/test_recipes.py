"""bn.recipes.BN_TRAIN is bn train's default recipe: on the same IDX data the
Python run and the `bn` program end with the same model, bit for bit."""
import dataclasses
import os
import subprocess

import numpy as np
import pytest

import bn
from bn import recipes

from test_datasets import write_set

CLI = os.environ.get("BN_CLI")


def synthetic_idx(folder, train=700, test=150, seed=0):
    """A 4-class IDX set of 6x5 images: class prototypes plus noise, as uint8."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 255, (4, 6, 5))

    def draw(n):
        labels = rng.integers(0, 4, n)
        images = prototypes[labels] + 60 * rng.standard_normal((n, 6, 5))
        return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)

    write_set(folder, *draw(train), *draw(test))


def test_the_recipe_holds_bn_trains_defaults():
    r = recipes.BN_TRAIN
    assert (r.hidden, r.activation, r.batchnorm, r.input_batchnorm) == \
        ((256, 128), "relu", "before", True)
    assert (r.optimizer, r.rate, r.schedule, r.batch_size, r.epochs, r.seed) == \
        ("adam", 0.002, "cosine", 256, 10, 42)
    assert r.initialization == "he_normal"
    assert dataclasses.replace(r, activation="tanh").initialization == "glorot_uniform"
    assert dataclasses.replace(r, optimizer="sgd").rate == 0.05
    with r.build(784, 10) as m:
        assert (m.inputs, m.hidden, m.outputs, m.input_batchnorm) == (784, (256, 128), 10, True)
        assert m.optimizer == bn.Optimizer.ADAM and m.learning_rate == 0.002
        assert m.parameter_count == 237098


@pytest.mark.skipif(not CLI, reason="BN_CLI (the bn program) is not set; ctest sets it")
@pytest.mark.parametrize("recipe, options", [
    (dataclasses.replace(recipes.BN_TRAIN, hidden=(16, 8), epochs=3, batch_size=64),
     ["--hidden", "16,8", "--epochs", "3", "--batch-size", "64"]),
    (dataclasses.replace(recipes.BN_TRAIN, hidden=(12,), epochs=2, batch_size=100,
                         optimizer="momentum", schedule="constant", activation="tanh",
                         seed=7),
     ["--hidden", "12", "--epochs", "2", "--batch-size", "100", "--optimizer", "momentum",
      "--schedule", "constant", "--activation", "tanh", "--seed", "7"]),
])
def test_the_recipe_trains_the_model_bn_train_trains(tmp_path, recipe, options):
    synthetic_idx(tmp_path)
    saved = tmp_path / "cli.bnm"
    subprocess.run([CLI, "train", "--data", str(tmp_path), "--output", str(saved), "--quiet",
                    *options], check=True, stdout=subprocess.DEVNULL)
    (x, y), (xt, yt) = bn.datasets.load_idx(tmp_path)
    model, history = recipe.train(x, y, validation_data=(xt, yt), verbose=0)
    with model, bn.MLP.load(saved) as cli_model:
        ours, theirs = model.parameters(), cli_model.parameters()
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=str(key))
        assert model.evaluate(xt, yt) == cli_model.evaluate(xt, yt)
        assert history.history["val_accuracy"][-1] == cli_model.evaluate(xt, yt)[1]
        assert model.learning_rate == recipe.rate  # the schedule put the base rate back
