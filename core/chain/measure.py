"""Photometry and photometric calibration in the project, one table per frame each.

The ``photometry`` step folder holds the measured table of each frame (x, y,
flux, flux_err, flags, and ra, dec when the frame is solved); the
photometry folder also keeps, beside each table, what the panel's
diagnostics need (``.diagnostics.fits``: the curve of growth and the PSF),
named with its SHA-256 in the table's meta so that only the file written
with that table is ever read back; the
``magnitudes`` folder holds the same sources with calibrated ``mag``,
``mag_err`` and the frame's zero point in the table's meta, with the matched
catalog stars beside it (``.stars.ecsv``) for the panel's diagnostics.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack
from astropy.wcs.utils import proj_plane_pixel_scales

from ..io.fitsio import atomic_write_bytes, atomic_write_ecsv
from ..io.frames import FrameInfo, frame_table_meta
from ..photometry import CurveOfGrowth, Photometry, PhotometryParams, PhotometryResult
from ..photometry.epsf import EffectivePSF
from ..photometry.gridpsf import PSFField
from ..photometry.gridpsf.io import field_from_hdu, grid_hdu
from ..photometry.growth import curve_from_tables, curve_to_tables
from ..project.products import ProductStore, fingerprint
from ..runtime.params import params_to_dict
from ..runtime.pipeline import StepState
from ..runtime.quiet import quiet
from ..zeropoint import ZeroPoint, ZeroPointParams, ZeroPointResult
from ..zeropoint.channels import aavso_channel_code, calibrate_channels
from .calibrate import frame_image, image_fingerprint
from .record import FrameRecord
from .solve import catalog_digest, frame_wcs

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

# Zero-point facts kept in the magnitudes table's meta (and read back by load_zeropoint).
_ZP_META = (
    "calibrated", "reason", "band", "colour_index", "zero_point", "zero_point_err",
    "colour_term", "colour_term_err", "intrinsic_scatter", "n_stars", "chi2",
)  # fmt: skip


# Tables kept beside a frame's magnitudes for the panel's diagnostics.
_STARS = ".stars.ecsv"  # the matched catalog stars, used or rejected
_TRAJECTORY = ".trajectory.ecsv"  # the fit's rejection trajectory (calibration analysis)


def _write_beside(store: ProductStore, frame: FrameInfo, suffix: str, table: Table) -> None:
    path = store.path("zeropoint", frame.path, suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_ecsv(path, table)


def _read_beside(store: ProductStore, frame: FrameInfo, suffix: str) -> Table:
    path = store.path("zeropoint", frame.path, suffix)
    if not path.exists():
        return Table()
    with quiet():
        return Table.read(path, format="ascii.ecsv")


log = logging.getLogger(__name__)

# What the photometry panel draws about a frame, kept beside its table.
_DIAGNOSTICS = ".diagnostics.fits"


@dataclass(frozen=True)
class PhotometryDiagnostics:
    """What a stored frame's photometry keeps for the panel besides its table.

    The model and residual images are not kept: the scene fitter's model
    holds its sky mesh and refitted PSF, so it cannot be rebuilt from the
    table and this PSF, and a full-frame image per frame would double a
    project's size.
    """

    curve_of_growth: CurveOfGrowth | None = None
    psf: EffectivePSF | PSFField | None = None
    """The PSF; one that varies across the frame comes back as its grid of PSFs."""
    annulus: tuple[float, float] | None = None
    """Sky annulus radii (px) of the aperture method."""


def _diagnostics_hdus(result: PhotometryResult) -> fits.HDUList | None:
    """The curve of growth, PSF and annulus as FITS (binary, so float64 comes back exact)."""
    psf = result.psf if isinstance(result.psf, EffectivePSF) else None
    field = result.psf if isinstance(result.psf, PSFField) else None
    if field is not None and not field.varies:
        psf, field = field.at(float(field.xs[0]), float(field.ys[0])), None
    if field is not None:
        # The PSF at the centre for the profile plot, the grid for the field's view.
        ny, nx = field.shape or (2 * field.ys[-1] + 1, 2 * field.xs[-1] + 1)
        psf = field.at((nx - 1) / 2.0, (ny - 1) / 2.0)
    if result.curve_of_growth is None and psf is None and result.annulus is None:
        return None
    primary = fits.PrimaryHDU()
    if result.annulus is not None:
        primary.header["ANN_IN"] = (float(result.annulus[0]), "sky annulus inner radius (px)")
        primary.header["ANN_OUT"] = (float(result.annulus[1]), "sky annulus outer radius (px)")
    hdus = fits.HDUList([primary])
    if result.curve_of_growth is not None:
        curves, stars = curve_to_tables(result.curve_of_growth)
        meta = curves.meta.copy()
        curves.meta.clear()
        hdu = fits.table_to_hdu(curves)
        hdu.name = "GROWTH"
        hdu.header["OPT_RAD"] = (meta["optimum_radius"], "radius chosen by the rule (px)")
        hdu.header["N_STARS"] = (meta["n_field_stars"], "field stars of the median curve")
        hdu.header["RULE"] = meta["rule"]
        hdus.append(hdu)
        if len(stars):
            hdu = fits.table_to_hdu(stars)
            hdu.name = "GROWTH_STARS"
            hdus.append(hdu)
    if psf is not None:
        # Lossless (unquantised) tiles: a third smaller than the plain 0.5 MB stamp.
        hdu = fits.CompImageHDU(
            np.asarray(psf.data, dtype=np.float64),
            name="PSF",
            compression_type="GZIP_1",
            quantize_level=0.0,
        )
        hdu.header["KIND"] = psf.kind
        hdu.header["OVERSAMP"] = int(psf.oversampling)
        hdu.header["FWHM"] = (float(psf.fwhm), "FWHM of the fitted Moffat (px)")
        hdu.header["N_STARS"] = (int(psf.n_stars), "stars the PSF was built from")
        if math.isfinite(psf.moffat_beta):  # FITS cards cannot hold NaN
            hdu.header["BETA"] = (float(psf.moffat_beta), "power of the Moffat wings")
        hdus.append(hdu)
    if field is not None:
        # In the layout of a GriddedPSFModel file (photutils, STPSF).
        hdus.append(grid_hdu(field))
    return hdus


def load_photometry_diagnostics(
    store: ProductStore, frame: FrameInfo, table: Table | None = None
) -> PhotometryDiagnostics | None:
    """The curve of growth, PSF and annulus stored with ``frame``'s photometry, or None.

    None when the table was stored before diagnostics were kept, or has
    none (a fixed-radius run without curve), or when the file beside it is
    not the one written with it (a run stopped between the two files).

    Parameters
    ----------
    table : Table, optional
        The frame's table when already read (:func:`load_photometry`).
    """
    table = table if table is not None else load_photometry(store, frame)
    ref = (table.meta.get("diagnostics") if table is not None else None) or {}
    path = store.path("photometry", frame.path, _DIAGNOSTICS)
    if not isinstance(ref, dict) or not path.exists():
        return None
    blob = path.read_bytes()  # read once: digested, then parsed
    if ref.get("sha256") != hashlib.sha256(blob).hexdigest():
        log.warning("%s: diagnostics not from the stored table; ignored", path.name)
        return None
    with fits.open(io.BytesIO(blob)) as hdul:
        head = hdul[0].header
        annulus = (float(head["ANN_IN"]), float(head["ANN_OUT"])) if "ANN_IN" in head else None
        curve = psf = None
        if "GROWTH" in hdul:
            h = hdul["GROWTH"].header
            curves = Table.read(hdul["GROWTH"])
            curves.meta = {
                "optimum_radius": h["OPT_RAD"], "n_field_stars": h["N_STARS"], "rule": h["RULE"]
            }  # fmt: skip
            stars = Table.read(hdul["GROWTH_STARS"]) if "GROWTH_STARS" in hdul else None
            curve = curve_from_tables(curves, stars)
        if "PSF" in hdul:
            h = hdul["PSF"].header
            psf = EffectivePSF(
                data=np.array(hdul["PSF"].data, dtype=np.float64),
                oversampling=int(h["OVERSAMP"]),
                fwhm=float(h["FWHM"]),
                kind=str(h["KIND"]),
                n_stars=int(h.get("N_STARS", 0)),
                moffat_beta=float(h.get("BETA", math.nan)),
            )
        if "PSFGRID" in hdul:
            psf = field_from_hdu(hdul["PSFGRID"])
    return PhotometryDiagnostics(curve_of_growth=curve, psf=psf, annulus=annulus)


def _store_photometry(
    store: ProductStore, frame: FrameInfo, result: PhotometryResult, fp: str
) -> None:
    """Write the diagnostics, then the table naming them by digest, then the index."""
    path = store.path("photometry", frame.path, _DIAGNOSTICS)
    table = result.table
    table.meta.pop("diagnostics", None)
    hdus = _diagnostics_hdus(result)
    if hdus is not None:
        # Made in memory once: the digest is of the bytes written, not of a re-read file.
        buf = io.BytesIO()
        hdus.writeto(buf)
        blob = buf.getvalue()
        atomic_write_bytes(path, blob)
        table.meta["diagnostics"] = {"file": path.name, "sha256": hashlib.sha256(blob).hexdigest()}
    store.write_table("photometry", frame.path, table, fp)
    if hdus is None:
        # An earlier run's file would not be read (no digest names it); do not keep it.
        path.unlink(missing_ok=True)


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
    positions and the FWHM detection measured on the same pixels."""
    image_fp, _ = image_fingerprint(store, frame)
    fwhm = detected_fwhm(store, frame, image_fp)
    return _photometry_fingerprint(store, frame, params, positions, image_fp, fwhm)


def _photometry_fingerprint(
    store: ProductStore,
    frame: FrameInfo,
    params: PhotometryParams,
    positions: np.ndarray | None,
    image_fp: str,
    fwhm: float | None,
    solution_fp: str | None = None,
) -> str:
    """:func:`photometry_fingerprint` of pixels whose fingerprint is known (no header read)."""
    if solution_fp is None:
        solution_fp = store.fingerprint_of("astrometry", frame.path) or ""
    return fingerprint(
        "photometry",
        params_to_dict(params),
        image_fp,
        solution_fp,
        _positions_digest(positions),
        # Micropixels: the FWHM scales the apertures and annuli.
        None if fwhm is None else round(float(fwhm), 6),
        *_psf_file_digest(params),
    )


def detected_fwhm(store: ProductStore | None, frame: FrameInfo, image_fp: str) -> float | None:
    """The FWHM detection measured on the pixels ``image_fp``, or None.

    None without a project, without stored sources, or when the stored ones
    were found in other pixels (or by a version that did not say in which).
    """
    if store is None:
        return None
    table = store.read_table("detection", frame.path)
    if table is None or table.meta.get("image_fingerprint") != image_fp:
        return None
    return _usable_fwhm(table.meta.get("fwhm"))


def _usable_fwhm(value: object) -> float | None:
    try:
        fwhm = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return fwhm if math.isfinite(fwhm) and fwhm > 0 else None


def _fwhm_of(
    store: ProductStore | None, frame: FrameInfo, record: FrameRecord | None, image_fp: str
) -> float | None:
    """The frame's FWHM as detection measured it: from the record, else the stored sources."""
    if record is not None and record.sources is not None:
        return _usable_fwhm(record.sources.fwhm)
    return detected_fwhm(store, frame, image_fp)


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


def load_photometry(store: ProductStore, frame: FrameInfo) -> Table | None:
    """``frame``'s stored photometry table, or None."""
    return store.read_table("photometry", frame.path)


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

    Raises
    ------
    fluxion.core.photometry.PhotometryError, fluxion.core.io.fitsio.FitsReadError
        The frame cannot be read or measured.
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
    fwhm = _fwhm_of(store, frame, record, image.fingerprint)
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
        fwhm=fwhm,
        state=state.sub(0.0, 0.95),
    )
    table = result.table
    table.meta.update(frame_table_meta(frame.path, frame))
    table.meta["calibrated"] = image.calibrated
    if wcs is not None:
        table.meta["pixel_scale"] = float(np.mean(proj_plane_pixel_scales(wcs.celestial))) * 3600
    if store is not None:
        # The image read above carries its fingerprint: no second open of its header.
        fp = _photometry_fingerprint(
            store, frame, params, positions, image.fingerprint, fwhm, _solution_fp(record)
        )
        _store_photometry(store, frame, result, fp)
        if record is not None:
            record.fingerprints["photometry"] = fp
    if record is not None:
        record.photometry = table
    state.progress(1.0, f"{len(table)} stars measured")
    return result


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
    fwhm = _fwhm_of(store, frame, record, image_fp)
    fp = _photometry_fingerprint(
        store, frame, params, positions, image_fp, fwhm, _solution_fp(record)
    )
    if store.is_current("photometry", frame.path, fp):
        stored = load_photometry(store, frame)
        if stored is not None:
            state.progress(1.0, "photometry current")
            if record is not None:
                record.photometry = stored
                record.fingerprints["photometry"] = fp
            return stored
    return measure_photometry(store, frame, params, positions, state, record=record).table


def zeropoint_fingerprint(
    store: ProductStore,
    frame: FrameInfo,
    params: ZeroPointParams,
    catalog: Table | None,
    photometry_fp: str | None = None,
) -> str:
    """Fingerprint of a frame's calibrated magnitudes (``photometry_fp``: the store's when None)."""
    if photometry_fp is None:
        photometry_fp = store.fingerprint_of("photometry", frame.path) or ""
    return fingerprint(
        "zeropoint",
        params_to_dict(params),
        photometry_fp,
        catalog_digest(catalog),
        frame.filter,
        frame.exptime,
    )


def load_magnitudes(store: ProductStore, frame: FrameInfo) -> Table | None:
    """``frame``'s stored sources with calibrated ``mag``, ``mag_err``, or None."""
    return store.read_table("zeropoint", frame.path)


def load_zeropoint(store: ProductStore, frame: FrameInfo) -> ZeroPointResult | None:
    """``frame``'s stored photometric calibration, or None.

    The matched catalog stars and the fit's rejection trajectory are read from
    beside the magnitudes (empty tables for products made before they were kept).
    """
    sources = load_magnitudes(store, frame)
    if sources is None:
        return None
    m = sources.meta
    stars = _read_beside(store, frame, _STARS)
    trajectory = _read_beside(store, frame, _TRAJECTORY)
    primary = m.get("primary_channel")
    if primary:
        # A colour frame: the primary channel's calibration (see _calibrate_channels).
        stars = _channel_rows(stars, primary)
        trajectory = _channel_rows(trajectory, primary)

    def num(key: str) -> float:
        v = m.get(key)
        return float(v) if v is not None else math.nan

    return ZeroPointResult(
        calibrated=bool(m.get("calibrated", False)),
        reason=str(m.get("reason", "")),
        band=str(m.get("band", "")),
        colour_index=str(m.get("colour_index", "")),
        zero_point=num("zero_point"),
        zero_point_err=num("zero_point_err"),
        colour_term=num("colour_term"),
        colour_term_err=num("colour_term_err"),
        spatial=dict(m.get("spatial", {}) or {}),
        spatial_err=dict(m.get("spatial_err", {}) or {}),
        intrinsic_scatter=num("intrinsic_scatter"),
        n_stars=int(m.get("n_stars", 0) or 0),
        chi2=num("chi2"),
        trajectory=trajectory,
        stars=stars,
        sources=sources,
        notes=tuple(m.get("notes", ()) or ()),
    )


def _channel_rows(table: Table, channel: str) -> Table:
    if "channel" not in table.colnames:
        return table
    return table[np.asarray(table["channel"]) == channel]


def zeropoint_frame(
    store: ProductStore,
    frame: FrameInfo,
    params: ZeroPointParams | None,
    catalog: Table | None,
    state: StepState | None = None,
    *,
    catalog_problem: str = "",
    record: FrameRecord | None = None,
) -> ZeroPointResult:
    """``frame``'s photometric calibration: stored when current, else fitted now and stored.

    Needs the frame's photometry (run :func:`photometry_frame` first) with
    ``ra``/``dec`` (a solved frame). A frame that cannot be calibrated is
    stored with instrumental magnitudes and ``reason``. With a ``record``
    the photometry is the record's (not read again) and the result goes into it.

    Raises
    ------
    ValueError
        When the frame has no photometry yet, or its table has no fluxes.
    """
    params = params or ZeroPointParams()
    state = state if state is not None else StepState()
    photometry_fp = None
    if record is not None and record.photometry is not None:
        photometry_fp = record.fingerprints.get("photometry")
    fp = zeropoint_fingerprint(store, frame, params, catalog, photometry_fp)
    if store.is_current("zeropoint", frame.path, fp):
        stored = load_zeropoint(store, frame)
        # A calibration stored before its trajectory was kept is fitted again
        # (milliseconds), so that the calibration analysis has its curve.
        if stored is not None and (not stored.calibrated or len(stored.trajectory)):
            state.progress(1.0, "zero point current")
            return _keep_zeropoint(record, stored, fp)
    if record is not None and record.photometry is not None:
        sources = record.photometry
    else:
        sources = load_photometry(store, frame)
    if sources is None:
        raise ValueError(f"{frame.path.name}: no photometry yet; measure the frame first")
    scale = sources.meta.get("pixel_scale")
    fwhm = sources.meta.get("fwhm")
    fwhm_arcsec = float(fwhm) * float(scale) if scale and fwhm else None
    kw = dict(
        fwhm_arcsec=fwhm_arcsec,
        image_shape=frame.shape,
        exptime=frame.exptime,
        catalog_problem=catalog_problem,
        state=state,
    )
    if "channel" in sources.colnames:
        return _calibrate_channels(store, frame, params, sources, catalog, fp, kw)
    result = ZeroPoint(params)(sources, catalog, filter=frame.filter, **kw)
    out = result.sources
    _zeropoint_meta(out.meta, result)
    _write_beside(store, frame, _STARS, result.stars)
    _write_beside(store, frame, _TRAJECTORY, result.trajectory)
    store.write_table("zeropoint", frame.path, out, fp)
    return _keep_zeropoint(record, result, fp)


def _keep_zeropoint(
    record: FrameRecord | None, result: ZeroPointResult, fp: str
) -> ZeroPointResult:
    if record is not None:
        record.zeropoint = result
        record.fingerprints["zeropoint"] = fp
    return result


def _zeropoint_meta(meta: dict, result: ZeroPointResult) -> None:
    """A calibration's facts into a magnitudes table's meta (read back by load_zeropoint)."""
    for key in _ZP_META:
        value = getattr(result, key)
        meta[key] = value.item() if isinstance(value, np.generic) else value
    meta["spatial"] = {k: float(v) for k, v in result.spatial.items()}
    meta["spatial_err"] = {k: float(v) for k, v in result.spatial_err.items()}
    meta["notes"] = list(result.notes)


def _calibrate_channels(store, frame, params, sources, catalog, fp, kw) -> ZeroPointResult:
    """A colour frame: each channel calibrated on its own; the primary channel's result back.

    The magnitudes table holds every channel's rows; its meta has the
    primary (green) channel's calibration at the top, as a monochrome
    frame's, and every channel's under ``channels``. The matched stars and
    trajectories beside it carry a ``channel`` column.
    """
    cal = calibrate_channels(ZeroPoint(params), sources, catalog, **kw)
    out = cal.sources
    primary = cal.results[cal.primary]
    _zeropoint_meta(out.meta, primary)
    out.meta["channels"] = {}
    stars, trajectories = [], []
    for name, result in cal.results.items():
        facts: dict = {}
        _zeropoint_meta(facts, result)
        facts["aavso_filter"] = aavso_channel_code(name, params.clear_band)
        out.meta["channels"][name] = facts
        for table, into in ((result.stars, stars), (result.trajectory, trajectories)):
            t = table.copy()
            t["channel"] = np.full(len(t), name, dtype="U2")
            into.append(t)
    out.meta["primary_channel"] = cal.primary
    _write_beside(store, frame, _STARS, vstack(stars, metadata_conflicts="silent"))
    _write_beside(store, frame, _TRAJECTORY, vstack(trajectories, metadata_conflicts="silent"))
    store.write_table("zeropoint", frame.path, out, fp)
    return primary
