"""fit(verbose=...): bn train's display. On a terminal a bar that never wraps
(cut to COLUMNS), 'evaluating' during validation, a line per epoch; off a
terminal (or verbose=2) only the lines; verbose=0 nothing."""
import io
import os
import re

import numpy as np
import pytest

import bn
from bn import _progress

CLEAR = "\r\033[K"
LINE = re.compile(r"epoch +(\d+)/(\d+)  loss (\d\.\d{4})  acc (\d\.\d{4})"
                  r"(?:  val_loss (\d+\.\d{4})  val_acc (\d\.\d{4}))?  +\d+\.\ds  \d+ samples/s")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def data(samples=640, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def run(stream, verbose, validation=True, epochs=2):
    x, y = data()
    with bn.MLP(6, [8], 2, seed=1) as m:
        return m.fit(x, y, epochs=epochs, batch_size=16, verbose=verbose, file=stream,
                     validation_data=data(100, 1) if validation else None)


def test_off_a_terminal_one_plain_line_per_epoch_with_the_history_values():
    out = io.StringIO()
    history = run(out, verbose=1)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 2
    for line, epoch in zip(lines, history):
        match = LINE.fullmatch(line)
        assert match, line
        assert int(match[1]) == epoch.epoch and int(match[2]) == 2
        assert float(match[3]) == pytest.approx(epoch.loss, abs=5e-5)
        assert float(match[4]) == pytest.approx(epoch.accuracy, abs=5e-5)
        assert float(match[5]) == pytest.approx(epoch.val_loss, abs=5e-5)
        assert float(match[6]) == pytest.approx(epoch.val_accuracy, abs=5e-5)


def test_verbose_2_prints_only_lines_even_on_a_terminal_and_0_nothing():
    term = Terminal()
    run(term, verbose=2, validation=False)
    assert "\r" not in term.getvalue()
    assert [bool(LINE.fullmatch(l)) for l in term.getvalue().splitlines()] == [True, True]
    quiet = Terminal()
    run(quiet, verbose=0)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("columns", [20, 40, 60, 80, 132])
def test_on_a_terminal_every_redraw_fits_the_width(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    term = Terminal()
    history = run(term, verbose=1)
    text = term.getvalue()
    assert text.endswith("\n")  # the bar was erased before the last line
    draws = [seg for seg in text.split(CLEAR) if seg and not seg.endswith("\n")]
    lines = [seg for seg in text.split(CLEAR) if seg.endswith("\n")]
    assert len(lines) == len(history) == 2
    assert all(LINE.fullmatch(l.rstrip("\n")) for l in lines)
    assert draws and all(len(d) <= columns - 1 for d in draws)
    assert all(d.startswith("epoch ") for d in draws)
    bars = [d for d in draws if "evaluating" not in d]
    assert bars and all(d.startswith(("epoch 1/2", "epoch 2/2")) for d in bars)
    if columns >= 40:
        assert any("[" in d and "%" in d for d in bars)
    if columns >= 40:
        assert sum("evaluating" in d for d in draws) == 2
    if columns >= 132:  # room for every field, as bn train shows them
        assert all(re.fullmatch(r"epoch \d/2 \[[#.]{30}\] \d+%  loss \d\.\d{4}  acc \d\.\d{4}"
                                r"  \d+ samples/s  ETA \d+:\d\d", d) for d in bars)
        assert sum(re.fullmatch(r"epoch \d/2 \[#{30}\] 100%  evaluating  100 validation "
                                r"samples  \d+ samples/s  ETA \d+:\d\d", d) is not None
                   for d in draws) == 2
    # the bar of an epoch's end is full
    assert any(re.search(r"\[#+\] 100%", d) for d in bars) or columns < 30


def line(columns, **kw):
    return _progress.format_line(3, 10, 0.5, columns, loss=0.1234, accuracy=0.5, rate=999,
                                 eta_seconds=61, **kw)


def test_fields_are_dropped_by_rank_and_the_bar_takes_what_is_left():
    fields = "50%  loss 0.1234  acc 0.5000  999 samples/s  ETA 1:01"
    # room for everything: the bar is at most 30 wide
    assert line(200) == "epoch 3/10 [" + "#" * 15 + "." * 15 + "] " + fields
    # 80 columns: 79 - len("epoch 3/10") - 1 - len(fields) - 3 = 12 for the bar
    assert line(80) == "epoch 3/10 [" + "#" * 6 + "." * 6 + "] " + fields
    # narrower: samples/s (rank 5) goes, then acc (4), then ETA (3), then loss (2)
    assert line(70) == "epoch 3/10 [" + "#" * 8 + "." * 9 + "] 50%  loss 0.1234  acc 0.5000" \
                       "  ETA 1:01"
    assert line(50) == "epoch 3/10 [" + "#" * 4 + "." * 5 + "] 50%  loss 0.1234  ETA 1:01"
    assert line(40) == "epoch 3/10 [" + "#" * 4 + "." * 5 + "] 50%  loss 0.1234"
    assert line(25) == "epoch 3/10 [" + "#" * 3 + "." * 4 + "] 50%"
    # no room for a 6-wide bar: it goes, then the line is cut
    assert line(20) == "epoch 3/10 50%"
    assert line(8) == "epoch 3"
    for columns in range(2, 200):
        assert len(line(columns)) <= columns - 1


def test_the_evaluation_phase_keeps_its_name_longest():
    evaluating = dict(phase="evaluating", detail="10000 validation samples")
    assert line(200, **evaluating) == ("epoch 3/10 [" + "#" * 15 + "." * 15 + "] 50%  evaluating"
                                       "  10000 validation samples  999 samples/s  ETA 1:01")
    # samples/s goes, then the detail (rank 3, before the ETA of equal rank)
    assert line(50, **evaluating) == "epoch 3/10 [" + "#" * 5 + "." * 5 + "] 50%  evaluating" \
                                     "  ETA 1:01"
    assert line(30, **evaluating) == "epoch 3/10 50%  evaluating"


def test_columns_come_from_the_terminal_then_the_environment(monkeypatch):
    monkeypatch.setenv("COLUMNS", "57")
    assert _progress.terminal_columns(io.StringIO()) == 57  # not a terminal: COLUMNS
    with open(os.devnull, "w") as not_a_tty:
        assert _progress.terminal_columns(not_a_tty) == 57
    monkeypatch.setenv("COLUMNS", "wide")
    assert _progress.terminal_columns(io.StringIO()) == _progress.DEFAULT_COLUMNS
    monkeypatch.delenv("COLUMNS")
    assert _progress.terminal_columns(io.StringIO()) == _progress.DEFAULT_COLUMNS
    try:
        import pty
        leader, follower = pty.openpty()
    except OSError:
        return
    import fcntl
    import struct
    import termios
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 93, 0, 0))
    monkeypatch.setenv("COLUMNS", "57")
    with os.fdopen(follower, "w") as terminal:
        assert _progress.terminal_columns(terminal) == 93  # the terminal wins
    os.close(leader)


def test_eta_is_written_as_bn_train_writes_it():
    assert [_progress.clock_text(s) for s in (0, 59.4, 59.5, 61, 3599, 3600, 7325)] == \
        ["0:00", "0:59", "1:00", "1:01", "59:59", "1:00:00", "2:02:05"]


def test_redraws_are_limited_to_ten_a_second(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    now = [0.0]
    term = Terminal()
    progress = _progress.Progress(term, 1, epochs=1, samples=1000, clock=lambda: now[0])
    for done in range(10, 1001, 10):  # 100 steps in 0.5 s
        now[0] += 0.005
        progress.batch(1, done, 0.5, 0.5)
    draws = [seg for seg in term.getvalue().split(CLEAR) if seg]
    assert len(draws) == 6  # at 0.005 s, then every 0.1 s, and the epoch's end
    assert draws[-1].startswith("epoch 1/1 [" + "#" * 30 + "] 100%")
