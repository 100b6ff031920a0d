"""Property tests of the binding with hypothesis (Debian python3-hypothesis).

Random shapes, dtypes, memory layouts (C order, a column slice of a wider
array, Fortran order, reversed and skipped rows), values (ordinary, huge,
subnormal, NaN, infinity), options and call orders. Every call either
succeeds with results equal to a float64 numpy reference or raises bn.Error;
the process never crashes, and an ``out=`` array that is a window into a
larger buffer has nothing written outside the window.

The examples are derandomized (the same every run) so CI is reproducible;
set BN_HYPOTHESIS_EXAMPLES for a longer exploratory run.
"""

import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import bn  # noqa: E402
import bnref  # noqa: E402

# The float64 references see the NaNs and infinities too: their warnings are expected.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

EXAMPLES = int(os.environ.get("BN_HYPOTHESIS_EXAMPLES", "60"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64]
LAYOUTS = ["c", "wide", "fortran", "reversed", "skip"]
SPECIALS = [np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-40]
SENTINEL = np.float32(-12345.5)


# ---- inputs -------------------------------------------------------------------------

@st.composite
def matrices(draw, batch, features, allow_special=True):
    """(array as the caller passes it, its values as float64) of shape (batch, features)."""
    seed = draw(st.integers(0, 2**32 - 1))
    dtype = draw(st.sampled_from(DTYPES))
    layout = draw(st.sampled_from(LAYOUTS))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    offset = draw(st.sampled_from([0.0, 1.0, -50.0]))
    rng = np.random.default_rng(seed)
    values = offset + scale * rng.standard_normal((batch, features))
    if np.issubdtype(dtype, np.integer):
        values = np.round(values * (10.0 / scale))
    if allow_special and draw(st.booleans()) and np.issubdtype(dtype, np.floating):
        count = draw(st.integers(1, 3))
        for _ in range(count):
            values[rng.integers(batch), rng.integers(features)] = draw(st.sampled_from(SPECIALS))
    with np.errstate(over="ignore"):
        typed = values.astype(dtype)
    if layout == "c":
        array = typed
    elif layout == "wide":  # rows contiguous, leading dimension > features
        wide = np.zeros((batch, features + 3), dtype=dtype)
        wide[:, 1:1 + features] = typed
        array = wide[:, 1:1 + features]
    elif layout == "fortran":
        array = np.asfortranarray(typed)
    elif layout == "reversed":
        array = typed[::-1].copy()[::-1]
    else:  # every other row of a taller array
        tall = np.zeros((2 * batch, features), dtype=dtype)
        tall[::2] = typed
        array = tall[::2]
    assert array.shape == (batch, features)
    # what libbn sees: the values rounded to float32 (with errstate: huge values overflow)
    with np.errstate(over="ignore", invalid="ignore"):
        seen = np.asarray(array, dtype=np.float64).astype(np.float32).astype(np.float64)
    return array, seen


def window(shape):
    """An out= array that is a window of a larger sentinel-filled float32 buffer."""
    batch, features = shape
    buffer = np.full((batch + 2, features + 5), SENTINEL, dtype=np.float32)
    return buffer, buffer[1:1 + batch, 2:2 + features]


def assert_window_only(buffer, shape):
    batch, features = shape
    outside = buffer.copy()
    outside[1:1 + batch, 2:2 + features] = SENTINEL
    assert np.all(outside == SENTINEL), "a call wrote outside the array it was given"


def finite(*arrays):
    return all(np.all(np.isfinite(a)) for a in arrays)


FLOAT_EDGE = 1e38  # results near or past FLT_MAX may round to infinity in float


def assert_close(got, want, atol, rtol=1e-3):
    got = np.asarray(got, np.float64)
    want = np.broadcast_to(np.asarray(want, np.float64), got.shape)
    with np.errstate(invalid="ignore"):
        edge = np.abs(want) > FLOAT_EDGE
    assert np.all(np.isinf(got[edge] ) <= edge[edge]), "an infinity where float holds the value"
    keep = ~edge
    atol = min(atol, FLOAT_EDGE) if np.isfinite(atol) else FLOAT_EDGE
    np.testing.assert_allclose(got[keep], want[keep], atol=atol, rtol=rtol, equal_nan=True)


def shapes(min_batch=1, max_batch=24, max_features=12):
    return st.tuples(st.integers(min_batch, max_batch), st.integers(1, max_features))


# ---- stateless kernels ----------------------------------------------------------------

@PROPERTY
@given(data=st.data(), shape=shapes(), relu=st.booleans(), affine=st.booleans(),
       eps=st.sampled_from([1e-5, 1e-3, 0.5]))
def test_forward_training_kernel(data, shape, relu, affine, eps):
    batch, features = shape
    x, seen = data.draw(matrices(batch, features))
    rng = np.random.default_rng(batch * 31 + features)
    gamma = rng.uniform(0.5, 2.0, features).astype(np.float32) if affine else None
    beta = rng.uniform(-1, 1, features).astype(np.float32) if affine else None
    buffer, out = window(shape)
    try:
        y, mean, invstd, var = bn.batchnorm_forward_training(x, gamma, beta, eps=eps, relu=relu,
                                                             out=out)
    except bn.Error:
        # refused: a batch of 1, or a NaN/infinity (documented), or a variance past float
        assert batch < 2 or not finite(seen) or np.abs(seen).max() > 1e18
        assert_window_only(buffer, shape)
        return
    assert y is out
    assert_window_only(buffer, shape)
    ry, rmean, rinvstd, rvar = bnref.forward_training(seen, gamma, beta, eps=eps, relu=relu)
    assert_close(mean, rmean, atol=1e-6 * (1 + np.abs(rmean).max()))
    assert_close(var, rvar, atol=1e-6 * (1 + rvar.max()), rtol=1e-4)
    assert_close(invstd, rinvstd, atol=0, rtol=1e-4)
    # y inherits the rounding of x - mean relative to the spread
    spread = np.sqrt(rvar + eps)
    tol = 1e-3 * (1 + np.abs(rmean / spread).max()) * (1 if gamma is None else 2)
    assert_close(y, ry, atol=tol)


@PROPERTY
@given(data=st.data(), shape=shapes(), relu=st.booleans(), eps=st.sampled_from([1e-5, 0.1]))
def test_inference_and_backward_kernels(data, shape, relu, eps):
    batch, features = shape
    x, seen = data.draw(matrices(batch, features))
    dy, dy_seen = data.draw(matrices(batch, features))
    rng = np.random.default_rng(features)
    mean = rng.standard_normal(features).astype(np.float32)
    var = rng.uniform(0.1, 3.0, features).astype(np.float32)
    gamma = rng.uniform(0.5, 2.0, features).astype(np.float32)
    beta = rng.uniform(-1, 1, features).astype(np.float32)
    buffer, out = window(shape)
    try:
        y = bn.batchnorm_forward_inference(x, mean, var, gamma, beta, eps=eps, relu=relu, out=out)
    except bn.Error:
        assert not finite(seen)
    else:
        ry = bnref.forward_inference(seen, mean, var, gamma, beta, eps=eps, relu=relu)
        if finite(seen):
            assert_close(y, ry, atol=1e-4 * (1 + np.abs(ry).max()))
    assert_window_only(buffer, shape)

    try:
        dx, dgamma, dbeta = bn.batchnorm_backward_inference(x, dy, mean, var, gamma, beta,
                                                             eps=eps, relu=relu)
    except bn.Error:
        assert not finite(seen, dy_seen) or np.abs(dy_seen).max() * batch > 1e30
    else:
        rdx, rdgamma, rdbeta = bnref.backward_inference(seen, dy_seen, mean, var, gamma, beta,
                                                        eps=eps, relu=relu)
        if finite(seen, dy_seen, rdx, rdgamma, rdbeta):
            assert_close(dx, rdx, atol=1e-4 * (1 + np.abs(rdx).max()))
            assert_close(dgamma, rdgamma, atol=1e-4 * (1 + np.abs(rdgamma).max()))
            assert_close(dbeta, rdbeta, atol=1e-4 * (1 + np.abs(rdbeta).max()))


# ---- the BatchNorm layer: random call orders -------------------------------------------

LAYER_CALLS = ["forward_train", "forward_infer", "backward", "set_gamma", "set_running",
               "round_trip", "threads", "eps"]


@PROPERTY
@given(data=st.data(), features=st.integers(1, 10), relu=st.booleans(),
       calls=st.lists(st.sampled_from(LAYER_CALLS), min_size=1, max_size=12))
def test_batchnorm_layer_call_orders(data, features, relu, calls):
    """A float64 model of the layer (PyTorch's conventions) follows every call."""
    layer = bn.BatchNorm(features, fuse_relu=relu)
    model = dict(gamma=np.ones(features), beta=np.zeros(features), mean=np.zeros(features),
                 var=np.ones(features), eps=1e-5, last=None)
    rng = np.random.default_rng(features)
    try:
        for call in calls:
            batch = data.draw(st.integers(1, 20))
            if call in ("forward_train", "forward_infer"):
                x, seen = data.draw(matrices(batch, features, allow_special=False))
                training = call == "forward_train"
                try:
                    y = layer.forward(x, training=training)
                except bn.Error:
                    assert training and batch < 2
                    continue
                if training:
                    ry, bmean, _, bvar = bnref.forward_training(
                        seen, model["gamma"], model["beta"], eps=model["eps"], relu=relu)
                    model["mean"] = 0.9 * model["mean"] + 0.1 * bmean
                    model["var"] = 0.9 * model["var"] + 0.1 * bvar * batch / (batch - 1)
                else:
                    ry = bnref.forward_inference(seen, np.float32(model["mean"]),
                                                 np.float32(model["var"]), model["gamma"],
                                                 model["beta"], eps=model["eps"], relu=relu)
                scale = 1 + np.abs(ry).max()
                assert_close(y, ry, atol=2e-3 * scale)
                model["last"] = (x, seen, training)
            elif call == "backward":
                dy = rng.standard_normal(
                    (model["last"][0].shape[0] if model["last"] else batch, features))
                try:
                    dx = layer.backward(dy.astype(np.float32))
                except bn.Error:
                    # no forward, or a set since it (documented: WrongStateError)
                    assert model["last"] is None
                    continue
                assert model["last"] is not None, "backward accepted without a pending forward"
                _, seen, training = model["last"]
                dyf = dy.astype(np.float32)
                if training:
                    rdx, _, _ = bnref.backward_training(seen, dyf, model["gamma"], model["beta"],
                                                        eps=model["eps"], relu=relu)
                else:
                    rdx, _, _ = bnref.backward_inference(
                        seen, dyf, np.float32(model["mean"]), np.float32(model["var"]),
                        model["gamma"], model["beta"], eps=model["eps"], relu=relu)
                assert_close(dx, rdx, atol=5e-3 * (1 + np.abs(rdx).max()))
            elif call == "set_gamma":
                g = rng.uniform(0.2, 3.0, features).astype(np.float32)
                layer.gamma = g
                model["gamma"] = g.astype(np.float64)
                model["last"] = None  # a parameter set ends the pending forward
            elif call == "set_running":
                m = rng.standard_normal(features).astype(np.float32)
                v = rng.uniform(0.0, 4.0, features).astype(np.float32)
                if data.draw(st.booleans()):
                    v[0] = -1.0  # refused: a negative variance
                    with pytest.raises(bn.Error):
                        layer.running_var = v
                    continue
                layer.running_mean, layer.running_var = m, v
                model["mean"], model["var"] = m.astype(np.float64), v.astype(np.float64)
                model["last"] = None
            elif call == "round_trip":
                blob = layer.to_bytes()
                other = bn.BatchNorm(features, fuse_relu=relu)
                other.from_bytes(blob)
                assert other.to_bytes() == blob
                other.close()
            elif call == "threads":
                layer.threads = data.draw(st.integers(1, 4))
            elif call == "eps":
                eps = data.draw(st.sampled_from([1e-5, 1e-2, 0.0, float("nan")]))
                try:
                    layer.eps = eps
                except bn.Error:
                    assert not eps > 0
                    continue
                model["eps"] = float(np.float32(eps))
            np.testing.assert_allclose(layer.running_mean, model["mean"], rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(layer.running_var, model["var"], rtol=1e-4, atol=1e-4)
    finally:
        layer.close()


# ---- dense layer ---------------------------------------------------------------------------

@PROPERTY
@given(data=st.data(), batch=st.integers(1, 20), n_in=st.integers(1, 12),
       n_out=st.integers(1, 12), bias=st.booleans())
def test_dense_against_numpy(data, batch, n_in, n_out, bias):
    x, seen = data.draw(matrices(batch, n_in))
    dy, dy_seen = data.draw(matrices(batch, n_out, allow_special=False))
    layer = bn.Dense(n_in, n_out, bias=bias, init="glorot_uniform", seed=n_in * 100 + n_out)
    try:
        w = layer.weight.astype(np.float64)
        b = layer.bias.astype(np.float64) if bias else np.zeros(n_out)
        buffer, out = window((batch, n_out))
        try:
            y = layer.forward(x, out=out)
        except bn.Error:
            assert not finite(seen)
            assert_window_only(buffer, (batch, n_out))
            return
        assert_window_only(buffer, (batch, n_out))
        with np.errstate(all="ignore"):
            ry = seen @ w.T + b
        if finite(seen, ry):
            assert_close(y, ry, atol=1e-4 * (1 + np.abs(seen).sum(axis=1).max()))
        dx = layer.backward(dy, x=x)
        if finite(seen):
            assert_close(dx, dy_seen @ w, atol=1e-4 * (1 + np.abs(dy_seen).sum(axis=1).max()))
            with np.errstate(all="ignore"):
                rdw = dy_seen.T @ seen
            if finite(rdw):
                assert_close(layer.dweight, rdw, atol=1e-4 * (1 + np.abs(rdw).max()))
            if bias:
                assert_close(layer.dbias, dy_seen.sum(axis=0),
                             atol=1e-4 * (1 + np.abs(dy_seen).sum()))
    finally:
        layer.close()


# ---- activations and losses ---------------------------------------------------------------

def numpy_activation(kind, x, alpha=1.0):
    with np.errstate(all="ignore"):
        return {
            "relu": lambda: np.maximum(x, 0.0),
            "elu": lambda: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
            "sigmoid": lambda: 0.5 * (1.0 + np.tanh(0.5 * x)),
            "tanh": lambda: np.tanh(x),
        }[kind]()


@PROPERTY
@given(data=st.data(), shape=shapes(), kind=st.sampled_from(["relu", "elu", "sigmoid", "tanh"]))
def test_activations_against_numpy(data, shape, kind):
    x, seen = data.draw(matrices(*shape))
    buffer, out = window(shape)
    try:
        y = bn.activation_forward(kind, x, out=out)
    except bn.Error:
        assert_window_only(buffer, shape)
        return
    assert_window_only(buffer, shape)
    want = numpy_activation(kind, seen)
    mask = np.isfinite(seen)
    assert_close(np.asarray(y)[mask], want[mask], atol=1e-6, rtol=1e-5)


@PROPERTY
@given(data=st.data(), batch=st.integers(1, 20), classes=st.integers(2, 9))
def test_softmax_cross_entropy_against_numpy(data, batch, classes):
    logits, seen = data.draw(matrices(batch, classes))
    labels = np.random.default_rng(batch).integers(0, classes, batch)
    try:
        loss, dlogits = bn.softmax_cross_entropy(logits, labels)
    except bn.Error:
        assert not finite(seen)
        return
    assert finite(seen)
    shifted = seen - seen.max(axis=1, keepdims=True)
    logsum = np.log(np.exp(shifted).sum(axis=1))
    rloss = np.mean(logsum - shifted[np.arange(batch), labels])
    p = np.exp(shifted - logsum[:, None])
    onehot = np.eye(classes)[labels]
    assert_close(loss, rloss, atol=1e-5 * (1 + abs(rloss)))
    assert_close(dlogits, (p - onehot) / batch, atol=1e-6)


# ---- MLP: random architectures and call orders ------------------------------------------------

def numpy_predict(model, x):
    """Inference-mode logits of an MLP from its tensors, in float64."""
    eps = model.get_parameter("bn_epsilon")
    alpha = model.get_parameter("elu_alpha")
    act = model.activation.name.lower()
    placement = model.batchnorm.name.lower()

    def batchnorm(h, layer):
        mean, var = model.get(layer, "running_mean"), model.get(layer, "running_var")
        gamma, beta = model.get(layer, "gamma"), model.get(layer, "beta")
        return (h - mean) / np.sqrt(var.astype(np.float64) + np.float32(eps)) * gamma + beta

    h = np.asarray(x, np.float64)
    if model.input_batchnorm:
        h = batchnorm(h, 0)
    for layer in range(1, len(model.hidden) + 1):
        h = h @ model.get(layer, "weight").T.astype(np.float64)
        if model.has(layer, "bias"):
            h = h + model.get(layer, "bias")
        if placement == "before":
            h = batchnorm(h, layer)
        h = numpy_activation(act, h, alpha)
        if placement == "after":
            h = batchnorm(h, layer)
    head = len(model.hidden) + 1
    return h @ model.get(head, "weight").T.astype(np.float64) + model.get(head, "bias")


MLP_CALLS = ["train", "predict", "round_trip", "set_lr", "recompute", "fold"]


@PROPERTY
@given(data=st.data(), inputs=st.integers(1, 6),
       hidden=st.lists(st.integers(1, 6), max_size=2),
       head=st.sampled_from(["softmax", "sigmoid"]), outputs=st.integers(1, 4),
       activation=st.sampled_from(["relu", "elu", "sigmoid", "tanh"]),
       placement=st.sampled_from(["before", "after", None]), input_bn=st.booleans(),
       optimizer=st.sampled_from(["sgd", "momentum", "nesterov", "adam"]),
       calls=st.lists(st.sampled_from(MLP_CALLS), min_size=1, max_size=8))
def test_mlp_call_orders(data, inputs, hidden, head, outputs, activation, placement, input_bn,
                         optimizer, calls):
    if head == "softmax":
        outputs += 1
    model = bn.MLP(inputs, hidden, outputs, activation=activation, batchnorm=placement,
                   head=head, input_batchnorm=input_bn, seed=inputs + len(hidden),
                   optimizer=optimizer, learning_rate=0.01)
    rng = np.random.default_rng(outputs)
    try:
        for call in calls:
            batch = data.draw(st.integers(1, 16))
            x, seen = data.draw(matrices(batch, inputs, allow_special=call == "train"))
            if head == "softmax":
                y = rng.integers(0, outputs, batch)
            else:
                y = rng.uniform(0, 1, (batch, outputs)).astype(np.float32)
            if call == "train":
                before = model.to_bytes(optimizer=True)
                try:
                    loss = model.train_step(x, y)
                except bn.Error:
                    # a too small batch or non-finite data: parameters unchanged
                    after = bn.MLP.from_bytes(model.to_bytes(optimizer=True))
                    old = bn.MLP.from_bytes(before)
                    for (layer, name), value in old.parameters().items():
                        if name in ("weight", "bias", "gamma", "beta"):
                            np.testing.assert_array_equal(after.get(layer, name), value)
                    after.close()
                    old.close()
                    continue
                assert np.isfinite(loss)
            elif call == "predict":
                logits = model.predict_logits(x)
                want = numpy_predict(model, seen)
                if finite(seen, want):
                    assert_close(logits, want, atol=1e-3 * (1 + np.abs(want).max()), rtol=1e-3)
                proba = model.predict_proba(x)
                if head == "softmax" and finite(proba):
                    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
            elif call == "round_trip":
                with_opt = data.draw(st.booleans())
                blob = model.to_bytes(optimizer=with_opt)
                other = bn.MLP.from_bytes(blob)
                assert other.to_bytes(optimizer=with_opt) == blob
                np.testing.assert_array_equal(other.predict_logits(seen.astype(np.float32)),
                                              model.predict_logits(seen.astype(np.float32)))
                other.close()
            elif call == "set_lr":
                lr = data.draw(st.sampled_from([1e-4, 0.5, 0.0, -1.0, float("inf"), 1e4]))
                try:
                    model.learning_rate = lr
                except bn.Error:
                    assert not 0 < lr <= 1e3
            elif call == "recompute":
                try:
                    model.recompute_statistics(x)
                except bn.Error:
                    assert batch < 2 or not finite(seen)
            elif call == "fold":
                folded = model.fold_batchnorm()
                probe = np.asarray(seen, np.float32)
                a, b = folded.predict_logits(probe), model.predict_logits(probe)
                if finite(a, b):
                    assert_close(a, b, atol=1e-3 * (1 + np.abs(b).max()), rtol=1e-3)
                folded.close()
    finally:
        model.close()
