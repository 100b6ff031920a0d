"""bn.MLP: description, tunables, tensors, training API (fit, callbacks),
inference, folding, model files, and the errors, all through the binding.
The numbers themselves are proven against PyTorch in test_torch.py."""

import pickle
import threading

import numpy as np
import pytest

import bn


def blobs(rng, n=240, f=6, classes=3):
    """A separable synthetic classification set."""
    centers = 3 * rng.standard_normal((classes, f))
    labels = rng.integers(0, classes, n)
    x = centers[labels] + rng.standard_normal((n, f))
    return x.astype(np.float32), labels


@pytest.fixture
def data(rng):
    return blobs(rng)


def model(**kw):
    args = dict(inputs=6, hidden=[16, 8], outputs=3, seed=1, optimizer="adam",
                learning_rate=0.01)
    args.update(kw)
    return bn.MLP(**args)


def test_description_and_layers():
    with model(batchnorm="after", activation="tanh", input_batchnorm=True) as m:
        assert (m.inputs, m.hidden, m.outputs) == (6, (16, 8), 3)
        assert m.activation is bn.Activation.TANH and m.batchnorm is bn.Placement.AFTER
        assert m.head is bn.Head.SOFTMAX and m.input_batchnorm and m.has_batchnorm()
        assert repr(m) == ("<bn.MLP inputs=6 hidden=[16, 8] outputs=3 activation=tanh "
                           "batchnorm=after head=softmax input_batchnorm>")
        params = m.parameters()
        assert params[(0, "gamma")].shape == (6,)
        assert params[(1, "weight")].shape == (16, 6) and params[(1, "bias")].shape == (16,)
        assert params[(2, "running_var")].shape == (8,) and params[(3, "weight")].shape == (3, 8)
        assert (3, "gamma") not in params
        trainable = sum(v.size for (_, name), v in params.items() if not name.startswith("run"))
        assert m.parameter_count == trainable
    with model(batchnorm=None) as m:
        assert not m.has_batchnorm() and not m.has(1, "gamma") and m.has(1, "bias")
    with model(batchnorm="before") as m:
        assert not m.has(1, "bias") and m.has(3, "bias")
        with pytest.raises(bn.WrongStateError, match="no such tensor"):
            m.get(1, "bias")
        with pytest.raises(bn.InvalidArgumentError, match="layer 4 does not exist"):
            m.get(4, "weight")


def test_he_init_is_seeded_and_reproducible():
    a, b, c = model(seed=5), model(seed=5), model(seed=6)
    np.testing.assert_array_equal(a.layer(1).weight, b.layer(1).weight)
    assert not np.array_equal(a.layer(1).weight, c.layer(1).weight)
    # layer by layer from one generator, as bn.Dense draws them
    rng = bn.Rng(5)
    np.testing.assert_array_equal(a.layer(1).weight, bn.Dense(6, 16, seed=rng).weight)
    np.testing.assert_array_equal(a.layer(2).weight, bn.Dense(16, 8, seed=rng).weight)
    np.testing.assert_array_equal(model(init="zeros").layer(1).weight, np.zeros((16, 6)))


def test_tunables():
    with model() as m:
        assert m.optimizer is bn.Optimizer.ADAM and m.learning_rate == pytest.approx(0.01)
        m.optimizer = "nesterov"
        m.set_parameters(momentum=0.8, weight_decay=1e-4, decay_all=True, bn_epsilon=1e-3)
        assert (m.optimizer, m.momentum, m.weight_decay, m.decay_all) == \
            (bn.Optimizer.NESTEROV, pytest.approx(0.8), pytest.approx(1e-4), True)
        assert m.bn_epsilon == pytest.approx(1e-3) and m.bn_update_factor == pytest.approx(0.1)
        assert m.get_parameter("beta2") == pytest.approx(0.999) and m.step == 0
        assert bn.MLP.parameter_bounds("momentum") == (0.0, 1.0)
        with pytest.raises(bn.InvalidArgumentError):
            m.learning_rate = -1
        with pytest.raises(bn.InvalidArgumentError):
            m.momentum = 1.0
        with pytest.raises(ValueError, match="unknown optimizer"):
            m.optimizer = "lbfgs"
        with pytest.raises(TypeError, match="unknown MLP parameter 'lr'"):
            m.set_parameters(lr=0.1)
    with pytest.raises(TypeError, match="unknown MLP parameter"):
        bn.MLP(2, [], 2, lr=0.1)


def test_train_step_and_gradients(data):
    x, y = data
    with model() as m:
        with pytest.raises(bn.WrongStateError, match="no train step"):
            m.layer(1).dweight
        loss = m.train_step(x[:32], y[:32])
        assert np.isfinite(loss) and m.step == 1
        grads = m.parameters(gradients=True)
        assert grads[(1, "dweight")].shape == (16, 6) and (3, "dbias") in grads
        with pytest.raises(bn.BatchTooSmallError):
            m.train_step(x[:1], y[:1])
        with pytest.raises(bn.InvalidArgumentError, match=r"y\[0\] = 3"):
            m.train_step(x[:4], [3, 0, 0, 0])
        with pytest.raises(bn.ShapeMismatchError):
            m.train_step(x[:4, :5], y[:4])
        with pytest.raises(bn.ShapeMismatchError):
            m.train_step(x[:4], y[:3])
        bad = x[:4].copy()
        bad[0, 0] = np.inf
        before = m.layer(1).weight
        with pytest.raises(bn.NonFiniteError):
            m.train_step(bad, y[:4])
        np.testing.assert_array_equal(m.layer(1).weight, before)  # unchanged


def test_fit_learns_and_is_reproducible(data):
    x, y = data
    runs = []
    for _ in range(2):
        with model() as m:
            history = m.fit(x, y, epochs=4, batch_size=32, seed=3, validation_data=(x, y))
            runs.append((history, m.layer(3).weight))
    (h1, w1), (h2, w2) = runs
    assert [e.epoch for e in h1] == [1, 2, 3, 4]
    assert h1[-1].loss < h1[0].loss and h1[-1].val_accuracy > 0.9
    assert [e[:3] for e in h1] == [e[:3] for e in h2]
    np.testing.assert_array_equal(w1, w2)


def test_fit_with_optimizer_and_parameters(data):
    x, y = data
    with model() as m:
        m.fit(x, y, epochs=1, optimizer="momentum", learning_rate=0.05, shuffle=False)
        assert m.optimizer is bn.Optimizer.MOMENTUM and m.learning_rate == pytest.approx(0.05)
        assert m.step == len(x) // 32 + 1


def test_callbacks_stop_schedule_and_reraise(data):
    x, y = data
    with model() as m:
        seen = []

        def on_epoch(e):
            seen.append(e.epoch)
            m.learning_rate = m.learning_rate / 2  # a schedule: allowed in a callback
            m.predict(x[:3])  # inference: allowed
            return e.epoch == 2  # stop after the second epoch

        history = m.fit(x, y, epochs=10, callback=on_epoch)
        assert seen == [1, 2] and len(history) == 2
        assert m.learning_rate == pytest.approx(0.0025)

        steps = []
        m.fit(x, y, epochs=1, batch_size=100,
              batch_callback=lambda *a: steps.append(a[:3]))
        assert steps == [(1, 100, 240), (1, 200, 240), (1, 240, 240)]

        with pytest.raises(ZeroDivisionError):
            m.fit(x, y, epochs=3, callback=lambda e: 1 / 0)
        for forbidden in (lambda: m.fit(x, y), lambda: m.train_step(x[:4], y[:4]),
                          lambda: m.close(), lambda: m.predict_logits(x, training=True)):
            with pytest.raises(bn.WrongStateError, match="callback"):
                m.fit(x, y, epochs=1, callback=lambda e, f=forbidden: f())
        assert not m.closed
        m.fit(x, y, epochs=1)  # still usable


def test_sigmoid_head(rng):
    x = rng.standard_normal((200, 4)).astype(np.float32)
    t = (x[:, 0] > 0).astype(np.float32)
    with bn.MLP(4, [8], 1, head="sigmoid", learning_rate=0.05, seed=2) as m:
        m.fit(x, t, epochs=20, batch_size=20)  # 1-D targets for one unit
        loss, accuracy = m.evaluate(x, t[:, None])
        assert accuracy > 0.9
        p = m.predict_proba(x[:5])
        assert p.shape == (5, 1) and ((p > 0) & (p < 1)).all()
        assert m.predict(x[:5]).tolist() == (p >= 0.5).astype(int).tolist()
        with pytest.raises(bn.InvalidArgumentError):
            m.train_step(x[:2], [[0.5], [2.0]])
        with pytest.raises(bn.ShapeMismatchError):
            m.train_step(x[:2], np.zeros((2, 2)))


def test_predict_modes_recompute_and_fold(data):
    x, y = data
    with model(input_batchnorm=True, batchnorm="after") as m:
        m.fit(x, y, epochs=2, batch_size=16)
        logits = m.predict_logits(x)
        np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True),
                                   m.predict_proba(x), rtol=1e-5, atol=1e-7)
        assert (m.predict(x) == logits.argmax(1)).all()
        train_mode = m.predict_logits(x, training=False)
        m.recompute_statistics(x)  # population statistics: inference == one whole batch
        np.testing.assert_allclose(m.predict_logits(x), m.predict_logits(x, training=True),
                                   rtol=1e-3, atol=1e-4)
        assert not np.allclose(train_mode, m.predict_logits(x))
        with m.fold_batchnorm() as folded:
            assert folded.batchnorm is bn.Placement.NONE and not folded.input_batchnorm
            np.testing.assert_allclose(folded.predict_logits(x), m.predict_logits(x),
                                       rtol=1e-4, atol=1e-4)
        out = np.empty((len(x), 3), np.float32)
        assert m.predict_proba(x, out=out) is out


def test_model_files(tmp_path, data):
    x, y = data
    path = tmp_path / "model.bnm"
    with model() as m:
        m.fit(x, y, epochs=1)
        m.save(path, optimizer=True)
        m.save(str(tmp_path / "plain.bnm"))
        with bn.MLP.load(path) as loaded:
            np.testing.assert_array_equal(loaded.predict_logits(x), m.predict_logits(x))
            assert loaded.step == m.step
            # training resumes exactly: one more epoch on both
            m.fit(x, y, epochs=1, seed=4)
            loaded.fit(x, y, epochs=1, seed=4)
            np.testing.assert_array_equal(loaded.layer(3).weight, m.layer(3).weight)
        blob = m.to_bytes()
        assert len(blob) < len(m.to_bytes(optimizer=True))
        copy = pickle.loads(pickle.dumps(m))
        np.testing.assert_array_equal(copy.predict_logits(x), m.predict_logits(x))
    with pytest.raises(bn.InputOutputError, match="missing"):
        bn.MLP.load(tmp_path / "missing.bnm")
    with pytest.raises(bn.BadMagicError):
        bn.MLP.from_bytes(b"XXXX" + blob[4:])
    with pytest.raises(bn.BadSizeError, match="truncated"):
        bn.MLP.from_bytes(blob[:-1])
    broken = bytearray(blob)
    broken[len(blob) // 2] ^= 0xFF
    with pytest.raises(bn.ChecksumError):
        bn.MLP.from_bytes(bytes(broken))
    with pytest.raises(bn.InputOutputError):
        model().save(tmp_path / "no" / "such" / "dir.bnm")


def test_closed_model():
    m = model()
    m.close()
    with pytest.raises(bn.ClosedError):
        m.predict(np.zeros((1, 6)))
    with pytest.raises(bn.ClosedError):
        m.learning_rate
    assert repr(m) == "<bn.MLP (closed)>"


def test_two_threads_train_like_one_after_the_other(rng):
    """ctypes releases the GIL during each C call, so two models train at
    once; the results equal those of training them one after the other."""
    # Small layers: OpenBLAS keeps them on the calling thread (its own thread
    # pool would oversubscribe the cores of two concurrent trainings).
    x, y = blobs(rng, n=4000, f=32, classes=4)

    def train(seed, results):
        with bn.MLP(32, [64, 64], 4, seed=seed, learning_rate=0.01) as m:
            m.fit(x, y, epochs=5, batch_size=64, seed=seed)
            results[seed] = m.to_bytes(optimizer=True)

    sequential, parallel = {}, {}
    for seed in (1, 2):
        train(seed, sequential)
    threads = [threading.Thread(target=train, args=(seed, parallel)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert parallel == sequential


def test_one_model_shared_by_threads_is_serialized(data):
    x, y = data
    with model() as m:
        errors = []

        def work():
            try:
                for _ in range(20):
                    m.train_step(x[:32], y[:32])
                    m.predict(x)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and m.step == 60
