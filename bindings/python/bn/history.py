"""What :meth:`bn.MLP.fit` returns: one :class:`Epoch` per epoch, and the same
numbers as Keras' ``History.history``, a dict of lists."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, NamedTuple, Optional

__all__ = ["Epoch", "History"]


class Epoch(NamedTuple):
    """One epoch of :meth:`bn.MLP.fit`: training loss and accuracy are means over
    the epoch's batches (training mode, before each update); the validation
    values are :meth:`bn.MLP.evaluate` on ``validation_data`` after the epoch,
    None without it."""

    epoch: int
    loss: float
    accuracy: float
    seconds: float
    val_loss: Optional[float] = None
    val_accuracy: Optional[float] = None


class History(List[Epoch]):
    """The epochs fit() ran, in order (a list of :class:`Epoch`), with Keras'
    views of them:

    * :attr:`history` — ``{"loss": [...], "accuracy": [...], "val_loss": [...],
      "val_accuracy": [...], "learning_rate": [...], "seconds": [...]}``, one
      value per epoch (``val_*`` only with validation data);
    * :attr:`epoch` — the epochs' 0-based indices, as Keras' ``History.epoch``;
    * :attr:`params` — the settings of the run (epochs, batch_size, samples,
      schedule).
    """

    def __init__(self, epochs: Iterable[Epoch] = (), learning_rates: Iterable[float] = (),
                 params: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(epochs)
        #: The learning rate of each epoch's last step.
        self.learning_rates: List[float] = list(learning_rates)
        self.params: Dict[str, Any] = dict(params or {})

    def record(self, epoch: Epoch, learning_rate: float) -> None:
        """Append one epoch and the learning rate of its last step."""
        self.append(epoch)
        self.learning_rates.append(float(learning_rate))

    @property
    def history(self) -> Dict[str, List[float]]:
        """Per-epoch values by name, as Keras' ``History.history`` (a new dict each time)."""
        out: Dict[str, List[float]] = {"loss": [e.loss for e in self],
                                       "accuracy": [e.accuracy for e in self]}
        if any(e.val_loss is not None for e in self):
            out["val_loss"] = [e.val_loss for e in self]  # type: ignore[misc]
            out["val_accuracy"] = [e.val_accuracy for e in self]  # type: ignore[misc]
        out["learning_rate"] = list(self.learning_rates)
        out["seconds"] = [e.seconds for e in self]
        return out

    @property
    def epoch(self) -> List[int]:
        """0-based epoch indices (Keras' ``History.epoch``); Epoch.epoch is 1-based."""
        return [e.epoch - 1 for e in self]

    def __repr__(self) -> str:
        return f"<bn.History {len(self)} epochs: {sorted(self.history)}>"
