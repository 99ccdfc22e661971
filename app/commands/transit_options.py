"""The transit fit's options and its products, shared by ``fluxion transit`` and ``fluxion run``.

The planet's ephemeris (``--planet`` or ``--period``/``--t0``), its geometry
(``--a-rs``, ``--inclination`` or ``--impact``, each held or with an error as
a prior), the star and the fit's settings; then the fit of a light curve and
its products (``transit.json``, the model, the AAVSO and ExoClock reports,
the plots) with the lines that say the result.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from dataclasses import replace
from pathlib import Path

from . import CommandError

__all__ = [
    "add_ephemeris_arguments",
    "add_fit_arguments",
    "add_star_arguments",
    "ephemeris_from_args",
    "fit_and_write",
    "result_lines",
    "transit_params",
]

#: How a given a/Rs or inclination is written.
_VALUE_HELP = "held; with an error (e.g. {ex}) a Gaussian prior"


def add_ephemeris_arguments(p: argparse.ArgumentParser) -> None:
    """The planet: an archive name or period and T0, and its geometry."""
    eph = p.add_argument_group("ephemeris (one of)")
    eph.add_argument("--planet", help="planet name, looked up in the NASA Exoplanet Archive")
    eph.add_argument("--name", default="", help="planet name for the reports (no archive look-up)")
    eph.add_argument("--period", type=float, help="orbital period (days)")
    eph.add_argument("--t0", type=float, help="a mid-transit time (BJD_TDB)")
    eph.add_argument("--period-err", type=float, default=0.0, help="period error (days)")
    eph.add_argument("--t0-err", type=float, default=0.0, help="T0 error (days)")
    eph.add_argument("--refresh", action="store_true", help="ask the archive again (not the cache)")
    geo = p.add_argument_group(
        "geometry (published values; without them and without --planet one night's fit "
        "of a/Rs and b may settle on a grazing transit)"
    )
    geo.add_argument(
        "--a-rs", metavar="A[+-ERR]", help=f"a/Rs, {_VALUE_HELP.format(ex='10.5+-0.3')}"
    )
    incl = geo.add_mutually_exclusive_group()
    incl.add_argument(
        "--inclination",
        metavar="DEG[+-ERR]",
        help=f"orbital inclination in degrees, {_VALUE_HELP.format(ex='88.4+-0.5')}",
    )
    incl.add_argument(
        "--impact",
        metavar="B[+-ERR]",
        help=f"impact parameter instead of the inclination (needs a/Rs), "
        f"{_VALUE_HELP.format(ex='0.3+-0.1')}",
    )


def add_star_arguments(p: argparse.ArgumentParser) -> None:
    """The host star and the filter, for limb darkening."""
    star = p.add_argument_group("star and filter (limb darkening)")
    star.add_argument("--filter", default="", help="filter (V, R, SR, ...) for limb darkening")
    star.add_argument("--teff", type=float, help="host star's effective temperature (K)")
    star.add_argument("--logg", type=float, help="host star's log g (cgs)")
    star.add_argument("--feh", type=float, help="host star's [Fe/H]")


def add_fit_arguments(p: argparse.ArgumentParser) -> None:
    """The fit's settings."""
    fit = p.add_argument_group("transit fit")
    fit.add_argument("--mcmc-steps", type=int, default=5000, help="emcee steps (0: least squares)")
    fit.add_argument("--burn", type=int, default=1500, help="emcee burn-in steps")
    fit.add_argument("--max-regressors", type=int, default=3, help="most detrending terms at once")
    fit.add_argument(
        "--geometry",
        choices=("auto", "prior", "free", "fixed"),
        default="auto",
        help="a/Rs and inclination (the archive's or --a-rs/--inclination's): priors when "
        "they come with errors, held when without, fitted when none is known (auto, the "
        "default); always priors, starting points only, or always held",
    )
    fit.add_argument("--limb-darkening", choices=("prior", "free", "fixed"), default="prior")
    fit.add_argument("--seed", type=int, default=1)


def _cache_dir(args: argparse.Namespace) -> Path:
    from fluxion.core.transit.archive import default_cache_dir

    cache = getattr(args, "cache", None)
    return cache if cache is not None else default_cache_dir()


def _archive_or_user(args: argparse.Namespace):
    from fluxion.core.transit.archive import archive_ephemeris
    from fluxion.core.transit.ephemeris import Ephemeris

    if args.planet:
        eph = archive_ephemeris(args.planet, cache_dir=_cache_dir(args), refresh=args.refresh)
        if args.period is not None or args.t0 is not None:
            eph = replace(
                eph,
                period=args.period if args.period is not None else eph.period,
                t0=args.t0 if args.t0 is not None else eph.t0,
                period_err=args.period_err or eph.period_err,
                t0_err=args.t0_err or eph.t0_err,
                source=f"{eph.source}; period/T0 from the command line",
            )
        return eph
    if args.period is None or args.t0 is None:
        raise CommandError("give --period and --t0, or --planet NAME")
    return Ephemeris(period=args.period, t0=args.t0, period_err=args.period_err,
                     t0_err=args.t0_err, source="user", name=args.name)  # fmt: skip


def ephemeris_from_args(args: argparse.Namespace):
    """(Ephemeris, geometry mode) from the options; a CommandError says what is wrong."""
    from fluxion.core.transit.ephemeris import EphemerisError
    from fluxion.core.transit.user_geometry import parse_value_error, with_user_geometry

    try:
        eph = _archive_or_user(args)
        given = {
            key: parse_value_error(text, option)
            for key, option, text in (
                ("a_rs", "--a-rs", args.a_rs),
                ("inclination", "--inclination", args.inclination),
                ("impact", "--impact", args.impact),
            )
            if text is not None
        }
        return with_user_geometry(eph, geometry=args.geometry, **given)
    except EphemerisError as exc:  # GeometryError included (both are ValueErrors)
        raise CommandError(str(exc)) from exc
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def transit_params(args: argparse.Namespace, geometry: str):
    """The fit's :class:`TransitParams` from the options and the resolved geometry mode."""
    from fluxion.core.transit.run import TransitParams

    return TransitParams(
        filter=args.filter, limb_darkening=args.limb_darkening, geometry=geometry,
        max_regressors=args.max_regressors, mcmc_steps=max(args.mcmc_steps, 0),
        mcmc_burn=max(args.burn, 0), seed=args.seed,
    )  # fmt: skip


def _render_pngs(out: Path, title: str) -> list[str]:
    """PNGs of the plots through the window's plotting code, when Qt is installed."""
    if importlib.util.find_spec("PySide6") is None:
        return ["plots: Qt is not installed; the plots' data are in plots/*.ecsv"]
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from fluxion.app.transit_png import render_transit_pngs

    written = render_transit_pngs(out / "plots", out / "plots", title=title)
    return [f"plots: {len(written)} PNG(s) in {out / 'plots'}"]


def result_lines(result) -> list[str]:
    """What the fit found, in the lines ``fluxion transit`` prints."""
    from fluxion.core.transit.run import geometry_text

    v, e = result.values, result.errors
    tm = result.timing
    return [
        f"mid-transit {v['tmid']:.5f} +/- {e['tmid']:.5f} BJD_TDB "
        f"(O-C {tm['o_minus_c_min']:+.1f} +/- {tm['o_minus_c_err_min']:.1f} min, epoch "
        f"{tm['epoch']}); Rp/Rs {v['rp_rs']:.4f} +/- {e['rp_rs']:.4f}; depth "
        f"{v['depth'] * 100:.2f} +/- {e['depth'] * 100:.2f} %; {geometry_text(result)}",
        f"detrending: {', '.join(result.detrending) or 'none'} (BIC {result.bic:.1f}); "
        f"residual rms {result.residual_rms * 1000:.2f} ppt; chi2/dof "
        f"{result.noise_scale**2:.2f} (errors scaled to 1); beta {result.beta:.2f}; "
        f"{result.method}; {result.n_points} points, {result.n_clipped} clipped",
        *(f"note: {note}" for note in result.notes),
    ]


def fit_and_write(
    data, eph, params, stellar: dict, out: Path, info, *, what: str, png: bool, state=None
):
    """Fit ``data`` and write every product into ``out``; (result, written paths, plot lines).

    ``what`` names the light curve in the fit's errors.

    Raises
    ------
    CommandError
        The fit is impossible (the transit not in the curve, too few points),
        or ``out`` cannot be written.
    """
    from fluxion.core.transit.outputs import write_transit_outputs
    from fluxion.core.transit.plots import plot_tables
    from fluxion.core.transit.run import fit_transit

    try:
        result = fit_transit(data, eph, params, stellar=stellar, state=state)
    except ValueError as exc:
        raise CommandError(f"{what}: {exc}") from exc
    try:
        paths = write_transit_outputs(out, data, result, plot_tables(data, result), info)
    except OSError as exc:
        raise CommandError(f"cannot write into {out}: {exc}") from exc
    plots = _render_pngs(out, info.planet) if png else []
    return result, paths, plots
