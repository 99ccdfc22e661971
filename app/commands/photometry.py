"""``fluxion photometry FILE... --method aperture|psf|crowded --out DIR``: one ECSV per frame."""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import CommandError
from .options import (
    add_out_argument,
    add_paths_arguments,
    add_workers_argument,
    check_folder,
    check_paths,
    check_workers,
    measurable_frames,
    recurse,
)

NAME = "photometry"
HELP = (
    "measure the stars of frames by aperture, PSF or crowded-field photometry and write "
    "one ECSV per frame (x, y, flux, flux_err, flags, and ra, dec with a WCS; the "
    "frame's file, FILTER, mid-exposure time, airmass and exposure in its meta)"
)

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fz", ".gz", ".bz2")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fluxion.core.photometry import METHODS

    add_paths_arguments(p, help="FITS files, or folders of them (their lights)")
    add_out_argument(p)
    p.add_argument("--method", choices=METHODS, default="aperture", help="photometry method")
    p.add_argument(
        "--radius", type=float, default=0.0, help="aperture radius, px (0: curve of growth)"
    )
    p.add_argument("--radius-fwhm", type=float, default=0.0, help="aperture radius in FWHM units")
    p.add_argument("--fwhm", type=float, default=0.0, help="seeing FWHM, px (0: measured)")
    p.add_argument("--threshold", type=float, default=5.0, help="detection threshold, sigma")
    p.add_argument("--iterations", type=int, default=4, help="scene passes (crowded)")
    p.add_argument(
        "--psf-model",
        choices=("moffat", "gaussian", "empirical"),
        default="moffat",
        help="PSF model (psf, crowded)",
    )
    p.add_argument("--gain", type=float, default=None, help="e-/ADU, overrides the header")
    p.add_argument("--read-noise", type=float, default=None, help="e-, overrides the header")
    p.add_argument("--saturation", type=float, default=None, help="ADU, overrides the header")
    add_workers_argument(p, default=1, help="frames measured in parallel")


def _frames(paths: list[Path], recursive: bool) -> tuple[list[Path], list]:
    """Files named, and the lights found in folders; and the unreadable ones skipped there."""
    from fluxion.core.io.sequence import scan

    files = [p for p in paths if not p.is_dir()]
    folders = [p for p in paths if p.is_dir()]
    if not folders:
        return files, []
    chosen, skipped = measurable_frames(scan(folders, recursive=recursive))
    return files + [f.path for f in chosen], skipped


def output_name(path: Path) -> str:
    """``frame.fits.fz`` -> ``frame.ecsv``: the frame's base name plus .ecsv."""
    name = path.name
    while True:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() in _FITS_SUFFIXES and stem:
            name = stem
        else:
            break
    return name + ".ecsv"


def measure_file(
    path: Path, out_dir: Path, args: argparse.Namespace, state=None
) -> tuple[int, str]:
    """Measure one frame and write its table; returns (stars, unit)."""
    import numpy as np

    from fluxion.core.io.fitsio import (
        atomic_write_ecsv,
        read_header,
        read_image,
        read_wcs,
    )
    from fluxion.core.io.frames import frame_table_meta
    from fluxion.core.io.headers import normalise_header
    from fluxion.core.photometry import Photometry, PhotometryParams

    header, hdu = read_header(path)
    image = read_image(path, hdu=hdu, dtype=np.float64)
    facts = normalise_header(header, file_name=path.name)
    gain = args.gain if args.gain is not None else facts.gain
    read_noise = args.read_noise if args.read_noise is not None else (facts.read_noise or 0.0)
    saturation = args.saturation if args.saturation is not None else facts.saturation
    params = PhotometryParams(
        method=args.method,
        fwhm=args.fwhm,
        detection_threshold=args.threshold,
        aperture_radius=args.radius,
        aperture_radius_fwhm=args.radius_fwhm,
        iterations=args.iterations,
        psf_model=args.psf_model,
    )
    result = Photometry(params).run(
        image,
        gain=gain,
        read_noise=read_noise,
        saturation=saturation,
        wcs=read_wcs(header),
        state=state,
    )
    table = result.table
    # The frame's filter, time, airmass and exposure go with its measurements,
    # so that the zero point step needs only the table.
    table.meta.update(frame_table_meta(path, facts))
    table.meta.update(gain=gain if gain is not None else "unknown", read_noise=read_noise)
    atomic_write_ecsv(out_dir / output_name(path), table)
    return len(table), result.unit


def run(args: argparse.Namespace) -> int:
    from fluxion.core.io.fitsio import FitsReadError
    from fluxion.core.io.folders import prepare_output_folder
    from fluxion.core.photometry import PhotometryError

    check_paths(args.paths)
    check_folder(args.out)
    check_workers(args.workers)
    frames, skipped = _frames(args.paths, recurse(args))
    for f in skipped:
        print(f"skipped  {f.path.name}: {'; '.join(f.problems)}")
    if not frames:
        raise CommandError("no FITS files found")
    names = [output_name(f) for f in frames]
    if len(set(names)) != len(names):
        raise CommandError("two frames have the same base name; their tables would collide")
    prepare_output_folder(args.out)

    def one(path: Path) -> tuple[Path, int, str, str]:
        try:
            n, unit = measure_file(path, args.out, args)
            return path, n, unit, ""
        except (FitsReadError, PhotometryError, ValueError, OSError) as exc:
            return path, 0, "", str(exc)

    if args.workers > 1:
        with ThreadPoolExecutor(args.workers) as pool:
            outcomes = list(pool.map(one, frames))
    else:
        outcomes = []
        for i, f in enumerate(frames):
            print(f"\r{i}/{len(frames)} {f.name:50.50s}", end="", file=sys.stderr, flush=True)
            outcomes.append(one(f))
        print(file=sys.stderr)
    failed = 0
    for path, n, unit, error in outcomes:
        if error:
            failed += 1
            print(f"{path.name:40.40s} FAILED: {error}")
        else:
            print(f"{path.name:40.40s} {n:7d} stars  flux in {unit}")
    print(f"{len(outcomes) - failed} of {len(outcomes)} frames written to {args.out}")
    return 1 if failed else 0
