"""PSF photometry with photutils: noise-weighted fits, grouped neighbours, forced mode.

photutils' ``PSFPhotometry`` does the fitting and the grouping; this module
chooses the weights and the data each group sees. The fit is weighted by the
expected noise (sky + model + read noise): a first pass weights with the
observed pixels, the later ones with the previous pass's model, because
weights from the data itself bias faint fluxes low. The later passes fit
each group with every other star's model subtracted, since photutils leaves
neighbours outside a group in its fit boxes.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass

import numpy as np
from astropy.table import Table, vstack
from astropy.utils.exceptions import AstropyUserWarning
from photutils.psf import ImagePSF, PSFPhotometry, SourceGrouper

from ..runtime.quiet import quiet
from .epsf import EffectivePSF
from .flags import PhotometryFlag as F
from .gridpsf.field import PSFField
from .gridpsf.model import FieldPSFModel
from .gridpsf.shift import field_stamps
from .noise import NoiseModel
from .psf_fitter import GroupJacobianFitter
from .psf_single import fit_single_stars, fits_here

__all__ = ["PSFFit", "fit_psf_photometry", "render_stars"]

# photutils flag bits (photutils.psf.PSF_FLAGS) mapped onto ours.
_PARTIAL, _OUTSIDE, _NEGATIVE, _NO_CONVERGENCE, _NO_COVARIANCE = 1, 2, 4, 8, 16
_FAILED = 64 | 128 | 256 | 512 | 1024


@dataclass(frozen=True)
class PSFFit:
    """Result of :func:`fit_psf_photometry`."""

    table: Table
    """x, y, flux, flux_err, flags, x_err, y_err, qfit, group_id, group_size."""
    model: np.ndarray
    """Model image of the fitted stars (no sky)."""


def star_stamps(
    psf: EffectivePSF | PSFField,
    size: int,
    dx: np.ndarray,
    dy: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> np.ndarray:
    """Unit stamps (N, size, size) at sub-pixel offsets (dx, dy) of stars at (x, y).

    A field-varying PSF gives each star the PSF where it is (one combined
    spline per star: :func:`.gridpsf.shift.field_stamps`).
    """
    if isinstance(psf, PSFField):
        return field_stamps(psf, size, dx, dy, x, y)
    return psf.stamps(size, dx, dy)


@dataclass(frozen=True)
class _Stamps:
    """Stars' model stamps, drawn once and placed on images as often as needed."""

    shape: tuple[int, int]
    rows: list[np.ndarray]
    """Per stamp size, the stars (indices into the positions given) of that size."""
    corners: list[np.ndarray]
    """Per stamp size, (n, 2) row and column of each stamp's corner in the image."""
    stamps: list[np.ndarray]
    """Per stamp size, (n, size, size) stamps scaled by the flux."""

    def paint(self, image: np.ndarray, select: np.ndarray | None = None) -> np.ndarray:
        """``image`` plus the stars (those flagged in ``select``, a boolean per star)."""
        ny, nx = self.shape
        out = image
        for rows, corners, stamps in zip(self.rows, self.corners, self.stamps, strict=True):
            pick = np.arange(len(rows)) if select is None else np.flatnonzero(select[rows])
            if pick.size == 0:
                continue
            size = stamps.shape[1]
            # A margin of a whole stamp: stars just off the frame still shine in.
            padded = np.zeros((ny + 2 * size, nx + 2 * size))
            padded[size : size + ny, size : size + nx] = out
            for j in pick:
                r0, c0 = corners[j]
                if 0 <= r0 <= ny + size and 0 <= c0 <= nx + size:
                    padded[r0 : r0 + size, c0 : c0 + size] += stamps[j]
            out = padded[size : size + ny, size : size + nx]
        return out.copy() if out is image else out


def _draw(
    shape: tuple[int, int],
    psf: EffectivePSF | PSFField,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    sky_sigma: float,
) -> _Stamps:
    """The stamps of :func:`render_stars` (see there), not yet placed."""
    x, y, flux = (np.asarray(v, dtype=np.float64) for v in (x, y, flux))
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(flux) & (flux != 0)
    rows: list[np.ndarray] = []
    corners: list[np.ndarray] = []
    stamps_of: list[np.ndarray] = []
    if not ok.any():
        return _Stamps(shape, rows, corners, stamps_of)
    # A varying PSF's widest stars set the reach of all (a few stamps larger than needed).
    fwhm = psf.fwhm_max if isinstance(psf, PSFField) else psf.fwhm
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / 3.0) - 1.0))
    peak = 2.0 * np.abs(flux) / (np.pi * alpha**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = alpha * np.sqrt(np.maximum((peak / (0.05 * sky_sigma)) ** (1 / 3) - 1, 0))
    sizes = np.array([s for s in (15, 31, psf.size) if s <= psf.size] or [psf.size])
    need = 2 * np.ceil(np.nan_to_num(reach)) + 1
    which = np.minimum(np.searchsorted(sizes, need), len(sizes) - 1)
    for k, size in enumerate(sizes):
        idx = np.flatnonzero(ok & (which == k))
        if idx.size == 0:
            continue
        half = int(size) // 2
        xi, yi = np.rint(x[idx]).astype(int), np.rint(y[idx]).astype(int)
        stamps = star_stamps(psf, int(size), x[idx] - xi, y[idx] - yi, x[idx], y[idx])
        rows.append(idx)
        corners.append(np.c_[yi + size - half, xi + size - half])
        stamps_of.append(stamps * flux[idx, None, None])
    return _Stamps(shape, rows, corners, stamps_of)


def render_stars(
    shape: tuple[int, int],
    psf: EffectivePSF | PSFField,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    *,
    sky_sigma: float = 1.0,
) -> np.ndarray:
    """Model image (no sky) of stars of the given fluxes at (x, y).

    Each star is drawn out to where a beta = 3 Moffat of its flux falls to
    0.05 ``sky_sigma`` per pixel (the full PSF stamp at most): faint stars
    get small stamps, which keeps a few thousand stars cheap. Stars with
    a non-finite position or flux are left out.
    """
    return _draw(shape, psf, x, y, flux, sky_sigma).paint(np.zeros(shape))


def _colours(x: np.ndarray, y: np.ndarray, group: np.ndarray, distance: float) -> np.ndarray:
    """Colour the groups so that no two groups of one colour come within ``distance``.

    Groups of one colour are fitted together on the image with every other
    star's model subtracted: their own fit boxes then hold no unmodelled
    neighbour, yet one photutils call fits many groups.
    """
    from scipy.spatial import cKDTree

    ids, gidx = np.unique(group, return_inverse=True)
    pairs = cKDTree(np.c_[x, y]).query_pairs(distance, output_type="ndarray")
    conflicts: list[set[int]] = [set() for _ in ids]
    for a, b in gidx[pairs].reshape(-1, 2):
        if a != b:
            conflicts[a].add(b)
            conflicts[b].add(a)
    colour = np.full(len(ids), -1)
    for g in range(len(ids)):
        used = {colour[h] for h in conflicts[g]}
        c = 0
        while c in used:
            c += 1
        colour[g] = c
    return colour[gidx]


_NOT_CONVERGED = "One or more fit"


_SERIAL = itertools.count()


def _model_of(
    psf: EffectivePSF | PSFField, forced: bool, fit_size: int = 0
) -> ImagePSF | FieldPSFModel:
    """The photutils model of ``psf``, of a class made for this fit alone.

    photutils 3.0 builds a model class per group size and caches it under
    the PSF model's class name, baking in a copy of the first PSF model it
    saw: later groups of that size were fitted with that first PSF (another
    frame's, or the first pass's) and its fixed parameters (a forced pair
    after a free fit crashed: "cannot reshape array of size 6 into shape
    (2,1)"), for as long as the garbage collector kept the class, so that
    results changed from run to run. A class of a unique name per fit keys
    the cache to this PSF.
    """
    base = FieldPSFModel if isinstance(psf, PSFField) else ImagePSF
    cls = type(f"FramePSF{next(_SERIAL)}", (base,), {"__module__": __name__})
    if isinstance(psf, PSFField):
        # Evaluated within the (square) fit box only.
        model = cls(psf, radius=0.5 * fit_size if fit_size else None)
    else:
        model = cls(psf.data, oversampling=psf.oversampling)
    if forced:
        model.x_0.fixed = True
        model.y_0.fixed = True
    return model


def _quiet_convergence_warning(phot: PSFPhotometry) -> bool:
    """Silence photutils' "fit(s) may not have converged" warning of ``phot`` only.

    The warning is issued while photutils assembles the result table, after
    all the fitting; it says what the flags column already holds
    (``POOR_FIT``). Wrapping just that step in :func:`fluxion.core.runtime.quiet.quiet`
    keeps frames in worker threads from swapping the process-wide warning
    filters under one another, without serialising the fits themselves.
    Returns False when this photutils has no such step (then the whole call
    is wrapped, see :func:`_run`).
    """
    assembler = getattr(phot, "_results_assembler", None)
    assemble = getattr(type(assembler), "assemble_results_table", None)
    if assembler is None or assemble is None:
        return False
    if getattr(assembler.assemble_results_table, "quiet", False):
        return True
    # A weak reference: the assembler holding a closure that holds the
    # assembler would keep every fit's models alive until the cycle collector.
    owner = weakref.ref(assembler)

    def assemble_quietly(*args, **kwargs):
        with quiet(AstropyUserWarning, _NOT_CONVERGED):
            return assemble(owner(), *args, **kwargs)

    # A marker on the function, read back by the getattr above.
    assemble_quietly.quiet = True  # type: ignore[attr-defined]
    assembler.assemble_results_table = assemble_quietly
    return True


def _run(phot: PSFPhotometry, data, error, mask, init: Table) -> Table:
    if _quiet_convergence_warning(phot):
        return phot(data, error=error, mask=mask, init_params=init)
    with quiet(AstropyUserWarning, _NOT_CONVERGED):  # correct, but serialises the fits
        return phot(data, error=error, mask=mask, init_params=init)


def fit_psf_photometry(
    image: np.ndarray,
    positions: np.ndarray,
    psf: EffectivePSF | PSFField,
    *,
    sky: np.ndarray | float,
    noise: NoiseModel,
    mask: np.ndarray | None = None,
    fit_size: int = 15,
    group_distance: float = 0.0,
    forced: bool = False,
    variance: np.ndarray | None = None,
    start: Table | None = None,
    neighbour_subtraction: bool = True,
    neighbour_passes: int = 2,
) -> PSFFit:
    """Fit the PSF to every star (photutils PSFPhotometry), weighted by the noise.

    A first pass fits each group of close stars alone, weighted by the
    observed pixels. The second pass fits each group again on the image with
    every other star's first-pass model subtracted (photutils leaves the
    neighbours inside a fit box but outside the group in the data, which
    biased fluxes by +0.2 sigma and widened their scatter to 1.2x the
    Cramér-Rao bound on a field of 500 stars), weighted by the expected
    signal (sky + model). Groups far enough apart are fitted in one
    photutils call (see :func:`_colours`).

    Parameters
    ----------
    image : ndarray
        Frame in electrons, sky not subtracted.
    positions : ndarray, shape (N, 2)
        Starting (x, y); kept fixed when ``forced``.
    psf : EffectivePSF or PSFField
        The PSF, the same everywhere or varying across the frame.
    sky : ndarray or float
        Sky in electrons per pixel, subtracted before the fit.
    noise : NoiseModel
        For the read noise of the weights.
    mask : ndarray of bool, optional
        Pixels left out of the fit (bad, saturated).
    fit_size : int
        Odd size of the fitted box (px).
    group_distance : float
        Stars closer than this (px) are fitted together; 0 fits each alone.
    forced : bool
        Fit fluxes only, at the given positions.
    variance : ndarray, optional
        Per-pixel variance (e-^2) replacing the noise model.
    start : astropy.table.Table, optional
        A first pass's table (x, y, flux, group_id, in the order of
        ``positions``), e.g. with another PSF: the first pass is skipped.
    neighbour_subtraction : bool
        Do the neighbour-subtracted passes; False returns the first pass.
    neighbour_passes : int
        How many: the first pass's neighbours carry the star's own light,
        so one pass over-subtracts (-0.5 sigma for stars with a neighbour
        7-12 px away); two bring that within -0.3 to 0.
    """
    fit_size = int(fit_size) | 1
    data = np.asarray(image, dtype=np.float64) - sky
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    sky_arr = np.broadcast_to(np.asarray(sky, dtype=np.float64), data.shape)

    def photometry(grouper: SourceGrouper | None) -> PSFPhotometry:
        model_psf = _model_of(psf, forced, fit_size)
        return PSFPhotometry(
            model_psf,
            fit_size,
            grouper=grouper,
            aperture_radius=max(1.5 * psf.fwhm, 2.0),
            xy_bounds=None if forced else 2.0,
            # Never warn about large groups: a group's size is in the
            # table (group_size, the CONTAMINATED flag), and a warning
            # would need the process-wide filters swapped to silence.
            group_warning_threshold=2**31,
            # The PSF model's analytic derivatives also for groups of stars.
            fitter=GroupJacobianFitter(),
        )

    if start is None:
        grouper = SourceGrouper(min_separation=group_distance) if group_distance > 0 else None
        var = variance if variance is not None else noise.variance(sky_arr + np.maximum(data, 0))
        if isinstance(psf, PSFField) and len(pos):
            table = _first_pass(data, np.sqrt(var), mask, pos, psf, grouper, photometry, fit_size)
        else:
            phot = photometry(grouper)
            init = Table({"x": pos[:, 0], "y": pos[:, 1]})
            res = _run(phot, data, np.sqrt(var), mask, init)
            table = _table(res, init if forced else None)
        if not neighbour_subtraction:
            # Drawn from our table: photutils' own model image puts forced
            # grouped stars at (0, 0) (see _table).
            sky_sigma = float(np.sqrt(np.median(noise.variance(sky_arr))))
            model = render_stars(
                data.shape,
                psf,
                np.asarray(table["x"]),
                np.asarray(table["y"]),
                np.asarray(table["flux"]),
                sky_sigma=sky_sigma,
            )
            return PSFFit(table=table, model=model)
    else:
        table = start
    for _ in range(neighbour_passes):
        table = _neighbour_pass(
            data, pos, table, psf, photometry(None), sky_arr, noise, mask, variance, fit_size
        )
    sky_sigma = float(np.sqrt(np.median(noise.variance(sky_arr))))
    final = render_stars(
        data.shape,
        psf,
        np.asarray(table["x"]),
        np.asarray(table["y"]),
        np.asarray(table["flux"]),
        sky_sigma=sky_sigma,
    )
    return PSFFit(table=table, model=final)


def _first_pass(data, error, mask, pos, psf, grouper, photometry, fit_size) -> Table:
    """The first pass's table: the stars alone in their group fitted at once, the rest by photutils.

    The groups are photutils' (its ``SourceGrouper``, handed to it as the
    ``group_id`` column), and so are the starting fluxes of the stars fitted
    alone: the sum in its aperture of radius ``aperture_radius``.
    """
    from photutils.aperture import CircularAperture

    x, y = pos[:, 0], pos[:, 1]
    group = np.asarray(grouper(x, y) if grouper is not None else np.arange(len(x)) + 1)
    phot = photometry(None)
    forced = bool(phot.psf_model.x_0.fixed)
    alone = _alone(psf, group, x, y, fit_size, mask, error, data)
    parts = []
    here = np.flatnonzero(alone)
    if here.size:
        start, _ = CircularAperture(pos[here], r=phot.aperture_radius).do_photometry(
            data, mask=mask
        )
        f0 = np.zeros(len(x))
        f0[here] = start
        part = _single_table(data, error, phot.psf_model, (x, y, f0, group), here, fit_size, forced)
        part["row"] = here
        parts.append(part)
    rest = np.flatnonzero(~alone)
    if rest.size:
        init = Table({"x": x[rest], "y": y[rest], "group_id": group[rest]})
        part = _table(_run(phot, data, error, mask, init), init if forced else None)
        part["row"] = rest
        parts.append(part)
    table = vstack(parts)
    table.sort("row")
    table.remove_column("row")
    return table


def _neighbour_pass(data, pos, table, psf, phot, sky_arr, noise, mask, variance, fit_size):
    """Fit every group again with all other stars' models (from ``table``) subtracted."""
    x0, y0, f0 = (np.array(table[c], dtype=np.float64) for c in ("x", "y", "flux"))
    lost = ~(np.isfinite(x0) & np.isfinite(y0) & np.isfinite(f0))
    x0[lost], y0[lost], f0[lost] = pos[lost, 0], pos[lost, 1], 0.0
    sky_sigma = float(np.sqrt(np.median(noise.variance(sky_arr))))
    # Drawn once: the model of all, and each colour's own stars put back from the same stamps.
    drawn = _draw(data.shape, psf, x0, y0, f0, sky_sigma)
    model = drawn.paint(np.zeros(data.shape))
    less = data - model
    var = variance if variance is not None else noise.variance(sky_arr + np.maximum(model, 0))
    error = np.sqrt(var)
    group = np.asarray(table["group_id"], dtype=np.int64)
    colour = _colours(x0, y0, group, fit_size + 2.0 * psf.fwhm)
    forced = bool(phot.psf_model.x_0.fixed)
    alone = _alone(psf, group, x0, y0, fit_size, mask, error, less)
    parts = []
    for c in np.unique(colour):
        sel = np.flatnonzero(colour == c)
        mine = np.zeros(len(x0), dtype=bool)
        mine[sel] = True
        image = drawn.paint(less, mine)
        here = sel[alone[sel]]
        if here.size:
            part = _single_table(
                image, error, phot.psf_model, (x0, y0, f0, group), here, fit_size, forced
            )
            part["row"] = here
            parts.append(part)
        sel = sel[~alone[sel]]
        if sel.size == 0:
            continue
        init = Table(
            {
                "x": x0[sel],
                "y": y0[sel],
                "flux": np.where(f0[sel] != 0, f0[sel], 1.0),
                "group_id": group[sel],
            }
        )
        res = _run(phot, image, error, mask, init)
        part = _table(res, init if forced else None)
        part["row"] = sel
        parts.append(part)
    table = vstack(parts)
    table.sort("row")
    table.remove_column("row")
    return table


def _alone(psf, group, x0, y0, fit_size, mask, error, data) -> np.ndarray:
    """Stars fitted by :func:`.psf_single.fit_single_stars` instead of photutils.

    Those alone in their group, with a varying PSF (the model it evaluates),
    whose whole fit box is in the frame and free of masked pixels and of
    pixels without finite data and a finite, positive noise.
    """
    if not isinstance(psf, PSFField):
        return np.zeros(len(x0), dtype=bool)
    _, inverse, counts = np.unique(group, return_inverse=True, return_counts=True)
    bad = ~(np.isfinite(error) & (error > 0) & np.isfinite(data))
    if mask is not None:
        bad |= mask
    return (counts[inverse] == 1) & fits_here(x0, y0, fit_size, error.shape, bad)


def _single_table(image, error, model, start, rows, fit_size, forced) -> Table:
    """The columns of :func:`_table` for the stars ``rows`` (of ``start``'s x, y, flux,
    group) fitted alone, all at once."""
    x0, y0, f0, group = start
    fits = fit_single_stars(
        image,
        error,
        model,
        x0[rows],
        y0[rows],
        np.where(f0[rows] != 0, f0[rows], 1.0),
        fit_size,
        forced=forced,
    )
    ny, nx = image.shape
    flags = np.zeros(len(rows), dtype=np.int32)
    finite = np.isfinite(fits.x) & np.isfinite(fits.y) & np.isfinite(fits.flux)
    outside = (fits.x < -0.5) | (fits.y < -0.5) | (fits.x > nx - 0.5) | (fits.y > ny - 0.5)
    flags[outside | ~finite] |= F.FIT_FAILED
    flags[fits.flux <= 0] |= F.NEGATIVE_FLUX
    flags[~fits.converged] |= F.POOR_FIT
    table = Table()
    for col in ("x", "y", "flux", "flux_err"):
        table[col] = getattr(fits, col)
    table["flags"] = flags
    for col in ("x_err", "y_err", "qfit"):
        table[col] = getattr(fits, col)
    table["group_id"] = group[rows]
    table["group_size"] = np.ones(len(rows), dtype=np.int64)
    return table


def _table(res: Table, held: Table | None = None) -> Table:
    """Our columns and flags from a photutils result table.

    ``held``: the starting table of a forced fit, whose positions are the
    result's. photutils 3.0 reports a fixed position as 0 for the stars of
    a group (x_fit = y_fit = 0), which put forced pairs in the frame's corner.
    """
    pflags = np.asarray(res["flags"], dtype=np.int64)
    flags = np.zeros(len(res), dtype=np.int32)
    flags[(pflags & _PARTIAL) != 0] |= F.MASKED
    flags[(pflags & (_OUTSIDE | _FAILED)) != 0] |= F.FIT_FAILED
    flags[(pflags & _NEGATIVE) != 0] |= F.NEGATIVE_FLUX
    flags[(pflags & _NO_CONVERGENCE) != 0] |= F.POOR_FIT
    table = Table()
    table["x"] = np.asarray(res["x_fit"], dtype=np.float64)
    table["y"] = np.asarray(res["y_fit"], dtype=np.float64)
    if held is not None:
        table["x"] = np.asarray(held["x"], dtype=np.float64)
        table["y"] = np.asarray(held["y"], dtype=np.float64)
    table["flux"] = np.asarray(res["flux_fit"], dtype=np.float64)
    table["flux_err"] = np.asarray(res["flux_err"], dtype=np.float64)
    table["flags"] = flags
    for src, dst in (("x_err", "x_err"), ("y_err", "y_err"), ("qfit", "qfit")):
        table[dst] = np.asarray(res[src], dtype=np.float64)
    table["group_id"] = np.asarray(res["group_id"], dtype=np.int64)
    table["group_size"] = np.asarray(res["group_size"], dtype=np.int64)
    return table
