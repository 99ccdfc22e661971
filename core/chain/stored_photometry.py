"""A frame's stored photometry: its table and the diagnostics kept beside it.

The photometry folder keeps, beside each frame's table, what the panel's
diagnostics need (``.diagnostics.fits``: the curve of growth and the PSF),
named with its SHA-256 in the table's meta so that only the file written with
that table is ever read back.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..io.fitsio import atomic_write_bytes
from ..io.frames import FrameInfo
from ..photometry import CurveOfGrowth, PhotometryResult
from ..photometry.growth import curve_from_tables
from ..project.products import ProductStore
from .curve_fits import curve_file_bytes, curve_tables, growth_hdus

if TYPE_CHECKING:
    from ..photometry.epsf import EffectivePSF
    from ..photometry.gridpsf import PSFField

__all__ = [
    "PhotometryDiagnostics",
    "load_photometry",
    "load_photometry_diagnostics",
    "store_photometry",
]

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


def _annulus_cards(result: PhotometryResult) -> list[fits.Card]:
    if result.annulus is None:
        return []
    return [
        fits.Card("ANN_IN", float(result.annulus[0]), "sky annulus inner radius (px)"),
        fits.Card("ANN_OUT", float(result.annulus[1]), "sky annulus outer radius (px)"),
    ]


def _diagnostics_bytes(result: PhotometryResult) -> bytes | None:
    """The diagnostics file's bytes; the aperture method's curve without astropy's HDUs."""
    if result.psf is None and result.curve_of_growth is not None:
        curves, cards, stars = curve_tables(result.curve_of_growth)
        return curve_file_bytes(curves, cards, stars, _annulus_cards(result))
    hdus = _diagnostics_hdus(result)
    if hdus is None:
        return None
    buf = io.BytesIO()
    # Not verified card by card (a third of the write): every card is made
    # above from numbers and plain text, which astropy checks as they are set.
    hdus.writeto(buf, output_verify="ignore")
    return buf.getvalue()


def _diagnostics_hdus(result: PhotometryResult) -> fits.HDUList | None:
    """The curve of growth, PSF and annulus as FITS (binary, so float64 comes back exact)."""
    psf: EffectivePSF | None = None
    field: PSFField | None = None
    if result.psf is not None:
        # The PSF models (scipy.interpolate) are imported only for a frame that
        # has one: the aperture chain's frames do not.
        from ..photometry.epsf import EffectivePSF
        from ..photometry.gridpsf import PSFField

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
    for card in _annulus_cards(result):
        primary.header.append(card)
    hdus = fits.HDUList([primary])
    if result.curve_of_growth is not None:
        hdus.extend(growth_hdus(*curve_tables(result.curve_of_growth)))
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
        from ..photometry.gridpsf.io import grid_hdu

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
    from ..photometry.epsf import EffectivePSF
    from ..photometry.gridpsf.io import field_from_hdu

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
        curve = None
        psf: EffectivePSF | PSFField | None = None
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


def store_photometry(
    store: ProductStore, frame: FrameInfo, result: PhotometryResult, fp: str
) -> None:
    """Write the diagnostics, then the table naming them by digest, then the index."""
    path = store.path("photometry", frame.path, _DIAGNOSTICS)
    table = result.table
    table.meta.pop("diagnostics", None)
    # Made in memory once: the digest is of the bytes written, not of a re-read file.
    blob = _diagnostics_bytes(result)
    if blob is not None:
        atomic_write_bytes(path, blob)
        table.meta["diagnostics"] = {"file": path.name, "sha256": hashlib.sha256(blob).hexdigest()}
    store.write_table("photometry", frame.path, table, fp)
    if blob is None:
        # An earlier run's file would not be read (no digest names it); do not keep it.
        path.unlink(missing_ok=True)


def load_photometry(store: ProductStore, frame: FrameInfo) -> Table | None:
    """``frame``'s stored photometry table, or None."""
    return store.read_table("photometry", frame.path)
