"""Training recipes: a network and the settings that train it, in one object.

:data:`BN_TRAIN` is ``bn train``'s default recipe (src/cli/cmd_train.c):
784 -> input BatchNorm -> 256 -> 128 -> classes, BatchNorm before ReLU, He
initialization, Adam at 0.002 with the cosine schedule, batches of 256, 10
epochs, seed 42. With the same data it trains the same model as the program,
bit for bit (same initial weights, same shuffling, same rate at every step;
tests/python/test_recipes.py checks it against the ``bn`` program)::

    (x, y), test = bn.datasets.fashion_mnist()
    model, history = bn.recipes.BN_TRAIN.train(x, y, validation_data=test, verbose=1)
    loss, accuracy = model.evaluate(*test)

``dataclasses.replace(BN_TRAIN, epochs=20)`` changes one setting.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import numpy as np
import numpy.typing as npt

from .history import History
from .mlp import MLP
from .rng import Rng
from .schedules import ScheduleLike

__all__ = ["Recipe", "BN_TRAIN"]

#: bn train's shuffling generator is seeded with seed ^ this (cmd_train.c).
_SHUFFLE_SEED_MIX = 0x5DEECE66D


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A network and how to train it; the defaults are ``bn train``'s.

    Attributes mirror ``bn train``'s options: ``hidden`` (--hidden),
    ``activation``, ``batchnorm`` (--bn), ``input_batchnorm`` (not
    --no-input-bn), ``init`` (None: "he_normal" for relu/elu,
    "glorot_uniform" otherwise, as --init's default), ``optimizer``,
    ``learning_rate`` (None: 0.002 for adam, 0.05 otherwise, as --lr's
    default), ``schedule``, ``momentum``, ``weight_decay``, ``batch_size``,
    ``epochs``, ``seed`` (initial weights and shuffling).
    """

    hidden: Tuple[int, ...] = (256, 128)
    activation: str = "relu"
    batchnorm: Optional[str] = "before"
    input_batchnorm: bool = True
    init: Optional[str] = None
    optimizer: str = "adam"
    learning_rate: Optional[float] = None
    schedule: ScheduleLike = "cosine"
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 256
    epochs: int = 10
    seed: int = 42

    @property
    def initialization(self) -> str:
        """The init scheme used: ``init``, or bn train's default for the activation."""
        if self.init is not None:
            return self.init
        return "he_normal" if self.activation.lower() in ("relu", "elu") else "glorot_uniform"

    @property
    def rate(self) -> float:
        """The base learning rate used: ``learning_rate``, or bn train's default."""
        if self.learning_rate is not None:
            return self.learning_rate
        return 2e-3 if self.optimizer.lower() == "adam" else 0.05

    def build(self, inputs: int, outputs: int) -> MLP:
        """A new, initialized network for ``inputs`` features and ``outputs`` classes."""
        return MLP(inputs, self.hidden, outputs, activation=self.activation,
                   batchnorm=self.batchnorm, input_batchnorm=self.input_batchnorm,
                   init=self.initialization, seed=self.seed, optimizer=self.optimizer,
                   learning_rate=self.rate, momentum=self.momentum,
                   weight_decay=self.weight_decay)

    def fit(self, model: MLP, x: npt.ArrayLike, y: npt.ArrayLike,
            validation_data: Optional[Tuple[npt.ArrayLike, npt.ArrayLike]] = None,
            verbose: int = 1, **kwargs: Any) -> History:
        """Train ``model`` (from :meth:`build`) with this recipe's batches, epochs,
        schedule and shuffling; keywords go to :meth:`bn.MLP.fit`."""
        shuffle = Rng(self.seed ^ _SHUFFLE_SEED_MIX)
        return model.fit(x, y, epochs=self.epochs, batch_size=self.batch_size,
                         schedule=self.schedule, seed=shuffle,
                         validation_data=validation_data, verbose=verbose, **kwargs)

    def train(self, x: npt.ArrayLike, y: npt.ArrayLike,
              validation_data: Optional[Tuple[npt.ArrayLike, npt.ArrayLike]] = None,
              verbose: int = 1, **kwargs: Any) -> Tuple[MLP, History]:
        """Build a network for ``x``'s features and ``y``'s classes (the largest
        label + 1, at least 2, as bn train counts them) and :meth:`fit` it.
        Returns (model, history); the caller owns the model (close() or ``with``)."""
        features = np.shape(x)[1]
        classes = max(int(np.max(y)) + 1, 2)
        model = self.build(features, classes)
        try:
            history = self.fit(model, x, y, validation_data, verbose, **kwargs)
        except BaseException:
            model.close()
            raise
        return model, history


#: bn train's defaults.
BN_TRAIN = Recipe()
