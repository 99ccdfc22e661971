"""Headless subcommands of the ``fluxion`` command.

Each module here defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. None of them imports Qt.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

__all__ = ["CommandError", "names", "register_all"]

# Order is the order shown in --help: the steps of a night, then the whole chain.
_MODULES = (
    "demo",
    "scan",
    "calibrate",
    "detect",
    "solve",
    "photometry",
    "zeropoint",
    "track",
    "lightcurve",
    "transit",
    "field",
    "transients",
    "period",
    "stack",
    "run",
    "check",
)


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _load() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{m}") for m in _MODULES]


def names() -> list[str]:
    """Names of all subcommands."""
    return [m.NAME for m in _load()]


def register_all(sub: argparse._SubParsersAction, only: str | None = None) -> None:
    """Add every subcommand to an argparse subparsers object.

    With ``only``, the other subcommands are listed (name and help) without
    their arguments: adding a command's arguments imports the engine modules
    whose defaults it shows, which a run of another command does not need.
    """
    for mod in _load():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        if only is None or mod.NAME == only:
            mod.add_arguments(p)
        p.set_defaults(func=mod.run)
