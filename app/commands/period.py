"""``fluxion period LIGHTCURVE... --out DIR``: an asteroid's rotation period over several nights.

Each light curve (``fluxion run``'s or ``fluxion lightcurve``'s ECSV, or a
project folder made by ``fluxion run`` with its target's ``lightcurve.ecsv``)
is a session. With ``--target`` the geometry of each
session comes from JPL Horizons (cached; offline the cache serves): times
corrected for light time and magnitudes reduced to unit distances. A Fourier
series with one zero point per session is fitted over the period range; the
period, its error and the aliases it beat are printed and written
(``period.json``, ``phased.ecsv``) with, given the reporting options, the
sessions as ALCDEF with the corrections said (``alcdef.txt``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import CommandError
from .options import add_out_argument, check_folder

NAME = "period"
HELP = (
    "rotation period of an asteroid from light curves of several nights (Fourier series "
    "with session zero points, light time and distances from JPL Horizons, aliases; ALCDEF)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("lightcurves", type=Path, nargs="+",
                   help="light-curve tables or project folders, one per session")  # fmt: skip
    add_out_argument(p)
    p.add_argument("--min", type=float, default=1.0, help="shortest period searched (h)")
    p.add_argument("--max", type=float, default=24.0, help="longest period searched (h)")
    p.add_argument("--orders", type=int, nargs="+", default=[2, 3, 4, 5, 6],
                   help="Fourier orders tried (BIC chooses)")  # fmt: skip
    p.add_argument(
        "--tie", action="store_true",
        help="one zero point for every session (magnitudes calibrated on one scale; a "
        "session whose light curve gives its calibration error keeps its own within it); "
        "with --target the magnitudes are first reduced to the sessions' mean phase angle (H-G)",
    )  # fmt: skip
    p.add_argument("--g", type=float, default=0.15, help="H-G slope parameter for --tie")
    geo = p.add_argument_group("geometry (JPL Horizons)")
    geo.add_argument("--target", help="the asteroid (number, name or designation)")
    geo.add_argument("--obscode", default="", help="MPC observatory code (else the geocentre)")
    geo.add_argument("--cache", type=Path, default=None, help="folder of cached Horizons answers")
    rep = p.add_argument_group("ALCDEF")
    rep.add_argument("--number", type=int, help="the minor planet's number")
    rep.add_argument("--designation", default="", help="provisional designation")
    rep.add_argument("--object", default="", help="the asteroid's name")
    rep.add_argument("--contact-name", default="", help="contact name")
    rep.add_argument("--contact-info", default="", help="contact (e-mail or address)")
    rep.add_argument("--observers", default="", help="observers' names, separated by ';'")
    rep.add_argument("--filter", default="", help="filter code (default: the sessions')")
    rep.add_argument(
        "--band", default="",
        help="the magnitudes' band (default: each session's: its catalogue band when "
        "calibrated, else its filter's code, C for clear or unfiltered)",
    )  # fmt: skip


def _cache(args) -> Path:
    if args.cache is not None:
        return args.cache
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fluxion" / "horizons"


def _alcdef(args):
    if not (args.contact_name or args.contact_info or args.observers):
        return None
    from fluxion.core.reports.alcdef import AlcdefSession

    if args.number is None and not args.designation.strip():
        raise CommandError("ALCDEF needs the asteroid's --number or --designation")
    for opt in ("contact_name", "contact_info", "observers"):
        if not getattr(args, opt).strip():
            raise CommandError(f"ALCDEF needs --{opt.replace('_', '-')}")
    if not args.obscode:
        raise CommandError("ALCDEF needs your MPC observatory code: --obscode")
    return AlcdefSession(
        object_number=args.number, object_name=args.object or args.designation or str(args.number),
        contact_name=args.contact_name, contact_info=args.contact_info,
        observers=", ".join(o.strip() for o in args.observers.split(";") if o.strip()),
        filter=args.filter or "C", magband=args.band, mpc_designation=args.designation.strip(),
        mpc_code=args.obscode,
    )  # fmt: skip


def _in_its_band(session, table, args: argparse.Namespace):
    """``session`` with ALCDEF's filter code, its band and whether it is differential.

    A curve against comparison stars (``fluxion run`` without zero points) is
    differential, in its filter's own band (C when clear or unfiltered): V
    would claim a calibration it never had. A calibrated curve is in the
    catalogue band it names (``meta['band']``), else its filter's.
    """
    import dataclasses

    import numpy as np

    from .reports import alcdef_filter_code

    code = alcdef_filter_code(session.filter)
    scale = str(table.meta.get("magnitude_scale", "") or "")
    differential = scale.startswith("differential")
    calibrated = not differential and (
        "calibrated" not in table.colnames or bool(np.all(np.asarray(table["calibrated"], bool)))
    )
    band = args.band or (str(table.meta.get("band", "") or "") if calibrated else "") or code
    return dataclasses.replace(session, filter=code, band=band, differential=differential)


def _light_curve_file(path: Path) -> tuple[Path, str]:
    """The light-curve file given, or a project's own (``lightcurve.ecsv``), and its name."""
    if path.is_dir():
        file = path / "lightcurve.ecsv"
        if not file.is_file():
            raise CommandError(
                f"{path}: no lightcurve.ecsv in the folder (make the target's light curve with "
                "'fluxion run NIGHT --project FOLDER --target NAME' or --positions first)"
            )
        return file, path.name
    if not path.is_file():
        raise CommandError(f"no such light curve: {path}")
    return path, path.stem


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from astropy.table import Table

    from fluxion.core.rotation import period_search, session_from_table
    from fluxion.core.rotation.report import write_period_outputs
    from fluxion.core.rotation.sessions import horizons_geometry
    from fluxion.core.targets.ephemerides import EphemerisError

    check_folder(args.out)
    meta = _alcdef(args)
    sessions = []
    for given in args.lightcurves:
        path, name = _light_curve_file(given)
        try:
            table = Table.read(path)
            session = _in_its_band(session_from_table(table, name, filter=args.filter), table, args)
        except (OSError, ValueError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        if args.target:
            try:
                session = horizons_geometry(
                    session, args.target, observatory_code=args.obscode or None,
                    cache_dir=str(_cache(args)),
                )  # fmt: skip
            except (EphemerisError, ValueError) as exc:
                raise CommandError(f"{path.name}: no geometry: {exc}") from exc
        sessions.append(session)
    reference = None
    if args.tie and all(s.phase is not None for s in sessions):
        reference = float(np.mean(np.concatenate([np.asarray(s.phase, float) for s in sessions])))
    try:
        result = period_search(
            sessions,
            args.min,
            args.max,
            orders=args.orders,
            tie_zero_points=args.tie,
            phase_reference=reference,
            g=args.g,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    paths = write_period_outputs(args.out, result, sessions, meta)
    err = f"{result.period_err:.5f}" if np.isfinite(result.period_err) else "(unbounded)"
    print(
        f"P = {result.period:.5f} +/- {err} h, amplitude "
        f"{result.fit.amplitude:.3f} mag, Fourier order {result.order}, reduced chi2 "
        f"{result.reduced_chi2:.2f}, {len(sessions)} session(s)"
    )
    for s, z in zip(sessions, result.fit.zero_points, strict=True):
        how = "; ".join(s.notes) or "no geometry: as observed"
        print(f"  {s.name}: {len(s.jd)} points, zero point {z:.3f} ({how})")
    for a in result.aliases:
        print(f"  alias {a['period']:.5f} h: {a['kind']}, delta chi2 {a['delta_chi2']:.1f}")
    for note in result.notes:
        print(f"note: {note}")
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0
