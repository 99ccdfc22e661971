"""``fluxion stack PATH... [--on stars|target] -o stack.fits``: shift-and-add stacks."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import CommandError
from .options import add_workers_argument, check_paths, target_lights
from .progress import TerminalProgress

NAME = "stack"
HELP = "shift-and-add the lights on the stars or on a moving target's track into one FITS"

#: Corner misalignment (px) above which a translation no longer aligns the field.
_MAX_TRANSLATION_RESIDUAL = 0.5


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fluxion.core.stack import STACK_METHODS

    p.add_argument("paths", type=Path, nargs="+", help="folders or FITS files of calibrated lights")
    p.add_argument("--on", choices=("stars", "target"), default="stars",
                   help="align on the stars (default) or on the target's track")  # fmt: skip
    p.add_argument(
        "--click", action="append", default=[], metavar="FRAME,X,Y",
        help="(--on target) the target at pixel X,Y (0-based) in light FRAME; repeat",
    )  # fmt: skip
    p.add_argument("--as-clicked", action="store_true", help="do not centroid the clicks")
    p.add_argument("--positions", type=Path, help="(--on target) the track's positions file")
    p.add_argument("--horizons", metavar="NAME", help="(--on target) track from JPL Horizons")
    p.add_argument("--obscode", help="MPC observatory code for Horizons (else the site)")
    p.add_argument("--name", default="", help="target name written in the header")
    p.add_argument("--method", choices=STACK_METHODS, default="clipped",
                   help="combination (default clipped: sigma-clipped mean)")  # fmt: skip
    p.add_argument("--sigma", type=float, default=3.0, help="clipping threshold (sigma)")
    p.add_argument("--order", type=int, choices=(1, 3), default=3,
                   help="spline order of the sub-pixel shift (default 3)")  # fmt: skip
    p.add_argument("--backsub", action="store_true", help="subtract each frame's sky first")
    p.add_argument(
        "--reference", type=int, help="light (0-based) whose grid is used; default middle"
    )
    p.add_argument("--memory", type=float, default=1024.0, help="memory budget (MB)")
    add_workers_argument(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="the stack (.fits)")


def _offsets(args: argparse.Namespace, frames, reference: int) -> tuple[np.ndarray, str]:
    """Alignment offsets of every light and a one-line summary."""
    from fluxion.core.stack import star_offsets_from_wcs, target_offsets, translation_residual

    from .track import predicted_positions

    if args.on == "target":
        if not (args.click or args.positions or args.horizons):
            raise CommandError("--on target needs the track: --click, --positions or --horizons")
        table, summary = predicted_positions(args, frames)
        return target_offsets(table["x"], table["y"], reference), f"on the target ({summary})"
    if args.click or args.positions or args.horizons:
        raise CommandError("--click/--positions/--horizons need --on target")
    if frames.wcs is not None:
        offsets = star_offsets_from_wcs(frames.wcs, reference)
        residual = translation_residual(frames.wcs, reference, offsets)
        if residual > _MAX_TRANSLATION_RESIDUAL:
            print(f"warning: the field rotates or changes scale: corners misaligned by up to "
                  f"{residual:.1f} px")  # fmt: skip
        return offsets, f"on the stars (WCS; corners within {residual:.2f} px)"
    return frames.offsets - frames.offsets[reference], "on the stars (field offsets, no WCS)"


def run(args: argparse.Namespace) -> int:
    from fluxion.core.fitsio import FitsReadError, read_header
    from fluxion.core.pipeline import StepState
    from fluxion.core.stack import StackError, StackParams, read_calibrated_light, stack_frames

    check_paths(args.paths)
    if args.output.suffix.lower() not in (".fits", ".fit", ".fts"):
        raise CommandError(f"--output {args.output}: give a .fits file name")
    frames = target_lights(args.paths)
    n = len(frames)
    reference = n // 2 if args.reference is None else args.reference
    if not 0 <= reference < n:
        raise CommandError(f"--reference {reference}: not in 0..{n - 1}")
    offsets, summary = _offsets(args, frames, reference)
    paths = [frames.sequence[k].path for k in frames.indices]
    if any(p.resolve() == args.output.resolve() for p in paths):
        raise CommandError("--output would overwrite one of the lights")
    progress = TerminalProgress()
    try:
        params = StackParams(method=args.method, clip_sigma=args.sigma,
                             interpolation_order=args.order,
                             subtract_background=args.backsub, memory_mb=args.memory)  # fmt: skip
        exptime = [frames.sequence[k].exptime for k in frames.indices]
        with ThreadPoolExecutor(max(1, args.workers)) as pool:
            result = stack_frames(
                lambda i: read_calibrated_light(paths[i]), offsets, params,
                reference=reference, header=read_header(paths[reference])[0],
                files=frames.files, on=args.on, target=args.name, times=frames.times,
                exptime=None if None in exptime else exptime,
                scratch_dir=args.output.parent if args.output.parent.exists() else None,
                state=StepState(progress), executor=pool,
            )  # fmt: skip
    except (StackError, FitsReadError) as exc:
        progress.done()
        raise CommandError(str(exc)) from exc
    progress.done()
    result.write(args.output)
    full = int(np.count_nonzero(result.coverage == n))
    print(
        f"{n} lights stacked {summary}, {args.method}; largest shift "
        f"{result.header['SHIFTMAX']:.1f} px; {full} px covered by every light; "
        f"written to {args.output}"
    )
    return 0
