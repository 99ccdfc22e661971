"""``fluxion transients PATH --project DIR``: what is new in a night, and a target's limits.

Works on the project ``fluxion run`` makes of PATH (made first when DIR is
not a project yet): a template (the night's sharpest frames, ``--template
FILE`` or ``--survey``) subtracted from every light with ZOGY, candidates on
the differences and against the catalogue, known asteroids rejected with
``--skybot``; with ``--ra/--dec`` forced photometry on every difference with
limiting magnitudes. Writes ``candidates.ecsv`` and ``forced.ecsv`` into
DIR (or ``--out``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CommandError
from .options import add_workers_argument, check_folder, check_paths, check_workers
from .progress import TerminalProgress

NAME = "transients"
HELP = (
    "transient search on a night: template subtraction (ZOGY) and catalogue comparison; "
    "with --ra/--dec forced photometry with limits (candidates.ecsv, forced.ecsv)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, help="the night's raw frames (folders or files)")
    p.add_argument(
        "--project", type=Path, required=True,
        help="project folder (made with 'fluxion run' when it is not one yet)",
    )  # fmt: skip
    source = p.add_mutually_exclusive_group()
    source.add_argument("--template", type=Path, default=None,
                        help="reference image (FITS with a WCS) as the template")  # fmt: skip
    source.add_argument(
        "--survey", nargs="?", const="CDS/P/DSS2/red", default=None, metavar="HIPS",
        help="a survey cutout from CDS hips2fits as the template (default CDS/P/DSS2/red)",
    )  # fmt: skip
    p.add_argument(
        "--template-frames", type=int, default=0,
        help="sharpest frames stacked into the night's template (0: a third)",
    )  # fmt: skip
    p.add_argument("--ra", type=float, default=None, help="target RA in degrees (with --dec)")
    p.add_argument("--dec", type=float, default=None, help="target Dec in degrees (with --ra)")
    p.add_argument("--sigma", type=float, default=5.0,
                   help="forced photometry: detection S/N and limit (default 5)")  # fmt: skip
    p.add_argument("--threshold", type=float, default=5.0,
                   help="detection threshold on the difference (sigma, default 5)")  # fmt: skip
    p.add_argument("--no-difference", action="store_true", help="no template subtraction")
    p.add_argument("--no-catalogue", action="store_true", help="no catalogue comparison")
    p.add_argument("--skybot", action="store_true",
                   help="reject known Solar System objects (SkyBoT, cached)")  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the project)")
    p.add_argument("--top", type=int, default=10, help="candidates to list")
    add_workers_argument(p)


def _ensure_project(args: argparse.Namespace) -> None:
    from fluxion.core.project.document import is_project

    if is_project(args.project):
        return
    from fluxion.app.cli import main

    print(f"{args.project} is not a project yet: running 'fluxion run' first")
    argv = ["run", *(str(p) for p in args.paths), "--project", str(args.project),
            "--workers", str(args.workers), "--no-report"]  # fmt: skip
    status = main(argv)
    if status != 0:
        raise CommandError(f"'fluxion run' on {args.paths[0]} failed; no transient search")


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from fluxion.core.chain.transients import TransientStepParams, project_transients
    from fluxion.core.project.document import Project, ProjectError
    from fluxion.core.runtime.pipeline import StepState
    from fluxion.core.transients.night import write_transients

    check_paths(args.paths)
    check_workers(args.workers)
    check_folder(args.project)
    if (args.ra is None) != (args.dec is None):
        raise CommandError("give both --ra and --dec (degrees), or neither")
    if args.no_difference and args.no_catalogue:
        raise CommandError("--no-difference and --no-catalogue leave nothing to search")
    if args.ra is not None and not (0.0 <= args.ra < 360.0 and -90.0 <= args.dec <= 90.0):
        raise CommandError(f"--ra {args.ra} --dec {args.dec}: not a sky position in degrees")
    if args.template is not None and not args.template.is_file():
        raise CommandError(f"{args.template}: no such template file")
    out = args.out if args.out is not None else args.project
    check_folder(out)
    _ensure_project(args)
    try:
        project = Project.load(args.project)
    except (ProjectError, OSError, ValueError) as exc:
        raise CommandError(f"{args.project}: {exc}") from exc
    kind = "file" if args.template is not None else "survey" if args.survey else "night"
    params = TransientStepParams(
        template=kind, template_file=str(args.template or ""), survey=args.survey or "",
        n_template=max(args.template_frames, 0), threshold=args.threshold,
        difference=not args.no_difference, catalogue=not args.no_catalogue,
        limit_sigma=args.sigma, skybot=args.skybot,
        target=f"{args.ra} {args.dec}" if args.ra is not None else "",
    )  # fmt: skip
    progress = TerminalProgress()
    try:
        with ThreadPoolExecutor(args.workers) as pool:
            found = project_transients(
                project, params, executor=pool if args.workers > 1 else None,
                state=StepState(progress),
            )  # fmt: skip
    except ValueError as exc:
        progress.done()
        raise CommandError(f"{args.project}: {exc}") from exc
    result = found.result
    try:
        paths = write_transients(result, out)
    except OSError as exc:
        raise CommandError(f"cannot write into {out}: {exc}") from exc
    progress.done()
    for line in found.notes:
        print(f"note: {line}")
    if result.template is not None:
        print(f"template: {result.template.source}")
    cand = result.candidates
    accepted = cand[cand["accepted"]]
    # Group numbers are each mode's own: an object is a (mode, group) pair.
    keys = [(str(m), int(g)) for m, g in zip(accepted["mode"], accepted["group"], strict=True)]
    groups = list(dict.fromkeys(keys))
    print(
        f"{len(found.frames)} lights searched; {len(accepted)} accepted detections of "
        f"{len(groups)} object(s), {len(cand) - len(accepted)} rejected"
    )
    for mode, g in groups[: max(args.top, 0)]:
        rows = accepted[(accepted["group"] == g) & (accepted["mode"] == mode)]
        best = rows[int(np.argmax(rows["score"]))]
        mags = np.asarray(rows["mag"], float)
        mag = ""
        if np.isfinite(mags).any():
            mag = f", mag {np.nanmin(mags):.2f}-{np.nanmax(mags):.2f}"
        print(
            f"  RA {best['ra']:.5f} Dec {best['dec']:+.5f} ({best['x']:.0f}, {best['y']:.0f}): "
            f"{best['mode']}, {len(rows)} frame(s), score up to {best['score']:.0f}{mag}"
        )
    if result.forced is not None:
        f = result.forced
        print(
            f"target: detected in {int(np.sum(f['detected']))} of {len(f)} lights; "
            f"median {args.sigma:g}-sigma limit {np.nanmedian(f['limit_mag']):.2f} mag"
        )
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0
