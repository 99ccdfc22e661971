"""``fluxion run --transit``: the night's light curve ends with the planet's transit fit.

With ``--transit``, or when a planet is named (``--planet``, or ``--period``
and ``--t0``), the run fits the transit to the light curve it has just made,
as ``fluxion transit PROJECT/lightcurve.ecsv`` would, and writes the same
products into ``PROJECT/transit``. The ephemeris is resolved before the night
is measured, so a wrong planet name or a missing T0 stops the run at once,
not after the night. The run's notes say the result (Rp/Rs, depth, mid-time,
chi2/N) or why there is none.

The ephemeris and geometry mode the fit used are kept in the project (the
``run`` result's summary, ``transit``): a later ``fluxion run`` of the same
project fits the transit again without ``--transit`` or ``--planet``, and
one with a new ephemeris refits (the night's products are current, so only
the fit is redone).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import CommandError
from .transit_options import (
    add_ephemeris_arguments,
    add_fit_arguments,
    add_star_arguments,
    ephemeris_from_args,
    fit_and_write,
    result_lines,
    transit_params,
)

__all__ = [
    "TRANSIT_FOLDER",
    "add_transit_arguments",
    "check_transit",
    "keep_transit",
    "run_transit_fit",
]

#: The fit's products inside the project.
TRANSIT_FOLDER = "transit"


def add_transit_arguments(p: argparse.ArgumentParser) -> None:
    """``--transit`` and the transit command's ephemeris, geometry, star and fit options."""
    p.add_argument(
        "--transit",
        action="store_true",
        help="fit the planet's transit to the light curve (PROJECT/transit: transit.json, "
        "reports, plots), as 'fluxion transit' does; implied by --planet or --period/--t0",
    )
    add_ephemeris_arguments(p)
    add_star_arguments(p)
    add_fit_arguments(p)


def check_transit(args: argparse.Namespace) -> None:
    """Resolve the ephemeris before the night is run (``args.transit_ephemeris``).

    Sets ``args.transit_ephemeris`` to (Ephemeris, geometry mode), or None when
    no transit is asked for.
    """
    named = bool(args.planet) or args.period is not None or args.t0 is not None
    geometry_given = any(x is not None for x in (args.a_rs, args.inclination, args.impact))
    args.transit_ephemeris = None
    if not (args.transit or named or geometry_given):
        # The planet a previous run of this project fitted, if any.
        args.transit_ephemeris = _stored_transit(args.project)
        return
    if args.ra is None and args.target is None and args.positions is None:
        raise CommandError("--transit needs the target: --ra/--dec")
    if not named:
        raise CommandError("--transit needs the planet: --planet NAME, or --period and --t0")
    args.transit_ephemeris = ephemeris_from_args(args)


def run_transit_fit(args: argparse.Namespace, light_curve, project: Path) -> list[str]:
    """Fit the run's light curve; the lines for the notes (the result, or why none).

    Never raises for the fit itself: the night is measured whatever becomes
    of the fit, and the notes say why it was not fitted.
    """
    from fluxion.core.transit.data import TransitDataError, transit_data_from_table
    from fluxion.core.transit.outputs import ObservationInfo

    if args.transit_ephemeris is None:
        return []
    if light_curve is None:
        return ["transit: not fitted: the run made no light curve (see the notes above)"]
    eph, geometry = args.transit_ephemeris
    try:
        data = transit_data_from_table(light_curve, "the light curve")
    except TransitDataError as exc:
        return [f"transit: not fitted: {exc}"]
    stellar = {k: getattr(args, k) for k in ("teff", "logg", "feh") if getattr(args, k) is not None}
    info = ObservationInfo(
        planet=eph.name or args.planet or "", filter=args.filter or (data.filter or ""),
        exposure_s=data.exposure_s,
    )  # fmt: skip
    out = project / TRANSIT_FOLDER
    try:
        result, _, plots = fit_and_write(
            data, eph, transit_params(args, geometry), stellar, out, info,
            what="the light curve", png=not args.no_report,
        )  # fmt: skip
    except CommandError as exc:
        return [f"transit: not fitted: {exc}"]
    v, e = result.values, result.errors
    sigma_c = result.timing["o_minus_c_err_min"]
    head = (
        f"transit: Rp/Rs {v['rp_rs']:.4f} +/- {e['rp_rs']:.4f}, depth "
        f"{v['depth'] * 100:.2f} +/- {e['depth'] * 100:.2f} %, mid-time {v['tmid']:.5f} +/- "
        f"{e['tmid']:.5f} BJD_TDB (O-C {result.timing['o_minus_c_min']:+.1f} +/- {sigma_c:.1f} "
        f"min), chi2/N {result.noise_scale**2:.2f} before the errors were scaled; {out}"
    )
    return [head, *(f"transit: {line}" for line in result_lines(result)), *plots]


def keep_transit(project, args: argparse.Namespace) -> None:
    """Keep the run's ephemeris and geometry mode in ``project`` (unsaved), for the next run."""
    run = project.results.get("run")
    if run is None or args.transit_ephemeris is None:
        return
    eph, geometry = args.transit_ephemeris
    run.summary["transit"] = {"ephemeris": eph.to_dict(), "geometry": geometry}


def _stored_transit(folder: Path) -> tuple | None:
    """The (Ephemeris, geometry mode) a previous run kept in the project, or None."""
    from fluxion.core.project.document import Project, ProjectError, is_project
    from fluxion.core.transit.ephemeris import Ephemeris

    if not is_project(folder):
        return None
    try:
        run = Project.load(folder).results.get("run")
        kept = run.summary.get("transit") if run is not None else None
        if not isinstance(kept, dict):
            return None
        return Ephemeris(**kept["ephemeris"]), str(kept["geometry"])
    except (ProjectError, OSError, KeyError, TypeError, ValueError) as exc:
        print(f"the project's transit ephemeris is not used: {exc}", file=sys.stderr)
        return None
