"""One frame's failure as one line, and file names shown safely.

Every command and every worker step that goes through files one by one uses
:func:`per_file`: whatever reading, parsing or measuring one file raises
(astropy's ``VerifyError``, cfitsio's decompression errors, ERFA's refusal of a
date, a full disk, a name the file system refuses...) becomes a
:class:`FileFailure` naming the file and the cause in one line, the full
traceback goes to the debug log, and the caller goes on with the next file.
Only a cancellation (and Ctrl-C) passes through.

:func:`shown_name` is the form a file name is printed in: control characters,
right-to-left overrides and bytes that are not valid UTF-8 are escaped, so a
name cannot break a line of the summary or reverse what follows it.
"""

from __future__ import annotations

import errno
import logging
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from .pipeline import Cancelled

__all__ = ["FileFailure", "Outcome", "failure_message", "per_file", "shown_name", "shown_text"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# The longest cause printed; a library's message can hold a whole header.
_MAX_CAUSE = 300

_OS_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the folder is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENAMETOOLONG: "the file name is too long for this system",
    errno.ELOOP: "a symbolic link loop",
    errno.EIO: "an input/output error (a failing disk or a network drive gone)",
}


def shown_name(path: str | os.PathLike[str]) -> str:
    """A file's name as printed: control, bidirectional and undecodable characters escaped."""
    return shown_text(Path(path).name or str(path))


def shown_text(text: str | os.PathLike[str]) -> str:
    """``text`` (a path) with control, bidirectional and undecodable characters escaped."""
    out = []
    for ch in os.fspath(text):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(repr(ch)[1:-1] if code < 0x80 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def failure_message(exc: BaseException) -> str:
    """The cause of a failure in one line for the user (no traceback, no newline)."""
    if isinstance(exc, OSError) and exc.errno in _OS_CAUSES:
        where = f": {shown_name(exc.filename)}" if exc.filename else ""
        text = _OS_CAUSES[exc.errno] + where
    elif isinstance(exc, MemoryError):
        text = "not enough memory"
    elif isinstance(exc, UnicodeError):
        # Only the codec errors carry a reason; a bare UnicodeError has its message.
        text = f"text that is not valid in this encoding ({getattr(exc, 'reason', exc)})"
    elif type(exc).__name__ == "VerifyError":
        text = f"a header card that cannot be parsed ({str(exc).strip().splitlines()[0]})"
    elif type(exc).__name__ == "CfitsioException":
        text = f"the compressed image is damaged ({exc})"
    elif type(exc).__name__ == "ErfaError":
        text = f"a time outside the calendar ERFA accepts ({exc})"
    else:
        text = str(exc).strip() or type(exc).__name__
        # Our own errors are written for users; others say what they are.
        if not type(exc).__module__.startswith("fluxion") and not isinstance(
            exc, ValueError | OSError
        ):
            text = f"{type(exc).__name__}: {text}"
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CAUSE else text[: _MAX_CAUSE - 3] + "..."


@dataclass(frozen=True)
class FileFailure:
    """A file that could not be processed: which, and why (one line)."""

    path: Path
    cause: str

    def __str__(self) -> str:
        return f"{shown_name(self.path)}: {self.cause}"


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """The value of one file's work, or its failure."""

    path: Path
    value: T | None = None
    failure: FileFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def get(self) -> T:
        """The value of a successful outcome; a ValueError with the cause otherwise."""
        if self.failure is not None:
            raise ValueError(str(self.failure))
        if self.value is None:
            raise ValueError(f"{shown_name(self.path)}: the work gave no value")
        return self.value

    @property
    def cause(self) -> str:
        """The failure's one-line cause; only a failed outcome has one."""
        if self.failure is None:
            raise ValueError(f"{self.path}: the work succeeded, there is no cause of failure")
        return self.failure.cause


def per_file(path: str | os.PathLike[str], work: Callable[[], T]) -> Outcome[T]:
    """Run ``work()`` for one file; any failure becomes that file's :class:`FileFailure`.

    Cancellation, Ctrl-C and interpreter exit pass through: they end the run,
    not one file.
    """
    p = Path(path)
    try:
        return Outcome(p, value=work())
    except (Cancelled, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - one bad file never stops a night
        cause = failure_message(exc)
        log.debug("%s failed", p, exc_info=True)
        log.warning("%s: %s", shown_name(p), cause)
        return Outcome(p, failure=FileFailure(p, cause))
