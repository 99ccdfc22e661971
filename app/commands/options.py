"""Options and checks that several ``fluxion`` subcommands share.

One wording for the same mistake in every command (a missing input, a file
where a folder is wanted, no worker), and the light frames of a target
sequence prepared the same way for ``track``, ``lightcurve`` and ``stack``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import CommandError

if TYPE_CHECKING:
    from fluxion.core.io.site import ObservingSite
    from fluxion.core.targets.inputs import TargetFrames

__all__ = [
    "DEFAULT_WORKERS",
    "IMAGE_SUFFIXES",
    "TABLE_SUFFIXES",
    "add_bayer_argument",
    "add_out_argument",
    "add_output_arguments",
    "add_paths_arguments",
    "add_site_arguments",
    "add_workers_argument",
    "check_folder",
    "check_paths",
    "check_workers",
    "chosen_cfa",
    "joined_site_value",
    "measurable_frames",
    "observing_site",
    "output_file",
    "prepare_output",
    "recurse",
    "target_lights",
]

#: Frames processed in parallel unless told otherwise (a desktop's cores, at most four).
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


def add_paths_arguments(
    p: argparse.ArgumentParser, help: str = "folders or FITS files of one night"
) -> None:
    """``PATH...``, read with their sub-folders unless ``--no-recurse`` says not to descend.

    ``-r/--recursive`` is kept for scripts written when sub-folders were read
    only on request; it changes nothing.
    """
    p.add_argument("paths", type=Path, nargs="+", help=help + " (sub-folders included)")
    p.add_argument(
        "--no-recurse",
        action="store_true",
        help="read only the folders named, not their sub-folders (sub-folders that are "
        "hidden, Fluxion projects or Fluxion's output folders are never read)",
    )
    p.add_argument("-r", "--recursive", action="store_true", help="read sub-folders (the default)")


def recurse(args: argparse.Namespace) -> bool:
    """Whether the command descends into sub-folders (see :func:`add_paths_arguments`)."""
    return not getattr(args, "no_recurse", False)


def add_out_argument(p: argparse.ArgumentParser) -> None:
    """``--out DIR``, the folder a command writes its products into."""
    p.add_argument("--out", type=Path, required=True, help="output folder (created if needed)")


#: Suffixes of the tables the commands write (astropy's formats; see core.reports.table).
TABLE_SUFFIXES = (".ecsv", ".csv", ".txt")
#: Suffixes of the images the commands write.
IMAGE_SUFFIXES = (".fits", ".fit", ".fts")


def add_output_arguments(
    p: argparse.ArgumentParser, *, what: str, default_name: str, suffixes: tuple[str, ...]
) -> None:
    """``--out DIR`` or ``-o/--output FILE|DIR`` for a command that writes one main file.

    ``--out DIR`` is the folder every command writes into (the file is
    ``DIR/default_name``); ``-o`` also takes the file itself. See :func:`output_file`.
    """
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"output folder (created if needed); the {what} is written as DIR/{default_name}",
    )
    g.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE|DIR",
        help=f"the {what} file ({', '.join(suffixes)}); a path with another or no suffix, "
        "or an existing folder, is a folder as with --out",
    )


def output_file(args: argparse.Namespace, default_name: str, suffixes: tuple[str, ...]) -> Path:
    """The file named by ``--out DIR`` or ``-o FILE|DIR`` (see :func:`add_output_arguments`).

    A path ending in one of ``suffixes`` is the file; an existing folder, or a
    path whose suffix is none of the table or image suffixes the commands
    write, is a folder and the file is ``default_name`` in it. A table or image
    suffix of the wrong kind (``-o stack.csv`` for an image) is a
    :class:`CommandError`, as is an existing file where a folder is meant.
    Nothing is created here.
    """
    if getattr(args, "out", None) is not None:
        check_folder(args.out)
        return args.out / default_name
    path: Path = args.output
    if path.is_dir():
        return path / default_name
    suffix = path.suffix.lower()
    if suffix in suffixes:
        return path
    if suffix in TABLE_SUFFIXES + IMAGE_SUFFIXES:
        raise CommandError(
            f"-o {path}: this file is written as {' or '.join(suffixes)}; "
            f"give such a name, or a folder (then {default_name} in it)"
        )
    check_folder(path)
    return path / default_name


def add_bayer_argument(p: argparse.ArgumentParser) -> None:
    """``--bayer auto|none|RGGB|BGGR|GRBG|GBRG``: the colour-filter pattern of the frames."""
    p.add_argument(
        "--bayer",
        default="auto",
        type=str.upper,
        choices=("AUTO", "NONE", "RGGB", "BGGR", "GRBG", "GBRG"),
        metavar="PATTERN",
        help="Bayer pattern of one-shot-colour frames as stored (row 0 first): auto reads "
        "BAYERPAT/COLORTYP, XBAYROFF/YBAYROFF, ROWORDER and the camera profiles; none "
        "measures them as monochrome; RGGB, BGGR, GRBG or GBRG overrides (default: auto)",
    )


def chosen_cfa(frames: list, args: argparse.Namespace) -> list:
    """``frames`` with ``--bayer`` applied (see :func:`fluxion.core.io.frames.choose_cfa`)."""
    from fluxion.core.io.frames import choose_cfa

    return choose_cfa(frames, getattr(args, "bayer", "auto") or "auto")


def prepare_output(args: argparse.Namespace, path: Path) -> None:
    """Create the folder of the file :func:`output_file` named.

    A folder the command chose the file name in (``--out DIR``, ``-o DIR``)
    is marked as Fluxion's output folder; the folder of a file the user
    named (``-o lc.ecsv``) is the user's and is only created.
    """
    from fluxion.core.io.folders import prepare_output_folder

    if getattr(args, "out", None) is not None or path != args.output:
        prepare_output_folder(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)


def add_workers_argument(
    p: argparse.ArgumentParser, default: int = DEFAULT_WORKERS, help: str = "parallel frames"
) -> None:
    """``--workers N``, how many frames are processed at once."""
    p.add_argument("--workers", type=int, default=default, help=help)


def check_paths(paths: list[Path]) -> None:
    """Drop the inputs that do not exist from ``paths``, naming each on stderr.

    One mistyped path does not refuse the others; :class:`CommandError` when
    none of them exists.
    """
    from fluxion.core.runtime.failures import shown_name

    missing = [p for p in paths if not os.path.lexists(p)]
    if len(missing) == len(paths):
        raise CommandError("no such file or folder: " + ", ".join(map(str, missing)))
    for p in missing:
        print(f"skipped  {shown_name(p)}: no such file or folder", file=sys.stderr)
        paths.remove(p)


def check_workers(workers: int, option: str = "--workers") -> None:
    """Raise :class:`CommandError` unless at least one worker is asked for."""
    if workers < 1:
        raise CommandError(f"{option} must be at least 1")


def check_folder(path: Path) -> None:
    """Raise :class:`CommandError` when ``path`` exists and is not a folder."""
    if path.exists() and not path.is_dir():
        raise CommandError(f"{path} exists and is not a folder")


def measurable_frames(frames: list) -> tuple[list, list]:
    """The frames a per-frame command measures, and the unreadable ones it skips.

    A night's folders also hold calibration frames and masters: only the
    lights are measured, unless there are none (files without IMAGETYP, a
    folder of calibrated frames), then every readable image.
    """
    chosen = [f for f in frames if f.type == "light"] or [f for f in frames if f.hdu >= 0]
    picked = {f.path for f in chosen}
    skipped = [f for f in frames if f.path not in picked and (f.hdu < 0 or f.problems)]
    return chosen, skipped


def add_site_arguments(p: argparse.ArgumentParser, kept: str = "") -> None:
    """``--site LON,LAT[,HEIGHT]`` and ``--site-name``: the observing site where headers give none.

    ``kept`` says where the site is kept (``fluxion run``: the project).
    """
    p.add_argument(
        "--site",
        metavar="LON,LAT[,HEIGHT]",
        help="the observing site, for lights whose headers give none (their SITELAT/SITELONG "
        "or OBSGEO win): longitude and latitude in decimal degrees, longitude EAST-positive "
        "(west of Greenwich is negative), height in metres (default 0)"
        + (f"; {kept}" if kept else "")
        + ". Without a site there is no airmass and BJD_TDB is the geocentre's (up to 21 ms off)",
    )
    p.add_argument("--site-name", default="", metavar="NAME", help="the site's name (with --site)")


def joined_site_value(argv: list[str]) -> list[str]:
    """``argv`` with ``--site -76.94,38.99`` joined into ``--site=-76.94,38.99``.

    West longitudes are negative, and argparse takes a value that starts with
    '-' (and is not a plain number) for an option: the site would be refused
    as missing. A southern ``--dec -05:12:30`` is joined the same way. Only
    the word right after ``--site`` or ``--dec`` is joined.
    """
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word in ("--site", "--dec"):
            value = next(words, None)
            if value is not None and value[:1] == "-" and value[1:2] in set("0123456789."):
                out.append(f"{word}={value}")
                continue
            out.append(word)
            if value is not None:
                out.append(value)
            continue
        out.append(word)
    return out


def observing_site(args: argparse.Namespace) -> ObservingSite | None:
    """``--site`` as an ObservingSite (None when not given), or a one-line error."""
    text = getattr(args, "site", None)
    name = getattr(args, "site_name", "") or ""
    if text is None:
        if name:
            raise CommandError("--site-name needs --site LON,LAT[,HEIGHT]")
        return None
    from fluxion.core.io.site import parse_site

    try:
        return parse_site(text, name)
    except ValueError as exc:
        raise CommandError(f"--site: {exc}") from exc


def target_lights(
    paths: list[Path],
    recursive: bool = True,
    drop_unregistered: bool = False,
    site: ObservingSite | None = None,
) -> TargetFrames:
    """The light frames in ``paths`` ready for tracking, or :class:`CommandError` saying why.

    Check the paths first (:func:`check_paths`).

    Each light keeps the WCS of its header; when one has none, the lights
    are registered on their stars instead (the summary is printed, naming
    the lights that could not be registered). ``site`` (``--site``) fills
    the lights whose headers give none.
    """
    from fluxion.core.targets.inputs import load_target_frames

    try:
        frames = load_target_frames(paths, recursive=recursive, site=site)
    except ValueError as exc:  # FitsReadError included
        raise CommandError(str(exc)) from exc
    for failure in frames.skipped:
        print(f"skipped  {failure}")
    if frames.registration is not None:
        print(f"registration: {frames.registration.summary()}")
    if drop_unregistered and frames.registration is not None and frames.registration.failed:
        # A light that cannot be registered is left out, said; the others go on
        # (a stack or a light curve needs every light it uses placed on the stars).
        from fluxion.core.runtime.failures import shown_name

        failed = frames.registration.failed
        for i in failed:
            why = frames.registration.frames[i].status
            print(f"skipped  {shown_name(frames.files[i])}: not registered on the stars ({why})")
        try:
            frames = frames.without(failed)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if len(frames) < 2:
            raise CommandError("fewer than two lights registered on the stars")
    return frames
