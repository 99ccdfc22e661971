"""``fluxion field PROJECT --out DIR``: light curves of every star of a night, and its variables.

Works on a project made by ``fluxion run`` (or by the window): every star
measured in every light, magnitude fitting, EPD and TFA, the variability
search; writes ``DIR/field_lightcurves.ecsv`` (one row per star and light)
and ``DIR/variability.ecsv`` (one row per star, most variable first).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CommandError
from .options import add_out_argument, add_workers_argument, check_folder, check_workers
from .progress import TerminalProgress

NAME = "field"
HELP = (
    "light curves of every star of a project's night: magnitude fitting, EPD/TFA, "
    "variability search (field_lightcurves.ecsv, variability.ecsv)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", type=Path, help="project folder (made by 'fluxion run')")
    add_out_argument(p)
    p.add_argument(
        "--catalog", type=Path, default=None,
        help="reference stars file (ra, dec, band magnitudes) for catalogue magnitudes, "
        "colours and the undetected stars (default: the project's own catalogue file)",
    )  # fmt: skip
    p.add_argument("--aperture", type=float, default=1.5, help="aperture radius (x median FWHM)")
    p.add_argument(
        "--diameter", type=float, default=0.0,
        help="telescope aperture in metres, for the scintillation in the expected noise",
    )  # fmt: skip
    p.add_argument("--no-epd", action="store_true", help="no EPD")
    p.add_argument("--no-tfa", action="store_true", help="no TFA")
    p.add_argument("--vsx", action="store_true", help="mark known variables from VSX (VizieR)")
    p.add_argument("--offline", action="store_true", help="VSX from the cache only")
    p.add_argument("--top", type=int, default=10, help="candidates to list")
    add_workers_argument(p)


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from fluxion.core.catalogs import CatalogError, read_catalog_file
    from fluxion.core.chain.field_project import project_field
    from fluxion.core.field.run import FieldStepParams, write_field
    from fluxion.core.project.document import Project, ProjectError, is_project
    from fluxion.core.runtime.pipeline import StepState

    check_workers(args.workers)
    check_folder(args.out)
    if not is_project(args.project):
        raise CommandError(f"{args.project} is not a project folder (no project.json)")
    try:
        project = Project.load(args.project)
    except (ProjectError, OSError, ValueError) as exc:
        raise CommandError(f"{args.project}: {exc}") from exc
    catalog = None
    if args.catalog is not None:
        try:
            catalog = read_catalog_file(args.catalog), f"catalogue {args.catalog.name}"
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc
    params = FieldStepParams(aperture_fwhm=args.aperture, epd=not args.no_epd,
                             tfa=not args.no_tfa, diameter_m=args.diameter,
                             vsx=args.vsx)  # fmt: skip
    progress = TerminalProgress()
    try:
        with ThreadPoolExecutor(args.workers) as pool:
            field = project_field(
                project, params, catalog=catalog, offline=args.offline,
                executor=pool if args.workers > 1 else None, state=StepState(progress),
            )  # fmt: skip
    except ValueError as exc:
        raise CommandError(f"{args.project}: {exc}") from exc
    result, data = field.result, field.result.data
    try:
        paths = write_field(result, args.out)
    except OSError as exc:
        raise CommandError(f"cannot write into {args.out}: {exc}") from exc
    progress.done()
    table = result.variability
    fit = result.magfit
    radius = data.meta["aperture_radius"]
    print(
        f"{data.n_stars} stars in {data.n_frames} lights (aperture {radius:.1f} px); "
        f"magnitude fit {fit.model}, {int(fit.used.sum())} stars in the fits, median "
        f"frame rms {np.nanmedian(fit.frame_rms):.4f} mag"
    )
    if result.detrended is not None:
        det = result.detrended
        print(
            f"detrending: median rms {np.nanmedian(det.rms_before):.4f} -> "
            f"{np.nanmedian(det.rms_after):.4f} mag; TFA {det.n_trends} trend(s) from "
            f"{len(det.templates)} templates"
        )
    for line in field.notes:
        print(f"note: {line}")
    n_cand = int(np.sum(table["candidate"]))
    print(f"{n_cand} candidate(s) of {table.meta['searched']} stars searched:")
    for row in table[: max(args.top, 0)]:
        if not row["candidate"]:
            break
        period = f", P = {row['period_h']:.3f} h" if np.isfinite(row["period_h"]) else ""
        known_name = f" [{row['known_variable']}]" if row["known_variable"] else ""
        print(
            f"  star {row['star_id']}: ({row['x']:.0f}, {row['y']:.0f}) RA {row['ra']:.5f} "
            f"Dec {row['dec']:+.5f}, {row['mean_mag']:.2f} mag, rms {row['rms']:.4f} "
            f"(noise {row['expected_rms']:.4f}), index {row['index']:.1f}{period}{known_name}"
        )
    print(f"written: {paths['lightcurves']}, {paths['variability']}")
    return 0
