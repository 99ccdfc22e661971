"""``fluxion detect PATH... --out DIR``: one source catalog (ECSV) per frame, headless."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

from . import CommandError
from .options import (
    add_out_argument,
    add_paths_arguments,
    add_workers_argument,
    check_folder,
    check_paths,
    check_workers,
    measurable_frames,
    recurse,
)
from .progress import TerminalProgress

NAME = "detect"
HELP = (
    "detect sources in frames (raw or calibrated) and write one ECSV per frame into DIR "
    "with x, y, flux, flux_err, fwhm, flags and the frame's FWHM and sky"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_paths_arguments(p, help="folders or FITS files")
    add_out_argument(p)
    from fluxion.core.detection.extract import DetectionParams

    # The defaults are the step's own, as the window and `fluxion run` use them.
    d = DetectionParams()
    p.add_argument(
        "--threshold",
        type=float,
        default=d.snr_threshold,
        help=f"detection threshold, S/N of the filtered image (default {d.snr_threshold:g})",
    )
    p.add_argument(
        "--min-area",
        type=int,
        default=d.min_area,
        help=f"least pixels of a source (default {d.min_area})",
    )
    p.add_argument(
        "--mesh",
        type=int,
        default=d.mesh_size,
        help=f"background mesh size, px (default {d.mesh_size})",
    )
    add_workers_argument(p)


def run(args: argparse.Namespace) -> int:
    from fluxion.core.detection.batch import detect_files
    from fluxion.core.detection.extract import Detection, DetectionParams
    from fluxion.core.io.names import FrameNames
    from fluxion.core.io.sequence import scan
    from fluxion.core.runtime.failures import shown_name, shown_text
    from fluxion.core.runtime.pipeline import StepState

    check_paths(args.paths)
    check_workers(args.workers)
    check_folder(args.out)
    try:
        params = DetectionParams(
            snr_threshold=args.threshold, min_area=args.min_area, mesh_size=args.mesh
        )
        step = Detection(params)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    progress = TerminalProgress()
    state = StepState(progress)
    frames = scan(args.paths, state=state.sub(0.0, 0.05), recursive=recurse(args))
    chosen, unreadable = measurable_frames(frames)
    if not chosen:
        progress.done()
        raise CommandError(f"no readable images among {len(frames)} files")
    names = FrameNames.of(f.path for f in chosen)
    with ThreadPoolExecutor(args.workers) as pool:
        outcomes = detect_files(
            [f.path for f in chosen],
            step,
            args.out,
            executor=pool if args.workers > 1 else None,
            state=state.sub(0.05, 1.0),
            names=names,
        )
    progress.done()
    print(f"{'frame':40s} {'sources':>7s} {'fwhm':>6s} {'spread':>6s} {'sky':>10s} {'noise':>8s}")
    failed = 0
    for o in outcomes:
        if o.error:
            failed += 1
            print(f"{shown_text(names.file(o.path)):40.40s} FAILED: {o.error}")
            continue
        print(
            f"{shown_text(names.file(o.path)):40.40s} {o.n_sources:7d} {o.fwhm:6.2f} "
            f"{o.fwhm_spread:6.2f} {o.sky:10.2f} {o.sky_noise:8.2f}"
        )
    for f in unreadable:
        print(f"skipped  {shown_name(f.path)}: {'; '.join(f.problems)}")
    print(f"{len(outcomes) - failed} of {len(outcomes)} frames written to {args.out}")
    return 1 if failed else 0
