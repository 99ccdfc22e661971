"""The ``fluxion`` command.

With no subcommand it opens the GUI; subcommands run the engine headless and
never import Qt, so they work on machines without a display.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from fluxion import __version__

from . import commands
from .commands.options import joined_site_value
from .memory import use_memory_policy

log = logging.getLogger("fluxion")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered.

    With ``command``, only that subcommand's arguments are added (the others
    are listed by name; "" adds none): what ``main`` parses a command line
    with, so that a command imports only the engine modules it needs.
    """
    parser = argparse.ArgumentParser(
        prog="fluxion",
        description="Interactive photometry of astronomical image sequences. "
        "Without a subcommand, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"fluxion {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.register_all(sub, only=command)
    return parser


def _command(argv: list[str]) -> str:
    """The subcommand ``argv`` names (its first word that is not an option), else ""."""
    names = set(commands.names())
    for a in argv:
        if not a.startswith("-"):
            return a if a in names else ""
    return ""


def _split_gui_args(argv: list[str]) -> bool:
    """True when argv asks for the GUI (no known subcommand)."""
    names = set(commands.names())
    for a in argv:
        if a in ("-h", "--help", "--version"):
            return False
        if not a.startswith("-"):
            return a not in names
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fluxion`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Frames run in parallel on the engine's executor; OpenMP libraries (the
    # cosmic-ray finder) would otherwise start one thread per core inside each
    # worker and oversubscribe the machine (measured 1.5-2.8x slower on 2 cores).
    # OpenBLAS's pool (numpy's and scipy's linear algebra) the same: its idle
    # threads spin on the cores the other frames need (the stacked-profile
    # fits took three to four times the CPU time with it on two cores).
    # Set before any of them loads; a user's own setting wins.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Freed image-sized temporaries are reused, not faulted in afresh
    # (:mod:`fluxion.app.memory`: ~1 s of a crowded frame's 5-6 s).
    use_memory_policy()
    if _split_gui_args(argv):
        from .gui_entry import run_gui  # Qt is imported only on this path

        return run_gui(argv)
    # A file name that is not valid UTF-8 reaches print() as surrogates; it is
    # shown escaped rather than ending the command with UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # a plain TextIO has none
        with contextlib.suppress(ValueError):
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")
    parser = build_parser(_command(argv))
    # A west longitude starts with '-': "--site -76.9,38.9" is kept as one value.
    args = parser.parse_args(joined_site_value(argv))
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (`fluxion scan DIR | head`): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("fluxion: interrupted", file=sys.stderr)
        return 130
    except commands.CommandError as exc:
        print(f"fluxion {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
