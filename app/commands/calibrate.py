"""``fluxion calibrate PATH... --out DIR``: masters and calibrated lights, headless."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from . import CommandError
from .options import (
    add_out_argument,
    add_paths_arguments,
    add_workers_argument,
    check_folder,
    check_paths,
    check_workers,
    recurse,
)
from .progress import TerminalProgress

NAME = "calibrate"
HELP = (
    "build master bias, dark and flat frames from the frames found in PATH and write "
    "one calibrated FITS (with a MASK extension) per light into DIR"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_paths_arguments(p)
    add_out_argument(p)
    p.add_argument(
        "--method",
        choices=("median", "mean"),
        default="median",
        help="combine the calibration frames by median or sigma-clipped mean (default median)",
    )
    p.add_argument("--sigma", type=float, default=3.0, help="clipping threshold of --method mean")
    p.add_argument("--no-cosmic-rays", action="store_true", help="do not search for cosmic rays")
    p.add_argument("--memory", type=int, default=1024, help="memory budget for combining, MB")
    add_workers_argument(p)


def run(args: argparse.Namespace) -> int:
    from fluxion.core.calibration import CalibrationParams, MasterParams, RawFrame
    from fluxion.core.calibration.pairing import missing_summary
    from fluxion.core.calibration.run import build_masters, calibrate_lights
    from fluxion.core.io.folders import prepare_output_folder
    from fluxion.core.io.names import FrameNames
    from fluxion.core.io.sequence import group_frames, scan
    from fluxion.core.runtime.failures import shown_name, shown_text
    from fluxion.core.runtime.pipeline import StepState

    check_paths(args.paths)
    check_workers(args.workers)
    check_folder(args.out)
    out = args.out.resolve()
    progress = TerminalProgress()
    state = StepState(progress)
    frames = scan(args.paths, state=state.sub(0.0, 0.05), recursive=recurse(args))
    groups = group_frames(frames)
    lights = [f for group in groups.lights.values() for f in group]
    if not lights:
        progress.done()
        raise CommandError(f"no light frames among {len(frames)} files")
    inputs = {f.path.resolve().parent for f in lights}
    if out in inputs:
        raise CommandError(f"{args.out} holds the raw frames; choose another output folder")
    # Made (and marked as Fluxion's) before the masters go into it.
    prepare_output_folder(out)

    params = MasterParams(
        method="median" if args.method == "median" else "sigma-clipped mean",
        sigma=args.sigma,
        memory_mb=args.memory,
    )

    # Lights whose names clash go into sub-folders named as their own.
    names = FrameNames.of_night(frames)

    def raw(group):
        return [replace(RawFrame.from_info(f), name=names.file(f.path)) for f in group]

    with ThreadPoolExecutor(args.workers) as pool:
        executor = pool if args.workers > 1 else None
        report = build_masters(
            raw(groups.bias),
            {t: raw(g) for t, g in groups.darks.items()},
            {flt: raw(g) for flt, g in groups.flats.items()},
            params,
            folder=out / "masters",
            executor=executor,
            state=state.sub(0.05, 0.3),
        )
        outcomes = calibrate_lights(
            raw(lights),
            report.masters,
            out,
            CalibrationParams(find_cosmic_rays=not args.no_cosmic_rays),
            executor=executor,
            state=state.sub(0.3, 1.0),
        )
    progress.done()
    for path in report.files:
        print(f"master   {path.relative_to(out)}")
    for problem in report.problems:
        print(f"problem  {problem}")
    failed = 0
    for o in outcomes:
        if o.error:
            failed += 1
            print(f"FAILED   {shown_text(o.name)}: {o.error}")
        else:
            steps = ", ".join(o.applied) or "nothing applied"
            extra = "".join(f"; warning: {w}" for w in o.warnings)
            print(f"light    {shown_text(o.name)}: {steps}; {o.n_masked} px masked{extra}")
    skipped = [f for f in groups.unknown if f.problems]
    for f in skipped:
        print(f"skipped  {shown_name(f.path)}: {'; '.join(f.problems)}")
    # Which lights went without a master, and why (none of that kind, or none
    # of their binning, size, exposure or filter).
    for line in missing_summary((o.name, o.missing) for o in outcomes if not o.error):
        print(f"missing  {line}")
    counts = groups.counts()
    print(
        f"found {counts['light']} lights, {counts['bias']} bias, {counts['dark']} darks, "
        f"{counts['flat']} flats; {len(outcomes) - failed} of {len(outcomes)} lights "
        f"calibrated into {args.out}"
    )
    return 1 if failed else 0
