"""The multilayer perceptron with BatchNorm (bn/mlp.h): build, train,
evaluate, fold for inference, save and load.

Arrays are numpy: x is (samples, inputs); labels are integers of shape
(samples,) for the softmax head; targets are floats in [0, 1] of shape
(samples, outputs) (or (samples,) for one unit) for the sigmoid head. Every
shape is checked here before a pointer reaches C.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import threading
from fractions import Fraction
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence, TextIO, Tuple,
                    Union)

import numpy as np
import numpy.typing as npt

from . import _arrays as _a
from . import _lib
from . import _summary, schedules
from ._arrays import BytesLike, Float32Array
from ._enums import Choice
from ._errors import InvalidArgumentError, NonFiniteError, WrongStateError, error_for
from ._handle import Handle
from ._lib import lib
from ._progress import Progress
from .activations import Activation, ActivationLike
from .dense import Init, InitLike
from .history import Epoch, History
from .rng import Rng, as_rng
from .schedules import ScheduleLike
from .standardizer import Standardizer

__all__ = ["MLP", "Placement", "Head", "Optimizer", "Param", "Tensor", "Epoch"]


class Placement(Choice):
    """Where each hidden layer's BatchNorm goes (enum bn_mlp_placement)."""

    NONE = _lib.BN_MLP_BN_NONE  #: dense (+bias) -> activation
    BEFORE = _lib.BN_MLP_BN_BEFORE  #: dense (no bias) -> BatchNorm -> activation
    AFTER = _lib.BN_MLP_BN_AFTER  #: dense (+bias) -> activation -> BatchNorm

    @classmethod
    def of(cls, value: Union["Placement", int, str, None],
           what: Optional[str] = "BatchNorm placement") -> "Placement":
        """A Placement from itself, its value, its name ("before", ...), or None/False (none)."""
        if value is None or value is False:
            return cls.NONE
        return super().of(value, what)


class Head(Choice):
    """Output head and its loss (enum bn_mlp_head)."""

    SOFTMAX = _lib.BN_MLP_HEAD_SOFTMAX  #: softmax + cross-entropy, int labels
    SIGMOID = _lib.BN_MLP_HEAD_SIGMOID  #: sigmoid units + binary cross-entropy, float targets


class Optimizer(Choice):
    """Update rules (enum bn_mlp_optimizer), with PyTorch's conventions."""

    SGD = _lib.BN_MLP_SGD  #: p -= lr*g
    MOMENTUM = _lib.BN_MLP_MOMENTUM  #: v = mu*v + g; p -= lr*v (torch.optim.SGD(momentum=mu))
    NESTEROV = _lib.BN_MLP_NESTEROV  #: v = mu*v + g; p -= lr*(g + mu*v)
    ADAM = _lib.BN_MLP_ADAM  #: Adam with bias correction, eps outside the sqrt


class Param(Choice):
    """Tunables (enum bn_mlp_param); each is also a property of :class:`MLP`
    under its lower-case name."""

    OPTIMIZER = _lib.BN_MLP_OPTIMIZER
    LEARNING_RATE = _lib.BN_MLP_LEARNING_RATE
    MOMENTUM = _lib.BN_MLP_MOMENTUM_COEF
    BETA1 = _lib.BN_MLP_ADAM_BETA1
    BETA2 = _lib.BN_MLP_ADAM_BETA2
    ADAM_EPSILON = _lib.BN_MLP_ADAM_EPSILON
    WEIGHT_DECAY = _lib.BN_MLP_WEIGHT_DECAY
    DECAY_ALL = _lib.BN_MLP_DECAY_ALL
    ELU_ALPHA = _lib.BN_MLP_ELU_ALPHA
    BN_EPSILON = _lib.BN_MLP_BN_EPSILON
    BN_UPDATE_FACTOR = _lib.BN_MLP_BN_UPDATE_FACTOR
    STEP = _lib.BN_MLP_STEP
    RENORM_RMAX = _lib.BN_MLP_RENORM_RMAX
    RENORM_DMAX = _lib.BN_MLP_RENORM_DMAX
    RENORM_SCHEDULE = _lib.BN_MLP_RENORM_SCHEDULE


class Tensor(Choice):
    """Per-layer tensors (enum bn_mlp_tensor) for :meth:`MLP.get` / :meth:`MLP.set`."""

    WEIGHT = _lib.BN_MLP_WEIGHT  #: dense W, (out, in)
    BIAS = _lib.BN_MLP_BIAS  #: dense b
    GAMMA = _lib.BN_MLP_GAMMA  #: BatchNorm scale
    BETA = _lib.BN_MLP_BETA  #: BatchNorm shift
    RUNNING_MEAN = _lib.BN_MLP_RUNNING_MEAN
    RUNNING_VAR = _lib.BN_MLP_RUNNING_VAR
    DWEIGHT = _lib.BN_MLP_DWEIGHT  #: gradients of the last train step (read only)
    DBIAS = _lib.BN_MLP_DBIAS
    DGAMMA = _lib.BN_MLP_DGAMMA
    DBETA = _lib.BN_MLP_DBETA


def _float_param(p: Param, doc: str) -> Any:
    """A float property of MLP reading and writing tunable ``p`` (typed Any so that
    type checkers accept ``model.learning_rate = 0.1``)."""
    def get(self: "MLP") -> float:
        return self.get_parameter(p)

    def put(self: "MLP", value: float) -> None:
        self.set_parameter(p, value)

    return property(get, put, doc=doc)


def _tensor(which: Tensor, writable: bool = True) -> Any:
    """A property of MLPLayer reading (and writing) one tensor of its layer."""
    def get(self: "MLPLayer") -> Float32Array:
        return self.model.get(self.index, which)

    def put(self: "MLPLayer", values: npt.ArrayLike) -> None:
        self.model.set(self.index, which, values)

    return property(get, put if writable else None,
                    doc=f"The layer's {which.name.lower()} (bn_mlp_get/bn_mlp_set).")


_BN_TENSORS = (Tensor.GAMMA, Tensor.BETA, Tensor.RUNNING_MEAN, Tensor.RUNNING_VAR,
               Tensor.DGAMMA, Tensor.DBETA)


class MLP(Handle):
    """A multilayer perceptron (bn_mlp)::

        x --[input BatchNorm]--> L x (dense, BatchNorm, activation) --> dense head

    Layers are numbered as in textbooks: 0 is the input (only the optional
    input BatchNorm), 1..L the hidden layers, L+1 the head.

    Args:
        inputs: input features.
        hidden: the L hidden widths (may be empty).
        outputs: classes (>= 2) for the softmax head, units (>= 1) for sigmoid.
        activation: "relu", "elu", "sigmoid" or "tanh" (an :class:`bn.Activation`).
        batchnorm: "before" (dense without bias -> BatchNorm -> activation, the
            default), "after" (dense -> activation -> BatchNorm) or None.
        head: "softmax" (cross-entropy, int labels) or "sigmoid" (binary
            cross-entropy, float targets).
        input_batchnorm: also normalize the input itself.
        biased_running_var: every BatchNorm feeds its running variance the
            biased batch variance (Keras) instead of the unbiased one (PyTorch).
        standardize: a standardizer stage in front (before the input
            BatchNorm): each feature's mean and standard deviation over the
            training data, set by :meth:`fit_standardizer` or by the first
            :meth:`fit`; see :attr:`standardizer`.
        head_batchnorm: BatchNorm on the head (dense without bias ->
            BatchNorm -> softmax/sigmoid); its tensors are layer L+1's.
        renorm: every BatchNorm is a Batch Renormalization one, with the
            paper's schedule of rmax and dmax unless ``renorm_schedule=False``
            and ``renorm_rmax=``, ``renorm_dmax=`` are given (tunables).
        init: weight initialization ("he_normal", "glorot_uniform",
            "glorot_normal", "zeros"); biases and BatchNorm start at 0/1.
        seed: seed (or :class:`bn.Rng`) of the initial weights; also seeds
            the model's own shuffling generator (:attr:`rng`) used by fit().
        **params: tunables, e.g. ``optimizer="momentum", learning_rate=0.1``
            (see :class:`Param`; defaults Adam, 1e-3, BatchNorm eps 1e-5 and
            update factor 0.1 as PyTorch).

    The model owns a C handle: release it with :meth:`close` or a ``with``
    block (also released when collected). One thread at a time: calls from
    several threads are serialized; distinct models run in parallel (the C
    calls release the GIL).

    Example::

        with bn.MLP(784, [256, 128], 10, optimizer="adam", learning_rate=1e-3) as model:
            history = model.fit(x_train, y_train, epochs=5, batch_size=128)
            loss, accuracy = model.evaluate(x_test, y_test)
            model.save("fmnist.bnm")
    """

    _kind = _lib.MLP

    def __init__(self, inputs: int, hidden: Sequence[int] = (), outputs: int = 2,
                 activation: ActivationLike = "relu",
                 batchnorm: Union[str, Placement, None] = "before",
                 head: Union[str, Head] = "softmax", input_batchnorm: bool = False,
                 init: InitLike = "he_normal", seed: Union[int, Rng] = 0,
                 biased_running_var: bool = False, standardize: bool = False,
                 head_batchnorm: bool = False, renorm: bool = False, **params: Any) -> None:
        act, place, hd = Activation.of(activation), Placement.of(batchnorm), Head.of(head)
        n_in = _a.size(inputs, "inputs", 1)
        n_out = _a.size(outputs, f"outputs (with the {hd.name.lower()} head)",
                        2 if hd == Head.SOFTMAX else 1)
        widths = [_a.size(h, f"hidden[{i}]", 1) for i, h in enumerate(hidden)]
        flags = ((_lib.BN_MLP_INPUT_BATCHNORM if input_batchnorm else 0) |
                 (_lib.BN_MLP_BIASED_RUNNING_VAR if biased_running_var else 0) |
                 (_lib.BN_MLP_STANDARDIZE if standardize else 0) |
                 (_lib.BN_MLP_HEAD_BATCHNORM if head_batchnorm else 0) |
                 (_lib.BN_MLP_RENORM if renorm else 0))
        sizes = (ctypes.c_size_t * max(len(widths), 1))(*widths)
        ptr = _lib.MLPHandle()
        _lib.check(lib.bn_mlp_create(ctypes.byref(ptr), n_in, sizes if widths else None,
                                     len(widths), n_out, int(act), int(place), int(hd), flags),
                   f"bn_mlp_create(inputs={n_in}, hidden={widths}, outputs={n_out}, "
                   f"activation={act.name.lower()}, batchnorm={place.name.lower()}, "
                   f"head={hd.name.lower()}, input_batchnorm={bool(input_batchnorm)}, "
                   f"standardize={bool(standardize)}, head_batchnorm={bool(head_batchnorm)}, "
                   f"renorm={bool(renorm)})")
        self._adopt(ptr, seed)
        try:
            scheme = Init.of(init)
            if scheme != Init.ZEROS:
                self.init(scheme, seed if isinstance(seed, Rng) else Rng(seed))
            self.set_parameters(**params)
        except BaseException:
            self.close()
            raise

    def _adopt(self, ptr, seed: Union[int, Rng] = 0) -> None:
        Handle.__init__(self, ptr)
        self._callback_thread: Optional[int] = None  # set while fit() runs a callback
        #: The model's shuffling generator, used by fit() when no seed is given.
        self.rng: Rng = Rng(seed ^ 0x5EED if isinstance(seed, int) else 0x5EED)
        inputs, layers, outputs = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_size_t()
        act, place, head, flags = ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_uint()
        self._call(lib.bn_mlp_architecture, ctypes.byref(inputs), ctypes.byref(layers),
                   ctypes.byref(outputs), ctypes.byref(act), ctypes.byref(place),
                   ctypes.byref(head), ctypes.byref(flags))
        widths = (ctypes.c_size_t * max(layers.value, 1))()
        self._call(lib.bn_mlp_hidden_sizes, widths if layers.value else None, layers.value)
        self._sizes = (inputs.value, *widths[: layers.value], outputs.value)
        self._activation = Activation(act.value)
        self._placement = Placement(place.value)
        self._head = Head(head.value)
        self._input_bn = bool(flags.value & _lib.BN_MLP_INPUT_BATCHNORM)
        self._biased_var = bool(flags.value & _lib.BN_MLP_BIASED_RUNNING_VAR)
        self._standardize = bool(flags.value & _lib.BN_MLP_STANDARDIZE)
        self._head_bn = bool(flags.value & _lib.BN_MLP_HEAD_BATCHNORM)
        self._renorm = bool(flags.value & _lib.BN_MLP_RENORM)

    @classmethod
    def _from_pointer(cls, ptr) -> "MLP":
        model = cls.__new__(cls)
        try:
            model._adopt(ptr)
        except BaseException:
            if not hasattr(model, "_finalizer"):
                lib.bn_mlp_destroy(ptr)
            else:
                model.close()
            raise
        return model

    # -- description ----------------------------------------------------------

    @property
    def inputs(self) -> int:
        """Input features."""
        return self._sizes[0]

    @property
    def hidden(self) -> Tuple[int, ...]:
        """The hidden widths (L of them)."""
        return self._sizes[1:-1]

    @property
    def outputs(self) -> int:
        """Classes (softmax head) or units (sigmoid head)."""
        return self._sizes[-1]

    @property
    def activation(self) -> Activation:
        """The hidden layers' activation."""
        return self._activation

    @property
    def batchnorm(self) -> Placement:
        """Where the hidden layers' BatchNorm goes."""
        return self._placement

    @property
    def head(self) -> Head:
        """The output head."""
        return self._head

    @property
    def input_batchnorm(self) -> bool:
        """Whether the input itself is normalized (layer 0)."""
        return self._input_bn

    @property
    def biased_running_var(self) -> bool:
        """Whether the BatchNorms' running variances take the biased batch
        variance (Keras' convention; False is PyTorch's unbiased one)."""
        return self._biased_var

    @property
    def standardize(self) -> bool:
        """Whether the network has a standardizer stage in front."""
        return self._standardize

    @property
    def head_batchnorm(self) -> bool:
        """Whether the head has a BatchNorm (layer L+1's gamma, beta, ...)."""
        return self._head_bn

    @property
    def renorm(self) -> bool:
        """Whether every BatchNorm is a Batch Renormalization one."""
        return self._renorm

    @property
    def standardizer(self) -> Optional["Standardizer"]:
        """A copy of the standardizer stage as a :class:`bn.Standardizer`
        (its ``mean_``, ``scale_``, ``var_``, ``n_samples_seen_``), unfitted
        until :meth:`fit_standardizer` or :meth:`fit`; None without the stage."""
        if not self._standardize:
            return None
        ptr = _lib.StandardizerHandle()
        self._call(lib.bn_mlp_standardizer, ctypes.byref(ptr))
        size, written = ctypes.c_size_t(), ctypes.c_size_t()
        _lib.check(lib.bn_standardizer_serialized_size(ptr, ctypes.byref(size)),
                   "bn_standardizer_serialized_size")
        buffer = ctypes.create_string_buffer(size.value)
        _lib.check(lib.bn_standardizer_serialize(ptr, buffer, size.value, ctypes.byref(written)),
                   "bn_standardizer_serialize")
        scaler = Standardizer()
        scaler.from_bytes(buffer.raw[: written.value])
        return scaler

    def fit_standardizer(self, x: npt.ArrayLike, partial: bool = False) -> "MLP":
        """Set the standardizer stage from data (bn_mlp_fit_standardizer), or
        with ``partial=True`` add a chunk to it (bn_mlp_partial_fit_standardizer:
        chunks give the statistics of their concatenation). WrongStateError
        without the stage; NonFiniteError for NaN or infinity (nothing changes)."""
        xa, ldx = self._x(x)
        fn = lib.bn_mlp_partial_fit_standardizer if partial else lib.bn_mlp_fit_standardizer
        self._call(fn, xa.shape[0], _a.pointer(xa), ldx)
        return self

    @property
    def training_record(self) -> bytes:
        """Bytes stored with the model (bn_mlp_set_training_record), kept
        verbatim by model files; b"" when none. Set bytes (at most 1 MiB) to
        store them, b"" to remove them."""
        size = ctypes.c_size_t()
        self._call(lib.bn_mlp_training_record_size, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(max(size.value, 1))
        written = ctypes.c_size_t()
        self._call(lib.bn_mlp_get_training_record, buffer, size.value, ctypes.byref(written))
        return buffer.raw[: written.value]

    @training_record.setter
    def training_record(self, value: BytesLike) -> None:
        data = bytes(memoryview(value))
        self._call(lib.bn_mlp_set_training_record, data, len(data))

    @property
    def parameter_count(self) -> int:
        """Trainable parameters (weights, biases, gamma, beta)."""
        count = ctypes.c_size_t()
        self._call(lib.bn_mlp_parameter_count, ctypes.byref(count))
        return count.value

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print the network as a table, as Keras' ``model.summary()``: each stage
        (input, BatchNorms, dense layers, activations, head) with its output
        shape and trainable parameters, then the totals (the trainable total
        is :attr:`parameter_count`). ``print_fn`` receives the text."""
        print_fn(_summary.text(self))

    def has_batchnorm(self) -> bool:
        """Whether the network holds any BatchNorm (training then needs batches >= 2)."""
        return (self._input_bn or self._head_bn or
                (self._placement != Placement.NONE and len(self._sizes) > 2))

    def has(self, layer: int, which: Union[Tensor, str]) -> bool:
        """Whether layer ``layer`` holds tensor ``which`` (gradients: once a step ran)."""
        which = Tensor.of(which)
        last = len(self._sizes) - 1  # L + 1, the head
        if not 0 <= layer <= last:
            return False
        if which in (Tensor.WEIGHT, Tensor.DWEIGHT):
            return layer >= 1
        if which in (Tensor.BIAS, Tensor.DBIAS):
            if layer == last:
                return not self._head_bn
            return layer >= 1 and self._placement != Placement.BEFORE
        if layer == 0:
            return self._input_bn
        if layer == last:
            return self._head_bn
        return self._placement != Placement.NONE

    def _shape(self, layer: int, which: Tensor) -> Tuple[int, ...]:
        last = len(self._sizes) - 1
        if not 0 <= layer <= last:
            raise InvalidArgumentError(f"layer {layer} does not exist (0..{last})")
        if which in (Tensor.WEIGHT, Tensor.DWEIGHT):
            if layer == 0:
                raise WrongStateError("layer 0 (the input) has no dense weight")
            return (self._sizes[layer], self._sizes[layer - 1])
        return (self._sizes[layer],)

    def __repr__(self) -> str:
        if self.closed:
            return "<bn.MLP (closed)>"
        return (f"<bn.MLP inputs={self.inputs} hidden={list(self.hidden)} "
                f"outputs={self.outputs} activation={self._activation.name.lower()} "
                f"batchnorm={self._placement.name.lower()} head={self._head.name.lower()}"
                f"{' input_batchnorm' if self._input_bn else ''}>")

    # -- callbacks guard ---------------------------------------------------------

    def _not_in_callback(self, what: str) -> None:
        if self._callback_thread == threading.get_ident():
            raise WrongStateError(f"{what} cannot be called from a fit() callback "
                                  "(predict, evaluate, get and parameters can)")

    def close(self) -> None:
        """Release the C handle now (not from inside a fit() callback). Idempotent."""
        with self._lock:
            if getattr(self, "_callback_thread", None) is not None:
                self._not_in_callback("close()")  # another thread waited for the lock
            Handle.close(self)

    # -- initialization and tunables ---------------------------------------------

    def init(self, scheme: InitLike = "he_normal", seed: Union[int, Rng] = 0) -> None:
        """Re-initialize every dense layer with ``scheme`` drawing from ``seed`` (an
        int or a :class:`bn.Rng`), layer by layer; biases, BatchNorm parameters,
        running statistics and the optimizer state are reset (bn_mlp_init)."""
        self._not_in_callback("init()")
        rng = as_rng(seed)
        with rng._lock:
            self._call(lib.bn_mlp_init, int(Init.of(scheme)), rng._pointer())

    def get_parameter(self, param: Union[Param, str]) -> float:
        """Read a tunable (bn_mlp_get_parameter) as a float."""
        p = Param.of(param, "parameter")
        value = ctypes.c_double()
        self._call(lib.bn_mlp_get_parameter, int(p), ctypes.byref(value))
        return value.value

    def set_parameter(self, param: Union[Param, str], value: Any) -> None:
        """Set a tunable (bn_mlp_set_parameter); the optimizer may be given by name.
        InvalidArgumentError when out of :meth:`parameter_bounds`."""
        p = Param.of(param, "parameter")
        if p == Param.OPTIMIZER:
            value = int(Optimizer.of(value))
        elif isinstance(value, bool):
            value = int(value)
        try:
            self._call(lib.bn_mlp_set_parameter, int(p), float(value))
        except (InvalidArgumentError, NonFiniteError) as error:
            raise type(error)(_named(error.message, p.name.lower(), value),
                              error.status) from None

    def set_parameters(self, **params: Any) -> None:
        """Set several tunables by lower-case name, e.g. ``learning_rate=0.1``."""
        for name, value in params.items():
            if name.upper() not in Param.__members__:
                names = ", ".join(m.name.lower() for m in Param)
                raise TypeError(f"unknown MLP parameter {name!r} (known: {names})")
            self.set_parameter(name, value)

    @staticmethod
    def parameter_bounds(param: Union[Param, str]) -> Tuple[float, float]:
        """Inclusive (lower, upper) bounds of a tunable (an open bound is reported as its limit)."""
        p = Param.of(param, "parameter")
        lo, hi = ctypes.c_double(), ctypes.c_double()
        _lib.check(lib.bn_mlp_parameter_bounds(int(p), ctypes.byref(lo), ctypes.byref(hi)),
                   f"bn_mlp_parameter_bounds({p.name})")
        return lo.value, hi.value

    @property
    def optimizer(self) -> Optimizer:
        """The update rule (settable by name: "sgd", "momentum", "nesterov", "adam");
        changing it clears the optimizer state."""
        return Optimizer(int(self.get_parameter(Param.OPTIMIZER)))

    @optimizer.setter
    def optimizer(self, value: Union[Optimizer, str]) -> None:
        self.set_parameter(Param.OPTIMIZER, value)

    learning_rate = _float_param(Param.LEARNING_RATE, "Learning rate (> 0; default 1e-3).")
    momentum = _float_param(Param.MOMENTUM, "Momentum coefficient in [0, 1) (default 0.9).")
    beta1 = _float_param(Param.BETA1, "Adam's beta1 in [0, 1) (default 0.9).")
    beta2 = _float_param(Param.BETA2, "Adam's beta2 in [0, 1) (default 0.999).")
    adam_epsilon = _float_param(Param.ADAM_EPSILON, "Adam's eps (> 0; default 1e-8).")
    weight_decay = _float_param(Param.WEIGHT_DECAY,
                                "Decoupled weight decay p -= lr*wd*p (>= 0; default 0).")
    elu_alpha = _float_param(Param.ELU_ALPHA, "ELU's alpha (> 0; default 1).")
    bn_epsilon = _float_param(Param.BN_EPSILON, "eps of every BatchNorm (> 0; default 1e-5).")
    bn_update_factor = _float_param(
        Param.BN_UPDATE_FACTOR,
        "Running-statistics factor in (0, 1] (PyTorch's momentum; default 0.1).")
    renorm_rmax = _float_param(
        Param.RENORM_RMAX, "Batch Renormalization's fixed limit on r (>= 1; default 3), used "
        "by a renorm=True network while renorm_schedule is False.")
    renorm_dmax = _float_param(
        Param.RENORM_DMAX, "Batch Renormalization's fixed limit on d (>= 0; default 5); as "
        "renorm_rmax.")

    @property
    def renorm_schedule(self) -> bool:
        """True (default): rmax and dmax follow the paper's schedule of each
        BatchNorm's batches tracked; False: the fixed renorm_rmax, renorm_dmax."""
        return bool(self.get_parameter(Param.RENORM_SCHEDULE))

    @renorm_schedule.setter
    def renorm_schedule(self, value: bool) -> None:
        self.set_parameter(Param.RENORM_SCHEDULE, bool(value))

    @property
    def decay_all(self) -> bool:
        """False (default): decay dense weights only; True: also biases, gamma, beta."""
        return bool(self.get_parameter(Param.DECAY_ALL))

    @decay_all.setter
    def decay_all(self, value: bool) -> None:
        self.set_parameter(Param.DECAY_ALL, bool(value))

    @property
    def step(self) -> int:
        """Optimizer steps taken (settable, e.g. 0 restarts Adam's bias correction)."""
        return int(self.get_parameter(Param.STEP))

    @step.setter
    def step(self, value: int) -> None:
        self.set_parameter(Param.STEP, int(value))

    # -- tensors ----------------------------------------------------------------

    def get(self, layer: int, which: Union[Tensor, str]) -> Float32Array:
        """A copy of tensor ``which`` of layer ``layer`` (bn_mlp_get): weight (out, in),
        vectors (features,). WrongStateError when the layer has no such tensor or
        no train step produced the gradient yet."""
        which = Tensor.of(which)
        values = np.empty(self._shape(layer, which), dtype=np.float32)
        self._call(lib.bn_mlp_get, layer, int(which), _a.pointer(values), values.size)
        return values

    def set(self, layer: int, which: Union[Tensor, str], values: npt.ArrayLike) -> None:
        """Replace a parameter or running statistic (finite; variance >= 0); the
        optimizer state is kept (bn_mlp_set)."""
        which = Tensor.of(which)
        v = _a.contiguous(values, self._shape(layer, which), f"{which.name.lower()}")
        self._call(lib.bn_mlp_set, layer, int(which), _a.pointer(v), v.size)

    def parameters(self, gradients: bool = False) -> Dict[Tuple[int, str], Float32Array]:
        """Every tensor the network holds as {(layer, name): array}: weights, biases,
        gamma, beta, running statistics; with ``gradients=True`` the gradients
        of the last train step instead."""
        names = ([Tensor.DWEIGHT, Tensor.DBIAS, Tensor.DGAMMA, Tensor.DBETA] if gradients else
                 [Tensor.WEIGHT, Tensor.BIAS, Tensor.GAMMA, Tensor.BETA, Tensor.RUNNING_MEAN,
                  Tensor.RUNNING_VAR])
        return {(layer, t.name.lower()): self.get(layer, t)
                for layer in range(len(self._sizes)) for t in names if self.has(layer, t)}

    def layer(self, index: int) -> "MLPLayer":
        """A view of layer ``index`` whose attributes (weight, bias, gamma, ...) read
        and write the network's tensors."""
        self._shape(index, Tensor.BIAS)  # range check
        return MLPLayer(self, index)

    @property
    def layers(self) -> List["MLPLayer"]:
        """Views of layers 0..L+1 (see :meth:`layer`)."""
        return [MLPLayer(self, i) for i in range(len(self._sizes))]

    # -- data -------------------------------------------------------------------

    def _x(self, x: npt.ArrayLike) -> Tuple[Float32Array, int]:
        xa, ldx = _a.matrix(x, "x", self.inputs)
        return xa, ldx

    def _y(self, y: npt.ArrayLike, samples: int, name: str = "y"
           ) -> Tuple[Optional[npt.NDArray[np.int32]], Optional[Float32Array]]:
        """(labels, targets): one of them None, according to the head."""
        if y is None:
            raise TypeError(f"{name} is required (labels or targets)")
        if self._head == Head.SOFTMAX:
            return _a.labels(y, samples, self.outputs, name), None
        t = y if isinstance(y, np.ndarray) else np.asarray(y)
        if t.ndim == 1 and self.outputs == 1:
            t = t.reshape(-1, 1)
        return None, _a.contiguous(t, (samples, self.outputs), name)

    # -- training ---------------------------------------------------------------

    def train_step(self, x: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """One optimization step on a mini-batch (bn_mlp_train_step): training-mode
        forward, loss, backward, update. Returns the batch's mean loss before the update.

        Args:
            x: (batch, inputs); batch >= 2 when the network has a BatchNorm.
            y: labels (batch,) in [0, outputs) for the softmax head; targets
                (batch, outputs) in [0, 1] for the sigmoid head.

        Raises:
            BatchTooSmallError, NonFiniteError (the parameters and optimizer state
            are then unchanged; the running statistics have seen the batch).
        """
        self._not_in_callback("train_step()")
        with self._lock:
            self._live()
            xa, ldx = self._x(x)
            labels, targets = self._y(y, xa.shape[0])
            loss = ctypes.c_float()
            self._call(lib.bn_mlp_train_step, xa.shape[0], _a.pointer(xa), ldx,
                       _a.int32_pointer(labels), _a.pointer(targets), ctypes.byref(loss))
        return loss.value

    def fit(self, x: npt.ArrayLike, y: npt.ArrayLike, epochs: int = 1, batch_size: int = 32,
            optimizer: Union[Optimizer, str, None] = None,
            callback: Optional[Callable[[Epoch], Optional[bool]]] = None, *,
            shuffle: bool = True, seed: Union[int, Rng, None] = None,
            validation_data: Optional[Tuple[npt.ArrayLike, npt.ArrayLike]] = None,
            batch_callback: Optional[Callable[[int, int, int, float, float], Optional[bool]]]
            = None, schedule: ScheduleLike = None, verbose: int = 0,
            file: Optional[TextIO] = None, **params: Any) -> History:
        """Train for ``epochs`` epochs over an in-memory dataset (bn_mlp_fit).

        Each epoch visits the samples in an order shuffled by the generator
        (Fisher-Yates) in mini-batches of ``batch_size``; a last batch of one
        sample is skipped when the network has a BatchNorm.

        Args:
            x, y: the dataset, as in :meth:`train_step` (any number of samples).
            epochs, batch_size: >= 0 and >= 1.
            optimizer: if given, set before training (as ``model.optimizer``);
                other tunables may be given as keywords (``learning_rate=0.1``).
            callback: called after each epoch with an :class:`Epoch`; return
                True to stop. It may call predict/evaluate/get and change
                tunables, not fit/train_step/init/close.
            shuffle: False keeps the given order.
            seed: shuffling generator (int or :class:`bn.Rng`); None uses the
                model's own :attr:`rng`, which continues across fit() calls.
            validation_data: (x_val, y_val) evaluated after each epoch into
                Epoch.val_loss / val_accuracy.
            batch_callback: called after each step with (epoch, done, total,
                loss, accuracy) (running means over the epoch); True stops.
            schedule: a learning-rate schedule from the model's learning_rate
                (see :mod:`bn.schedules`: "constant", "cosine", "step" or a
                Schedule object); the learning_rate is put back afterwards.
                None leaves the rate alone (a callback may change it).
            verbose: 0 silent; 1 a progress bar on a terminal and a line per
                epoch (only the lines when ``file`` is not a terminal); 2 a
                line per epoch.
            file: where the progress goes (default: sys.stdout at the call).

        Returns:
            A :class:`History`: one :class:`Epoch` per epoch run, and
            ``.history``, Keras' dict of per-epoch lists. An exception raised
            by a callback stops training and is re-raised here.
        """
        self._not_in_callback("fit()")
        epochs, batch_size = _a.size(epochs, "epochs"), _a.size(batch_size, "batch_size", 1)
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        plan = None if schedule is None else schedules.of(schedule)
        if optimizer is not None:
            self.set_parameter(Param.OPTIMIZER, optimizer)
        self.set_parameters(**params)
        with self._lock:
            self._live()
            xa, ldx = self._x(x)
            samples = xa.shape[0]
            labels, targets = self._y(y, samples)
            if validation_data is not None:
                vx, vy = validation_data
                vxa, _ = self._x(vx)
                self._y(vy, vxa.shape[0], "validation y")  # checked now, not mid-training
            rng = None if not shuffle else (self.rng if seed is None else as_rng(seed))
            base_rate = self.learning_rate
            history = History(params={"epochs": epochs, "batch_size": batch_size,
                                      "samples": samples, "schedule": plan})
            progress = (Progress(sys.stdout if file is None else file, verbose, epochs, samples)
                        if verbose else None)
            failure: List[BaseException] = []
            thread = threading.get_ident()
            # A Python call after every step costs ~10 us: only when something uses it.
            per_step = (plan is not None or batch_callback is not None
                        or (progress is not None and progress.bar))
            # the rate of the last step run, for the History (read at each epoch's end
            # when nothing runs per step, as then nothing changes it within an epoch)
            last_rate = [base_rate]

            def follow_schedule(progressed: Fraction) -> None:
                if plan is not None:
                    self.set_parameter(Param.LEARNING_RATE,
                                       plan.rate(base_rate, progressed, epochs))

            def guarded(body: Callable[[], Optional[bool]]) -> int:
                """Run a Python callback body from C: 1 stops fit (an exception
                is kept and re-raised after the C call returns)."""
                try:
                    self._callback_thread = thread
                    return 1 if body() else 0
                except BaseException as exc:  # noqa: B902 - re-raised after the C call
                    failure.append(exc)
                    return 1
                finally:
                    self._callback_thread = None

            def on_epoch(_user, epoch, loss, accuracy, seconds):
                def body() -> Optional[bool]:
                    val: Tuple[Optional[float], Optional[float]] = (None, None)
                    if validation_data is not None:
                        if progress is not None:
                            progress.evaluating(int(epoch), vxa.shape[0])
                        val = self.evaluate(*validation_data)
                    record = Epoch(int(epoch), float(loss), float(accuracy), float(seconds), *val)
                    history.record(record, last_rate[0] if per_step else self.learning_rate)
                    if progress is not None:
                        progress.epoch(*record)
                    follow_schedule(Fraction(int(epoch)))
                    return callback is not None and callback(record)
                return guarded(body)

            def on_batch(_user, epoch, done, total, loss, accuracy):
                def body() -> Optional[bool]:
                    last_rate[0] = self.learning_rate
                    if progress is not None:
                        progress.batch(int(epoch), int(done), float(loss), float(accuracy))
                    # bn train's position: ((epoch - 1) * total + done) / total epochs
                    follow_schedule(Fraction((int(epoch) - 1) * int(total) + int(done),
                                             int(total)))
                    return batch_callback is not None and batch_callback(
                        int(epoch), int(done), int(total), float(loss), float(accuracy))
                return guarded(body)

            epoch_cb = _lib.EpochCallback(on_epoch)
            batch_cb = _lib.BatchCallback(on_batch) if per_step else _lib.BatchCallback(0)
            lock = rng._lock if rng is not None else threading.Lock()
            with lock:
                self._call(lib.bn_mlp_set_batch_callback, batch_cb)
                try:
                    follow_schedule(Fraction(0))
                    self._call(lib.bn_mlp_fit, samples, _a.pointer(xa), ldx,
                               _a.int32_pointer(labels), _a.pointer(targets), batch_size, epochs,
                               rng._pointer() if rng is not None else None, epoch_cb, None)
                finally:
                    self._call(lib.bn_mlp_set_batch_callback,
                               _lib.BatchCallback(0))  # address 0: NULL, removed
                    if plan is not None:
                        self.set_parameter(Param.LEARNING_RATE, base_rate)
                    if progress is not None:
                        progress.clear()
            if failure:
                raise failure[0]
        return history

    def recompute_statistics(self, x: npt.ArrayLike) -> None:
        """Replace every BatchNorm's running statistics with the exact population
        mean and biased variance of its input over ``x`` (>= 2 samples), layer by
        layer (bn_mlp_recompute_statistics)."""
        self._not_in_callback("recompute_statistics()")
        with self._lock:
            self._live()
            xa, ldx = self._x(x)
            self._call(lib.bn_mlp_recompute_statistics, xa.shape[0], _a.pointer(xa), ldx)

    # -- inference --------------------------------------------------------------

    def _predict(self, x: npt.ArrayLike, kind: int, training: bool,
                 out: Optional[Float32Array]) -> Float32Array:
        if not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"training must be True or False, got {training!r}")
        if training:
            self._not_in_callback("predict(training=True)")
        with self._lock:
            self._live()
            xa, ldx = self._x(x)
            y, ldy = _a.output(out, (xa.shape[0], self.outputs))
            _a.disjoint(y, "out", [("x", xa)])
            mode = _lib.BN_MODE_TRAINING if training else _lib.BN_MODE_INFERENCE
            self._call(lib.bn_mlp_predict, mode, kind, xa.shape[0], _a.pointer(xa), ldx,
                       _a.pointer(y), ldy)
        return y

    def predict_logits(self, x: npt.ArrayLike, *, training: bool = False,
                       out: Optional[Float32Array] = None) -> Float32Array:
        """The head's raw outputs, (samples, outputs) (bn_mlp_predict, BN_MLP_LOGITS).
        training=True forwards x as one batch with batch statistics and updates
        the running statistics."""
        return self._predict(x, _lib.BN_MLP_LOGITS, training, out)

    def predict_proba(self, x: npt.ArrayLike, *, training: bool = False,
                      out: Optional[Float32Array] = None) -> Float32Array:
        """Softmax (per sample) or sigmoid (per unit) of the logits, (samples, outputs)."""
        return self._predict(x, _lib.BN_MLP_PROBABILITIES, training, out)

    def predict(self, x: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Predicted classes in inference mode: (samples,) int64 argmax for the
        softmax head; (samples, outputs) int64 of (p >= 0.5) for the sigmoid head."""
        logits = self.predict_logits(x)
        if self._head == Head.SOFTMAX:
            return logits.argmax(axis=1).astype(np.int64)
        return (logits >= 0).astype(np.int64)

    def evaluate(self, x: npt.ArrayLike, y: npt.ArrayLike) -> Tuple[float, float]:
        """(mean loss, accuracy) over a dataset in inference mode (bn_mlp_evaluate).
        Accuracy: argmax == label (softmax); (p >= 0.5) == (target >= 0.5) per unit."""
        with self._lock:
            self._live()
            xa, ldx = self._x(x)
            labels, targets = self._y(y, xa.shape[0])
            loss, accuracy = ctypes.c_float(), ctypes.c_float()
            self._call(lib.bn_mlp_evaluate, xa.shape[0], _a.pointer(xa), ldx,
                       _a.int32_pointer(labels), _a.pointer(targets), ctypes.byref(loss),
                       ctypes.byref(accuracy))
        return loss.value, accuracy.value

    def fold_batchnorm(self) -> "MLP":
        """A new network without BatchNorm whose dense layers absorb every BatchNorm
        (bn_mlp_fold_batchnorm); its inference-mode predictions equal this one's
        to rounding. Same tunables, no optimizer state."""
        folded = _lib.MLPHandle()
        self._call(lib.bn_mlp_fold_batchnorm, ctypes.byref(folded))
        return MLP._from_pointer(folded)

    # -- model files ------------------------------------------------------------

    def to_bytes(self, optimizer: bool = False) -> bytes:
        """The model-file bytes (bn_mlp_serialize; docs/model-format.md); with
        optimizer=True also the optimizer state, so training resumes exactly."""
        flags = _lib.BN_MLP_SAVE_OPTIMIZER if optimizer else 0
        with self._lock:
            size = ctypes.c_size_t()
            self._call(lib.bn_mlp_serialized_size, flags, ctypes.byref(size))
            buffer = ctypes.create_string_buffer(size.value)
            written = ctypes.c_size_t()
            self._call(lib.bn_mlp_serialize, flags, buffer, size.value, ctypes.byref(written))
            return buffer.raw[: written.value]

    @classmethod
    def from_bytes(cls, blob: BytesLike) -> "MLP":
        """A new network from model-file bytes (bn_mlp_deserialize). Raises a
        FormatError subclass (BadMagicError, ChecksumError, ...) with the reason."""
        data = bytes(memoryview(blob))
        ptr = _lib.MLPHandle()
        message = ctypes.create_string_buffer(512)
        status = lib.bn_mlp_deserialize(ctypes.byref(ptr), data, len(data), message,
                                        len(message))
        if status:
            raise error_for(status, _load_message(status, message, "model bytes"))
        return cls._from_pointer(ptr)

    def load_bytes(self, blob: BytesLike) -> None:
        """Replace this network's state by model-file bytes of the same
        architecture, in place (bn_mlp_deserialize_into): parameters,
        statistics, tunables, training record and optimizer state, as
        :meth:`from_bytes` would create them. Raises ShapeMismatchError for
        another architecture, a FormatError subclass for invalid bytes; the
        network is then unchanged."""
        data = bytes(memoryview(blob))
        self._call(lib.bn_mlp_deserialize_into, data, len(data))

    def save(self, path: Union[str, os.PathLike], optimizer: bool = False) -> None:
        """Save to a file atomically (bn_mlp_save): an existing file is replaced only
        once the new one is complete. InputOutputError says which call failed."""
        self._call(lib.bn_mlp_save, os.fsencode(path), _lib.BN_MLP_SAVE_OPTIMIZER
                   if optimizer else 0)

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "MLP":
        """A new network from a file written by :meth:`save` (bn_mlp_load)."""
        ptr = _lib.MLPHandle()
        message = ctypes.create_string_buffer(512)
        status = lib.bn_mlp_load(ctypes.byref(ptr), os.fsencode(path), message, len(message))
        if status:
            raise error_for(status, _load_message(status, message, os.fsdecode(path)))
        return cls._from_pointer(ptr)

    def __reduce__(self):
        return (MLP.from_bytes, (self.to_bytes(optimizer=True),))

    # ---- compatibility: PyTorch and Keras weights ------------------------------
    # Kept for code written before these moved to bn.interop, whose functions
    # are the API. Each only delegates; bn.interop imports this module, so it
    # is imported when called (tests/python/test_structure.py allows exactly
    # these delegations).

    @classmethod
    def from_state_dict(cls, state: Mapping[str, npt.ArrayLike],
                        activation: ActivationLike = "relu",
                        head: Union[str, Head] = "softmax", **kwargs: Any) -> "MLP":
        """Compatibility alias of :func:`bn.interop.mlp_from_state_dict`."""
        from .interop import mlp_from_state_dict
        return mlp_from_state_dict(state, activation, head, **kwargs)

    def state_dict(self, prefix: str = "") -> Dict[str, np.ndarray]:
        """Compatibility alias of :func:`bn.interop.mlp_to_state_dict`."""
        from .interop import mlp_to_state_dict
        return mlp_to_state_dict(self, prefix)

    def torch_layers(self) -> List[Tuple[str, Dict[str, Any]]]:
        """Compatibility alias of :func:`bn.interop.torch_layers`."""
        from .interop import torch_layers
        return torch_layers(self)

    @classmethod
    def from_keras(cls, layers: Sequence[Union[Sequence[npt.ArrayLike],
                                               Mapping[str, npt.ArrayLike]]],
                   activation: ActivationLike = "relu", head: Union[str, Head] = "softmax",
                   batchnorm: str = "before", **kwargs: Any) -> "MLP":
        """Compatibility alias of :func:`bn.interop.mlp_from_keras`."""
        from .interop import mlp_from_keras
        return mlp_from_keras(layers, activation, head, batchnorm, **kwargs)

    def to_keras(self) -> List[List[Float32Array]]:
        """Compatibility alias of :func:`bn.interop.mlp_to_keras`."""
        from .interop import mlp_to_keras
        return mlp_to_keras(self)


_OUTSIDE = re.compile(r"parameter \d+: \S+ is outside ([\[(])([^,]+), ([^\])]+)([\])])"
                      r"( or not an integer)?$")


def _named(message: str, name: str, value: Any) -> str:
    """The C library's message about a tunable ("invalid argument: parameter 2: 0 is
    outside (0, 1000]") said with the tunable's Python name ("learning_rate must be
    > 0 and <= 1000, got 0")."""
    text = message.split(": ", 1)[-1]  # drop the status name
    outside = _OUTSIDE.search(text)
    if outside:
        low_open, low, high, high_open, integral = outside.groups()
        rule = (f"{'>' if low_open == '(' else '>='} {low} and "
                f"{'<' if high_open == ')' else '<='} {high}")
        return f"{name} must be {rule}{' and an integer' if integral else ''}, got {value!r}"
    if "not finite" in text:
        return f"{name} must be finite, got {value!r}"
    return re.sub(r"^parameter \d+", name, text)


def _load_message(status: int, buffer: Any, what: str) -> str:
    text = buffer.value.decode("utf-8", "replace")
    name = _lib.status_string(status)
    return f"{name}: {text}" if text else f"{name}: cannot load {what}"


class MLPLayer:
    """A view of one layer of an :class:`MLP`; attributes read and write the
    network's tensors (copies in, copies out)."""

    def __init__(self, model: MLP, index: int) -> None:
        self.model, self.index = model, index

    weight = _tensor(Tensor.WEIGHT)
    bias = _tensor(Tensor.BIAS)
    gamma = _tensor(Tensor.GAMMA)
    beta = _tensor(Tensor.BETA)
    running_mean = _tensor(Tensor.RUNNING_MEAN)
    running_var = _tensor(Tensor.RUNNING_VAR)
    dweight = _tensor(Tensor.DWEIGHT, False)
    dbias = _tensor(Tensor.DBIAS, False)
    dgamma = _tensor(Tensor.DGAMMA, False)
    dbeta = _tensor(Tensor.DBETA, False)

    def has(self, which: Union[Tensor, str]) -> bool:
        """Whether this layer holds tensor ``which``."""
        return self.model.has(self.index, which)

    def __repr__(self) -> str:
        held = [t.name.lower() for t in Tensor if t < Tensor.DWEIGHT and self.has(t)]
        return f"<bn.MLP layer {self.index}: {', '.join(held) or 'nothing'}>"
