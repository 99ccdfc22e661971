"""``fluxion scan PATH...``: the frame table of a folder, with the problems found."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .options import add_bayer_argument, add_paths_arguments, check_paths, chosen_cfa, recurse

NAME = "scan"
HELP = "list the FITS frames in folders or files with their normalised header facts"

_COLUMNS = (
    ("file", 40),
    ("type", 6),
    ("object", 14),
    ("filter", 7),
    ("exptime", 8),
    ("time_utc", 23),
    ("jd", 15),
    ("time_source", 40),
    ("time_prec", 9),
    ("binning", 7),
    ("gain", 6),
    ("bayer", 5),
    ("ra", 10),
    ("dec", 10),
    ("shape", 11),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_paths_arguments(p, help="folders or FITS files")
    p.add_argument("--json", action="store_true", help="write a JSON list to stdout")
    add_bayer_argument(p)


def _cell(value: object, width: int) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.6f}" if width >= 15 else f"{value:.5g}"
    elif isinstance(value, list | tuple):
        text = "x".join(str(v) for v in value)
    else:
        text = str(value)
    if len(text) > width:
        text = text[: width - 1] + "~"
    return text.ljust(width)


def _common_folder(paths: list[Path]) -> Path | None:
    try:
        # realpath, not resolve(): a symbolic link loop among the files must not raise.
        return Path(os.path.commonpath([os.path.realpath(p.parent) for p in paths]))
    except ValueError:  # different drives on Windows
        return None


def _relative(path: Path, root: Path | None) -> str:
    if root is None:
        return str(path)
    try:
        return (Path(os.path.realpath(path.parent)) / path.name).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def run(args: argparse.Namespace) -> int:
    from fluxion.core.io.folders import walk_inputs
    from fluxion.core.io.obstime import format_precision
    from fluxion.core.io.sequence import scan
    from fluxion.core.runtime.failures import shown_text

    check_paths(args.paths)
    frames = chosen_cfa(scan(args.paths, recursive=recurse(args)), args)
    # Sub-folders left out (hidden, projects, Fluxion's outputs), said once at the end.
    skipped = walk_inputs(args.paths, recursive=recurse(args)).skipped
    rows = [f.to_json_dict() for f in frames]
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    if not rows:
        print("no FITS files found")
        return 1
    # Paths relative to the folder all files share: the table shows names, not
    # the same long prefix on every line.
    root = _common_folder([Path(r["file"]) for r in rows])
    for r in rows:
        r["file"] = shown_text(_relative(Path(r["file"]), root))
        # The card the time came from and the precision it is written to.
        r["time_prec"] = format_precision(r["time_precision_s"]) if r["time_utc"] else None
        r["bayer"] = r["bayer_pattern"]
    print(" ".join(name.ljust(w) for name, w in _COLUMNS))
    for r in rows:
        print(" ".join(_cell(r[name], w) for name, w in _COLUMNS))
    bad = [r for r in rows if r["problems"]]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["type"]] = counts.get(r["type"], 0) + 1
    print()
    print(f"{len(rows)} files: " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())))
    if root is not None:
        print(f"in {root}")
    # Where each gain came from: a card, a camera profile, or the frames themselves.
    gains: dict[str, int] = {}
    for r in rows:
        if r["gain_source"]:
            gains[r["gain_source"]] = gains.get(r["gain_source"], 0) + 1
    for source, n in gains.items():
        print(f"gain of {n} file{'s' if n > 1 else ''}: {source}")
    # Colour frames: the pattern of their stored pixels and what it was read from.
    patterns: dict[str, int] = {}
    for r in rows:
        if r["bayer_pattern"]:
            key = f"{r['bayer_pattern']} from {r['bayer_pattern_source']}"
            patterns[key] = patterns.get(key, 0) + 1
    for source, n in patterns.items():
        print(f"Bayer pattern of {n} file{'s' if n > 1 else ''}: {source}")
    if bad:
        print(f"{len(bad)} with problems:")
        for r in bad:
            print(f"  {r['file']}: {'; '.join(r['problems'])}")
    for folder, reason in skipped:
        print(f"not read: {folder}{os.sep} ({reason})")
    return 0
