"""``fluxion solve FILE... --out DIR``: plate-solve frames; write ``.wcs`` files and solve.ecsv."""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import CommandError
from .options import add_workers_argument, check_folder, check_workers
from .progress import TerminalProgress

NAME = "solve"
HELP = "plate-solve FITS frames from their header hints (offline first); write WCS files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", type=Path, nargs="+", help="FITS frames, in time order")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    from fluxion.core.catalogs.base import MAGNITUDE_COLUMNS

    p.add_argument(
        "--catalog",
        default="Gaia DR3",
        help="reference catalog: a name (Gaia DR3, APASS DR9, Pan-STARRS DR1, SDSS DR16, "
        "ATLAS-RefCat2, 2MASS, 'index files') or an ECSV/FITS/CSV file with ra, dec "
        f"(degrees) and {MAGNITUDE_COLUMNS} (default: Gaia DR3)",
    )
    p.add_argument("--ra", type=float, help="pointing RA in degrees (overrides the headers)")
    p.add_argument("--dec", type=float, help="pointing Dec in degrees (overrides the headers)")
    p.add_argument("--scale", type=float, help="pixel scale in arcsec/px (overrides the headers)")
    p.add_argument(
        "--scale-tolerance", type=float, default=5.0, help="uncertainty of --scale in %% (5)"
    )
    p.add_argument("--search-radius", type=float, default=15.0, help="arcmin (15)")
    p.add_argument("--mag-limit", type=float, default=18.0, help="faintest catalog stars (18)")
    p.add_argument("--sip-order", type=int, default=3, help="distortion order, 0-5 (3)")
    p.add_argument(
        "--centroids",
        choices=("auto", "detected", "prf"),
        default="auto",
        help="star positions for the fit: a pixel-integrated Gaussian fit (prf), the "
        "detected ones, or auto: prf when the frame's FWHM is below 1.5 px (auto)",
    )
    p.add_argument("--offline", action="store_true", help="use only local and cached catalogs")
    p.add_argument("--cache-dir", type=Path, help="catalog cache folder")
    p.add_argument(
        "--no-solve-field", action="store_true", help="do not fall back to a local solve-field"
    )
    p.add_argument(
        "--nova-key",
        default=os.environ.get("ASTROMETRY_NET_API_KEY"),
        help="nova.astrometry.net API key for the last fallback "
        "(default: $ASTROMETRY_NET_API_KEY; none: no web fallback)",
    )
    p.add_argument(
        "--keep-header-wcs", action="store_true", help="keep a WCS already in the headers"
    )
    add_workers_argument(p, default=2, help="threads for source extraction (2)")


def _catalog_fields(args: argparse.Namespace) -> dict:
    """``catalog``/``catalog_file`` of the step parameters from ``--catalog``."""
    path = Path(args.catalog)
    if path.suffix.lower() in (".ecsv", ".fits", ".fit", ".csv", ".gz") or path.exists():
        if not path.is_file():
            raise CommandError(f"catalog file not found: {path}")
        return {"catalog": "Local file", "catalog_file": str(path)}
    return {"catalog": args.catalog}


def run(args: argparse.Namespace) -> int:
    from fluxion.core.astrometry import SolveParams
    from fluxion.core.astrometry.files import solve_files
    from fluxion.core.astrometry.step import solver_for
    from fluxion.core.astrometry.summary import solve_summary
    from fluxion.core.catalogs import CatalogCache, CatalogError
    from fluxion.core.runtime.failures import shown_name, shown_text
    from fluxion.core.runtime.pipeline import StepState

    missing = [p for p in args.files if not p.is_file()]
    if len(missing) == len(args.files):
        raise CommandError("no such file: " + ", ".join(map(str, missing)))
    for p in missing:  # one wrong path does not refuse the others
        why = "a folder (name its files)" if p.is_dir() else "no such file"
        print(f"skipped  {shown_name(p)}: {why}", file=sys.stderr)
    args.files = [p for p in args.files if p not in missing]
    if (args.ra is None) != (args.dec is None):
        raise CommandError("give both --ra and --dec, or neither")
    if args.scale is not None and args.scale <= 0:
        raise CommandError("--scale must be positive (arcsec per pixel)")
    check_folder(args.out)
    check_workers(args.workers)
    try:
        params = SolveParams(
            **_catalog_fields(args),
            offline=args.offline,
            mag_limit=args.mag_limit,
            search_radius=args.search_radius,
            scale_tolerance=args.scale_tolerance,
            sip_order=args.sip_order,
            centroids=args.centroids,
            use_solve_field=not args.no_solve_field,
            use_nova=bool(args.nova_key),
            keep_header_wcs=args.keep_header_wcs,
        )
    except (TypeError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    try:
        solver = solver_for(params, cache=CatalogCache(args.cache_dir), nova_key=args.nova_key)
    except CatalogError as exc:
        raise CommandError(str(exc)) from exc
    progress = TerminalProgress()
    with ThreadPoolExecutor(args.workers) as pool:
        table = solve_files(
            args.files,
            solver,
            args.out,
            ra=args.ra,
            dec=args.dec,
            scale=args.scale,
            scale_tolerance=args.scale_tolerance / 100.0,
            state=StepState(progress),
            executor=pool if args.workers > 1 else None,
        )
    progress.done()
    print("frame".ljust(34), "method".ljust(19), "stars", 'rms(")', "    s", " verdict")
    for row in table:
        if row["solved"]:
            print(
                f"{shown_text(row['file'])[:34]:34s} {row['method']:19s} {row['n_matched']:5d} "
                f"{row['rms_arcsec']:6.2f} {row['seconds']:5.1f}  {row['verdict']}"
            )
        else:
            print(f"{shown_text(row['file'])[:34]:34s} NOT SOLVED: {row['reason']}")
    n_ok = int(sum(table["solved"]))
    lines = solve_summary(list(table["solved"]), [str(p) for p in table["service_problem"]])
    lines[0] += f"; results in {args.out / 'solve.ecsv'}"
    for line in lines:
        print(line)
    sys.stdout.flush()
    return 0 if n_ok == len(table) else 1
