"""``fluxion run PATH --project DIR``: the whole chain on a night, into a project the GUI opens."""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

from . import CommandError
from .coordinates import dec_degrees, ra_degrees
from .options import (
    add_paths_arguments,
    add_site_arguments,
    add_workers_argument,
    check_folder,
    check_paths,
    check_workers,
    observing_site,
    recurse,
)
from .progress import TerminalProgress
from .run_params import night_params
from .run_transit import add_transit_arguments, check_transit, keep_transit, run_transit_fit

NAME = "run"
#: The catalog asked when neither ``--catalog`` nor the night names one.
DEFAULT_CATALOG = "Gaia DR3"
HELP = (
    "calibrate, detect, solve, measure and calibrate photometrically every light of a "
    "night, then the target's light curve; writes a project (project.json, products, "
    "frames.ecsv) that the GUI opens; a re-run redoes only what changed"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fluxion.core.catalogs.base import MAGNITUDE_COLUMNS

    add_paths_arguments(p)
    p.add_argument(
        "--project",
        "--out",
        dest="project",
        type=Path,
        required=True,
        metavar="DIR",
        help="project folder (created); --out DIR is the same",
    )
    target = p.add_mutually_exclusive_group()
    target.add_argument("--target", metavar="NAME", help="asteroid or comet (JPL Horizons)")
    target.add_argument(
        "--positions", type=Path, metavar="FILE", help="the target's track (fluxion track output)"
    )
    target.add_argument(
        "--ra",
        type=ra_degrees,
        help="a fixed target's RA: degrees, or hours as 19:04:09.85 (with --dec)",
    )
    p.add_argument(
        "--dec",
        type=dec_degrees,
        help="a fixed target's Dec: degrees, or +36:37:57.4 (with --ra)",
    )
    p.add_argument(
        "--catalog",
        default=None,
        help="reference stars for astrometry and zero points: a catalog name (Gaia DR3, "
        f"APASS DR9, ATLAS-RefCat2, ...) or a table file with ra, dec and {MAGNITUDE_COLUMNS} "
        "(default: the night's own catalog when it carries one, as a night written by "
        "'fluxion demo' does, else Gaia DR3)",
    )
    p.add_argument(
        "--executor",
        default="processes",
        help="where per-frame work runs with --workers > 1: processes (default; started "
        "clean, not forked from this one), threads (one process: Python parts of the steps "
        "share one core), or dask://HOST:PORT (a dask.distributed scheduler; needs the "
        "'dask' extra)",
    )
    add_workers_argument(p, help="frames processed at once (worker processes by default)")
    p.add_argument(
        "--aperture",
        type=float,
        default=None,
        help="aperture radius in px; 0: the best radius from the curve of growth (the "
        "default for a new project; kept in the project, so later runs use it)",
    )
    p.add_argument(
        "--telescope-aperture",
        type=float,
        default=None,
        metavar="MM",
        help="the telescope's aperture diameter in mm, for the scintillation in every "
        "star's error where the headers give none (APTDIA); 0: only the headers' (without "
        "one, scintillation is left out and the light curve says so). Kept in the project, "
        "so later runs use it; a changed value redoes only the zero points",
    )
    add_site_arguments(p, kept="kept in the project (its 'site'), so later runs use it")
    p.add_argument(
        "--band",
        default=None,
        metavar="BAND",
        help="the catalog band the lights are calibrated to (U B V R I, u g r i z, G), "
        "overriding the one their FILTER names; for a filter that names no band (R for an "
        "unfiltered camera). 'auto' (default): from the FILTER. Kept in the project, so "
        "later runs use it; a changed band redoes only the zero points",
    )
    p.add_argument(
        "--comparison",
        choices=("auto", "on", "off"),
        default="auto",
        help="the light curve against an ensemble of the night's comparison stars (chosen "
        "stable, unsaturated, isolated, of the target's brightness) instead of the frames' "
        "zero points: auto (default) when fewer than half the lights are calibrated (no "
        "catalog, a filter without a band, too few catalog stars), on: always, off: never",
    )
    p.add_argument(
        "--channel",
        choices=("R", "G", "B", "L"),
        default=None,
        help="colour (Bayer) frames: the channel the light curve follows (default G; R, G and "
        "B are measured and calibrated to Cousins R, V and B, the curve carries all three; L: "
        "every pixel, for faint targets)",
    )
    p.add_argument(
        "--aavso",
        type=Path,
        metavar="FILE",
        help="the target's light curve as an AAVSO extended report (.txt; calibrated frames, "
        "filter TG, TB or TR for a colour camera's channel)",
    )
    p.add_argument("--aavso-code", default="", help="your AAVSO observer code (with --aavso)")
    p.add_argument("--object", default="", help="the star's AAVSO name (with --aavso)")
    p.add_argument(
        "--no-cosmic-rays",
        action="store_true",
        help="do not search for cosmic rays (kept in the project)",
    )
    p.add_argument("--offline", action="store_true", help="named catalogs from the cache only")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML summary")
    add_transit_arguments(p)


@contextlib.contextmanager
def open_executor(spec: str, workers: int) -> Iterator[Executor | None]:
    """The executor named by ``--executor`` (None for one worker), closed afterwards.

    Processes come from a forkserver (or spawn), never forked from this
    process, ignore Ctrl-C (the run stops cleanly after the frames in flight)
    and are replaced when one is killed (:class:`WorkerPool`).
    """
    if spec in ("threads", "processes") and workers == 1:
        yield None
    elif spec == "threads":
        with ThreadPoolExecutor(workers) as pool:
            yield pool
    elif spec == "processes":
        from fluxion.core.chain import WORKER_PRELOAD
        from fluxion.core.runtime.processes import WorkerPool

        # The forkserver imports the chain once; each worker starts with it.
        # Named from the chain's package (no import of the chain itself): the
        # forkserver starts at once and imports beside this process's imports.
        with WorkerPool(workers, preload=WORKER_PRELOAD) as pool:
            yield pool
    elif spec.startswith("dask://") or spec.startswith("tcp://"):
        try:
            from distributed import Client
        except ImportError:
            raise CommandError(
                "--executor dask:// needs dask.distributed: pip install 'fluxion[dask]'"
            ) from None
        address = "tcp://" + spec.split("://", 1)[1]
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise CommandError(f"cannot reach the dask scheduler at {address}: {exc}") from exc
        try:
            # pure=False: every frame's work writes products, so never skip a call
            # that looks like an earlier one.
            yield client.get_executor(pure=False)
        finally:
            client.close()
    else:
        raise CommandError(f"--executor {spec!r}: use threads, processes or dask://HOST:PORT")


def chosen_catalog(args: argparse.Namespace) -> str:
    """``--catalog``, or when not given the night's own catalog file, else Gaia DR3.

    A night that carries its reference stars (the simulator's
    ``truth/reference_catalog.ecsv``) uses them, as the window does, so a demo
    night runs with no network.
    """
    from fluxion.core.catalogs.night import night_catalog

    if args.catalog is not None:
        return args.catalog
    own = night_catalog(args.paths)
    if own is None:
        return DEFAULT_CATALOG
    print(f"catalog: the night's own reference stars, {own}")
    return str(own)


def _catalog(args: argparse.Namespace, frames):
    """(SolveParams fields, reference table or None, note) from ``--catalog``."""
    from astropy.table import Table

    path = Path(args.catalog)
    if path.suffix.lower() in (".ecsv", ".fits", ".fit", ".csv", ".vot", ".xml") or path.exists():
        if not path.is_file():
            raise CommandError(f"catalog file not found: {path}")
        try:
            table = Table.read(path)
        except Exception as exc:  # astropy raises many kinds for unreadable files
            raise CommandError(f"cannot read the catalog {path}: {exc}") from exc
        return {"catalog": "Local file", "catalog_file": str(path.resolve())}, table, ""
    return {"catalog": args.catalog, "offline": args.offline}, None, ""


def _field_catalog(args, frames):
    """Reference stars around the night's pointing through the catalog chain and its cache.

    Returns the table (None when none answered), the run's note on why not,
    and each uncalibrated light's reason.
    """
    from fluxion.core.catalogs import (
        CatalogCache,
        CatalogChain,
        CatalogError,
        Cone,
        catalog_by_name,
    )
    from fluxion.core.runtime.network import OFFLINE_HELP

    pointed = [f for f in frames if f.type == "light" and f.ra is not None and f.dec is not None]
    if not pointed:
        return None, *["no pointing (RA/DEC) in the headers to fetch the catalog for"] * 2
    f = pointed[0]
    radius = 0.5
    if f.shape is not None and f.pixel_scale is not None:
        radius = 0.75 * max(f.shape) * f.pixel_scale.arcsec_per_px / 3600.0 + 0.1
    try:
        chain = CatalogChain(
            [catalog_by_name(args.catalog)], cache=CatalogCache(), offline=args.offline
        )
        answer = chain.query(Cone(f.ra, f.dec, radius))
    except CatalogError as exc:
        if exc.unreachable:
            # The network first, then what still works without it; each light's
            # reason says what it still has (the advice is the run's note, once).
            return None, f"{exc}. {OFFLINE_HELP}", f"{exc}; {_STILL_DONE}"
        return None, str(exc), str(exc)
    return answer.table, "", ""


#: What an uncalibrated light still has when the catalog's service could not be reached.
_STILL_DONE = (
    "the light is still solved and measured (instrumental magnitudes), and the light "
    "curve can be differential against comparison stars (--comparison)"
)


def _pointed_at_target(args: argparse.Namespace, frames: list) -> list:
    """Lights without a pointing in their headers pointed at the fixed target (--ra/--dec).

    A star whose light curve is asked for is in the field, so its place is a
    pointing good to half a field: enough for the catalog's cone and for the
    solver's search near it, where headers without RA/DEC (MaxIm DL's without
    a telescope link) would leave only a blind search.
    """
    if args.ra is None or args.dec is None:
        return frames
    bare = [f.type == "light" and (f.ra is None or f.dec is None) for f in frames]
    if not any(bare):
        return frames
    print(
        f"pointing: {sum(bare)} lights give none in their headers; "
        f"searched near the target (RA {args.ra:.5f} Dec {args.dec:+.5f})"
    )
    return [
        dataclasses.replace(f, ra=float(args.ra), dec=float(args.dec)) if b else f
        for f, b in zip(frames, bare, strict=True)
    ]


def _locator(args: argparse.Namespace):
    from fluxion.core.chain.targets import ephemeris_target, fixed_target, track_target

    if args.ra is not None or args.dec is not None:
        if args.ra is None or args.dec is None:
            raise CommandError("give both --ra and --dec")
        return fixed_target(args.ra, args.dec), f"RA {args.ra:.5f} Dec {args.dec:+.5f}"
    if args.positions is not None:
        from fluxion.core.reports import ExportError
        from fluxion.core.reports.table import read_positions

        try:
            return track_target(read_positions(args.positions)), args.positions.stem
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
    if args.target:
        return ephemeris_target(args.target), args.target
    return None, ""


@contextlib.contextmanager
def _ctrl_c_cancels(state) -> Iterator[None]:
    """The first Ctrl-C asks the run to stop after the frames in flight; a second one kills."""
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):  # noqa: ARG001 (signal handler signature)
        if state.cancelled:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        print("\nstopping after the frames in progress (Ctrl-C again to quit now)", file=sys.stderr)
        state.cancel()

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (tests): no handler, cancel through state
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    # The workers start first: their forkserver imports the chain while this
    # process imports it and scans the night, not after.
    with open_executor(args.executor, args.workers) as executor:
        return _run(args, executor)


def _check_arguments(args: argparse.Namespace) -> None:
    check_paths(args.paths)
    check_workers(args.workers)
    if args.aavso is not None:
        if args.ra is None and args.target is None and args.positions is None:
            raise CommandError("--aavso needs a target: --ra/--dec, --target or --positions")
        if not args.aavso_code.strip():
            raise CommandError("--aavso needs your AAVSO observer code: --aavso-code")
        if not args.object.strip():
            raise CommandError("--aavso needs the star's AAVSO name: --object")
    args.observing_site = observing_site(args)
    _check_band(args.band)
    if args.telescope_aperture is not None and not args.telescope_aperture >= 0:
        raise CommandError("--telescope-aperture must be a diameter in mm (> 0), or 0")
    check_folder(args.project)
    inputs = {p.resolve() for p in args.paths}
    if args.project.resolve() in inputs:
        raise CommandError("the project folder must not be the folder of the raw frames")
    check_transit(args)


def _check_band(band: str | None) -> None:
    """A one-line error for a ``--band`` that names no catalog band."""
    from fluxion.core.zeropoint.params import BANDS

    if band is not None and band not in BANDS:
        raise CommandError(
            f"--band {band!r} is not a known band; known: {', '.join(BANDS)} "
            "(auto: from each light's FILTER; R for an unfiltered camera)"
        )


def _run(args: argparse.Namespace, executor: Executor | None) -> int:
    from fluxion.core.chain.night import FRAMES_FILE, run_night
    from fluxion.core.io.sequence import scan
    from fluxion.core.project.document import Project, ProjectError, is_project
    from fluxion.core.runtime.failures import failure_message
    from fluxion.core.runtime.pipeline import Cancelled, StepState
    from fluxion.core.runtime.processes import WorkerLost

    locate, target_name = _locator(args)
    progress = TerminalProgress()
    state = StepState(progress)
    frames = scan(args.paths, state=state.sub(0.0, 0.02), recursive=recurse(args))
    if not any(f.type == "light" and f.usable for f in frames):
        progress.done()
        raise CommandError(f"no usable light frame among {len(frames)} files")
    _print_unusable(frames)
    frames = _pointed_at_target(args, frames)
    args.catalog = chosen_catalog(args)
    solve_fields, catalog, problem = _catalog(args, frames)
    lights_problem = ""
    said = []  # the run's own notes before the night's
    if colour := colour_note(frames, args.channel):
        said.append(colour)
        print(colour)
    if catalog is None:
        catalog, problem, lights_problem = _field_catalog(args, frames)
        if problem:
            said.append(f"catalog: {problem.rstrip('.')}; magnitudes stay instrumental")
            print(said[-1], file=sys.stderr)
    try:
        if is_project(args.project):
            project = Project.load(args.project)
            project.inputs = sorted({*project.inputs, *(p.resolve() for p in args.paths)})
        else:
            project = Project.from_inputs(args.paths)
        # The project's parameters (a previous run's, or the window's) with the options'.
        params = night_params(args, project, solve_fields)
        if args.observing_site is not None:
            project.site = args.observing_site
        if args.telescope_aperture is not None:
            # The run fills it into the lights whose headers give none (run_night).
            project.telescope_aperture_mm = args.telescope_aperture or None
        project.save(args.project)
    except (ProjectError, ValueError, TypeError) as exc:
        raise CommandError(str(exc)) from exc
    # The last run's account, so that an unchanged run keeps its time (_keep_notes).
    previous = copy.deepcopy(project.results.get("run"))
    try:
        with _ctrl_c_cancels(state):
            result = run_night(
                project, frames, params, catalog=catalog,
                catalog_problem=lights_problem,
                target=locate,
                target_name=target_name or "target", executor=executor,
                state=state.sub(0.02, 1.0), channel=args.channel,
                comparison=args.comparison,
            )  # fmt: skip
    except Cancelled:
        progress.done()
        print("stopped: finished frames are kept; run the same command again to go on")
        return 130
    except WorkerLost as exc:  # an executor that cannot replace a dead worker
        progress.done()
        raise CommandError(f"{exc}; run the same command again to go on") from exc
    except (ProjectError, OSError) as exc:
        # The project folder itself failed (a full disk, a read-only folder):
        # finished frames are kept, as after a cancel.
        progress.done()
        why = str(exc) if isinstance(exc, ProjectError) else failure_message(exc)
        raise CommandError(
            f"cannot write into the project {args.project}: {why}; finished frames are kept"
        ) from exc
    progress.done()
    result.notes.extend(run_transit_fit(args, result.light_curve, args.project))
    keep_transit(result.project, args)
    _keep_notes(result.project, previous, said + result.notes)
    _print_summary(result, args.project / FRAMES_FILE)
    if args.aavso is not None:
        _write_aavso(args, result.light_curve)
    if not args.no_report:
        _summary_page(args.project, result)
    return 0 if all(s == "ok" for s in result.frames["status"]) else 1


def colour_note(frames, channel: str | None) -> str | None:
    """What a night of colour (Bayer) lights is measured as, for the notes; None for mono."""
    patterns = sorted({f.cfa for f in frames if f.type == "light" and f.usable and f.cfa})
    if not patterns:
        return None
    return (
        f"colour camera (Bayer {', '.join(patterns)}): each star is measured in R, G and B on "
        "their own pixels, not debayered (calibrated to Cousins R, V and B against a catalog); "
        f"the light curve follows {channel or 'G'} (--channel R, G, B or L)"
    )


def _keep_notes(project, previous, notes: list[str]) -> None:
    """Keep the run's notes in the project (its ``run`` result's ``notes``), for the window.

    They say why the curve is against comparison stars, which lights have weak
    zero points, which filter names no band: the window shows them when the
    project is opened. A run that changed nothing keeps its time, as the
    project keeps a step's unchanged result.
    """
    from fluxion.core.project.document import ProjectError

    run = project.results.get("run")
    if run is None:
        return
    run.summary["notes"] = list(notes)
    if previous is not None and (previous.files, previous.summary) == (run.files, run.summary):
        run.finished = previous.finished
    try:
        project.save()
    except (ProjectError, OSError) as exc:
        print(f"the run's notes were not kept in the project: {exc}", file=sys.stderr)


def _write_aavso(args: argparse.Namespace, light_curve) -> None:
    from fluxion.core.reports import ExportError
    from fluxion.core.reports.aavso import format_aavso_light_curve, write_aavso

    if light_curve is None:
        raise CommandError("--aavso: the run made no light curve (see the notes above)")
    try:
        text = format_aavso_light_curve(light_curve, args.object.strip(), obscode=args.aavso_code)
        write_aavso(args.aavso, text)
    except ExportError as exc:
        raise CommandError(f"--aavso: {exc}") from exc
    print(f"AAVSO: {text.count(chr(10)) - 7} observations in {args.aavso}")


def _print_unusable(frames) -> None:
    """Each file the night cannot use, with why; the run goes on with the others."""
    from fluxion.core.runtime.failures import shown_text

    for f in frames:
        if not f.usable:
            print(f"skipped  {shown_text(f.path)}: {'; '.join(f.problems) or 'not an image'}")
    # A frame used all the same may be used in part (one amplifier of a mosaic):
    # said once per cause, before the run, not only by 'fluxion scan'.
    alike: dict[str, list[str]] = {}
    for f in frames:
        if f.usable:
            for problem in f.problems:
                alike.setdefault(problem, []).append(shown_text(f.path))
    for problem, files in alike.items():
        more = f" and {len(files) - 3} more" if len(files) > 3 else ""
        print(f"note     {', '.join(files[:3])}{more}: {problem}")


def _print_summary(result, frames_file: Path) -> None:
    from fluxion.core.astrometry.summary import same_cause
    from fluxion.core.runtime.failures import shown_text

    for step, c in result.counts.items():
        print(f"{step:12s} {c.get('done', 0):4d} done, {c.get('current', 0):4d} current")
    # Lights that failed alike are said once (a filter without a band stops every light's
    # zero point: 70 identical lines buried the notes); a light alone is named. An
    # unreachable catalog is met again "N s ago" in every light: the same cause.
    alike: dict[str, list[str]] = {}
    for row in result.frames:
        if row["status"] != "ok":
            alike.setdefault(same_cause(str(row["status"])), []).append(shown_text(row["file"]))
    for status, files in alike.items():
        if len(files) < _SAID_ALIKE:
            for file in files:
                print(f"{file}: {status}")
        else:
            more = f" and {len(files) - 3} more" if len(files) > 3 else ""
            print(f"{len(files)} lights ({', '.join(files[:3])}{more}): {status}")
    for note in result.notes:
        print(note)
    n_ok = sum(s == "ok" for s in result.frames["status"])
    print(f"{n_ok} of {len(result.frames)} lights fully processed; per frame: {frames_file}")
    if result.light_curve is not None:
        print(f"light curve: {frames_file.parent / 'lightcurve.ecsv'}")


#: Lights failing with the same status are said in one line from this many on.
_SAID_ALIKE = 4


def _summary_page(folder: Path, result) -> None:
    """The HTML summary, when Qt can draw offscreen (it is optional)."""
    try:
        from fluxion.app.report import write_report
    except ImportError:
        return
    try:
        path = write_report(folder, result.frames, result.light_curve, result.notes)
    except Exception as exc:  # the summary is a convenience: never fail the run for it
        from fluxion.core.runtime.failures import failure_message

        print(f"no HTML summary: {failure_message(exc)}", file=sys.stderr)
        return
    if path is not None:
        print(f"summary: {path}")
