"""``fluxion transit LIGHTCURVE --out DIR [--period P --t0 T0 | --planet NAME]``.

Fits a transit to a light curve (what ``fluxion lightcurve`` writes, or any
table of ``bjd_tdb, flux, flux_err``) and writes ``DIR/transit.json``, the
model table, the plots' data, the AAVSO Exoplanet Report and an ExoClock
summary. The plots are drawn as PNGs by the window's plotting code when Qt is
installed (off screen; no display needed); the command itself never imports Qt.
The planet's a/Rs and inclination (``--a-rs``, ``--inclination`` or
``--impact``) are held, or priors when given with their errors.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CommandError
from .options import add_out_argument
from .transit_options import (
    add_ephemeris_arguments,
    add_fit_arguments,
    add_star_arguments,
    ephemeris_from_args,
    fit_and_write,
    result_lines,
    transit_params,
)

NAME = "transit"
HELP = "fit an exoplanet transit to a light curve (transit.json, AAVSO and ExoClock reports, plots)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("lightcurve", type=Path, help="light-curve table (ECSV or CSV)")
    add_out_argument(p)
    add_ephemeris_arguments(p)
    add_star_arguments(p)
    add_fit_arguments(p)
    rep = p.add_argument_group("reports")
    rep.add_argument("--obscode", default="", help="AAVSO observer code")
    rep.add_argument("--observer", default="")
    rep.add_argument("--telescope", default="")
    rep.add_argument("--camera", default="")
    rep.add_argument("--exposure", type=float, help="exposure time (s), if the table lacks it")
    rep.add_argument("--no-png", action="store_true", help="write the plots' data only")
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder of cached archive answers (default: the user's cache folder)",
    )


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from fluxion.core.runtime.pipeline import StepState
    from fluxion.core.transit.data import TransitDataError, read_transit_data
    from fluxion.core.transit.outputs import ObservationInfo

    from .progress import TerminalProgress

    out = args.out
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out} exists and is not a folder")
    try:
        data = read_transit_data(args.lightcurve)
    except TransitDataError as exc:
        raise CommandError(str(exc)) from exc
    if args.exposure is not None:
        data = replace(data, exposure_s=args.exposure)
    eph, geometry = ephemeris_from_args(args)
    params = transit_params(args, geometry)
    stellar = {k: getattr(args, k) for k in ("teff", "logg", "feh") if getattr(args, k) is not None}
    info = ObservationInfo(
        planet=eph.name or args.planet or "", obscode=args.obscode, observer=args.observer,
        telescope=args.telescope, camera=args.camera, filter=args.filter or (data.filter or ""),
        exposure_s=data.exposure_s,
    )  # fmt: skip
    progress = TerminalProgress()
    result, paths, plots = fit_and_write(
        data, eph, params, stellar, out, info, what=str(args.lightcurve), png=not args.no_png,
        state=StepState(progress),
    )  # fmt: skip
    progress.done()
    for line in [*result_lines(result), *plots]:
        print(line)
    print(f"written to {out}: {', '.join(sorted(p.name for p in paths.values()))}")
    return 0
