"""Options and checks that several ``fluxion`` subcommands share.

One wording for the same mistake in every command (a missing input, a file
where a folder is wanted, no worker), and the light frames of a target
sequence prepared the same way for ``track``, ``lightcurve`` and ``stack``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from . import CommandError

if TYPE_CHECKING:
    from fluxion.core.targets.inputs import TargetFrames

__all__ = [
    "DEFAULT_WORKERS",
    "add_out_argument",
    "add_workers_argument",
    "check_folder",
    "check_paths",
    "check_workers",
    "target_lights",
]

#: Frames processed in parallel unless told otherwise (a desktop's cores, at most four).
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


def add_out_argument(p: argparse.ArgumentParser) -> None:
    """``--out DIR``, the folder a command writes its products into."""
    p.add_argument("--out", type=Path, required=True, help="output folder (created if needed)")


def add_workers_argument(
    p: argparse.ArgumentParser, default: int = DEFAULT_WORKERS, help: str = "parallel frames"
) -> None:
    """``--workers N``, how many frames are processed at once."""
    p.add_argument("--workers", type=int, default=default, help=help)


def check_paths(paths: Iterable[Path]) -> None:
    """Raise :class:`CommandError` naming every input that does not exist."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CommandError("no such file or folder: " + ", ".join(missing))


def check_workers(workers: int, option: str = "--workers") -> None:
    """Raise :class:`CommandError` unless at least one worker is asked for."""
    if workers < 1:
        raise CommandError(f"{option} must be at least 1")


def check_folder(path: Path) -> None:
    """Raise :class:`CommandError` when ``path`` exists and is not a folder."""
    if path.exists() and not path.is_dir():
        raise CommandError(f"{path} exists and is not a folder")


def target_lights(paths: list[Path]) -> TargetFrames:
    """The light frames in ``paths`` ready for tracking, or :class:`CommandError` saying why.

    Check the paths first (:func:`check_paths`).

    Each light keeps the WCS of its header; when one has none, the field is
    followed on bright stars instead.
    """
    from fluxion.core.targets.inputs import load_target_frames

    try:
        return load_target_frames(paths)
    except ValueError as exc:  # FitsReadError included
        raise CommandError(str(exc)) from exc
