"""Learning-rate schedules for :meth:`bn.MLP.fit` (``schedule=``).

A schedule maps how far training is, ``progress`` in epochs (2.5 = halfway
through the third epoch; an exact :class:`fractions.Fraction`), to a learning
rate, given the base rate (the model's learning_rate when fit() starts) and
the run's length in epochs.
fit() asks it before the first step (progress 0), after every step for the
next one (progress = epochs done + samples trained in this epoch / samples
per epoch, the formula of ``bn train``) and at the end of every epoch
(progress = the epochs done), then puts the base rate back.

* :class:`Constant` — the base rate throughout (``bn train --schedule constant``).
* :class:`Cosine` — ``base/2 * (1 + cos(pi * progress/epochs))``, never below
  ``floor * base`` (floor 1e-3): ``bn train``'s default, updated every step.
* :class:`Step` — ``base * factor ** floor(progress/every)``: the rate drops by
  ``factor`` every ``every`` epochs (PyTorch's StepLR with step_size=every,
  gamma=factor, stepped once per epoch).

Any object with a ``rate(base, progress, epochs)`` method works too.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Union

__all__ = ["Schedule", "Constant", "Cosine", "Step", "of"]


class Schedule:
    """Base class: the learning rate at a point of the run."""

    def rate(self, base: float, progress: Fraction, epochs: int) -> float:
        """The learning rate after ``progress`` epochs of a run of ``epochs``
        epochs that started at rate ``base``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"bn.schedules.{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)


class Constant(Schedule):
    """The base rate throughout."""

    def rate(self, base: float, progress: Fraction, epochs: int) -> float:
        return base


class Cosine(Schedule):
    """Half a cosine from ``base`` down to 0 over the run, clamped below at
    ``floor * base`` (``bn train``'s default schedule, floor 1e-3)."""

    def __init__(self, floor: float = 1e-3) -> None:
        if not 0 <= floor <= 1:
            raise ValueError(f"floor must be >= 0 and <= 1, got {floor!r}")
        self.floor = float(floor)

    def rate(self, base: float, progress: Fraction, epochs: int) -> float:
        # float(Fraction) rounds once, as bn train's (double)done/(double)total does
        value = 0.5 * base * (1.0 + math.cos(math.pi * float(progress / epochs)))
        return value if value > self.floor * base else self.floor * base


class Step(Schedule):
    """``base * factor ** floor(progress / every)``: multiplied by ``factor``
    after every ``every`` epochs."""

    def __init__(self, every: int = 1, factor: float = 0.1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1 (epochs), got {every!r}")
        if not 0 < factor <= 1:
            raise ValueError(f"factor must be > 0 and <= 1, got {factor!r}")
        self.every, self.factor = every, float(factor)

    def rate(self, base: float, progress: Fraction, epochs: int) -> float:
        return base * self.factor ** math.floor(progress / self.every)


_NAMED = {"constant": Constant, "cosine": Cosine, "step": Step}

#: What ``fit(schedule=...)`` accepts: a Schedule, a name with default
#: settings ("constant", "cosine", "step"), or None (no schedule).
ScheduleLike = Union[Schedule, str, None]


def of(schedule: ScheduleLike) -> Schedule:
    """A Schedule from itself or its name; None is :class:`Constant`."""
    if schedule is None:
        return Constant()
    if isinstance(schedule, str):
        try:
            return _NAMED[schedule.lower()]()
        except KeyError:
            raise ValueError(f"unknown schedule {schedule!r} (known: "
                             f"{', '.join(_NAMED)})") from None
    if not callable(getattr(schedule, "rate", None)):
        raise TypeError(f"schedule must be a bn.schedules.Schedule or a name, "
                        f"got {type(schedule).__name__}")
    return schedule
