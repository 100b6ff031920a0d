"""Weights in and out of PyTorch's and Keras's naming, as plain numpy arrays
(neither torch nor keras is imported).

PyTorch: the ``state_dict()`` of an ``nn.Sequential`` of ``Linear``,
``BatchNorm1d`` and parameterless modules (activations, Dropout), keys
``"<index>.<name>"``: ``0.weight`` (out, in), ``0.bias``, ``1.weight`` (gamma),
``1.bias`` (beta), ``1.running_mean``, ``1.running_var``,
``1.num_batches_tracked``. Module indices tell the structure: a BatchNorm
right after a Linear (consecutive indices) normalizes before the
activation, one after a gap (the activation) normalizes after it; a leading
BatchNorm normalizes the input.

Keras: ``[layer.get_weights() for layer in model.layers if layer.weights]``:
Dense ``[kernel (in, out), bias]`` (or ``[kernel]``), BatchNormalization
``[gamma, beta, moving_mean, moving_variance]``, with Keras's defaults
epsilon 1e-3 and momentum 0.99 (libbn's update factor 0.01).

A dense layer followed by a BatchNorm has no bias in libbn (it would be
cancelled by the normalization). An imported bias b there is absorbed
exactly into the running mean (mean - b): the network computes the same
function in both modes, and its gradients are the same.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._arrays import Float32Array
from .activations import Activation, ActivationLike
from .batchnorm import BatchNorm
from .mlp import MLP, Head, Placement, Tensor

__all__ = ["mlp_from_state_dict", "mlp_to_state_dict", "torch_layers",
           "mlp_from_keras", "mlp_to_keras", "batchnorm_from_keras", "batchnorm_to_keras"]

#: A Keras layer's weights: its get_weights() list, or a dict by weight name.
KerasWeights = Union[Sequence[npt.ArrayLike], Mapping[str, npt.ArrayLike]]

_TORCH_ACTIVATIONS = {Activation.RELU: "ReLU", Activation.ELU: "ELU",
                      Activation.SIGMOID: "Sigmoid", Activation.TANH: "Tanh"}


def _array(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor slipped in: take its values
        value = value.detach().cpu().numpy()
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    return a


class _Linear:
    def __init__(self, weight: np.ndarray, bias: Optional[np.ndarray]) -> None:
        self.weight, self.bias = weight, bias


class _Norm:
    def __init__(self, gamma: Optional[np.ndarray], beta: Optional[np.ndarray],
                 mean: np.ndarray, var: np.ndarray) -> None:
        self.gamma, self.beta, self.mean, self.var = gamma, beta, mean, var


def _build(modules: List[Tuple[int, Any]], activation: ActivationLike, head: Union[str, Head],
           source: str, placement: Optional[Placement], **params: Any) -> MLP:
    """An MLP from (position, _Linear | _Norm) in order; positions reveal gaps."""
    if not modules:
        raise ValueError(f"{source}: no Linear or BatchNorm layer found")
    input_bn = None
    if isinstance(modules[0][1], _Norm):
        input_bn = modules.pop(0)[1]
    linears = [i for i, (_, m) in enumerate(modules) if isinstance(m, _Linear)]
    if not linears or linears[-1] != len(modules) - 1:
        raise ValueError(f"{source}: the network must end with a Linear/Dense layer (the head)")
    hidden: List[Tuple[_Linear, Optional[_Norm]]] = []
    found_placement: Optional[Placement] = None
    for k, i in enumerate(linears[:-1]):
        between = modules[i + 1: linears[k + 1]]
        pos, lin = modules[i]
        if len(between) > 1 or (between and not isinstance(between[0][1], _Norm)):
            raise ValueError(f"{source}: more than one BatchNorm between two Linear layers")
        norm = between[0][1] if between else None
        if norm is None:
            where = Placement.NONE
        elif placement is not None:
            where = placement
        else:
            where = Placement.BEFORE if between[0][0] == pos + 1 else Placement.AFTER
        if found_placement is not None and where != found_placement:
            raise ValueError(f"{source}: every hidden layer must place its BatchNorm the same "
                             f"way (found {found_placement.name.lower()} and "
                             f"{where.name.lower()})")
        found_placement = where
        if modules[linears[k + 1]][0] - pos - 1 - len(between) < 1:
            raise ValueError(f"{source}: no activation between the layers at {pos} and "
                             f"{modules[linears[k + 1]][0]} (a parameterless module must "
                             f"sit between two Linear layers)")
        hidden.append((lin, norm))

    first = modules[0][1]
    inputs = first.weight.shape[1]
    widths = [lin.weight.shape[0] for lin, _ in hidden]
    outputs = modules[-1][1].weight.shape[0]
    place = found_placement if found_placement is not None else Placement.NONE
    model = MLP(inputs, widths, outputs, activation=activation, batchnorm=place, head=head,
                input_batchnorm=input_bn is not None, init="zeros", **params)
    try:
        def put_norm(layer: int, norm: _Norm, shift: Optional[np.ndarray] = None) -> None:
            n = model.layer(layer).running_mean.shape[0]
            mean = np.asarray(norm.mean, np.float64)
            if shift is not None:
                mean = mean - shift
            model.set(layer, Tensor.GAMMA, np.ones(n) if norm.gamma is None else norm.gamma)
            model.set(layer, Tensor.BETA, np.zeros(n) if norm.beta is None else norm.beta)
            model.set(layer, Tensor.RUNNING_MEAN, mean)
            model.set(layer, Tensor.RUNNING_VAR, norm.var)

        if input_bn is not None:
            put_norm(0, input_bn)
        for layer, (lin, norm) in enumerate(hidden, start=1):
            model.set(layer, Tensor.WEIGHT, lin.weight)
            if place == Placement.BEFORE:
                put_norm(layer, norm, shift=None if lin.bias is None
                         else np.asarray(lin.bias, np.float64))
            else:
                if lin.bias is not None:
                    model.set(layer, Tensor.BIAS, lin.bias)
                if norm is not None:
                    put_norm(layer, norm)
        head_layer = modules[-1][1]
        model.set(len(widths) + 1, Tensor.WEIGHT, head_layer.weight)
        if head_layer.bias is not None:
            model.set(len(widths) + 1, Tensor.BIAS, head_layer.bias)
    except BaseException:
        model.close()
        raise
    return model


# ---- PyTorch ---------------------------------------------------------------------

def mlp_from_state_dict(state: Mapping[str, npt.ArrayLike], activation: ActivationLike = "relu",
                        head: Union[str, Head] = "softmax", *, prefix: str = "",
                        batchnorm: Optional[str] = None, **params: Any) -> MLP:
    """An :class:`bn.MLP` from the state_dict of an ``nn.Sequential`` of Linear,
    BatchNorm1d and parameterless modules, given as numpy arrays.

    Args:
        state: {"0.weight": array, ...}; values may be numpy arrays (or torch
            tensors, converted).
        activation: the activation modules' kind (state_dicts do not record it).
        head: "softmax" (CrossEntropyLoss) or "sigmoid" (BCEWithLogitsLoss).
        prefix: a key prefix to strip and select ("net." for a submodule).
        batchnorm: force "before"/"after" instead of deducing it from the indices.
        **params: MLP tunables; set ``bn_epsilon`` / ``bn_update_factor`` to the
            BatchNorm1d's eps / momentum when they are not PyTorch's defaults.

    Raises:
        ValueError: keys or shapes that do not form such a network.
    """
    groups: Dict[int, Dict[str, np.ndarray]] = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        position, _, name = key[len(prefix):].partition(".")
        if not position.isdigit() or not name or "." in name:
            raise ValueError(f"state_dict key {key!r} is not '<index>.<name>' of an "
                             f"nn.Sequential (use prefix= for a submodule)")
        groups.setdefault(int(position), {})[name] = _array(value, key)
    modules: List[Tuple[int, Any]] = []
    for index in sorted(groups):
        g = groups[index]
        where = f"module {prefix}{index}"
        if "running_mean" in g or "running_var" in g:
            known = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
            if set(g) - known or not {"running_mean", "running_var"} <= set(g):
                raise ValueError(f"{where}: not a BatchNorm1d with running statistics "
                                 f"(keys {sorted(g)})")
            modules.append((index, _Norm(g.get("weight"), g.get("bias"), g["running_mean"],
                                         g["running_var"])))
        elif "weight" in g and g["weight"].ndim == 2 and set(g) <= {"weight", "bias"}:
            modules.append((index, _Linear(g["weight"], g.get("bias"))))
        else:
            raise ValueError(f"{where}: neither Linear nor BatchNorm1d (keys {sorted(g)}; "
                             f"BatchNorm1d needs track_running_stats=True)")
    place = None if batchnorm is None else Placement.of(batchnorm)
    return _build(modules, activation, head, "state_dict", place, **params)


def _short(value: float) -> float:
    """A float32 value as the shortest decimal that rounds to it (1e-05, not 9.99e-06)."""
    return float(str(np.float32(value)))


def torch_layers(model: MLP) -> List[Tuple[str, Dict[str, Any]]]:
    """The ``nn.Sequential`` equivalent of ``model`` as (class name, kwargs),
    in the order of :func:`mlp_to_state_dict`'s indices, e.g.
    ``[("Linear", {"in_features": 784, "out_features": 256, "bias": False}),
    ("BatchNorm1d", {"num_features": 256, "eps": 1e-05, "momentum": 0.1}), ("ReLU", {}), ...]``.

    Build it with ``nn.Sequential(*(getattr(nn, name)(**kw) for name, kw in torch_layers(m)))``.
    """
    # stored as float32 in libbn: print them as the decimal the user gave
    eps, momentum = _short(model.bn_epsilon), _short(model.bn_update_factor)
    act = (_TORCH_ACTIVATIONS[model.activation],
           {"alpha": model.elu_alpha} if model.activation == Activation.ELU else {})
    norm = lambda n: ("BatchNorm1d", {"num_features": n, "eps": eps, "momentum": momentum})  # noqa
    layers: List[Tuple[str, Dict[str, Any]]] = []
    if model.input_batchnorm:
        layers.append(norm(model.inputs))
    sizes = (model.inputs, *model.hidden, model.outputs)
    for k in range(1, len(sizes) - 1):
        before = model.batchnorm == Placement.BEFORE
        layers.append(("Linear", {"in_features": sizes[k - 1], "out_features": sizes[k],
                                  "bias": not before}))
        if before:
            layers += [norm(sizes[k]), act]
        elif model.batchnorm == Placement.AFTER:
            layers += [act, norm(sizes[k])]
        else:
            layers.append(act)
    layers.append(("Linear", {"in_features": sizes[-2], "out_features": sizes[-1],
                              "bias": True}))
    return layers


def mlp_to_state_dict(model: MLP, prefix: str = "") -> "OrderedDict[str, np.ndarray]":
    """The state_dict (numpy arrays, float32; num_batches_tracked int64) of the
    ``nn.Sequential`` described by :func:`torch_layers`. ``num_batches_tracked``
    is the model's optimizer step count (libbn does not track it per layer;
    PyTorch only reads it when momentum is None)."""
    state: "OrderedDict[str, np.ndarray]" = OrderedDict()
    steps = np.array(model.step, dtype=np.int64)
    layer_of_norm: List[int] = []
    layer_of_linear: List[int] = []
    if model.input_batchnorm:
        layer_of_norm.append(0)
    for index, (name, _) in enumerate(torch_layers(model)):
        if name == "Linear":
            layer_of_linear.append(len(layer_of_linear) + 1)
            layer = layer_of_linear[-1]
            state[f"{prefix}{index}.weight"] = model.get(layer, Tensor.WEIGHT)
            if model.has(layer, Tensor.BIAS):
                state[f"{prefix}{index}.bias"] = model.get(layer, Tensor.BIAS)
        elif name == "BatchNorm1d":
            layer = 0 if model.input_batchnorm and index == 0 else len(layer_of_linear)
            state[f"{prefix}{index}.weight"] = model.get(layer, Tensor.GAMMA)
            state[f"{prefix}{index}.bias"] = model.get(layer, Tensor.BETA)
            state[f"{prefix}{index}.running_mean"] = model.get(layer, Tensor.RUNNING_MEAN)
            state[f"{prefix}{index}.running_var"] = model.get(layer, Tensor.RUNNING_VAR)
            state[f"{prefix}{index}.num_batches_tracked"] = steps.copy()
    return state


# ---- Keras -----------------------------------------------------------------------

_KERAS_BN = ("gamma", "beta", "moving_mean", "moving_variance")


def _keras_norm(weights: KerasWeights, center: bool, scale: bool, where: str) -> _Norm:
    if isinstance(weights, Mapping):
        w = {k: _array(weights[k], f"{where}.{k}") for k in _KERAS_BN if k in weights}
        if not {"moving_mean", "moving_variance"} <= set(w):
            raise ValueError(f"{where}: BatchNormalization weights need moving_mean and "
                             f"moving_variance (got {sorted(weights)})")
        return _Norm(w.get("gamma"), w.get("beta"), w["moving_mean"], w["moving_variance"])
    arrays = [_array(a, where) for a in weights]
    names = [n for n, used in zip(_KERAS_BN, (scale, center, True, True)) if used]
    if len(arrays) != len(names):
        raise ValueError(f"{where}: expected {len(names)} arrays ({', '.join(names)}), "
                         f"got {len(arrays)}")
    w = dict(zip(names, arrays))
    return _Norm(w.get("gamma"), w.get("beta"), w["moving_mean"], w["moving_variance"])


def batchnorm_from_keras(weights: KerasWeights, epsilon: float = 1e-3, momentum: float = 0.99,
                         center: bool = True, scale: bool = True) -> BatchNorm:
    """A :class:`bn.BatchNorm` equal to a Keras BatchNormalization layer.

    ``weights`` is its ``get_weights()`` list ([gamma, beta, moving_mean,
    moving_variance], without gamma/beta when scale/center is False) or a dict
    by those names. Keras's momentum m becomes libbn's update factor 1 - m, and
    the running variance is fed the biased batch variance, as Keras does.
    """
    norm = _keras_norm(weights, center, scale, "BatchNormalization")
    features = np.asarray(norm.mean).shape[0]
    layer = BatchNorm(features, eps=epsilon, update_factor=1.0 - momentum,
                      scale=scale, shift=center, unbiased_running_var=False)
    try:
        if scale and norm.gamma is not None:
            layer.gamma = norm.gamma
        if center and norm.beta is not None:
            layer.beta = norm.beta
        layer.running_mean = norm.mean
        layer.running_var = norm.var
    except BaseException:
        layer.close()
        raise
    return layer


def batchnorm_to_keras(layer: BatchNorm) -> Dict[str, Any]:
    """A BatchNorm's weights in Keras's naming plus its epsilon and momentum."""
    out: Dict[str, Any] = {}
    flags = layer.flags
    if not flags & flags.NO_SCALE:
        out["gamma"] = layer.gamma
    if not flags & flags.NO_SHIFT:
        out["beta"] = layer.beta
    out["moving_mean"] = layer.running_mean
    out["moving_variance"] = layer.running_var
    out["epsilon"] = layer.eps
    factor = layer.update_factor
    out["momentum"] = None if factor is None else 1.0 - factor
    return out


def mlp_from_keras(layers: Sequence[KerasWeights],
                   activation: ActivationLike = "relu", head: Union[str, Head] = "softmax",
                   batchnorm: str = "before", *, epsilon: float = 1e-3,
                   momentum: float = 0.99, **params: Any) -> MLP:
    """An :class:`bn.MLP` from a Keras Sequential's weights, one entry per layer
    that has weights: Dense ``[kernel (in, out), bias]`` or ``[kernel]`` (or a dict
    with "kernel"/"bias"), BatchNormalization ``[gamma, beta, moving_mean,
    moving_variance]`` (or a dict). Keras weight lists do not say on which side
    of the activation a BatchNormalization sits: ``batchnorm`` says it.
    ``epsilon`` / ``momentum`` are the BatchNormalization settings (Keras
    defaults); the model's bn_update_factor becomes 1 - momentum, and its
    BatchNorms keep Keras' biased running variance (biased_running_var).
    """
    modules: List[Tuple[int, Any]] = []
    for i, w in enumerate(layers):
        where = f"Keras layer {i}"
        if isinstance(w, Mapping):
            if "kernel" in w:
                modules.append((2 * i, _Linear(_array(w["kernel"], where).T,
                                               None if w.get("bias") is None
                                               else _array(w["bias"], where))))
            else:
                modules.append((2 * i, _keras_norm(w, True, True, where)))
            continue
        arrays = [_array(a, where) for a in w]
        if arrays and arrays[0].ndim == 2:
            if len(arrays) > 2:
                raise ValueError(f"{where}: a Dense layer has [kernel] or [kernel, bias]")
            modules.append((2 * i, _Linear(arrays[0].T, arrays[1] if len(arrays) == 2
                                           else None)))
        elif len(arrays) == 4 and all(a.ndim == 1 for a in arrays):
            modules.append((2 * i, _keras_norm(arrays, True, True, where)))
        else:
            raise ValueError(f"{where}: neither Dense nor BatchNormalization "
                             f"({len(arrays)} arrays)")
    params.setdefault("bn_epsilon", epsilon)
    params.setdefault("bn_update_factor", 1.0 - momentum)
    params.setdefault("biased_running_var", True)  # Keras feeds the biased variance
    return _build(modules, activation, head, "Keras weights", Placement.of(batchnorm),
                  **params)


def mlp_to_keras(model: MLP) -> List[List[Float32Array]]:
    """The model's weights as Keras ``set_weights()`` lists, layer by layer (Dense
    kernels are (in, out)); the BatchNormalization layers use epsilon =
    model.bn_epsilon and momentum = 1 - model.bn_update_factor."""
    out: List[List[Float32Array]] = []
    state = mlp_to_state_dict(model)
    for index, (name, _) in enumerate(torch_layers(model)):
        if name == "Linear":
            entry = [np.ascontiguousarray(state[f"{index}.weight"].T)]
            if f"{index}.bias" in state:
                entry.append(state[f"{index}.bias"])
            out.append(entry)
        elif name == "BatchNorm1d":
            out.append([state[f"{index}.{k}"] for k in
                        ("weight", "bias", "running_mean", "running_var")])
    return out
