"""``fluxion transients PATH --project DIR``: what is new in a night, and a target's limits.

Works on the project ``fluxion run`` makes of PATH (made first when DIR is
not a project yet): a template (the night's sharpest frames, ``--template
FILE`` or ``--survey``) subtracted from every light with ZOGY, candidates on
the differences and against the catalogue, known asteroids rejected with
``--skybot``; with ``--ra/--dec`` forced photometry on every difference with
limiting magnitudes. Writes ``candidates.ecsv`` and ``forced.ecsv`` into
DIR (or ``--out``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CommandError
from .options import add_workers_argument, check_folder, check_paths, check_workers
from .progress import TerminalProgress

NAME = "transients"
HELP = (
    "transient search on a night: template subtraction (ZOGY) and catalogue comparison; "
    "with --ra/--dec forced photometry with limits (candidates.ecsv, forced.ecsv)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, help="the night's raw frames (folders or files)")
    p.add_argument(
        "--project", type=Path, required=True,
        help="project folder (made with 'fluxion run' when it is not one yet)",
    )  # fmt: skip
    source = p.add_mutually_exclusive_group()
    source.add_argument("--template", type=Path, default=None,
                        help="reference image (FITS with a WCS) as the template")  # fmt: skip
    source.add_argument(
        "--survey", nargs="?", const="CDS/P/DSS2/red", default=None, metavar="HIPS",
        help="a survey cutout from CDS hips2fits as the template (default CDS/P/DSS2/red)",
    )  # fmt: skip
    p.add_argument(
        "--template-frames", type=int, default=0,
        help="sharpest frames stacked into the night's template (0: a third)",
    )  # fmt: skip
    p.add_argument("--ra", type=float, default=None, help="target RA in degrees (with --dec)")
    p.add_argument("--dec", type=float, default=None, help="target Dec in degrees (with --ra)")
    p.add_argument("--sigma", type=float, default=5.0,
                   help="forced photometry: detection S/N and limit (default 5)")  # fmt: skip
    p.add_argument("--threshold", type=float, default=5.0,
                   help="detection threshold on the difference (sigma, default 5)")  # fmt: skip
    p.add_argument("--no-difference", action="store_true", help="no template subtraction")
    p.add_argument("--no-catalogue", action="store_true", help="no catalogue comparison")
    p.add_argument("--skybot", action="store_true",
                   help="reject known Solar System objects (SkyBoT, cached)")  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the project)")
    p.add_argument("--top", type=int, default=10, help="candidates to list")
    add_workers_argument(p)


def _ensure_project(args: argparse.Namespace) -> None:
    from fluxion.core.project.document import is_project

    if is_project(args.project):
        return
    from fluxion.app.cli import main

    print(f"{args.project} is not a project yet: running 'fluxion run' first")
    argv = ["run", *(str(p) for p in args.paths), "--project", str(args.project),
            "--workers", str(args.workers), "--no-report"]  # fmt: skip
    status = main(argv)
    if status != 0:
        raise CommandError(f"'fluxion run' on {args.paths[0]} failed; no transient search")


def _template(args, frames):
    from fluxion.core.catalogs.cache import default_cache_dir
    from fluxion.core.transients.template import TemplateError, reference_template, survey_template

    try:
        if args.template is not None:
            return reference_template(args.template)
        if args.survey is not None:
            middle = frames[len(frames) // 2]
            return survey_template(
                middle.wcs, middle.image.shape, hips=args.survey,
                cache_dir=default_cache_dir() / "hips2fits",
            )  # fmt: skip
    except TemplateError as exc:
        raise CommandError(str(exc)) from exc
    return None


def _known(frames):
    import numpy as np
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.time import Time

    from fluxion.core.catalogs.cache import default_cache_dir
    from fluxion.core.targets.ephemerides import EphemerisError, known_objects_in_field

    f = frames[len(frames) // 2]
    ny, nx = f.image.shape
    centre = f.wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
    corner = f.wcs.pixel_to_world(0, 0)
    radius = centre.separation(corner) * 1.05
    jd = np.nanmedian([fr.jd_utc for fr in frames])
    try:
        known = known_objects_in_field(
            SkyCoord(centre), radius.to(u.deg), Time(jd, format="jd", scale="utc"),
            cache_dir=default_cache_dir() / "skybot",
        )  # fmt: skip
    except EphemerisError as exc:
        print(f"note: known asteroids not rejected: {exc}")
        return None
    print(f"SkyBoT: {len(known)} known object(s) in the field ({known.meta.get('source', '')})")
    return known


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from astropy.coordinates import EarthLocation

    from fluxion.core.chain.field import catalog_columns, project_catalog, project_lights
    from fluxion.core.chain.transients import project_transient_frames
    from fluxion.core.project.document import Project, ProjectError
    from fluxion.core.runtime.pipeline import StepState
    from fluxion.core.transients.difference import DifferenceParams
    from fluxion.core.transients.night import NightSearchParams, search_night, write_transients
    from fluxion.core.transients.template import TemplateError

    check_paths(args.paths)
    check_workers(args.workers)
    check_folder(args.project)
    if (args.ra is None) != (args.dec is None):
        raise CommandError("give both --ra and --dec (degrees), or neither")
    if args.no_difference and args.no_catalogue:
        raise CommandError("--no-difference and --no-catalogue leave nothing to search")
    if args.ra is not None and not (0.0 <= args.ra < 360.0 and -90.0 <= args.dec <= 90.0):
        raise CommandError(f"--ra {args.ra} --dec {args.dec}: not a sky position in degrees")
    if args.template is not None and not args.template.is_file():
        raise CommandError(f"{args.template}: no such template file")
    out = args.out if args.out is not None else args.project
    check_folder(out)
    _ensure_project(args)
    try:
        project = Project.load(args.project)
    except (ProjectError, OSError, ValueError) as exc:
        raise CommandError(f"{args.project}: {exc}") from exc
    progress = TerminalProgress()
    state = StepState(progress)
    lights = project_lights(project, state=state.sub(0.0, 0.02))
    frames, notes = project_transient_frames(project.folder, lights, state=state.sub(0.02, 0.1))
    if not frames:
        progress.done()
        raise CommandError(f"{args.project}: no light with detections and a solution")
    site = next((f.site for f in lights if f.site is not None), None)
    location = None if site is None else EarthLocation.from_geodetic(*site)
    catalog = None
    if not args.no_catalogue:
        table, how = project_catalog(project)
        if table is not None:
            mag, _, _ = catalog_columns(table, lights[0].filter)
            catalog = (np.asarray(table["ra"], float), np.asarray(table["dec"], float), mag)
        print(f"catalogue: {how}")
    template = None if args.no_difference else _template(args, frames)
    known = _known(frames) if args.skybot else None
    params = NightSearchParams(
        difference=not args.no_difference, catalogue=not args.no_catalogue,
        n_template=max(args.template_frames, 0), limit_sigma=args.sigma,
    )  # fmt: skip
    target = (args.ra, args.dec) if args.ra is not None else None
    try:
        with ThreadPoolExecutor(args.workers) as pool:
            result = search_night(
                frames, template=template, catalog=catalog, target=target, known=known,
                location=location, params=params,
                difference=DifferenceParams(threshold=args.threshold),
                executor=pool if args.workers > 1 else None, state=state.sub(0.1, 1.0),
            )  # fmt: skip
    except (TemplateError, ValueError) as exc:
        progress.done()
        raise CommandError(f"{args.project}: {exc}") from exc
    try:
        paths = write_transients(result, out)
    except OSError as exc:
        raise CommandError(f"cannot write into {out}: {exc}") from exc
    progress.done()
    for line in notes + result.notes:
        print(f"note: {line}")
    if result.template is not None:
        print(f"template: {result.template.source}")
    cand = result.candidates
    accepted = cand[cand["accepted"]]
    # Group numbers are each mode's own: an object is a (mode, group) pair.
    keys = [(str(m), int(g)) for m, g in zip(accepted["mode"], accepted["group"], strict=True)]
    groups = list(dict.fromkeys(keys))
    print(
        f"{len(frames)} lights searched; {len(accepted)} accepted detections of "
        f"{len(groups)} object(s), {len(cand) - len(accepted)} rejected"
    )
    for mode, g in groups[: max(args.top, 0)]:
        rows = accepted[(accepted["group"] == g) & (accepted["mode"] == mode)]
        best = rows[int(np.argmax(rows["score"]))]
        mags = np.asarray(rows["mag"], float)
        mag = ""
        if np.isfinite(mags).any():
            mag = f", mag {np.nanmin(mags):.2f}-{np.nanmax(mags):.2f}"
        print(
            f"  RA {best['ra']:.5f} Dec {best['dec']:+.5f} ({best['x']:.0f}, {best['y']:.0f}): "
            f"{best['mode']}, {len(rows)} frame(s), score up to {best['score']:.0f}{mag}"
        )
    if result.forced is not None:
        f = result.forced
        print(
            f"target: detected in {int(np.sum(f['detected']))} of {len(f)} lights; "
            f"median {args.sigma:g}-sigma limit {np.nanmedian(f['limit_mag']):.2f} mag"
        )
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0
