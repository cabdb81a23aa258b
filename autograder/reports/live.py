"""What `grade` shows while it runs: each check's verdict as soon as it is known (stdout, one flushed
line each), and a progress bar of train()'s optimizer steps (stderr, tqdm).

Both read well in a log that is not a terminal (GitHub Actions): there the bar is redrawn as a new line
at most every LOG_INTERVAL seconds instead of in place.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from ..judging.results import CheckResult

LOG_INTERVAL = 10.0  # seconds between progress lines in a log


class _Lines:
    """A file for tqdm that turns each in-place redraw ("\\r...") into a line of its own."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip("\n")
        if text.strip():
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


class Live:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        # the streams of the moment, not those of when this module was imported (which may be closed since)
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.start = time.monotonic()
        self.tty = self.err.isatty()
        self.bar: tqdm | None = None

    def verdict(self, check: CheckResult) -> None:
        first = check.messages[0].splitlines()[0] if check.messages else ""
        line = f"[{time.monotonic() - self.start:6.1f} s] {check.title}: {check.status}" + (
            f" - {first[:160]}" if first and not check.passed else "")
        if self.bar is not None and self.tty:
            self.bar.write(line, file=self.out)
        else:
            print(line, file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f} s] {text}", file=self.out, flush=True)

    def steps(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, desc="train()", unit="step", file=self.err if self.tty else _Lines(self.err),
                            mininterval=0.5 if self.tty else LOG_INTERVAL, ncols=None if self.tty else 80,
                            dynamic_ncols=self.tty)
        self.bar.update(min(done, total) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
