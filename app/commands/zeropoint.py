"""``fluxion zeropoint FILE... --catalog NAME|FILE --out DIR``: calibrate photometry tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command imports its engine where it runs (a fast --help)
    from fluxion.core.catalogs.base import CatalogSource

from . import CommandError

NAME = "zeropoint"
HELP = "calibrate photometry tables against a reference catalog (writes mag, mag_err)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fluxion.core.catalogs.base import MAGNITUDE_COLUMNS

    p.add_argument("files", type=Path, nargs="+", help="photometry tables (ECSV or FITS)")
    p.add_argument(
        "--catalog",
        required=True,
        help="reference catalog: a table file (ECSV, FITS, VOTable) with ra, dec in degrees "
        f"and {MAGNITUDE_COLUMNS}; or catalog names separated by commas, tried in order "
        "for each frame's field (e.g. 'APASS DR9,ATLAS-RefCat2'); a file in the list "
        "serves as the last resort",
    )
    p.add_argument("--out", type=Path, required=True, help="folder for the calibrated tables")
    p.add_argument(
        "--filter",
        help="the frames' filter (default: the FILTER each photometry table carries, as "
        "'fluxion photometry' writes it)",
    )
    p.add_argument(
        "--band", default="auto", help="catalog band to calibrate to (default: from filter)"
    )
    p.add_argument("--colour-index", default="auto", help="colour of the colour term, e.g. B-V")
    p.add_argument("--no-colour-term", action="store_true", help="do not fit a colour term")
    p.add_argument("--spatial-order", type=int, default=0, help="order of the spatial polynomial")
    p.add_argument("--solar", action="store_true", help="use only stars of solar colour")
    p.add_argument("--radius", type=float, default=2.0, help="matching radius in arcsec")
    p.add_argument("--catalog-name", default="auto", help="name of the catalog in the file")
    p.add_argument("--offline", action="store_true", help="named catalogs from the cache only")
    p.add_argument("--cache-dir", type=Path, help="catalog cache folder (default: user cache)")
    p.add_argument("--vizier-server", help="VizieR mirror host (default: vizier.cds.unistra.fr)")


def _read_table(path: Path):
    from astropy.table import Table

    try:
        return Table.read(path)
    except Exception as exc:  # astropy raises many kinds for unreadable files
        raise CommandError(f"cannot read {path}: {exc}") from exc


def _catalog(spec: str):
    """The catalog table of a file, or (None, "") when ``spec`` names catalogs.

    The file is checked as every catalog file is (positions in degrees and a
    magnitude column, one message for what is missing), then used as it is:
    the zero point step reads its bands by their catalog's own names.
    """
    from fluxion.core.catalogs import CatalogError, normalise_table

    path = Path(spec)
    if not path.exists():
        return None, ""
    table = _read_table(path)
    try:
        normalise_table(table, source=path.name)
    except CatalogError as exc:
        raise CommandError(str(exc)) from exc
    return table, ""


def _frames(table, path: Path, shown: str):
    """Split a multi-frame table by its ``file`` column; else one frame (``shown``: its name)."""
    import numpy as np

    if "file" in table.colnames and len(np.unique(table["file"])) > 1:
        for name in np.unique(table["file"]):
            label = name.decode() if isinstance(name, bytes) else str(name)
            yield f"{shown}:{label.strip()}", table[table["file"] == name]
    else:
        yield shown, table


def _filter_of(table, given: str | None) -> str | None:
    """``--filter`` when given, else the filter the table carries (meta or column)."""
    if given:
        return given
    for key in ("FILTER", "filter"):
        if key in table.meta:
            return str(table.meta[key])
    if "filter" in table.colnames and len(table):
        value = table["filter"][0]
        return value.decode() if isinstance(value, bytes) else str(value)
    return None


def _field_catalogs(args: argparse.Namespace):
    from fluxion.core.catalogs import (
        CatalogCache,
        CatalogChain,
        CatalogError,
        LocalCatalog,
        VizierCatalog,
        catalog_by_name,
    )
    from fluxion.core.catalogs.fields import FieldCatalogs

    sources: list[CatalogSource] = []
    for name in (n.strip() for n in args.catalog.split(",")):
        if not name:
            continue
        if Path(name).exists():
            sources.append(LocalCatalog(name))
            continue
        try:
            source = catalog_by_name(name)
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc
        if isinstance(source, VizierCatalog) and args.vizier_server:
            source = VizierCatalog(source.spec, server=args.vizier_server)
        sources.append(source)
    if not sources:
        raise CommandError("--catalog: give a catalog name or a file")
    chain = CatalogChain(sources, cache=CatalogCache(args.cache_dir), offline=args.offline)
    return FieldCatalogs(chain)


def run(args: argparse.Namespace) -> int:
    from astropy.table import vstack

    from fluxion.core.catalogs.fields import field_of
    from fluxion.core.io.fitsio import atomic_write_ecsv
    from fluxion.core.io.folders import prepare_output_folder
    from fluxion.core.io.names import FrameNames
    from fluxion.core.zeropoint import ZeroPoint, ZeroPointParams, zero_point_table
    from fluxion.core.zeropoint.channels import calibrate_channels

    missing = [str(f) for f in args.files if not f.exists()]
    if missing:
        raise CommandError("no such file: " + ", ".join(missing))
    catalog, problem = _catalog(args.catalog)
    field_catalogs = None if catalog is not None else _field_catalogs(args)
    try:
        params = ZeroPointParams(
            catalog=args.catalog_name,
            band=args.band,
            colour_index=args.colour_index,
            fit_colour_term=not args.no_colour_term,
            spatial_order=args.spatial_order,
            solar_colours=args.solar,
            matching_radius=args.radius,
        )
    except (TypeError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    step = ZeroPoint(params)
    prepare_output_folder(args.out)
    names, results = [], []
    # Tables of the same name in different folders keep theirs apart (in sub-folders).
    unique = FrameNames.of(args.files)
    for path in args.files:
        table = _read_table(path)
        calibrated = []
        for name, frame in _frames(table, path, unique.file(path)):
            if field_catalogs is not None:
                frame, catalog, problem = field_catalogs.for_frame(frame)
            else:
                frame = field_of(frame)[0]  # ra/dec from the table's WCS when it has pixels only
            try:
                if "channel" in frame.colnames:
                    # A colour frame: each channel calibrated to its own band.
                    cal = calibrate_channels(step, frame, catalog, catalog_problem=problem)
                    done = [(f"{name} [{c}]", r) for c, r in cal.results.items()]
                    calibrated.append(cal.sources)
                else:
                    res = step(
                        frame, catalog, filter=_filter_of(frame, args.filter),
                        catalog_problem=problem,
                    )  # fmt: skip
                    done = [(name, res)]
                    calibrated.append(res.sources)
            except ValueError as exc:
                raise CommandError(f"{path}: {exc}") from exc
            for label, res in done:
                names.append(label)
                results.append(res)
                state = (
                    f"{res.band}: ZP {res.zero_point:.3f} +- {res.zero_point_err:.3f}, "
                    f"k {res.colour_term:+.3f}, {res.n_stars} stars, chi2 {res.chi2:.2f}"
                    if res.calibrated
                    else f"instrumental magnitudes kept: {res.reason}"
                )
                print(f"{label}: {state}")
        out = (
            vstack(calibrated, metadata_conflicts="silent")
            if len(calibrated) > 1
            else calibrated[0]
        )
        atomic_write_ecsv(args.out / unique.folder(path) / (path.stem + ".ecsv"), out)
    atomic_write_ecsv(args.out / "zeropoints.ecsv", zero_point_table(names, results))
    n_ok = sum(r.calibrated for r in results)
    print(f"{n_ok} of {len(results)} frames calibrated; tables in {args.out}")
    if field_catalogs is not None:
        print(field_catalogs.summary())
    return 0 if n_ok == len(results) else 1
