"""``fluxion lightcurve PATH... --click/--positions/--radec/--horizons``: a light curve."""

from __future__ import annotations

import argparse

import numpy as np

from . import CommandError
from .options import (
    TABLE_SUFFIXES,
    add_output_arguments,
    check_paths,
    observing_site,
    output_file,
    prepare_output,
    recurse,
    target_lights,
)
from .reports import (
    add_light_curve_report_arguments,
    add_position_report_arguments,
    check_report_options,
    write_light_curve_reports,
    write_position_reports,
)
from .track import add_track_arguments, predicted_positions

NAME = "lightcurve"
HELP = "differential light curve of a target (file, jd_utc, bjd_tdb, mag, ..., flags)"

#: The light curve's name in the ``--out`` folder.
OUTPUT_NAME = "lightcurve.ecsv"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_track_arguments(p)
    add_output_arguments(p, what="light curve", default_name=OUTPUT_NAME, suffixes=TABLE_SUFFIXES)
    add_position_report_arguments(p)
    p.add_argument("--radec", nargs=2, type=float, metavar=("RA", "DEC"),
                   help="a fixed target at RA DEC (deg; needs WCS)")  # fmt: skip
    p.add_argument(
        "--comparison", action="append", default=[], metavar="X,Y[,MAG]",
        help="a comparison star in the first light, with its catalogue magnitude; repeat. "
        "Without, comparison and check stars are chosen automatically",
    )  # fmt: skip
    p.add_argument("--aperture", type=float, default=5.0, help="aperture radius (px)")
    p.add_argument(
        "--telescope-aperture", type=float, default=0.0, metavar="MM",
        help="the telescope's aperture diameter in mm, for the scintillation in every star's "
        "error where the headers give none (APTDIA)",
    )  # fmt: skip
    p.add_argument("--annulus", type=float, nargs=2, default=(10.0, 16.0), metavar=("IN", "OUT"))
    add_light_curve_report_arguments(p)


def _comparisons(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray | None]:
    xy, mags = [], []
    for text in args.comparison:
        parts = text.split(",")
        try:
            xy.append((float(parts[0]), float(parts[1])))
            mags.append(float(parts[2]) if len(parts) > 2 else np.nan)
        except (ValueError, IndexError):
            raise CommandError(f"--comparison {text!r}: expected X,Y or X,Y,MAG") from None
    mags_arr = np.array(mags)
    # Catalogue magnitudes only when every given star has one (none given: none).
    known = mags_arr.size > 0 and np.all(np.isfinite(mags_arr))
    return np.array(xy).reshape(-1, 2), (mags_arr if known else None)


def run(args: argparse.Namespace) -> int:
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    from fluxion.core.lightcurve.comparison import (
        ComparisonChoice,
        ComparisonError,
        choose_comparison_stars,
    )
    from fluxion.core.lightcurve.run import LightCurveParams, assemble_light_curve, measure_frames
    from fluxion.core.lightcurve.scintillation import lights_scintillation
    from fluxion.core.photometry.noise import NoiseModel
    from fluxion.core.reports.table import write_table

    check_paths(args.paths)
    check_report_options(args, light_curve=True)
    output = output_file(args, OUTPUT_NAME, TABLE_SUFFIXES)
    frames = target_lights(
        args.paths, recurse(args), drop_unregistered=True, site=observing_site(args)
    )
    n = len(frames)
    target = None
    if args.radec:
        if frames.wcs is None:
            raise CommandError("--radec needs frames with a WCS (solve them first)")
        target = SkyCoord(args.radec[0] * u.deg, args.radec[1] * u.deg)
        xy = np.array([w.world_to_pixel(target) for w in frames.wcs], dtype=float)
        positions = Table({"x": xy[:, 0], "y": xy[:, 1], "ra": np.full(n, args.radec[0]),
                           "dec": np.full(n, args.radec[1])})  # fmt: skip
    else:
        positions, summary = predicted_positions(args, frames)
        print(f"track: {summary}")
        if np.all(np.isfinite(positions["ra"])):
            target = SkyCoord(positions["ra"] * u.deg, positions["dec"] * u.deg)
    target_xy = np.column_stack([positions["x"], positions["y"]])
    comp_xy, comp_mag = _comparisons(args)
    manual = len(comp_xy) > 0
    ref_xy = comp_xy if manual else frames.stars
    if len(ref_xy) == 0:
        raise CommandError("no comparison star: give --comparison X,Y")
    star_xy = frames.in_every_light(ref_xy)
    gain = frames.gain()
    params = LightCurveParams(aperture_radius=args.aperture, annulus_inner=args.annulus[0],
                              annulus_outer=args.annulus[1])  # fmt: skip
    # Scintillation in every star's error when the headers give the aperture (APTDIA).
    first_light = frames.sequence[frames.indices[0]]
    given = args.telescope_aperture / 1000.0 if args.telescope_aperture > 0 else None
    scint = lights_scintillation(
        frames, target, diameter_m=None if first_light.aperture_mm else given
    )
    try:
        m = measure_frames(lambda i: frames.image(i) * gain, target_xy, star_xy, params,
                           noise=NoiseModel(), scintillation=scint.sigma)  # fmt: skip
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if manual:
        # The user's stars: all but the last form the ensemble when three or
        # more are given, the last is the check star.
        k = len(comp_xy)
        ens = tuple(range(k - 1)) if k >= 3 else tuple(range(k))
        choice = ComparisonChoice(ens, k - 1 if k >= 3 else None, {}, np.full(k, np.nan))
    else:
        try:
            choice = choose_comparison_stars(
                m.star_flux, m.star_err, ref_xy, flags=m.star_flags,
                target_flux=float(np.nanmedian(m.target_flux)),
                aperture_radius=params.aperture_radius, annulus_outer=params.annulus_outer,
            )  # fmt: skip
        except ComparisonError as exc:
            raise CommandError(str(exc)) from exc
        for note in choice.warnings:
            print(f"warning: {note}")
    lc = assemble_light_curve(
        m, choice, frames.times, files=frames.files, target=target, location=frames.location,
        comparison_mag=comp_mag, pointing=frames.pointing(),
    )  # fmt: skip
    lc.meta.update(scint.meta())
    first = frames.sequence[frames.indices[0]]
    if first.exptime:
        lc.meta["exposure_s"] = float(first.exptime)  # for a transit fit's model and reports
    if first.filter:
        lc.meta["filter"] = str(first.filter)
    prepare_output(args, output)
    write_table(output, frames.with_registration(lc))
    good = np.isfinite(lc["mag"])
    print(
        f"{n} frames, {good.sum()} with a magnitude; comparison stars "
        f"{', '.join(f'({ref_xy[i][0]:.1f}, {ref_xy[i][1]:.1f})' for i in choice.comparison)}; "
        f"median error {np.nanmedian(lc['mag_err']):.3f} mag; written to {output}"
    )
    calibrated = comp_mag is not None
    reports = write_light_curve_reports(args, lc, frames, calibrated)
    if not args.radec:
        mags = np.asarray(lc["mag"], float) if calibrated else None
        reports += write_position_reports(args, positions, frames, mags)
    for line in reports:
        print(line)
    return 0
