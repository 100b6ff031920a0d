"""Independent checks of what `bn train` and `bn eval` produced, for
tests/cli/keras_test.sh. Each subcommand exits 0 and prints "ok" when the
check holds, else prints why and exits 1.

  model_check.py constants MODEL EPS FACTOR BIASED
  model_check.py init MODEL SEED HIDDEN_SCHEME HEAD_SCHEME
  model_check.py running_var MODEL CSV BIASED
  model_check.py metrics PREDICTIONS CSV EVAL_OUTPUT
  model_check.py write_npy DIR CSV
  model_check.py same_model MODEL_A MODEL_B
"""
import re
import sys

import numpy as np

import bn


def fail(message):
    print(message)
    sys.exit(1)


def constants(model, eps, factor, biased):
    m = bn.MLP.load(model)
    if not np.isclose(m.bn_epsilon, float(eps), rtol=1e-6):
        fail(f"eps {m.bn_epsilon}, expected {eps}")
    if not np.isclose(m.bn_update_factor, float(factor), rtol=1e-6):
        fail(f"update factor {m.bn_update_factor}, expected {factor}")
    if m.biased_running_var != (biased == "1"):
        fail(f"biased_running_var {m.biased_running_var}, expected {biased}")


def layer_sizes(m):
    sizes = [m.inputs, *m.hidden, m.outputs]
    return list(zip(sizes[:-1], sizes[1:]))


def draw(rng, scheme, n_in, n_out):
    """The weights of one layer as the documentation of --init defines them."""
    fan = n_in if scheme.startswith("he") else n_in + n_out
    if scheme.endswith("uniform"):
        w = np.sqrt(6.0 / fan) * (2.0 * rng.uniform(n_in * n_out) - 1.0)
    else:
        w = np.sqrt(2.0 / fan) * rng.normal(n_in * n_out)
    return w.astype(np.float32).reshape(n_out, n_in)


def init(model, seed, hidden_scheme, head_scheme):
    """Weights after (almost) no training equal the documented draws, and
    follow each scheme's distribution."""
    m = bn.MLP.load(model)
    layers = layer_sizes(m)
    library = {"he-normal": "he_normal", "glorot-normal": "glorot_normal",
               "glorot-uniform": "glorot_uniform"}
    base = library.get(hidden_scheme, "he_normal")
    rng = bn.Rng(int(seed))
    # bn_mlp_init's own draws: every layer with the base scheme.
    expected = [draw(rng, base.replace("_", "-"), i, o) for i, o in layers]
    for k, (i, o) in enumerate(layers):
        scheme = hidden_scheme if k < len(layers) - 1 else head_scheme
        if scheme != base.replace("_", "-"):
            expected[k] = draw(rng, scheme, i, o)
    for k, (i, o) in enumerate(layers):
        scheme = hidden_scheme if k < len(layers) - 1 else head_scheme
        w = m.get(k + 1, "weight").reshape(o, i)
        if not np.array_equal(w, expected[k]):
            fail(f"layer {k + 1} ({scheme}): weights differ from the documented draw "
                 f"(max |diff| {np.max(np.abs(w - expected[k]))})")
        fan = i if scheme.startswith("he") else i + o
        std = np.sqrt(2.0 / fan)
        if scheme.endswith("uniform"):
            bound = np.sqrt(6.0 / fan)
            if np.max(np.abs(w)) > bound or np.max(np.abs(w)) < 0.95 * bound:
                fail(f"layer {k + 1}: max |w| {np.max(np.abs(w))}, bound {bound}")
        if w.size >= 10000 and abs(np.std(w) / std - 1) > 0.03:
            fail(f"layer {k + 1} ({scheme}): std {np.std(w)}, expected {std}")


def features_and_labels(csv):
    data = np.loadtxt(csv, delimiter=",", skiprows=1, ndmin=2)
    return data[:, :-1], data[:, -1]


def running_var(model, csv, biased):
    """After one epoch of one full batch with update factor 1, the input
    BatchNorm's running variance is the data's variance (biased or not)."""
    x, _ = features_and_labels(csv)
    expected = np.var(x.astype(np.float32).astype(np.float64), axis=0,
                      ddof=0 if biased == "1" else 1)
    got = bn.MLP.load(model).get(0, "running_var")
    if not np.allclose(got, expected, rtol=1e-5, atol=0):
        fail(f"running variance {got[:4]}..., expected {expected[:4]}...")


def metrics(predictions, csv, eval_output):
    """bn eval's accuracy, loss, precision and recall from bn predict's
    probabilities and the labels, in float64."""
    p = np.loadtxt(predictions, delimiter=",", skiprows=1, ndmin=2)[:, 2]
    _, t = features_and_labels(csv)
    predicted, positive = p >= 0.5, t >= 0.5
    tp = np.sum(predicted & positive)
    ref = {"accuracy": np.mean(predicted == positive),
           "precision": tp / max(np.sum(predicted), 1),
           "recall": tp / max(np.sum(positive), 1)}
    q = np.clip(p, 1e-7, 1 - 1e-7)
    ref["loss"] = np.mean(-(t * np.log(q) + (1 - t) * np.log(1 - q)))
    text = open(eval_output).read()
    for name, value in ref.items():
        found = re.search(rf"\b{name} ([0-9.]+)", text)
        if not found:
            fail(f"bn eval printed no {name}")
        tolerance = 2e-3 if name == "loss" else 6e-5
        if abs(float(found.group(1)) - value) > tolerance:
            fail(f"{name}: bn eval {found.group(1)}, reference {value:.6f}")
    print(" ".join(f"{k} {v:.4f}" for k, v in ref.items()))


def write_npy(directory, csv):
    """The CSV's samples as .npy files of several dtypes and layouts."""
    x, y = features_and_labels(csv)
    x32 = x.astype(np.float32)
    np.save(f"{directory}/x32.npy", x32)
    np.save(f"{directory}/x64.npy", x32.astype(np.float64))
    np.save(f"{directory}/y64.npy", y.astype(np.int64))
    np.save(f"{directory}/yu8.npy", y.astype(np.uint8))
    np.save(f"{directory}/yf.npy", y.astype(np.float32).reshape(-1, 1))
    np.save(f"{directory}/ybool.npy", y.astype(bool))
    np.save(f"{directory}/y2.npy", np.stack([y, 1 - y], axis=1).astype(np.float32))
    np.save(f"{directory}/y99.npy", y[:99].astype(np.int64))
    np.save(f"{directory}/x1d.npy", x32[:, 0])
    xi = np.round(x * 100).astype(np.int32)
    np.save(f"{directory}/xi32.npy", xi)
    np.savetxt(f"{directory}/xi32.csv", xi, delimiter=",", fmt="%d")
    with open(f"{directory}/xv2.npy", "wb") as f:
        np.lib.format.write_array(f, x32, version=(2, 0))
    np.save(f"{directory}/big.npy", x32.astype(">f4"))
    np.save(f"{directory}/fortran.npy", np.asfortranarray(x32))
    np.save(f"{directory}/x3d.npy", x32.reshape(100, 5, 2))
    np.save(f"{directory}/half.npy", x32.astype(np.float16))
    np.save(f"{directory}/complex.npy", x32.astype(np.complex64))
    np.save(f"{directory}/objects.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    bad = x32.copy()
    bad[3, 2] = np.nan
    np.save(f"{directory}/nan.npy", bad)
    raw = open(f"{directory}/x32.npy", "rb").read()
    open(f"{directory}/truncated.npy", "wb").write(raw[:-4])
    open(f"{directory}/long.npy", "wb").write(raw + b"\0\0\0\0")


def same_model(a, b):
    """The two files byte for byte, once their training records (which name
    the data files) are dropped."""
    import os
    import tempfile
    images = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate((a, b)):
            m = bn.MLP.load(path)
            m.training_record = b""
            m.save(os.path.join(tmp, f"{i}.bnm"))
            images.append(open(os.path.join(tmp, f"{i}.bnm"), "rb").read())
    if images[0] != images[1]:
        fail(f"{a} and {b} hold different models")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"constants": constants, "init": init, "running_var": running_var, "metrics": metrics,
     "write_npy": write_npy, "same_model": same_model}[command](*args)
    if command != "metrics":
        print("ok")
