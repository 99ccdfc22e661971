"""Progress on the terminal for the headless commands."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO

__all__ = ["TerminalProgress"]


class TerminalProgress:
    """A ``StepState`` callback that draws progress on a terminal.

    On a terminal the line is redrawn in place; when the stream is a file or a
    pipe (CI logs, ``| tee``) one line is written per tenth of the work, so logs
    stay readable. Call :meth:`done` to end the line.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 60) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1
        self._drawn = False
        self._lock = threading.Lock()

    def __call__(self, fraction: float, message: str) -> None:
        with self._lock:
            if self._interactive:
                text = f"\r{fraction:4.0%} {message[: self.width]:<{self.width}}"
                self.stream.write(text)
                self._drawn = True
            else:
                decile = int(fraction * 10 + 1e-9)
                if decile <= self._last_decile:
                    return
                self._last_decile = decile
                self.stream.write(f"{fraction:4.0%} {message}\n")
            self.stream.flush()

    def done(self) -> None:
        """End the progress line (on a terminal)."""
        with self._lock:
            if self._interactive and self._drawn:
                self.stream.write("\n")
                self.stream.flush()
            self._drawn = False

    @property
    def callback(self) -> Callable[[float, str], None]:
        """The callable to pass to :class:`~fluxion.core.runtime.pipeline.StepState`."""
        return self
