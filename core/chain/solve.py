"""Astrometry in the project: one header-only ``.wcs.fits`` per frame in the ``wcs`` step folder.

A frame that could not be solved gets a product too (no WCS, the reason in
``FLXREASN``), so that a re-run with the same inputs does not try again; the
stars matched to the catalog go beside the solution (``.matches.ecsv``) for
the panel's residual plots. A solution is also written into the frame's
calibrated product (never into the input), so that the project's calibrated
frames open with their WCS in any FITS viewer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import weakref
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from ..astrometry.centroids import centroid_method, centroids_for_solving, sources_fwhm
from ..astrometry.cfa_sources import green_sources
from ..astrometry.files import strip_wcs, write_solution_into
from ..astrometry.params import SolveParams
from ..astrometry.solve import PlateSolver, SolveHint, SolveResult, not_solved
from ..astrometry.step import fallbacks_for, hint_for_frame, solver_for
from ..calibration.apply import write_calibrated_product
from ..detection.extract import Detection, DetectionParams
from ..io.cards import fits_text
from ..io.ecsv_read import read_ecsv
from ..io.fitsio import (
    FitsReadError,
    atomic_write_ecsv,
    atomic_write_hdulist,
    atomic_write_header,
    read_header,
    read_wcs,
)
from ..io.frames import FrameInfo
from ..project.products import ProductStore, fingerprint, solution_wcs
from ..runtime.params import params_to_dict
from ..runtime.pipeline import StepState
from ..runtime.quiet import quiet
from .blind import unhinted
from .calibrate import _calibrated_product, frame_image
from .detect import detect_frame
from .record import FrameRecord

__all__ = [
    "catalog_digest",
    "frame_wcs",
    "load_solution",
    "solution_fingerprint",
    "solve_frame",
    "solved_path",
    "write_into_calibrated",
]

log = logging.getLogger(__name__)

_SUFFIX = ".wcs.fits"
#: Card of a calibrated frame naming the solution (its fingerprint) written into it.
_SOLUTION_CARD = "FLXWCSFP"
#: Cards of a solution (``SolveResult.wcs_header`` and the refusal's) besides the WCS itself.
_SOLUTION_FLX = (
    "FLXSOLV", "FLXNSTAR", "FLXRMS", "FLXCERR", "FLXCAT", "FLXQUAL", "FLXREASN", "FLXSECS",
)  # fmt: skip


def catalog_digest(catalog: Any) -> str:
    """A short identity of a reference catalog for fingerprints.

    A table is identified by its positions (a changed file changes it); a
    catalog service by its name, since its answers are cached per field.
    """
    if catalog is None:
        return ""
    if isinstance(catalog, Table):
        h = hashlib.sha256()
        h.update(repr(catalog.colnames).encode())
        for name in ("ra", "dec", "RA_ICRS", "DE_ICRS"):
            if name in catalog.colnames:
                h.update(np.ascontiguousarray(catalog[name], dtype=np.float64).tobytes())
        return f"table:{len(catalog)}:{h.hexdigest()[:16]}"
    return f"{type(catalog).__name__}:{getattr(catalog, 'name', '')}"


def solution_fingerprint(params: SolveParams, sources_fp: str | None, catalog: Any = None) -> str:
    """Fingerprint of a frame's solution from its sources and the step's parameters.

    The hint is left out on purpose: it only narrows the search, and a
    verified solution does not depend on where the search started.
    """
    return fingerprint(
        "astrometry", params_to_dict(params), sources_fp or "", catalog_digest(catalog)
    )


def _write(store: ProductStore, frame: FrameInfo, result: SolveResult, fp: str) -> None:
    path = store.path("astrometry", frame.path, _SUFFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    if result.solved and result.wcs is not None:
        # The solution's own cards (made once, also for the calibrated frame), not a copy.
        cards = list(result.solution_cards().cards)
    else:
        cards = [
            fits.Card("FLXSOLV", "none", "Fluxion astrometry: not solved"),
            fits.Card("FLXQUAL", "not solved", "quality verdict"),
            # A reason may quote a file name or a service's answer: printable ASCII only.
            fits.Card("FLXREASN", fits_text(result.reason)[:2000], "why not solved"),
        ]
    cards.append(fits.Card("FLXSECS", round(float(result.seconds), 3), "[s] time to solve"))
    matches = store.path("astrometry", frame.path, ".matches.ecsv")
    if result.matches is not None and len(result.matches):
        atomic_write_ecsv(matches, result.matches)
    else:
        matches.unlink(missing_ok=True)
    # Header only, as astrometry.net's .wcs files are.
    atomic_write_header(path, cards)
    store.record("astrometry", frame.path, fp)


def load_solution(store: ProductStore, frame: FrameInfo) -> SolveResult | None:
    """``frame``'s stored solution (solved or not), or None when it was never solved."""
    path = store.path("astrometry", frame.path, _SUFFIX)
    if not path.exists():
        return None
    with quiet():
        header = fits.getheader(path)
    if header.get("FLXSOLV", "none") == "none":
        return SolveResult(
            False,
            "none",
            reason=str(header.get("FLXREASN", "")),
            seconds=float(header.get("FLXSECS", 0.0)),
        )
    with quiet():
        wcs = solution_wcs(header)  # the header just read, not the file again
    if wcs is None:
        return not_solved("none", "the stored solution has no readable WCS")
    matches = None
    mpath = store.path("astrometry", frame.path, ".matches.ecsv")
    if mpath.exists():
        matches = read_ecsv(mpath)
    scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial))) * 3600.0
    rms = header.get("FLXRMS")
    return SolveResult(
        True,
        str(header.get("FLXSOLV")),
        wcs,
        n_matched=int(header.get("FLXNSTAR", 0)),
        rms_arcsec=float(rms) if rms is not None else math.nan,
        pixel_scale=scale,
        verdict=str(header.get("FLXQUAL", "")),
        seconds=float(header.get("FLXSECS", 0.0)),
        matches=matches,
        catalog=str(header.get("FLXCAT", "")),
    )


def frame_wcs(
    store: ProductStore | None, frame: FrameInfo, header: fits.Header | None = None
) -> WCS | None:
    """``frame``'s celestial WCS: the project's solution, else the frame header's own.

    The one place where a step that needs sky positions (photometry, zero
    point, targets) chooses its WCS, so that a frame whose camera software
    wrote a WCS is usable before (or without) plate solving.

    Parameters
    ----------
    store : ProductStore or None
        The project's products; None looks at the header only.
    frame : FrameInfo
    header : astropy.io.fits.Header, optional
        The frame's header when the caller has read it already (e.g. the
        calibrated product's); the raw file's header is read otherwise.

    Returns
    -------
    astropy.wcs.WCS or None
        None when the frame was neither solved nor has a WCS in its header.
    """
    if store is not None:
        try:
            solution = load_solution(store, frame)
        except (OSError, ValueError):
            solution = None  # a damaged product: the header may still do
        if solution is not None and solution.solved and solution.wcs is not None:
            return solution.wcs
    if header is None:
        try:
            header, _ = read_header(frame.path)
        except (OSError, FitsReadError):
            return None
    return read_wcs(header)


def solve_frame(
    store: ProductStore,
    frame: FrameInfo,
    params: SolveParams | None = None,
    catalog: Any = None,
    hint: SolveHint | None = None,
    state: StepState | None = None,
    *,
    detection: DetectionParams | None = None,
    solver: PlateSolver | None = None,
    record: FrameRecord | None = None,
) -> SolveResult:
    """``frame``'s astrometric solution: stored when current, else solved now and stored.

    Parameters
    ----------
    store : ProductStore
    frame : FrameInfo
    params : SolveParams, optional
    catalog : Table, CatalogChain or CatalogSource, optional
        Reference stars; the parameters' catalog when None.
    hint : SolveHint, optional
        Where to look (e.g. the previous frame's solution); the frame's own
        header hint when None.
    state : StepState, optional
    detection : DetectionParams, optional
        How the frame's sources are found (through :func:`detect_frame`, so
        the stored sources are reused).
    solver : PlateSolver, optional
        A solver built once for many frames (then ``catalog`` only names it
        in the fingerprint).
    record : FrameRecord, optional
        The frame as the chain has it: its sources (not detected or read
        again) and pixels; the solution goes into it.

    Returns
    -------
    SolveResult
        Never raises for a frame that cannot be solved: ``reason`` says why.
    """
    from ..catalogs import CatalogError

    params = params or SolveParams()
    state = state if state is not None else StepState()
    if record is not None and record.sources is not None:
        # Detected (or found current) earlier in the chain: not detected or read again.
        sources = record.sources
        sources_fp = record.fingerprints.get("detection") or ""
    else:
        sources = detect_frame(store, frame, detection, state=state.sub(0.0, 0.2), record=record)
        sources_fp = store.fingerprint_of("detection", frame.path) or ""
    if frame.cfa is not None:
        sources_fp += f";green pixels of {frame.cfa}"  # the solver measures its own stars
    fp = solution_fingerprint(params, sources_fp, catalog)
    if unhinted(frame, params):
        # A light searched blind is searched again once it has a pointing and a
        # scale (the user's, or the night's first solution: see .blind).
        fp += ";blind"
        if frame.ra is not None and frame.dec is not None:
            # A pointing given to a light without one (the target's place): a
            # search that failed without it, or near another, is not current.
            fp += f";near {frame.ra:.4f} {frame.dec:+.4f}"
    if store.is_current("astrometry", frame.path, fp, _SUFFIX):
        stored = load_solution(store, frame)
        if stored is not None:
            # A project calibrated or solved before solutions went into the calibrated frames.
            write_into_calibrated(store, frame, stored, fp, record=record)
            state.progress(1.0, "solution current")
            return _keep(record, stored, fp)
    if solver is None:
        try:
            if catalog is None:
                solver = solver_for(params)
            else:
                solver = _catalog_solver(params, catalog)
        except CatalogError as exc:
            # Not stored: the catalog may be there next time.
            return _keep(record, not_solved("hinted", str(exc)), None)
    table = _solver_sources(store, frame, sources.sources, params, detection, record)
    shape = frame.shape or (0, 0)
    own = hint_for_frame(frame, params)
    header = None
    if params.keep_header_wcs:
        header, _ = read_header(frame.path)
    result = None
    if hint is not None:
        result = solver.solve_hinted(table, shape, hint, state=state.sub(0.2, 0.6))
    if result is None or not result.solved:
        result = solver(table, shape, own, header=header, state=state.sub(0.6, 1.0))
    keep = result.solved or not result.service_problem
    if keep:
        _write(store, frame, result, fp)
        write_into_calibrated(store, frame, result, fp, record=record)
    # else not stored: a frame not solved for want of an unreachable service is
    # solved again on the next run, when the service may answer.
    state.progress(1.0, result.verdict)
    return _keep(record, result, fp if keep else None)


# The last solver made for a catalog given as an object (a night's frames share
# one): (the catalog, its digest, the parameters, the solver). A catalog that
# is a table is normalised when a solver is made (a millisecond a frame).
_SOLVER: tuple[weakref.ref, str, SolveParams, PlateSolver] | None = None


def _catalog_solver(params: SolveParams, catalog: Any) -> PlateSolver:
    """A :class:`PlateSolver` on ``catalog``: the last one when catalog and parameters are the same.

    The same object whose positions are unchanged (its digest) and equal
    parameters: a local catalog's answers depend on nothing else.
    """
    global _SOLVER
    digest = catalog_digest(catalog)
    last = _SOLVER
    if last is not None and last[0]() is catalog and last[1] == digest and last[2] == params:
        return last[3]
    solver = PlateSolver(params, catalog, fallbacks_for(params))
    try:
        _SOLVER = (weakref.ref(catalog), digest, params, solver)
    except TypeError:  # an object without weak references: not kept
        pass
    return solver


def _keep(record: FrameRecord | None, result: SolveResult, fp: str | None) -> SolveResult:
    """``result``, kept in the record with the fingerprint of its product (None: not stored)."""
    if record is not None:
        record.solution = result
        if fp is not None:
            record.fingerprints["astrometry"] = fp
    return result


def _solver_sources(
    store: ProductStore,
    frame: FrameInfo,
    sources: Table,
    params: SolveParams,
    detection: DetectionParams | None = None,
    record: FrameRecord | None = None,
) -> Table:
    """The frame's sources with the centroids ``params.centroids`` asks for.

    The image is read only when pixel-integrated centroids are wanted (an
    undersampled frame, or "prf"): the same image detection searched. A
    colour-filter-array frame is searched again on its green pixels
    (:func:`~fluxion.core.astrometry.cfa_sources.green_sources`): the
    mosaic's own detections are few and their centroids lean towards the
    pixels of the star's colour.
    """
    if frame.cfa is not None:
        green = _green_sources(store, frame, params, detection, record)
        if green is not None:
            return green
    if centroid_method(params.centroids, sources_fwhm(sources)) == "detected":
        return centroids_for_solving(None, sources, params.centroids)
    try:
        image = record.image(store) if record is not None else frame_image(store, frame)
    except (OSError, FitsReadError) as exc:
        log.warning("%s: image unreadable, detected centroids kept: %s", frame.path, exc)
        return centroids_for_solving(None, sources, params.centroids)
    mask = None if image.mask is None else image.mask != 0
    # The frame's gain sizes the stars' own photon noise in the centroid
    # errors; without it the errors come from a sky-based gain estimate, which
    # read and calibration noise bias low on a dark sky.
    return centroids_for_solving(
        image.data,
        sources,
        params.centroids,
        max_sources=params.max_sources,
        mask=mask,
        gain=frame.gain,
    )


def _green_sources(
    store: ProductStore,
    frame: FrameInfo,
    params: SolveParams,
    detection: DetectionParams | None,
    record: FrameRecord | None = None,
) -> Table | None:
    """A mosaic frame's sources measured on its green pixels; None when it is not a mosaic."""
    try:
        image = record.image(store) if record is not None else frame_image(store, frame)
    except (OSError, FitsReadError) as exc:
        log.warning("%s: image unreadable, detected sources kept: %s", frame.path, exc)
        return None
    # The calibrated product says the pattern of its own (maybe trimmed) pixels.
    pattern = image.cfa
    if pattern is None or image.data.ndim != 2:
        return None
    detector = Detection(detection)

    def detect(binned, mask):
        return detector(binned, mask, gain=frame.gain).sources

    return green_sources(
        image.data,
        pattern,
        detect,
        params.centroids,
        max_sources=params.max_sources,
        mask=image.mask,
        gain=frame.gain,
    )


def _solution_header(
    header: fits.Header, frame: FrameInfo, result: SolveResult, fp: str
) -> fits.Header | None:
    """A calibrated product's header with ``result`` in it; None when it holds it already.

    A frame no longer solved gets back the WCS of its raw header (or none),
    not a stale solution. The calibration's own FLX cards stay.
    """
    solved = result.solved and result.wcs is not None
    written = header.get(_SOLUTION_CARD)
    if written == fp or (written is None and not solved):
        return None
    if solved:
        new = write_solution_into(header, result)
    else:
        new = strip_wcs(header)
        raw_wcs = read_wcs(read_header(frame.path)[0])
        if raw_wcs is not None:
            new.update(raw_wcs.to_header(relax=True))
    # strip_wcs drops every FLX card; the calibration's own (FLXRAWFP) must stay.
    for key in header:
        if key.startswith("FLX") and key not in _SOLUTION_FLX and key not in new:
            new[key] = (header[key], header.comments[key])
    new[_SOLUTION_CARD] = (fp, "Fluxion fingerprint of the WCS in this header")
    return new


def write_into_calibrated(
    store: ProductStore,
    frame: FrameInfo,
    result: SolveResult,
    fp: str,
    *,
    record: FrameRecord | None = None,
) -> bool:
    """Write ``result``'s WCS into ``frame``'s calibrated product, atomically.

    Only the project's own calibrated frame is touched (when it is valid for
    the raw file as it is now), never the input. The pixels, the mask and the
    calibration's fingerprint card stay as they are, so the steps after
    calibration, whose fingerprints come from the recorded calibration and
    not from the file's time, are not redone. The card ``FLXWCSFP`` names
    the solution written, so a current one is not written again. A frame no
    longer solved gets back the WCS of its raw header (or none), not a
    stale solution.

    Parameters
    ----------
    store : ProductStore
    frame : FrameInfo
    result : SolveResult
    fp : str
        The solution's fingerprint (:func:`solution_fingerprint`).
    record : FrameRecord, optional
        The frame as the chain has it: a light calibrated in this pass and
        not yet written gets the solution in its header (so that it is
        written once, later); a product is read into the record (header,
        mask and memory-mapped pixels, one open the later steps share) and
        rewritten from it.

    Returns
    -------
    bool
        Whether the calibrated frame was (or, calibrated in this pass, will
        be written) with the solution. A failure to write is logged and
        leaves the product as it was: the solution stays in the ``wcs``
        folder either way.
    """
    if record is not None and record.calibrated is not None:
        new = _solution_header(record.calibrated.header, frame, result, fp)
        if new is not None:
            record.calibrated = dataclasses.replace(record.calibrated, header=new)
            if record.has_image:
                record.set_image(dataclasses.replace(record.image(store), header=new))
        return new is not None
    product = _calibrated_product(store, frame)
    if product is None:
        return False  # no calibrated product: the solution lives in the wcs folder only
    path, _, raw_fp = product
    try:
        if record is not None:
            # The product as the record holds it, read once for every step of the frame.
            return _rewrite_from_memory(store, frame, record, result, fp, path, raw_fp)
        # One open: the header says whether the product is valid and what it
        # holds; the pixels are read only when the header is rewritten.
        with quiet():
            hdul = fits.open(path, memmap=False, do_not_scale_image_data=True, lazy_load_hdus=True)
        try:
            with quiet():
                header = hdul[0].header
            if header.get("FLXRAWFP") != raw_fp:
                return False  # stale: made from the raw file as it was
            new = _solution_header(header, frame, result, fp)
            if new is None:
                return False
            with quiet():
                hdul.readall()
            for hdu in hdul:
                hdu.data  # noqa: B018 - into memory, so the file is closed before it is replaced
        finally:
            hdul.close()
        hdul[0].header = new
        atomic_write_hdulist(path, hdul)
    except (OSError, ValueError, FitsReadError) as exc:
        log.warning("%s: solution not written into the calibrated frame: %s", path.name, exc)
        return False
    return True


def _rewrite_from_memory(
    store: ProductStore,
    frame: FrameInfo,
    record: FrameRecord,
    result: SolveResult,
    fp: str,
    path: Path,
    raw_fp: str,
) -> bool:
    """:func:`write_into_calibrated` of the product through the record's image.

    The image is read here when no step read it yet (one open, its pixels
    memory-mapped): the steps after take it from the record.
    """
    image = record.image(store)
    if not image.calibrated or image.header.get("FLXRAWFP") != raw_fp:
        return False  # stale: made from the raw file as it was
    new = _solution_header(image.header, frame, result, fp)
    if new is None:
        return False
    # In memory first: the pixels may be a memory map of the file being replaced
    # (which Windows refuses to replace while it is mapped).
    data = np.array(image.data)
    mask = None if image.mask is None else np.array(image.mask)
    image = dataclasses.replace(image, data=data, mask=mask, header=new)
    record.set_image(image)
    write_calibrated_product(path, data, mask, new)
    return True


def solved_path(store: ProductStore, frame: FrameInfo) -> Path:
    """Where ``frame``'s solution is stored."""
    return store.path("astrometry", frame.path, _SUFFIX)
