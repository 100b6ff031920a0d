"""The progress display of :meth:`bn.MLP.fit` (``verbose=``), the one ``bn train``
shows (src/cli/progress.c):

* on a terminal, a bar redrawn at most ten times a second on one line with
  the running loss and accuracy, samples/s and the time left, cut to the
  terminal's width (``COLUMNS``, else the terminal's own size): the fields
  that do not fit are dropped, least useful first, so the line never wraps;
  "evaluating" while the validation data is evaluated;
* after each epoch, one plain line with the epoch's metrics (the only output
  when the stream is not a terminal, or with ``verbose=2``).
"""

from __future__ import annotations

import os
import time
from typing import Callable, List, Optional, TextIO, Tuple

#: Width assumed when neither COLUMNS nor the terminal says.
DEFAULT_COLUMNS = 80
#: Redraws per second at most (a redraw costs a write to the terminal).
REDRAW_SECONDS = 0.1
#: Bar width when the terminal has room (as bn train), and the least kept.
BAR_WIDTH, BAR_MIN = 24, 8


def terminal_columns(stream: TextIO) -> int:
    """COLUMNS when set to a positive integer, else the terminal's width, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
        if columns > 0:
            return columns
    except ValueError:
        pass
    try:
        return os.get_terminal_size(stream.fileno()).columns or DEFAULT_COLUMNS
    except (AttributeError, OSError, ValueError):
        return DEFAULT_COLUMNS


def clock_text(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on (bn train's ETA format)."""
    s = int(seconds + 0.5) if seconds > 0 else 0
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def fit_fields(head: str, bar_fraction: Optional[float], fields: List[Tuple[int, str]],
               columns: int) -> str:
    """``head [bar]  field  field...`` in at most columns - 1 characters (the
    last column makes some terminals wrap). ``fields`` are (rank, text) in
    display order. The bar (when ``bar_fraction`` is not None) takes the room
    left, up to BAR_WIDTH; when not even BAR_MIN is left, the field of highest
    rank goes, and so on; with no field left the bar goes, then the head is cut."""
    room = max(columns - 1, 1)
    kept = list(fields)
    while True:
        tail = "".join("  " + text for _, text in kept)
        line = head + tail
        if bar_fraction is not None:
            width = min(BAR_WIDTH, room - len(line) - 3)  # 3: " [" and "]"
            if width >= BAR_MIN:
                filled = int(width * bar_fraction)
                return f"{head} [{'#' * filled}{'.' * (width - filled)}]{tail}"
        elif len(line) <= room:
            return line
        if not kept:
            return line[:room]
        kept.remove(max(kept, key=lambda field: field[0]))


class Progress:
    """What fit() shows for ``verbose`` 1 (bar on a terminal + epoch lines) or 2
    (epoch lines only); built per fit() call."""

    def __init__(self, stream: TextIO, verbose: int, epochs: int, samples: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.epochs, self.samples, self.clock = stream, epochs, samples, clock
        isatty = getattr(stream, "isatty", None)
        self.bar = verbose == 1 and bool(isatty and isatty())
        self.start = clock()
        self.last_draw = -1.0
        self.drawn = False

    def _draw(self, line: str) -> None:
        self.stream.write("\r\033[K" + line)
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        """Erase the bar (before a plain line, and at the end)."""
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False

    def batch(self, epoch: int, done: int, loss: float, accuracy: float) -> None:
        """After a step: redraw the bar (on a terminal, at most every 0.1 s and at
        the epoch's end)."""
        if not self.bar:
            return
        now = self.clock()
        if now - self.last_draw < REDRAW_SECONDS and done < self.samples:
            return
        self.last_draw = now
        elapsed = now - self.start
        trained = (epoch - 1) * self.samples + done
        rate = trained / elapsed if elapsed > 0 else 0.0
        left = (self.epochs * self.samples - trained) / rate if rate > 0 else 0.0
        fraction = done / self.samples if self.samples else 0.0
        self._draw(fit_fields(
            f"epoch {epoch}/{self.epochs}", fraction,
            [(0, f"{int(100 * fraction):3d}%"), (2, f"loss {loss:.4f}"),
             (4, f"acc {accuracy:.4f}"), (5, f"{rate:.0f} samples/s"),
             (3, f"ETA {clock_text(left)}")],
            terminal_columns(self.stream)))

    def evaluating(self, epoch: int) -> None:
        """While the validation data is evaluated after ``epoch``."""
        if self.bar:
            self._draw(fit_fields(f"epoch {epoch}/{self.epochs}", None,
                                  [(0, "evaluating the validation data...")],
                                  terminal_columns(self.stream)))

    def epoch(self, epoch: int, loss: float, accuracy: float, seconds: float,
              val_loss: Optional[float], val_accuracy: Optional[float]) -> None:
        """The epoch's line (bn train's, with val_ for the validation data)."""
        self.clear()
        val = ("" if val_loss is None else
               f"  val_loss {val_loss:.4f}  val_acc {val_accuracy:.4f}")
        rate = self.samples / seconds if seconds > 0 else 0.0
        width = len(str(self.epochs))
        self.stream.write(f"epoch {epoch:{max(width, 3)}d}/{self.epochs}  loss {loss:.4f}  "
                          f"acc {accuracy:.4f}{val}  {seconds:6.1f}s  {rate:.0f} samples/s\n")
        self.stream.flush()
