"""Photometry and photometric calibration in the project, one table per frame each.

The ``photometry`` step folder holds the measured table of each frame (x, y,
flux, flux_err, flags, and ra, dec when the frame is solved) with its
diagnostics beside it (:mod:`.stored_photometry`); the ``magnitudes`` folder
holds the same sources calibrated (:mod:`.magnitudes`, re-exported here).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.table import Table
from astropy.wcs.utils import proj_plane_pixel_scales

from ..io.frames import FrameInfo, frame_table_meta
from ..photometry import Photometry, PhotometryParams, PhotometryResult
from ..project.products import ProductStore, fingerprint
from ..runtime.params import params_to_dict
from ..runtime.pipeline import StepState
from .calibrate import FrameImage, frame_image, image_fingerprint
from .magnitudes import load_magnitudes, load_zeropoint, zeropoint_fingerprint, zeropoint_frame
from .record import FrameRecord
from .solve import frame_wcs
from .stored_photometry import (
    PhotometryDiagnostics,
    load_photometry,
    load_photometry_diagnostics,
    store_photometry,
)

if TYPE_CHECKING:
    from ..detection.background import SkyBackground

__all__ = [
    "PhotometryDiagnostics",
    "load_magnitudes",
    "load_photometry",
    "load_photometry_diagnostics",
    "load_zeropoint",
    "measure_photometry",
    "photometry_fingerprint",
    "photometry_frame",
    "zeropoint_fingerprint",
    "zeropoint_frame",
]


def _positions_digest(positions: np.ndarray | None) -> list | None:
    if positions is None:
        return None
    # Millipixels: a position that moved less than that measures the same.
    return np.round(np.asarray(positions, dtype=float).reshape(-1, 2), 3).tolist()


def photometry_fingerprint(
    store: ProductStore,
    frame: FrameInfo,
    params: PhotometryParams,
    positions: np.ndarray | None = None,
) -> str:
    """Fingerprint of a frame's photometry: pixels, solution (for ra/dec), parameters,
    positions, and the sources and FWHM detection found in the same pixels."""
    image_fp, _ = image_fingerprint(store, frame)
    found = _detected(store, frame, None, image_fp)
    return _photometry_fingerprint(store, frame, params, positions, image_fp, found)


def _photometry_fingerprint(
    store: ProductStore,
    frame: FrameInfo,
    params: PhotometryParams,
    positions: np.ndarray | None,
    image_fp: str,
    found: Detected,
    solution_fp: str | None = None,
) -> str:
    """:func:`photometry_fingerprint` of pixels whose fingerprint is known (no header read)."""
    if solution_fp is None:
        solution_fp = store.fingerprint_of("astrometry", frame.path) or ""
    fwhm = found.fwhm
    # The sources' own fingerprint: other sources, another curve of growth.
    sources = () if _sources_for(params, found) is None else (found.fingerprint,)
    return fingerprint(
        "photometry",
        params_to_dict(params),
        image_fp,
        solution_fp,
        _positions_digest(positions),
        # Micropixels: the FWHM scales the apertures and annuli.
        None if fwhm is None else round(float(fwhm), 6),
        *_psf_file_digest(params),
        *sources,
    )


@dataclass(frozen=True)
class Detected:
    """What detection found in the pixels photometry measures: sources, FWHM, fingerprint."""

    sources: Table | None = None
    fwhm: float | None = None
    fingerprint: str = ""


def _sources_for(params: PhotometryParams, found: Detected) -> Table | None:
    """The sources the aperture method takes from detection (the others find their own).

    The PSF and crowded-field methods select PSF stars by their own finder's
    columns and search the residual for more; only the aperture method takes
    detection's sources for its curve of growth and neighbours.
    """
    return found.sources if params.method == "aperture" else None


def detected_fwhm(store: ProductStore | None, frame: FrameInfo, image_fp: str) -> float | None:
    """The FWHM detection measured on the pixels ``image_fp``, or None.

    None without a project, without stored sources, or when the stored ones
    were found in other pixels (or by a version that did not say in which).
    """
    return _detected(store, frame, None, image_fp).fwhm


def _usable_fwhm(value: Any) -> float | None:
    """A positive finite FWHM from whatever a table's meta holds, else None."""
    try:
        fwhm = float(value)
    except (TypeError, ValueError):
        return None
    return fwhm if math.isfinite(fwhm) and fwhm > 0 else None


def _detected(
    store: ProductStore | None, frame: FrameInfo, record: FrameRecord | None, image_fp: str
) -> Detected:
    """What detection found in the pixels ``image_fp``: from the record, else the stored sources.

    Empty without a project, without stored sources, or when the stored ones
    were found in other pixels (or by a version that did not say in which).
    The stored table is read once, for both its sources and its FWHM.
    """
    if record is not None and record.sources is not None:
        return Detected(
            record.sources.sources,
            _usable_fwhm(record.sources.fwhm),
            record.fingerprints.get("detection", ""),
        )
    if store is None:
        return Detected()
    table = store.read_table("detection", frame.path)
    if table is None or table.meta.get("image_fingerprint") != image_fp:
        return Detected()
    fp = store.fingerprint_of("detection", frame.path) or ""
    return Detected(table, _usable_fwhm(table.meta.get("fwhm")), fp)


def _psf_file_digest(params: PhotometryParams) -> tuple[str, ...]:
    """The PSF grid file's content digest (none without a file): a new grid, a new measurement."""
    if not params.psf_file:
        return ()
    from pathlib import Path

    path = Path(params.psf_file).expanduser()
    try:
        return (hashlib.sha256(path.read_bytes()).hexdigest(),)
    except OSError:
        return ("missing",)


def measure_photometry(
    store: ProductStore | None,
    frame: FrameInfo,
    params: PhotometryParams | None = None,
    positions: np.ndarray | None = None,
    state: StepState | None = None,
    *,
    record: FrameRecord | None = None,
) -> PhotometryResult:
    """Measure ``frame`` now and store its table; the whole result with its diagnostics.

    The table is what :func:`photometry_frame` returns (and stores under the
    same fingerprint); the result also carries the curve of growth, the PSF
    and the model and residual images that the panel shows. The curve, the
    PSF and the annulus are stored beside the table
    (:func:`load_photometry_diagnostics`); the images are not.

    Parameters
    ----------
    store : ProductStore or None
        The project's products: the calibrated frame when it has a valid one,
        the astrometric solution, and where the table goes. None measures the
        raw file with its header WCS and stores nothing.
    frame : FrameInfo
    params : PhotometryParams, optional
    positions : ndarray, shape (N, 2), optional
        (x, y) to measure (0-based px); the stars found in the frame when None.
    state : StepState, optional
    record : FrameRecord, optional
        The frame as the chain has it: pixels, solution and the FWHM
        detection measured are taken from it (nothing read or measured
        again); the table goes into it.

    The FWHM is detection's (measured once per frame) when the frame's
    sources were found in the same pixels; otherwise photometry measures it.
    So are the aperture method's stars (the curve of growth's field stars
    and the neighbours kept out of the sky): detection's sources, not a
    second search of the frame.

    Raises
    ------
    fluxion.core.photometry.PhotometryError, fluxion.core.io.fitsio.FitsReadError
        The frame cannot be read or measured.
    """
    return _measure_photometry(store, frame, params, positions, state, record, None)


def _measure_photometry(
    store: ProductStore | None,
    frame: FrameInfo,
    params: PhotometryParams | None,
    positions: np.ndarray | None,
    state: StepState | None,
    record: FrameRecord | None,
    known: tuple[str, str] | None,
) -> PhotometryResult:
    """:func:`measure_photometry`; ``known``: (pixels' fingerprint, photometry's fingerprint).

    :func:`photometry_fingerprint` of these positions and parameters, when the
    caller has just made it of the same pixels, is not made again (its JSON
    of every position is ~0.7 ms for 400 stars).
    """
    params = params or PhotometryParams()
    state = state if state is not None else StepState()
    # Without a project the raw file is read (a store on a folder that holds
    # no products gives exactly that, and nothing is written to it below).
    if record is not None:
        image = record.image(store or ProductStore(frame.path.parent / ".no-project"))
    else:
        image = frame_image(store or ProductStore(frame.path.parent / ".no-project"), frame)
    if record is not None and record.solution is not None:
        wcs = record.wcs if record.wcs is not None else frame_wcs(None, frame, image.header)
    else:
        wcs = frame_wcs(store, frame, image.header)
    found = _detected(store, frame, record, image.fingerprint)
    # A colour frame's sources are on its green pixels' grid: the channels find their own.
    sources = _sources_for(params, found) if image.cfa is None else None
    # Saturated pixels are not masked but measured against the frame's level,
    # so that a saturated star is flagged SATURATED, not merely MASKED.
    result = Photometry(params).run(
        image.data,
        positions,
        mask=image.bad,
        gain=frame.gain,
        read_noise=frame.read_noise or 0.0,
        saturation=image.saturation,
        wcs=wcs,
        cfa=image.cfa,
        fwhm=found.fwhm,
        sources=sources,
        background=_detection_sky(record, image),
        state=state.sub(0.0, 0.95),
    )
    table = result.table
    table.meta.update(frame_table_meta(frame.path, frame))
    table.meta["calibrated"] = image.calibrated
    if wcs is not None:
        table.meta["pixel_scale"] = float(np.mean(proj_plane_pixel_scales(wcs.celestial))) * 3600
    if store is not None:
        # The image read above carries its fingerprint: no second open of its header.
        if known is not None and known[0] == image.fingerprint:
            fp = known[1]
        else:
            fp = _photometry_fingerprint(
                store, frame, params, positions, image.fingerprint, found, _solution_fp(record)
            )
        store_photometry(store, frame, result, fp)
        if record is not None:
            record.fingerprints["photometry"] = fp
    if record is not None:
        record.photometry = table
    state.progress(1.0, f"{len(table)} stars measured")
    return result


def _detection_sky(record: FrameRecord | None, image: FrameImage) -> SkyBackground | None:
    """Detection's sky maps of these pixels, when photometry masks the same ones (else None).

    Detection keeps saturated pixels in its sky; photometry does too when
    the saturation level is known (:attr:`FrameImage.bad`).
    """
    if record is None or record.sources is None or image.cfa is not None:
        return None
    if image.mask is not None and image.saturation is None:
        return None
    if record.sources.sources.meta.get("image_fingerprint") != image.fingerprint:
        return None
    return record.sources.background


def _solution_fp(record: FrameRecord | None) -> str | None:
    """The solution's fingerprint as the record knows it (None: ask the store)."""
    if record is None or record.solution is None:
        return None
    return record.fingerprints.get("astrometry", "")


def photometry_frame(
    store: ProductStore,
    frame: FrameInfo,
    params: PhotometryParams | None = None,
    positions: np.ndarray | None = None,
    state: StepState | None = None,
    *,
    record: FrameRecord | None = None,
) -> Table:
    """``frame``'s photometry: stored when current, else measured now and stored.

    Parameters and errors as :func:`measure_photometry` (``store`` is
    required here). Sky positions (``ra``, ``dec``) come from the project's
    solution, else from the frame header's WCS
    (:func:`~fluxion.core.chain.solve.frame_wcs`).
    """
    params = params or PhotometryParams()
    state = state if state is not None else StepState()
    if record is not None and record.image_fingerprint is not None:
        image_fp = record.image_fingerprint
    else:
        image_fp, _ = image_fingerprint(store, frame)
    found = _detected(store, frame, record, image_fp)
    fp = _photometry_fingerprint(
        store, frame, params, positions, image_fp, found, _solution_fp(record)
    )
    if store.is_current("photometry", frame.path, fp):
        stored = load_photometry(store, frame)
        if stored is not None:
            state.progress(1.0, "photometry current")
            if record is not None:
                record.photometry = stored
                record.fingerprints["photometry"] = fp
            return stored
    known = (image_fp, fp)
    return _measure_photometry(store, frame, params, positions, state, record, known).table
