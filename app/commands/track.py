"""``fluxion track PATH... --click FRAME,X,Y ...``: a target's track, as a positions file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the command imports its engine where it runs (a fast --help)
    from astropy.table import Table

from . import CommandError
from .options import (
    TABLE_SUFFIXES,
    add_output_arguments,
    add_paths_arguments,
    add_site_arguments,
    check_paths,
    observing_site,
    output_file,
    prepare_output,
    recurse,
    target_lights,
)
from .reports import add_position_report_arguments, check_report_options, write_position_reports

NAME = "track"
HELP = "fit a target's track from clicks (or an ephemeris) and write its positions file"

#: The positions file's name in the ``--out`` folder.
OUTPUT_NAME = "positions.ecsv"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_track_arguments(p)
    add_output_arguments(
        p, what="positions table", default_name=OUTPUT_NAME, suffixes=TABLE_SUFFIXES
    )
    add_position_report_arguments(p)


def add_track_arguments(p: argparse.ArgumentParser) -> None:
    """The lights and how the target is found in them (shared with ``lightcurve``)."""
    add_paths_arguments(p, help="folders or FITS files of the lights")
    p.add_argument(
        "--click", action="append", default=[], metavar="FRAME,X,Y",
        help="the target at pixel X,Y (0-based) in light FRAME (0 = first); repeat",
    )  # fmt: skip
    p.add_argument("--as-clicked", action="store_true", help="do not centroid the clicks")
    p.add_argument("--positions", type=Path, help="clicks from a positions file instead")
    p.add_argument("--horizons", metavar="NAME", help="the track from JPL Horizons (needs WCS)")
    p.add_argument(
        "--obscode", help="MPC observatory code: for Horizons (else the site) and the reports"
    )
    add_site_arguments(p)


def parse_click(text: str) -> tuple[int, float, float]:
    try:
        frame, x, y = text.split(",")
        return int(frame), float(x), float(y)
    except ValueError:
        raise CommandError(f"--click {text!r}: expected FRAME,X,Y such as 0,441,438") from None


def predicted_positions(args: argparse.Namespace, frames) -> tuple[Table, str]:
    """Table of the target's predicted positions in every light, and a summary."""
    from fluxion.core.reports import ExportError
    from fluxion.core.reports.table import read_positions, track_from_positions
    from fluxion.core.targets.ephemerides import EphemerisError, horizons_ephemeris
    from fluxion.core.targets.tracking import Click, Track, TrackError, fit_track, refine_click

    jd = frames.times.jd
    if args.horizons:
        if frames.wcs is None:
            raise CommandError("--horizons needs frames with a WCS (solve them first)")
        try:
            eph = horizons_ephemeris(
                args.horizons, frames.times, observatory_code=args.obscode, site=frames.location
            )
        except EphemerisError as exc:
            raise CommandError(str(exc)) from exc
        table = eph.predict(jd, frames.wcs)
        table["file"] = frames.files
        return table, f"ephemeris of {eph.name} from {eph.source}"
    try:
        if args.positions:
            track = track_from_positions(read_positions(args.positions), jd, frames.files)
        else:
            if not args.click:
                raise CommandError("give --click FRAME,X,Y at least once, or --positions")
            track = Track()
            for text in args.click:
                i, x, y = parse_click(text)
                if not 0 <= i < len(frames):
                    raise CommandError(f"--click {text}: frame {i} not in 0..{len(frames) - 1}")
                if args.as_clicked:
                    track = track.with_click(Click(i, jd[i], x, y, sigma=1.0, refined=False))
                    continue
                r = refine_click(frames.image(i), x, y, gain=frames.gain())
                if not r.found or r.blended:
                    print(f"frame {i}: {r.message}")
                track = track.with_click(Click(i, jd[i], r.x, r.y, r.sigma, refined=r.found))
        reg = frames.registration
        fit = fit_track(track, frames.wcs, registration=reg)
        table = fit.predict(
            jd, frames.wcs, files=frames.files, clicked=track.frames, registration=reg
        )
    except (TrackError, ExportError) as exc:
        raise CommandError(str(exc)) from exc
    summary = (
        f"{fit.describe(len(track.clicks))}; largest uncertainty {np.max(table['sigma_px']):.2f} px"
    )
    return table, summary


def run(args: argparse.Namespace) -> int:
    from fluxion.core.reports.table import write_table

    check_paths(args.paths)
    check_report_options(args, light_curve=False)
    output = output_file(args, OUTPUT_NAME, TABLE_SUFFIXES)
    frames = target_lights(args.paths, recurse(args), site=observing_site(args))
    table, summary = predicted_positions(args, frames)
    prepare_output(args, output)
    write_table(output, frames.with_registration(table))
    print(f"{len(table)} frames: {summary}; written to {output}")
    for line in write_position_reports(args, table, frames):
        print(line)
    return 0
