"""``fluxion transit LIGHTCURVE --out DIR [--period P --t0 T0 | --planet NAME]``.

Fits a transit to a light curve (what ``fluxion lightcurve`` writes, or any
table of ``bjd_tdb, flux, flux_err``) and writes ``DIR/transit.json``, the
model table, the plots' data, the AAVSO Exoplanet Report and an ExoClock
summary. The plots are drawn as PNGs by the window's plotting code when Qt is
installed (off screen; no display needed); the command itself never imports Qt.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

from . import CommandError
from .options import add_out_argument

NAME = "transit"
HELP = "fit an exoplanet transit to a light curve (transit.json, AAVSO and ExoClock reports, plots)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("lightcurve", type=Path, help="light-curve table (ECSV or CSV)")
    add_out_argument(p)
    eph = p.add_argument_group("ephemeris (one of)")
    eph.add_argument("--planet", help="planet name, looked up in the NASA Exoplanet Archive")
    eph.add_argument("--name", default="", help="planet name for the reports (no archive look-up)")
    eph.add_argument("--period", type=float, help="orbital period (days)")
    eph.add_argument("--t0", type=float, help="a mid-transit time (BJD_TDB)")
    eph.add_argument("--period-err", type=float, default=0.0, help="period error (days)")
    eph.add_argument("--t0-err", type=float, default=0.0, help="T0 error (days)")
    eph.add_argument("--refresh", action="store_true", help="ask the archive again (not the cache)")
    star = p.add_argument_group("star and filter")
    star.add_argument("--filter", default="", help="filter (V, R, SR, ...) for limb darkening")
    star.add_argument("--teff", type=float, help="host star's effective temperature (K)")
    star.add_argument("--logg", type=float, help="host star's log g (cgs)")
    star.add_argument("--feh", type=float, help="host star's [Fe/H]")
    fit = p.add_argument_group("fit")
    fit.add_argument("--mcmc-steps", type=int, default=5000, help="emcee steps (0: least squares)")
    fit.add_argument("--burn", type=int, default=1500, help="emcee burn-in steps")
    fit.add_argument("--max-regressors", type=int, default=3, help="most detrending terms at once")
    fit.add_argument(
        "--geometry",
        choices=("auto", "prior", "free", "fixed"),
        default="auto",
        help="archive a/Rs and inclination: priors when it gives their errors, held when it "
        "gives none, fitted without them (auto, the default); always priors, starting "
        "points only, or always held",
    )
    fit.add_argument("--limb-darkening", choices=("prior", "free", "fixed"), default="prior")
    fit.add_argument("--seed", type=int, default=1)
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


def _cache_dir(args: argparse.Namespace) -> Path:
    from fluxion.core.transit.archive import default_cache_dir

    return args.cache if args.cache is not None else default_cache_dir()


def _ephemeris(args: argparse.Namespace):
    from fluxion.core.transit.archive import archive_ephemeris
    from fluxion.core.transit.ephemeris import Ephemeris, EphemerisError

    try:
        if args.planet:
            eph = archive_ephemeris(args.planet, cache_dir=_cache_dir(args), refresh=args.refresh)
            if args.period is not None or args.t0 is not None:
                from dataclasses import replace

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
    except EphemerisError as exc:
        raise CommandError(str(exc)) from exc


def _render_pngs(out: Path, names: dict) -> list[str]:
    """PNGs of the plots through the window's plotting code, when Qt is installed."""
    if importlib.util.find_spec("PySide6") is None:
        return ["plots: Qt is not installed; the plots' data are in plots/*.ecsv"]
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from fluxion.app.transit_png import render_transit_pngs

    written = render_transit_pngs(out / "plots", out / "plots", title=names.get("title", ""))
    return [f"plots: {len(written)} PNG(s) in {out / 'plots'}"]


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from fluxion.core.runtime.pipeline import StepState
    from fluxion.core.transit.data import TransitDataError, read_transit_data
    from fluxion.core.transit.outputs import ObservationInfo, write_transit_outputs
    from fluxion.core.transit.plots import plot_tables
    from fluxion.core.transit.run import TransitParams, fit_transit, geometry_text

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
    eph = _ephemeris(args)
    params = TransitParams(
        filter=args.filter, limb_darkening=args.limb_darkening, geometry=args.geometry,
        max_regressors=args.max_regressors, mcmc_steps=max(args.mcmc_steps, 0),
        mcmc_burn=max(args.burn, 0), seed=args.seed,
    )  # fmt: skip
    stellar = {k: getattr(args, k) for k in ("teff", "logg", "feh") if getattr(args, k) is not None}
    progress = TerminalProgress()
    try:
        result = fit_transit(data, eph, params, stellar=stellar, state=StepState(progress))
    except ValueError as exc:
        raise CommandError(f"{args.lightcurve}: {exc}") from exc
    progress.done()
    info = ObservationInfo(
        planet=eph.name or args.planet or "", obscode=args.obscode, observer=args.observer,
        telescope=args.telescope, camera=args.camera, filter=args.filter or (data.filter or ""),
        exposure_s=data.exposure_s,
    )  # fmt: skip
    try:
        paths = write_transit_outputs(out, data, result, plot_tables(data, result), info)
    except OSError as exc:
        raise CommandError(f"cannot write into {out}: {exc}") from exc
    v, e = result.values, result.errors
    tm = result.timing
    print(
        f"mid-transit {v['tmid']:.5f} +/- {e['tmid']:.5f} BJD_TDB "
        f"(O-C {tm['o_minus_c_min']:+.1f} +/- {tm['o_minus_c_err_min']:.1f} min, epoch "
        f"{tm['epoch']}); Rp/Rs {v['rp_rs']:.4f} +/- {e['rp_rs']:.4f}; depth "
        f"{v['depth'] * 100:.2f} +/- {e['depth'] * 100:.2f} %; {geometry_text(result)}"
    )
    print(
        f"detrending: {', '.join(result.detrending) or 'none'} (BIC {result.bic:.1f}); "
        f"residual rms {result.residual_rms * 1000:.2f} ppt; chi2/dof "
        f"{result.noise_scale**2:.2f} (errors scaled to 1); beta {result.beta:.2f}; "
        f"{result.method}; {result.n_points} points, {result.n_clipped} clipped"
    )
    for note in result.notes:
        print(f"note: {note}")
    if not args.no_png:
        for line in _render_pngs(out, {"title": info.planet}):
            print(line)
    print(f"written to {out}: {', '.join(sorted(p.name for p in paths.values()))}")
    return 0
