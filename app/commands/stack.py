"""``fluxion stack PATH... [--on stars|target] --out DIR``: shift-and-add stacks."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the command imports its engine where it runs (a fast --help)
    from fluxion.core.registration.transform import FrameTransform

from . import CommandError
from .options import (
    IMAGE_SUFFIXES,
    add_output_arguments,
    add_paths_arguments,
    add_workers_argument,
    check_paths,
    output_file,
    prepare_output,
    recurse,
    target_lights,
)
from .progress import TerminalProgress

NAME = "stack"
HELP = "shift-and-add the lights on the stars or on a moving target's track into one FITS"

#: The stack's name in the ``--out`` folder.
OUTPUT_NAME = "stack.fits"

#: Corner misalignment (px) above which a translation no longer aligns the field.
_MAX_TRANSLATION_RESIDUAL = 0.5


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fluxion.core.stacking.stack import STACK_METHODS

    add_paths_arguments(p, help="folders or FITS files of calibrated lights")
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
    p.add_argument(
        "--photometry", action=argparse.BooleanOptionalAction, default=None,
        help="aperture photometry of the field and the target on the stack, written beside "
        "it as <stack>.phot.ecsv (default: on with --on target)",
    )  # fmt: skip
    p.add_argument("--memory", type=float, default=1024.0, help="memory budget (MB)")
    add_workers_argument(p)
    add_output_arguments(p, what="stack", default_name=OUTPUT_NAME, suffixes=IMAGE_SUFFIXES)


def _offsets(
    args: argparse.Namespace, frames, reference: int
) -> tuple[np.ndarray | list[FrameTransform], str, tuple[float, float] | None]:
    """Alignment of every light (offsets or transforms), a summary and the target on the stack."""
    from fluxion.core.stacking.stack import (
        star_offsets_from_wcs,
        target_offsets,
        translation_residual,
    )

    from .track import predicted_positions

    if args.on == "target":
        if not (args.click or args.positions or args.horizons):
            raise CommandError("--on target needs the track: --click, --positions or --horizons")
        table, summary = predicted_positions(args, frames)
        at = (float(table["x"][reference]), float(table["y"][reference]))
        return target_offsets(table["x"], table["y"], reference), f"on the target ({summary})", at
    if args.click or args.positions or args.horizons:
        raise CommandError("--click/--positions/--horizons need --on target")
    if frames.wcs is not None:
        offsets = star_offsets_from_wcs(frames.wcs, reference)
        residual = translation_residual(frames.wcs, reference, offsets)
        if residual > _MAX_TRANSLATION_RESIDUAL:
            print(f"warning: the field rotates or changes scale: corners misaligned by up to "
                  f"{residual:.1f} px")  # fmt: skip
        return offsets, f"on the stars (WCS; corners within {residual:.2f} px)", None
    from fluxion.core.stacking.stack import StackError, registration_transforms

    try:
        transforms = registration_transforms(frames.registration, reference)
    except StackError as exc:
        raise CommandError(str(exc)) from exc
    return transforms, f"on the stars (registration, no WCS: {frames.registration.summary()})", None


def run(args: argparse.Namespace) -> int:
    from fluxion.core.io.fitsio import FitsReadError, read_header
    from fluxion.core.runtime.pipeline import StepState
    from fluxion.core.stacking.stack import (
        StackError,
        StackParams,
        read_calibrated_light,
        stack_frames,
    )

    check_paths(args.paths)
    output = output_file(args, OUTPUT_NAME, IMAGE_SUFFIXES)
    frames = target_lights(args.paths, recurse(args), drop_unregistered=args.on == "stars")
    n = len(frames)
    reference = n // 2 if args.reference is None else args.reference
    if not 0 <= reference < n:
        raise CommandError(f"--reference {reference}: not in 0..{n - 1}")
    offsets, summary, target_xy = _offsets(args, frames, reference)
    paths = [frames.sequence[k].path for k in frames.indices]
    if any(p.resolve() == output.resolve() for p in paths):
        raise CommandError(f"{output} would overwrite one of the lights")
    progress = TerminalProgress()
    try:
        params = StackParams(method=args.method, clip_sigma=args.sigma,
                             interpolation_order=args.order,
                             subtract_background=args.backsub, memory_mb=args.memory)  # fmt: skip
        times = [frames.sequence[k].exptime for k in frames.indices]
        exptime = None if any(t is None for t in times) else [float(t or 0.0) for t in times]
        with ThreadPoolExecutor(max(1, args.workers)) as pool:
            result = stack_frames(
                lambda i: read_calibrated_light(paths[i]), offsets, params,
                reference=reference, header=read_header(paths[reference])[0],
                files=frames.files, on=args.on, target=args.name, times=frames.times,
                exptime=exptime,
                scratch_dir=output.parent if output.parent.exists() else None,
                state=StepState(progress), executor=pool,
            )  # fmt: skip
    except (StackError, FitsReadError) as exc:
        progress.done()
        raise CommandError(str(exc)) from exc
    progress.done()
    prepare_output(args, output)
    result.write(output)
    for line in result.left_out:
        print(f"left out  {line}")
    n -= len(result.left_out)
    full = int(np.count_nonzero(result.coverage == n))
    print(
        f"{n} lights stacked {summary}, {args.method}; largest shift "
        f"{result.header['SHIFTMAX']:.1f} px; {full} px covered by every light; "
        f"written to {output}"
    )
    if args.photometry or (args.photometry is None and args.on == "target"):
        _photometry(output, frames, result, target_xy)
    return 0


def _photometry(output: Path, frames, result, target_xy) -> None:
    """Aperture photometry on the stack, written beside it, with the stack's noise."""
    from fluxion.core.photometry import PhotometryError
    from fluxion.core.stacking.photometry import measure_stack, write_stack_photometry

    infos = [frames.sequence[k] for k in frames.indices]
    gains = [f.gain for f in infos if f.gain]
    gain = float(np.median(gains)) if len(gains) == len(infos) else None
    if gain is not None and np.ptp(gains) > 0.01 * gain:
        print(f"warning: the lights' gains differ ({min(gains):g}-{max(gains):g} e-/ADU); "
              f"using {gain:g}")  # fmt: skip
    noises = [f.read_noise or 0.0 for f in infos]
    try:
        table = measure_stack(
            result.data, result.coverage, result.header, gain=gain,
            read_noise=float(np.median(noises)), target=target_xy,
        )  # fmt: skip
    except (PhotometryError, ValueError) as exc:
        raise CommandError(f"photometry on the stack failed: {exc}") from exc
    path = write_stack_photometry(table, output)
    unit = "e- over the stack" if gain is not None else "ADU (gain unknown)"
    line = f"photometry: {len(table)} sources, fluxes in {unit}, written to {path}"
    if target_xy is not None:
        row = table[table["is_target"]][0]
        line += (f"; target at ({target_xy[0]:.1f}, {target_xy[1]:.1f}): flux per frame "
                 f"{row['flux_per_frame']:.1f} +- {row['flux_per_frame_err']:.1f}")  # fmt: skip
    print(line)
