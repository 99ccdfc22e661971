"""Report-format options of ``fluxion track`` and ``fluxion lightcurve``.

``--mpc FILE`` / ``--ades FILE`` write the tracked target's measured positions
(the clicked or imported frames, never an ephemeris) for the Minor Planet
Center; ``--alcdef FILE`` and ``--aavso FILE`` write the light curve. Each
format's required metadata comes from options, and a missing one is a
one-line error that names the option, checked before any work is done.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from . import CommandError

__all__ = [
    "add_position_report_arguments",
    "add_light_curve_report_arguments",
    "check_report_options",
    "write_position_reports",
    "write_light_curve_reports",
    "alcdef_filter_code",
]


_JOHNSON = ("U", "B", "V", "R", "I")

# The frames' FILTER as cameras and capture programs write it, in ALCDEF's
# codes (standard v2: C for clear or no filter, the Johnson-Cousins letters,
# Cousins Rc and Ic being R and I, SG/SR/SI/SZ for Sloan). "Open", "L"
# (luminance), a UV/IR-cut window (the Seestar's IRCUT) or an empty wheel slot
# are all unfiltered light: C, not V.
_ALCDEF_CLEAR = ("", "C", "CLEAR", "CLR", "OPEN", "NONE", "L", "LUM", "LUMINANCE",
                 "UV/IR", "UV/IR CUT", "IR-CUT", "IRCUT")  # fmt: skip
_ALCDEF_SLOAN = {"G'": "SG", "R'": "SR", "I'": "SI", "Z'": "SZ", "SG": "SG", "SR": "SR",
                 "SI": "SI", "SZ": "SZ", "GP": "SG", "RP": "SR", "IP": "SI", "ZP": "SZ",
                 "RC": "R", "IC": "I"}  # fmt: skip


def alcdef_filter_code(name: str) -> str:
    """The ALCDEF code of a frame's filter name (``C`` for clear or none).

    A name that is neither clear, Johnson-Cousins nor Sloan is returned as
    given (upper case), so an unusual filter is written rather than guessed.
    """
    key = name.strip().upper()
    if key in _ALCDEF_CLEAR:
        return "C"
    if key in _JOHNSON:
        return key
    return _ALCDEF_SLOAN.get(key, key)


def _aavso_code(named: str, band: str) -> str:
    """The AAVSO code of the frames' filter (a clear one's by its zero point's band: CV, CR);
    the catalogue band when no filter is named; a name without a code as given (refused)."""
    from fluxion.core.reports.aavso_exoplanet import aavso_filter_code

    if not named:
        return band or "V"
    return aavso_filter_code(named, band or None) or named


def add_position_report_arguments(p: argparse.ArgumentParser) -> None:
    """Options for the MPC 80-column and ADES reports (and the object's identity)."""
    g = p.add_argument_group("reports")
    g.add_argument("--mpc", type=Path, metavar="FILE", help="MPC 80-column astrometry report")
    g.add_argument("--ades", type=Path, metavar="FILE", help="ADES PSV astrometry report")
    g.add_argument("--number", type=int, help="the minor planet's number")
    g.add_argument("--designation", default="", help="provisional designation (2018 AB12)")
    g.add_argument("--object", default="", help="the object's name (ALCDEF, AAVSO star id)")
    g.add_argument("--observers", default="", help="observers' names, separated by ';'")
    g.add_argument("--catalog-used", default="Gaia3", help="astrometric catalogue (ADES astCat)")
    g.add_argument("--band", default="", help="magnitude band (default: the frames' filter)")


def add_light_curve_report_arguments(p: argparse.ArgumentParser) -> None:
    """Options for the ALCDEF and AAVSO light-curve reports."""
    g = p.add_argument_group("light-curve reports")
    g.add_argument("--alcdef", type=Path, metavar="FILE", help="ALCDEF light curve (asteroids)")
    g.add_argument("--aavso", type=Path, metavar="FILE", help="AAVSO extended report (.txt)")
    g.add_argument("--contact-name", default="", help="ALCDEF contact name")
    g.add_argument("--contact-info", default="", help="ALCDEF contact (e-mail or address)")
    g.add_argument("--aavso-code", default="", help="your AAVSO observer code")
    g.add_argument("--filter", default="", help="report filter code (default: the frames')")


def _observers(args: argparse.Namespace) -> list[str]:
    return [o.strip() for o in args.observers.split(";") if o.strip()]


def check_report_options(args: argparse.Namespace, *, light_curve: bool) -> None:
    """Fail early, naming the option, when a requested report lacks metadata."""
    identity = args.number is not None or bool(args.designation.strip())
    for flag in ("mpc", "ades"):
        if getattr(args, flag, None) is None:
            continue
        if not identity:
            raise CommandError(f"--{flag} needs the object's --number or --designation")
        if not args.obscode:
            raise CommandError(f"--{flag} needs your MPC observatory code: --obscode")
        if getattr(args, "horizons", None):
            raise CommandError(f"--{flag} reports measured positions: click the target or "
                               "give --positions, not --horizons")  # fmt: skip
        if getattr(args, "radec", None):
            raise CommandError(f"--{flag} needs a measured track, not --radec")
    if flag_set(args, "ades") and not _observers(args):
        raise CommandError("--ades needs the observers' names: --observers 'A. Name; B. Name'")
    if not light_curve:
        return
    if flag_set(args, "alcdef"):
        if not identity:
            raise CommandError("--alcdef needs the asteroid's --number or --designation")
        for opt in ("contact_name", "contact_info", "observers"):
            if not getattr(args, opt).strip():
                raise CommandError(f"--alcdef needs --{opt.replace('_', '-')}")
    if flag_set(args, "aavso"):
        if not args.aavso_code.strip():
            raise CommandError("--aavso needs your AAVSO observer code: --aavso-code")
        if not args.object.strip():
            raise CommandError("--aavso needs the star's AAVSO name: --object")
        if args.aavso.suffix.lower() not in (".txt", ".csv", ".tsv"):
            raise CommandError("--aavso: the AAVSO accepts only .txt, .csv and .tsv files")


def flag_set(args: argparse.Namespace, name: str) -> bool:
    return getattr(args, name, None) is not None


def _frames_filter(frames) -> str:
    f = frames.sequence[frames.indices[0]].filter
    return str(f).strip() if f else ""


def write_position_reports(
    args: argparse.Namespace, positions, frames, mags: np.ndarray | None = None
) -> list[str]:
    """Write the requested MPC/ADES reports; returns one line per file written."""
    from fluxion.core.reports import ExportError
    from fluxion.core.reports.mpc import (
        MpcObservation,
        format_ades_psv,
        format_mpc80,
        write_report,
    )

    if not (flag_set(args, "mpc") or flag_set(args, "ades")):
        return []
    rows = np.flatnonzero(np.asarray(positions["clicked"], dtype=bool))
    ra, dec = np.asarray(positions["ra"], float), np.asarray(positions["dec"], float)
    rows = rows[np.isfinite(ra[rows]) & np.isfinite(dec[rows])]
    if rows.size == 0:
        raise CommandError("--mpc/--ades need sky positions: solve the frames (WCS) first")
    scale = _pixel_scales(frames)
    observations = []
    for i in rows:
        sigma = float(positions["sigma_px"][i]) * scale[i]
        mag = float(mags[i]) if mags is not None and math.isfinite(mags[i]) else math.nan
        observations.append(
            MpcObservation(
                float(positions["jd"][i]), float(ra[i]), float(dec[i]), mag, sigma, sigma
            )  # fmt: skip
        )
    band = args.band or _frames_filter(frames)[:1] or "V"
    ident = {"number": args.number, "designation": args.designation.strip()}
    done = []
    try:
        if flag_set(args, "mpc"):
            text = format_mpc80(observations, station=args.obscode, band=band, **ident)
            write_report(args.mpc, text)
            done.append(f"MPC report: {len(observations)} positions in {args.mpc}")
        if flag_set(args, "ades"):
            text = format_ades_psv(observations, station=args.obscode, observers=_observers(args),
                                   ast_cat=args.catalog_used, band=band, **ident)  # fmt: skip
            write_report(args.ades, text)
            done.append(f"ADES report: {len(observations)} positions in {args.ades}")
    except ExportError as exc:
        raise CommandError(str(exc)) from exc
    return done


def _pixel_scales(frames) -> np.ndarray:
    """Arcsec per pixel of every frame (for the positions' uncertainties)."""
    from astropy.wcs.utils import proj_plane_pixel_scales

    if frames.wcs is None:
        return np.full(len(frames), np.nan)
    return np.array([float(np.mean(proj_plane_pixel_scales(w))) * 3600.0 for w in frames.wcs])


def _records(lc) -> tuple[list[dict], dict | None]:
    """The comparison and check stars the light curve names (its ``comparison_records``)."""
    records = [dict(r) for r in (lc.meta.get("comparison_records") or [])]
    comps = [r for r in records if str(r.get("role", "")).startswith("C")]
    check = next((r for r in records if r.get("role") == "K"), None)
    return comps, check


def _finite(value: object) -> bool:
    try:
        return value is not None and math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _alcdef_comparison(comps: list[dict]) -> list[tuple[str, float, float, float]]:
    """ALCDEF's COMPNAME/COMPRA/COMPDEC/COMPMAG entries (the standard allows ten)."""
    out = []
    for r in comps:
        if all(_finite(r.get(k)) for k in ("ra", "dec", "mag")):
            out.append((str(r["name"]), float(r["ra"]), float(r["dec"]), float(r["mag"])))
    return out[:10]


def _aavso_fields(lc, comps: list[dict], check: dict | None) -> dict:
    """CNAME, CMAG, KNAME, KMAG and NOTES of the AAVSO report for this curve's stars.

    One comparison star: its name and instrumental magnitude per row. An
    ensemble: ``ENSEMBLE``, ``CMAG=na`` and VPhot's CREFMAG/CMAGINS/VMAGINS
    keys in NOTES (the Transform Applier needs them). The check star's name
    and its magnitude measured against the comparison stars.
    """
    from fluxion.core.reports.aavso import ensemble_notes

    n = len(lc)
    fields: dict = {}
    kflux = np.asarray(lc["check_flux"], float) if "check_flux" in lc.colnames else None
    if check is not None and "check_mag" in lc.colnames:
        fields["check_name"] = str(check["name"])[:20]
        fields["check_mag"] = lc["check_mag"]
    elif "check_mag" in lc.colnames:
        fields["check_name"], fields["check_mag"] = "CHECK", lc["check_mag"]
    names = " ".join(f"{r['name']}={float(r['mag']):.3f}" for r in comps if _finite(r.get("mag")))
    if len(comps) == 1:
        fields["comparison_name"] = str(comps[0]["name"])[:20]
        with np.errstate(divide="ignore", invalid="ignore"):
            fields["comparison_mag"] = -2.5 * np.log10(np.asarray(lc["comp_flux"], float))
    if "flux" in lc.colnames and "comp_flux" in lc.colnames:
        kref = check.get("mag") if check is not None and _finite(check.get("mag")) else None
        kerr = check.get("mag_err") if check is not None and _finite(check.get("mag_err")) else None
        fields["row_notes"] = ensemble_notes(
            lc["mag"], lc["flux"], lc["comp_flux"], check_flux=kflux, check_ref_mag=kref,
            check_ref_err=kerr, extra=f"ENSEMBLE {names}" if len(comps) > 1 and names else "",
        )  # fmt: skip
    elif n and len(comps) > 1 and names:
        fields["notes"] = f"ENSEMBLE {names}"
    return fields


def write_light_curve_reports(args: argparse.Namespace, lc, frames, calibrated: bool) -> list[str]:
    """Write the requested ALCDEF/AAVSO reports of a light curve.

    The comparison and check stars the curve names (``lc.meta``'s
    ``comparison_records``: name, position, catalogue magnitude) go into the
    reports as each format asks; ``lc.meta['band']`` is the magnitudes' band
    when the frames' filter does not say it.
    """
    from fluxion.core.reports import ExportError
    from fluxion.core.reports.aavso import format_aavso, standard_magnitude_err, write_aavso
    from fluxion.core.reports.alcdef import AlcdefSession, write_alcdef

    done = []
    frames_filter = _frames_filter(frames)
    band = str(lc.meta.get("band", "") or "") if calibrated else ""
    comps, check = _records(lc)
    try:
        if flag_set(args, "alcdef"):
            site = frames.location
            code = alcdef_filter_code(args.filter or frames_filter)
            # MAGBAND is the band the magnitudes are in: a calibrated curve's
            # catalogue band; differential magnitudes stay in the filter's own
            # (instrumental) band, C when unfiltered, never an assumed V.
            magband = args.band or band or code
            session = AlcdefSession(
                object_number=args.number,
                object_name=args.object or args.designation or str(args.number),
                contact_name=args.contact_name, contact_info=args.contact_info,
                observers=", ".join(_observers(args)),
                filter=code,
                magband=magband,
                mpc_designation=args.designation.strip(),
                differential=not calibrated, mpc_code=args.obscode or "",
                longitude=None if site is None else float(site.lon.deg),
                latitude=None if site is None else float(site.lat.deg),
                comparison=_alcdef_comparison(comps) if calibrated else (),
            )  # fmt: skip
            write_alcdef(args.alcdef, [(session, lc["jd_utc"], lc["mag"], lc["mag_err"])])
            done.append(f"ALCDEF: {int(np.isfinite(lc['mag']).sum())} points in {args.alcdef}")
        if flag_set(args, "aavso"):
            if not calibrated:
                raise CommandError(
                    "--aavso needs standard magnitudes: run the zero point (the light curve then "
                    "uses catalogue comparison stars) or give the comparison stars' catalogue "
                    "magnitudes (--comparison X,Y,MAG)"
                )
            text = format_aavso(
                args.object, lc["jd_utc"], lc["mag"], standard_magnitude_err(lc),
                obscode=args.aavso_code,
                filter=_aavso_code(args.filter or frames_filter, band), airmass=lc["airmass"],
                **_aavso_fields(lc, comps, check),
            )  # fmt: skip
            write_aavso(args.aavso, text)
            done.append(f"AAVSO: {text.count(chr(10)) - 7} observations in {args.aavso}")
    except ExportError as exc:
        raise CommandError(str(exc)) from exc
    return done
