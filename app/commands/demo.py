"""``fluxion demo OUTDIR`` (or ``--out DIR``): write the simulated classroom night."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CommandError
from .progress import TerminalProgress

NAME = "demo"
HELP = "write a simulated night (lights, bias, darks, flats, truth) into OUTDIR"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fluxion.core.simulation.lessons import DIFFICULTIES, KINDS

    p.add_argument(
        "outdir", type=Path, nargs="?", help="folder to write (created if needed); or --out DIR"
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="the same as OUTDIR")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed: each student's own night, as hard as the others' (default: the demo's)",
    )
    p.add_argument(
        "--kind",
        choices=KINDS,
        default="mixed",
        help="what the night is for: asteroid (track, rotation), transit (mid-time, depth), "
        "variable (an eclipsing binary's eclipses and period), supernova (galaxies, one "
        "with a supernova) or mixed (the classroom demo, the default)",
    )
    p.add_argument(
        "--difficulty",
        choices=DIFFICULTIES,
        default="normal",
        help="easy (sharp seeing, sparse field, bright target), normal (the default) or hard "
        "(poor changing seeing, passing clouds, a crowded field, a faint target, dawn at the "
        "end, no flat frames)",
    )
    p.add_argument("--frames", type=int, default=None, help="number of light frames")
    p.add_argument(
        "--size",
        type=int,
        nargs=2,
        metavar=("W", "H"),
        default=None,
        help="frame width and height in pixels",
    )
    p.add_argument(
        "--layout",
        choices=("flat", "nina", "observatory"),
        default=None,
        help="how the frames are filed: flat (one folder, the default), nina (a date "
        "folder with LIGHT/ DARK/ FLAT/ BIAS/ and N.I.N.A.'s file names) or observatory "
        "(zero/ dark/ flat/ and a folder per target, numbered files typed by folder only)",
    )
    p.add_argument(
        "--colour",
        "--color",
        nargs="?",
        const="RGGB",
        default=None,
        type=str.upper,
        choices=("RGGB", "BGGR", "GRBG", "GBRG"),
        metavar="PATTERN",
        help="a one-shot-colour camera: the lights and flats are Bayer mosaics of this "
        "pattern (default RGGB); the catalog gains Cousins R",
    )
    p.add_argument(
        "--write-wcs",
        action="store_true",
        help="write the exact WCS into the light headers (default: a pointing hint only)",
    )


def run(args: argparse.Namespace) -> int:
    from fluxion.core.runtime.pipeline import StepState
    from fluxion.core.simulation.lessons import lesson_config, simulate_lesson

    overrides = {}
    if args.frames is not None:
        if args.frames < 1:
            raise CommandError("--frames must be at least 1")
        overrides["n_frames"] = args.frames
    if args.size is not None:
        w, h = args.size
        if w < 64 or h < 64:
            raise CommandError("--size must be at least 64 x 64 pixels")
        overrides["shape"] = (h, w)
    if args.write_wcs:
        overrides["write_wcs"] = True
    if args.layout is not None:
        overrides["layout"] = args.layout
    if args.colour is not None:
        overrides["bayer_pattern"] = args.colour
    try:
        lesson_config(args.kind, args.difficulty, args.seed, **overrides)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if (args.outdir is None) == (args.out is None):
        raise CommandError("give the folder to write: OUTDIR or --out DIR (one of them)")
    out = args.out if args.out is not None else args.outdir
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out} exists and is not a folder")

    progress = TerminalProgress()
    try:
        truth = simulate_lesson(
            out, args.kind, args.difficulty, args.seed, state=StepState(progress), **overrides
        )
    except OSError as exc:
        raise CommandError(f"cannot write the night into {out}: {exc}") from exc
    except ValueError as exc:  # e.g. a night so long that the field sets
        raise CommandError(str(exc)) from exc
    progress.done()
    print(f"wrote {truth.summary()} to {out}")
    if (args.kind, args.difficulty) != ("mixed", "normal"):
        print(f"a {args.difficulty} {args.kind} night; its truth is in {out / 'truth'}")
    return 0
