"""The progress display of :meth:`bn.MLP.fit` (``verbose=``), the one ``bn train``
shows (src/cli/progress.c):

* on a terminal, a bar redrawn at most ten times a second on one line with
  the running loss and accuracy, samples/s and the time left, fitted to the
  terminal's width (the terminal's size, else ``COLUMNS``): the fields that
  do not fit are dropped, least useful first, so the line never wraps;
  "evaluating N validation samples" while the validation data is evaluated;
* after each epoch, one plain line with the epoch's metrics (the only output
  when the stream is not a terminal, or with ``verbose=2``).
"""

from __future__ import annotations

import io
import os
import time
from typing import Any, Callable, List, Optional, TextIO, Tuple

#: Width assumed when neither the terminal nor COLUMNS says.
DEFAULT_COLUMNS = 80
#: Redraws per second at most (a redraw costs a write to the terminal).
REDRAW_SECONDS = 0.1
#: The bar's width: what the line leaves, within these bounds (as bn train).
BAR_MIN, BAR_MAX = 6, 30


def terminal_columns(stream: TextIO) -> int:
    """The terminal's width (TIOCGWINSZ on the stream), else COLUMNS when it is
    a positive integer, else 80 (bn train's order)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
        if columns > 0:
            return columns
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    try:
        columns = int(os.environ.get("COLUMNS", ""))
        if 0 < columns < 10000:
            return columns
    except ValueError:
        pass
    return DEFAULT_COLUMNS


def clock_text(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on (bn train's ETA format)."""
    s = int(seconds + 0.5) if seconds > 0 else 0
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def format_line(epoch: int, epochs: int, fraction: float, columns: int, *,
                loss: float = 0.0, accuracy: float = 0.0, rate: float = 0.0,
                eta_seconds: float = 0.0, phase: Optional[str] = None,
                detail: Optional[str] = None) -> str:
    """bn train's progress line, ``epoch E/N [bar] P%  field  field ...``, in at
    most columns - 1 characters (writing the last column makes some terminals
    wrap at once).

    The fields are loss and accuracy (or ``phase`` and ``detail`` while
    evaluating), samples/s and the time left; each has a rank, and while the
    line is too wide the field of the highest rank goes first. The bar takes
    what is left, BAR_MIN to BAR_MAX wide; when only ``epoch E/N P%`` (and the
    phase) is left and still no bar fits, the bar goes, then the line is cut.
    """
    width = max(columns - 1, 1)
    fraction = min(max(fraction, 0.0), 1.0)
    fields: List[Tuple[str, int]] = [(f"{int(100.0 * fraction)}%", 1)]
    if phase is not None:  # what is under way stays as long as the percentage
        fields.append((phase, 1))
        if detail is not None:
            fields.append((detail, 3))
    else:
        fields += [(f"loss {loss:.4f}", 2), (f"acc {accuracy:.4f}", 4)]
    fields += [(f"{rate:.0f} samples/s", 5), (f"ETA {clock_text(eta_seconds)}", 3)]
    head = f"epoch {epoch}/{epochs}"
    keep = [True] * len(fields)
    bar = BAR_MIN
    while True:
        # one space before the percentage (it follows the bar), two before the others
        used = len(head) + sum((1 if i == 0 else 2) + len(text)
                               for i, (text, _) in enumerate(fields) if keep[i])
        if used + 3 + BAR_MIN <= width:  # " [" + bar + "]"
            bar = min(width - used - 3, BAR_MAX)
            break
        droppable = [i for i, (_, rank) in enumerate(fields) if keep[i] and rank > 1]
        if not droppable:
            bar = 0
            break
        keep[max(droppable, key=lambda i: fields[i][1])] = False
    line = head
    if bar:
        filled = int(bar * fraction)
        line += f" [{'#' * filled}{'.' * (bar - filled)}]"
    line += "".join((" " if i == 0 else "  ") + text
                    for i, (text, _) in enumerate(fields) if keep[i])
    return line[:width]


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

    def _line(self, epoch: int, fraction: float, **fields: Any) -> None:
        now = self.clock()
        self.last_draw = now
        elapsed = now - self.start
        trained = (epoch - 1 + fraction) * self.samples
        rate = trained / elapsed if elapsed > 0 else 0.0
        left = (self.epochs * self.samples - trained) / rate if rate > 0 else 0.0
        self._draw(format_line(epoch, self.epochs, fraction, terminal_columns(self.stream),
                               rate=rate, eta_seconds=left, **fields))

    def batch(self, epoch: int, done: int, loss: float, accuracy: float) -> None:
        """After a step: redraw the bar (on a terminal, at most every 0.1 s and at
        the epoch's end)."""
        if not self.bar:
            return
        if self.clock() - self.last_draw < REDRAW_SECONDS and done < self.samples:
            return
        self._line(epoch, done / self.samples if self.samples else 1.0,
                   loss=loss, accuracy=accuracy)

    def evaluating(self, epoch: int, samples: int) -> None:
        """While ``samples`` validation samples are evaluated after ``epoch``."""
        if self.bar:
            self._line(epoch, 1.0, phase="evaluating", detail=f"{samples} validation samples")

    def epoch(self, epoch: int, loss: float, accuracy: float, seconds: float,
              val_loss: Optional[float], val_accuracy: Optional[float]) -> None:
        """The epoch's line (bn train's, with val_ for the validation data)."""
        self.clear()
        val = ("" if val_loss is None else
               f"  val_loss {val_loss:.4f}  val_acc {val_accuracy:.4f}")
        rate = self.samples / seconds if seconds > 0 else 0.0
        self.stream.write(f"epoch {epoch:3d}/{self.epochs}  loss {loss:.4f}  "
                          f"acc {accuracy:.4f}{val}  {seconds:6.1f}s  {rate:.0f} samples/s\n")
        self.stream.flush()
