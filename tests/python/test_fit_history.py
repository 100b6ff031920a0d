"""MLP.fit's History, learning-rate schedules and summary(), against values
computed independently here: evaluate() after each epoch, train_step() with a
rate from a formula written below, parameter counts from the layer sizes."""
import math

import numpy as np
import pytest

import bn
from bn import schedules


def data(samples=300, features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, features)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def twin_models(**kw):
    """Two identical fresh models (same seed)."""
    make = lambda: bn.MLP(6, [8, 5], 2, seed=3, input_batchnorm=True, **kw)  # noqa: E731
    return make(), make()


# ---- History --------------------------------------------------------------------

def test_history_values_equal_evaluate_after_each_epoch():
    x, y = data()
    xv, yv = data(80, seed=1)
    a, b = twin_models()
    with a, b:
        history = a.fit(x, y, epochs=3, batch_size=32, seed=bn.Rng(5), validation_data=(xv, yv))
        shuffle = bn.Rng(5)  # the same generator, continued across the one-epoch calls
        expected_val, expected_train = [], []
        for _ in range(3):
            (one,) = b.fit(x, y, epochs=1, batch_size=32, seed=shuffle)
            expected_train.append((one.loss, one.accuracy))
            expected_val.append(b.evaluate(xv, yv))
        h = history.history
        assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
                          "seconds"}
        assert h["val_loss"] == [v[0] for v in expected_val]
        assert h["val_accuracy"] == [v[1] for v in expected_val]
        assert h["loss"] == [t[0] for t in expected_train]
        assert h["accuracy"] == [t[1] for t in expected_train]
        assert h["learning_rate"] == [pytest.approx(1e-3)] * 3
        assert all(s > 0 for s in h["seconds"])
        assert history.epoch == [0, 1, 2]
        assert [e.epoch for e in history] == [1, 2, 3]
        assert history.params == {"epochs": 3, "batch_size": 32, "samples": 300,
                                  "schedule": None}
        assert a.evaluate(xv, yv) == expected_val[-1]


def test_history_without_validation_has_no_val_keys_and_is_a_list_of_epochs():
    x, y = data()
    with bn.MLP(6, [4], 2) as m:
        history = m.fit(x, y, epochs=2, batch_size=50)
    assert isinstance(history, list) and len(history) == 2
    assert isinstance(history[0], bn.Epoch) and history[0].val_loss is None
    assert "val_loss" not in history.history
    assert history.history["loss"] == [history[0].loss, history[1].loss]


def test_training_loss_is_the_sample_weighted_mean_of_the_steps():
    x, y = data(250)  # batches of 64: 64, 64, 64, 58
    a, b = twin_models()
    with a, b:
        (epoch,) = a.fit(x, y, epochs=1, batch_size=64, shuffle=False)
        losses = [(b.train_step(x[i:i + 64], y[i:i + 64]), len(x[i:i + 64]))
                  for i in range(0, 250, 64)]
        expected = sum(loss * n for loss, n in losses) / 250
        assert epoch.loss == pytest.approx(expected, rel=1e-6)
        for key, value in a.parameters().items():
            np.testing.assert_array_equal(value, b.parameters()[key], err_msg=str(key))


# ---- schedules ------------------------------------------------------------------

def cosine_formula(base, epoch, done, total, epochs):
    """bn train's rate after `done` samples of epoch `epoch` (src/cli/cmd_train.c)."""
    fraction = ((epoch - 1) * total + done) / (epochs * total)
    rate = 0.5 * base * (1 + math.cos(math.pi * fraction))
    return max(rate, 1e-3 * base)


def step_formula(base, epoch, done, total, every, factor):
    return base * factor ** math.floor(((epoch - 1) * total + done) / total / every)


@pytest.mark.parametrize("name, formula", [
    ("constant", lambda base, e, done, total, epochs: base),
    ("cosine", cosine_formula),
    (schedules.Step(every=2, factor=0.5),
     lambda base, e, done, total, epochs: step_formula(base, e, done, total, 2, 0.5)),
])
def test_schedule_equals_train_steps_at_the_formulas_rates(name, formula):
    x, y = data(200)
    base, batch, epochs = 0.05, 48, 4
    a, b = twin_models(optimizer="momentum", learning_rate=base)
    with a, b:
        seen_rates = []
        history = a.fit(x, y, epochs=epochs, batch_size=batch, shuffle=False, schedule=name,
                        batch_callback=lambda *args: seen_rates.append(a.learning_rate))
        assert a.learning_rate == base  # put back
        rates = []
        for epoch in range(1, epochs + 1):
            for start in range(0, 200, batch):
                done = min(start + batch, 200)
                b.learning_rate = formula(base, epoch, start, 200, epochs)
                rates.append(b.learning_rate)
                b.train_step(x[start:done], y[start:done])
                if done < 200:
                    assert seen_rates[len(rates) - 1] == formula(base, epoch, done, 200, epochs)
        for key, value in a.parameters().items():
            np.testing.assert_array_equal(value, b.parameters()[key], err_msg=str(key))
        steps = len(rates) // epochs
        assert history.history["learning_rate"] == [rates[steps * k - 1]
                                                    for k in range(1, epochs + 1)]


def test_schedule_rates_against_the_formulas():
    cos = schedules.Cosine()
    for progress in (0, 0.25, 1, 2.5, 3.999, 4):
        fraction = progress / 4
        assert cos.rate(2e-3, progress, 4) == pytest.approx(
            max(1e-3 * (1 + math.cos(math.pi * fraction)), 2e-6), rel=1e-15)
    assert cos.rate(1.0, 4, 4) == 1e-3  # the floor
    assert schedules.Cosine(floor=0).rate(1.0, 4, 4) == pytest.approx(0, abs=1e-16)
    step = schedules.Step(every=3, factor=0.1)
    assert [step.rate(1.0, p, 10) for p in (0, 2.99, 3, 5.5, 6, 9)] == \
        [1.0, 1.0, 0.1, 0.1, pytest.approx(0.01), pytest.approx(0.001)]
    assert schedules.Constant().rate(0.3, 7, 10) == 0.3
    assert schedules.of("COSINE") == schedules.Cosine()
    assert schedules.of(None) == schedules.Constant()


def test_schedule_arguments_are_checked():
    with pytest.raises(ValueError, match=r"unknown schedule 'linear' \(known: constant, cosine"):
        schedules.of("linear")
    with pytest.raises(TypeError, match="schedule must be"):
        schedules.of(0.1)
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        schedules.Step(every=0)
    with pytest.raises(ValueError, match="factor must be > 0 and <= 1"):
        schedules.Step(factor=0)
    with pytest.raises(ValueError, match="floor must be"):
        schedules.Cosine(floor=2)
    with bn.MLP(6, [4], 2) as m, pytest.raises(ValueError, match="verbose must be 0, 1 or 2"):
        m.fit(*data(), verbose=3)


def test_a_custom_schedule_object():
    class Halving(schedules.Schedule):
        def rate(self, base, progress, epochs):
            return base / 2 ** int(progress)

    x, y = data(100)
    with bn.MLP(6, [4], 2, learning_rate=0.01) as m:
        history = m.fit(x, y, epochs=3, batch_size=100, schedule=Halving())
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.005, 0.0025])


# ---- summary --------------------------------------------------------------------

def parse_summary(text):
    rows = {}
    for line in text.splitlines():
        fields = line.rsplit(None, 1)
        if line.startswith(("input", "batchnorm", "dense", "relu", "tanh", "softmax",
                            "sigmoid")):
            name = line.split("  ")[0].strip()
            rows[name] = int(fields[1].replace(",", ""))
    total = int(text.split("Trainable parameters: ")[1].split()[0].replace(",", ""))
    running = int(text.split("(not trained): ")[1].split()[0].replace(",", ""))
    return rows, total, running


@pytest.mark.parametrize("kw", [
    dict(inputs=784, hidden=[256, 128], outputs=10, input_batchnorm=True),
    dict(inputs=5, hidden=[7], outputs=1, head="sigmoid", batchnorm="after", activation="tanh"),
    dict(inputs=4, hidden=[], outputs=3, batchnorm=None),
    dict(inputs=3, hidden=[2, 2, 2], outputs=2, batchnorm=None, input_batchnorm=True),
])
def test_summary_counts_equal_the_layer_sizes_and_the_c_count(kw):
    lines = []
    with bn.MLP(**kw) as m:
        m.summary(print_fn=lines.append)
        c_count = m.parameter_count
    (text,) = lines
    rows, total, running = parse_summary(text)
    sizes = [kw["inputs"], *kw["hidden"], kw["outputs"]]
    place = kw.get("batchnorm", "before")
    expected = {"input": 0}
    norms = 0
    if kw.get("input_batchnorm"):
        expected["batchnorm_0 (input)"] = 2 * sizes[0]
        norms += sizes[0]
    for k in range(1, len(sizes) - 1):
        bias = place != "before"
        expected[f"dense_{k}" + ("" if bias else " (no bias)")] = \
            sizes[k - 1] * sizes[k] + (sizes[k] if bias else 0)
        if place is not None:
            expected[f"batchnorm_{k}"] = 2 * sizes[k]
            norms += sizes[k]
        expected[f"{kw.get('activation', 'relu')}_{k}"] = 0
    head = len(sizes) - 1
    expected[f"dense_{head} (head)"] = sizes[-2] * sizes[-1] + sizes[-1]
    expected[kw.get("head", "softmax")] = 0
    assert rows == expected
    assert total == sum(expected.values()) == c_count
    assert running == 2 * norms
    assert f"(None, {sizes[-1]})" in text.splitlines()[-4]
