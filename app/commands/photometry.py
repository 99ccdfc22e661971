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
    from fluxion.core.photometry.params import CHANNEL_SETS

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
    p.add_argument(
        "--channels",
        default="RGB",
        choices=CHANNEL_SETS,
        help="colour (Bayer) frames: the channels measured on their own pixels, one row per "
        "star and channel with a 'channel' column (RGB; RGB+L adds all pixels; L; G; RGGB: "
        "the greens apart; mono: the mosaic as one image)",
    )
    p.add_argument(
        "--psf-variation",
        choices=("auto", "constant"),
        default="auto",
        help="PSF across the frame (psf, crowded): auto varies it where held-out stars need it",
    )
    p.add_argument(
        "--psf-file",
        type=Path,
        default=None,
        help="GriddedPSFModel FITS file (STPSF/WebbPSF or one Fluxion wrote) used as the PSF",
    )
    p.add_argument(
        "--psf-grid",
        action="store_true",
        help="also write each frame's PSF as a GriddedPSFModel FITS file, FRAME.psf.fits "
        "(psf, crowded)",
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
    from fluxion.core.io.folders import product_stem
    from fluxion.core.io.rawfile import RAW_SUFFIXES

    name = path.name
    while True:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() in (*_FITS_SUFFIXES, *RAW_SUFFIXES) and stem:
            name = stem
        else:
            break
    return product_stem(name) + ".ecsv"


def output_names(frames: list[Path]) -> dict[Path, str]:
    """Each frame's table name: its base name, or its whole name where base names clash.

    ``x.fits`` and ``x.fts`` measured together get ``x.fits.ecsv`` and
    ``x.fts.ecsv``: each keeps its own table instead of one overwriting the other.
    Frames whose file names clash in different folders (``M67/n0001.fits``,
    ``NGC188/n0001.fits``) have theirs in sub-folders named as their own
    (:class:`fluxion.core.io.names.FrameNames`): ``M67/n0001.ecsv``.
    """
    from fluxion.core.io.names import FrameNames

    names = FrameNames.of(frames)

    def beside(f: Path, name: str) -> str:
        folder = names.folder(f)
        return f"{folder}/{name}" if folder else name

    base = {f: beside(f, output_name(f)) for f in frames}
    counts: dict[str, int] = {}
    for name in base.values():
        counts[name] = counts.get(name, 0) + 1
    return {
        f: (name if counts[name] == 1 else beside(f, f.name + ".ecsv")) for f, name in base.items()
    }


def measure_file(
    path: Path, out_dir: Path, args: argparse.Namespace, state=None, name: str | None = None
) -> tuple[int, str]:
    """Measure one frame and write its table; returns (stars, unit)."""
    import numpy as np

    from fluxion.core.io.fitsio import (
        atomic_write_ecsv,
        read_header,
        read_image,
        read_wcs,
    )
    from fluxion.core.io.frames import frame_info, frame_table_meta
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
        channels=getattr(args, "channels", "RGB"),
        psf_variation=getattr(args, "psf_variation", "auto"),
        psf_file=str(args.psf_file) if getattr(args, "psf_file", None) else "",
    )
    # The pattern as the scan reads it (header cards, camera profile, raw file).
    cfa = frame_info(path).cfa
    result = Photometry(params).run(
        image,
        gain=gain,
        read_noise=read_noise,
        saturation=saturation,
        wcs=read_wcs(header),
        cfa=cfa,
        state=state,
    )
    table = result.table
    # The frame's filter, time, airmass and exposure go with its measurements,
    # so that the zero point step needs only the table.
    table.meta.update(frame_table_meta(path, facts))
    table.meta.update(gain=gain if gain is not None else "unknown", read_noise=read_noise)
    atomic_write_ecsv(out_dir / (name or output_name(path)), table)
    from fluxion.core.photometry.epsf import EffectivePSF
    from fluxion.core.photometry.gridpsf import PSFField

    if getattr(args, "psf_grid", False) and isinstance(result.psf, EffectivePSF | PSFField):
        from fluxion.core.photometry.gridpsf.io import write_psf_grid

        grid_meta = {"FILTER": table.meta["FILTER"]} if table.meta.get("FILTER") else {}
        write_psf_grid(
            out_dir / psf_grid_name(name or output_name(path)), result.psf, meta=grid_meta
        )
    return len(table), result.unit


def psf_grid_name(table_name: str) -> str:
    """``frame.ecsv`` -> ``frame.psf.fits``: where ``--psf-grid`` writes the frame's PSF."""
    return table_name[: -len(".ecsv")] + ".psf.fits"


def run(args: argparse.Namespace) -> int:
    from fluxion.core.io.folders import prepare_output_folder
    from fluxion.core.io.names import FrameNames
    from fluxion.core.runtime.failures import per_file, shown_name, shown_text

    check_paths(args.paths)
    check_folder(args.out)
    if getattr(args, "psf_file", None) is not None and not args.psf_file.is_file():
        raise CommandError(f"{args.psf_file}: no such PSF grid file")
    check_workers(args.workers)
    frames, skipped = _frames(args.paths, recurse(args))
    for f in skipped:
        print(f"skipped  {shown_name(f.path)}: {'; '.join(f.problems)}")
    if not frames:
        raise CommandError("no FITS files found")
    names = output_names(frames)
    shown = FrameNames.of(frames)  # frames of the same name are told apart by their folders
    prepare_output_folder(args.out)

    def one(path: Path) -> tuple[Path, int, str, str]:
        done = per_file(path, lambda: measure_file(path, args.out, args, name=names[path]))
        if done.failure is not None:
            return path, 0, "", done.failure.cause
        n, unit = done.get()
        return path, n, unit, ""

    if args.workers > 1:
        with ThreadPoolExecutor(args.workers) as pool:
            outcomes = list(pool.map(one, frames))
    else:
        outcomes = []
        for i, f in enumerate(frames):
            print(
                f"\r{i}/{len(frames)} {shown_name(f):50.50s}", end="", file=sys.stderr, flush=True
            )
            outcomes.append(one(f))
        print(file=sys.stderr)
    failed = 0
    for path, n, unit, error in outcomes:
        if error:
            failed += 1
            print(f"{shown_text(shown.file(path)):40.40s} FAILED: {error}")
        else:
            print(f"{shown_text(shown.file(path)):40.40s} {n:7d} stars  flux in {unit}")
    print(f"{len(outcomes) - failed} of {len(outcomes)} frames written to {args.out}")
    return 1 if failed else 0
