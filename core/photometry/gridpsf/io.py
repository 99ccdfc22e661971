"""Grids of PSFs in the STPSF/WebbPSF FITS format that photutils' ``GriddedPSFModel.read`` reads.

A file holds a cube (N, n, n) of oversampled ePSFs in its primary HDU, with
``OVERSAMP``, ``NUM_PSFS`` and one ``DET_YX<i>`` card per PSF giving where on
the detector it applies. Fluxion reads such files (STPSF's, or its own)
through photutils and writes its own grids so that photutils reads them back
unchanged: the PSFs ordered by y then x, and each ``DET_YX<i>`` holding the
two numbers photutils' reader turns into (x, y). (STPSF labels the card
"(y,x)" but, since it writes the cube in photutils' y-then-x order, the
numbers it writes are read as (x, y); photutils' reader is the reference.)

The ePSFs are normalised as photutils expects: the samples of an
oversampling-k image sum to k^2 per unit of total flux, which is Fluxion's
:class:`fluxion.core.photometry.epsf.EffectivePSF` convention too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy.ndimage import map_coordinates

from ..epsf import EffectivePSF
from .field import PSFField, as_field

__all__ = ["PSFFileError", "field_from_hdu", "grid_hdu", "read_psf_grid", "write_psf_grid"]

_NODES_OF_SMOOTH = 7
"""Nodes per axis when a smooth (polynomial) PSF is written as a grid."""


def _interpolation(kind: str, nx: int, ny: int) -> int:
    """1 (bilinear, as photutils' GriddedPSFModel) or 3 (bicubic) between a file's nodes.

    A smooth field Fluxion wrote (FWHM 2.5 -> 4.5 px over 5 x 5 nodes) is
    off by up to 4% of a star's flux between nodes when interpolated
    bilinearly (a mix of a narrow and a wide PSF is not the PSF between
    them), 0.2% bicubically; grids of other origin (cells, STPSF) keep
    photutils' bilinear rule.
    """
    return 3 if kind.endswith("-field") and min(nx, ny) >= 4 else 1


class PSFFileError(ValueError):
    """A PSF grid file that cannot be read; the message names the file and the cause."""


def write_psf_grid(
    path: str | Path,
    psf: PSFField | EffectivePSF,
    *,
    nodes: tuple[int, int] | None = None,
    meta: dict | None = None,
) -> Path:
    """Write ``psf`` as a GriddedPSFModel FITS file (atomically); returns the path.

    Parameters
    ----------
    path : path
        Output file (overwritten).
    psf : PSFField or EffectivePSF
        The PSF. A grid (cells, or one read from a file) is written at its
        own nodes; a smooth model at ``nodes`` (nx, ny) positions spanning
        its frame (5 x 5 by default); a constant PSF as a single ePSF.
    nodes : (int, int), optional
        Grid for a smooth model.
    meta : dict, optional
        Extra header cards (e.g. FILTER, DETECTOR, INSTRUME).
    """
    path = Path(path)
    header, cube = _grid_header(psf, nodes, meta)
    hdu = fits.PrimaryHDU(cube, header=header)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        hdu.writeto(tmp, overwrite=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _grid_header(
    psf: PSFField | EffectivePSF, nodes: tuple[int, int] | None, meta: dict | None
) -> tuple[fits.Header, np.ndarray]:
    """The header and the (N, n, n) cube of ``psf`` as a grid (see :func:`write_psf_grid`)."""
    field = as_field(psf)
    if field.order == 1 or not field.varies:
        xs, ys, cube = field.node_grid()
    else:
        nx_, ny_ = nodes or (_NODES_OF_SMOOTH, _NODES_OF_SMOOTH)
        xs, ys, cube = field.node_grid(nx_, ny_)
    header = fits.Header()
    header["INSTRUME"] = ("Fluxion", "Made from the frame's own stars")
    for key, value in (meta or {}).items():
        header[key.upper()[:8]] = value
    header["OVERSAMP"] = (int(field.oversampling), "Oversampling factor of the ePSFs")
    header["DET_SAMP"] = (int(field.oversampling), "Oversampling factor of the ePSFs")
    header["NUM_PSFS"] = (len(cube), "The total number of fiducial PSFs")
    header["FOVPIXEL"] = (int(field.size), "Field of view in pixels (full array)")
    gx, gy = np.meshgrid(xs, ys)
    for h, (x, y) in enumerate(zip(gx.ravel(), gy.ravel(), strict=True)):
        # Ten digits (1e-6 px on a 10k frame) keep the card within 80 characters.
        header[f"DET_YX{h}"] = (f"({float(x):.10g}, {float(y):.10g})", "position, read as (x, y)")
    # A grid read from a file keeps the kind it was written with (its interpolation).
    kind = str(field.meta.get("kind", field.kind)) if field.kind == "grid" else field.kind
    header["PSFKIND"] = (kind, "Fluxion: how the PSF was made")
    header["FWHM"] = (float(field.fwhm), "Fluxion: FWHM at the centre (px)")
    header["NSTARS"] = (int(field.n_stars), "Fluxion: stars it was made from")
    if np.isfinite(field.moffat_beta):
        header["BETA"] = (float(field.moffat_beta), "Fluxion: Moffat beta of the wings")
    if field.shape is not None:
        header["DETSIZEY"], header["DETSIZEX"] = (int(v) for v in field.shape)
    chosen = field.meta.get("chosen")
    if chosen:
        header["PSFMODEL"] = (str(chosen), "Fluxion: model chosen by held-out residuals")
    return header, np.asarray(cube, dtype=np.float64)


def grid_hdu(psf: PSFField | EffectivePSF, name: str = "PSFGRID") -> fits.ImageHDU:
    """``psf`` as an image extension in the grid file's layout (a project's diagnostics)."""
    header, cube = _grid_header(psf, None, None)
    return fits.ImageHDU(cube, header=header, name=name)


def field_from_hdu(hdu: fits.ImageHDU | fits.PrimaryHDU) -> PSFField:
    """The :class:`PSFField` of a grid HDU written by :func:`grid_hdu` or :func:`write_psf_grid`."""
    h = hdu.header
    data = np.asarray(hdu.data, dtype=np.float64)
    data = data[None] if data.ndim == 2 else data
    centres = []
    for i in range(len(data)):
        a, b = str(h[f"DET_YX{i}"]).strip("()").split(",")
        centres.append((float(a), float(b)))
    xy = np.asarray(centres)
    xs, ys = np.unique(xy[:, 0]), np.unique(xy[:, 1])
    order = np.lexsort((xy[:, 0], xy[:, 1]))
    n = len(data)
    shape = (int(h["DETSIZEY"]), int(h["DETSIZEX"])) if "DETSIZEY" in h else None
    meta = {"chosen": str(h["PSFMODEL"])} if "PSFMODEL" in h else {}
    kind = str(h.get("PSFKIND", "grid"))
    return PSFField(
        _odd(data[order]),
        np.eye(n).reshape(n, len(ys), len(xs)),
        xs,
        ys,
        int(h["OVERSAMP"]),
        _interpolation(kind, len(xs), len(ys)),
        kind,
        float(h.get("FWHM", np.nan)),
        int(h.get("NSTARS", 0)),
        float(h.get("BETA", np.nan)),
        shape,
        meta=meta,
    )


def _odd(cube: np.ndarray) -> np.ndarray:
    """ePSFs of even size re-sampled onto an odd grid with the star on the middle sample.

    An even ePSF's star sits between its two middle samples (STPSF's
    101 px x 4 = 404); shifting by half a sample (cubic spline) puts it on
    one, as Fluxion's stamps expect.
    """
    n = cube.shape[-1]
    if n % 2 == 1:
        return cube
    grid = np.arange(n - 1, dtype=np.float64) + 0.5
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    return np.stack([map_coordinates(c, [yy, xx], order=3, mode="nearest") for c in cube])


def read_psf_grid(path: str | Path) -> PSFField:
    """Read a GriddedPSFModel FITS file (STPSF/WebbPSF or STDPSF) with photutils' reader.

    Raises
    ------
    PSFFileError
        Missing, unreadable or not a PSF grid (the message names the file).
    """
    from photutils.psf import GriddedPSFModel

    path = Path(path)
    if not path.is_file():
        raise PSFFileError(f"{path}: no such PSF grid file")
    try:
        model = GriddedPSFModel.read(str(path))
    except Exception as exc:  # noqa: BLE001 - photutils raises many kinds; the user needs one
        raise PSFFileError(f"{path}: not a PSF grid photutils can read ({exc})") from exc
    over = np.atleast_1d(model.oversampling)
    if over.size == 2 and over[0] != over[1]:
        raise PSFFileError(f"{path}: oversampling {tuple(over)} differs between x and y")
    data = np.asarray(model.data, dtype=np.float64)
    if data.shape[1] != data.shape[2]:
        raise PSFFileError(f"{path}: ePSFs of {data.shape[1:]} samples are not square")
    k = int(over[0])
    data = _odd(data)
    xy = np.asarray(model.grid_xypos, dtype=np.float64)
    xs, ys = np.unique(xy[:, 0]), np.unique(xy[:, 1])
    # photutils keeps the cube sorted by y then x, so node (iy, ix) is image iy * nx + ix.
    order = np.lexsort((xy[:, 0], xy[:, 1]))
    data = data[order]
    n = len(data)
    coeffs = np.eye(n).reshape(n, len(ys), len(xs))
    header = fits.getheader(path)
    from .shape import psf_shape

    centre = data[(len(ys) // 2) * len(xs) + len(xs) // 2]
    try:
        fwhm = float(header.get("FWHM", psf_shape(centre, k).fwhm))
    except (ValueError, RuntimeError):
        fwhm = float("nan")
    shape = None
    if "DETSIZEY" in header and "DETSIZEX" in header:
        shape = (int(header["DETSIZEY"]), int(header["DETSIZEX"]))
    return PSFField(
        data,
        coeffs,
        xs,
        ys,
        k,
        _interpolation(str(header.get("PSFKIND", "grid")), len(xs), len(ys)),
        "grid",
        fwhm,
        int(header.get("NSTARS", 0)),
        float(header.get("BETA", np.nan)),
        shape,
        meta={"file": str(path), "kind": str(header.get("PSFKIND", "grid"))},
    )
