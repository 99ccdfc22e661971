"""``fluxion run --transit``: the night's light curve ends with the planet's transit fit.

With ``--transit``, or when a planet is named (``--planet``, or ``--period``
and ``--t0``), the run fits the transit to the light curve it has just made,
as ``fluxion transit PROJECT/lightcurve.ecsv`` would, and writes the same
products into ``PROJECT/transit``. The ephemeris is resolved before the night
is measured, so a wrong planet name or a missing T0 stops the run at once,
not after the night. The run's notes say the result (Rp/Rs, depth, mid-time,
chi2/N) or why there is none.

The ephemeris, geometry mode, star and fit options the fit used are kept in
the project (the ``run`` result's summary, ``transit``): a later ``fluxion
run`` of the same project fits the same way without ``--transit``,
``--planet`` or any of them. An option given again replaces its kept value
only (the others stay), as the run's other kept options do. The fit's
inputs (the light curve's columns, the ephemeris, the options) are
fingerprinted: a run that changes none of them keeps the fit as it is (its
notes repeat the kept result), and one that changes a fit option redoes the
fit only (the night's products are current).
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
    "FIT_OPTIONS",
    "TRANSIT_FOLDER",
    "add_transit_arguments",
    "check_transit",
    "keep_transit",
    "run_transit_fit",
]

#: The fit's products inside the project.
TRANSIT_FOLDER = "transit"

#: The star and fit options a run keeps for the next (``args`` attribute names).
FIT_OPTIONS = (
    "filter", "teff", "logg", "feh", "mcmc_steps", "burn", "max_regressors", "limb_darkening",
    "seed",
)  # fmt: skip


def _option_defaults() -> dict:
    """The transit command's defaults of :data:`FIT_OPTIONS`."""
    p = argparse.ArgumentParser(add_help=False)
    add_star_arguments(p)
    add_fit_arguments(p)
    return {k: p.get_default(k) for k in FIT_OPTIONS}


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
    # None: not given, so a kept value (or the transit command's default) is taken.
    p.set_defaults(**dict.fromkeys(FIT_OPTIONS))


def check_transit(args: argparse.Namespace) -> None:
    """Resolve the ephemeris before the night is run (``args.transit_ephemeris``).

    Sets ``args.transit_ephemeris`` to (Ephemeris, geometry mode), or None when
    no transit is asked for.
    """
    named = bool(args.planet) or args.period is not None or args.t0 is not None
    geometry_given = any(x is not None for x in (args.a_rs, args.inclination, args.impact))
    args.transit_ephemeris = None
    kept = _stored_transit(args.project)
    _resolve_options(args, kept[2] if kept is not None else {})
    if not (args.transit or named or geometry_given):
        # The planet a previous run of this project fitted, if any.
        args.transit_ephemeris = kept[:2] if kept is not None else None
        return
    if args.ra is None and args.target is None and args.positions is None:
        raise CommandError("--transit needs the target: --ra/--dec")
    if not named:
        raise CommandError("--transit needs the planet: --planet NAME, or --period and --t0")
    args.transit_ephemeris = ephemeris_from_args(args)


def _resolve_options(args: argparse.Namespace, kept: dict) -> None:
    """Each star and fit option not given: the kept value, else the transit command's default."""
    defaults = _option_defaults()
    for key in FIT_OPTIONS:
        if getattr(args, key, None) is None:
            setattr(args, key, kept.get(key, defaults[key]))


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
    args.transit_fingerprint = _fit_fingerprint(args, light_curve)
    kept = _kept_fit(project, args.transit_fingerprint)
    if kept is not None:
        return kept
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
    args.transit_lines = [head, *(f"transit: {line}" for line in result_lines(result)), *plots]
    return list(args.transit_lines)


def _fit_fingerprint(args: argparse.Namespace, light_curve) -> str:
    """What the fit depends on: the curve's columns, the ephemeris, geometry and options."""
    import hashlib

    import numpy as np

    from fluxion.core.project.products import fingerprint

    digest = hashlib.sha256()
    for name in light_curve.colnames:
        values = np.asarray(light_curve[name])
        if values.dtype.kind == "f":
            # To 7 digits: a re-run derives the target's positions again through the
            # stored WCS, which moves them by ~1e-9 px; a changed curve moves far more.
            values = values.astype(np.float32)
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    eph, geometry = args.transit_ephemeris
    options = {k: getattr(args, k) for k in FIT_OPTIONS}
    return fingerprint(digest.hexdigest(), eph.to_dict(), geometry, options, not args.no_report)


def _kept_fit(folder: Path, fp: str) -> list[str] | None:
    """The kept fit's notes when its fingerprint is ``fp`` and its products are there."""
    run = _kept_run(folder)
    kept = run.summary.get("transit") if run is not None else None
    if not isinstance(kept, dict) or kept.get("fingerprint") != fp:
        return None
    lines = kept.get("lines")
    if not (folder / TRANSIT_FOLDER / "transit.json").is_file() or not isinstance(lines, list):
        return None
    return [str(x) for x in lines]


def keep_transit(project, args: argparse.Namespace) -> None:
    """Keep the run's ephemeris, geometry mode, star and fit options in ``project`` (unsaved).

    With them, the fit's fingerprint and its notes when it was fitted (or was
    current): the next run leaves a current fit as it is.
    """
    run = project.results.get("run")
    if run is None or args.transit_ephemeris is None:
        return
    eph, geometry = args.transit_ephemeris
    kept = {
        "ephemeris": eph.to_dict(), "geometry": geometry,
        "options": {k: getattr(args, k) for k in FIT_OPTIONS},
    }  # fmt: skip
    lines = getattr(args, "transit_lines", None)
    fp = getattr(args, "transit_fingerprint", None)
    before = run.summary.get("transit")
    if lines is None and isinstance(before, dict) and before.get("fingerprint") == fp:
        # Not fitted this time: the kept fit was current (a failed fit is not kept).
        lines = before.get("lines")
    if lines is not None and fp is not None:
        kept["fingerprint"], kept["lines"] = fp, list(lines)
    run.summary["transit"] = kept


def _kept_run(folder: Path):
    """The project's ``run`` result, or None (no project, or none kept)."""
    from fluxion.core.project.document import Project, ProjectError, is_project

    if not is_project(folder):
        return None
    try:
        return Project.load(folder).results.get("run")
    except (ProjectError, OSError) as exc:
        print(f"the project's transit fit is not used: {exc}", file=sys.stderr)
        return None


def _stored_transit(folder: Path) -> tuple | None:
    """The (Ephemeris, geometry mode, options) a previous run kept in the project, or None."""
    from fluxion.core.transit.ephemeris import Ephemeris

    run = _kept_run(folder)
    try:
        kept = run.summary.get("transit") if run is not None else None
        if not isinstance(kept, dict):
            return None
        options = kept.get("options", {})
        if not isinstance(options, dict):
            raise TypeError("its options are not a mapping")
        options = {k: v for k, v in options.items() if k in FIT_OPTIONS}
        return Ephemeris(**kept["ephemeris"]), str(kept["geometry"]), options
    except (KeyError, TypeError, ValueError) as exc:
        print(f"the project's transit ephemeris is not used: {exc}", file=sys.stderr)
        return None
