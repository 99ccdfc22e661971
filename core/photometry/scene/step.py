"""The crowded method of the photometry step: the scene fitter on a frame."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from ...runtime.pipeline import StepState
from ..inputs import FrameInputs
from ..params import PhotometryParams
from ..psf_step import frame_psf, psf_file
from .fitter import SceneSettings, fit_scene

__all__ = ["run_crowded"]


def run_crowded(p: PhotometryParams, inputs: FrameInputs, state: StepState) -> dict:
    """Fit the whole scene; given positions and a target are matched to the fitted stars.

    The scene fitter finds its own stars. When positions are given, the table
    holds the fitted star nearest to each position (within one FWHM; NaN
    fluxes otherwise), so that a target can be followed in a crowded field.
    """
    img, bad, sky, stars, fwhm, noise, sat, variance, positions, target = inputs
    psf = (
        psf_file(p.psf_file) if p.psf_file else frame_psf(p, img, bad, sky.level, stars, fwhm, sat)
    )
    state.progress(0.1, f"starting PSF FWHM {psf.fwhm:.2f} px")
    saturated = None if sat is None else img >= sat
    kind = p.psf_model if p.psf_model in ("moffat", "gaussian", "empirical") else "moffat"
    settings = SceneSettings(
        threshold=p.detection_threshold,
        iterations=p.iterations,
        sky_mesh=p.sky_mesh,
        psf_refit=p.psf_refit and not p.psf_file,
        psf_kind=kind,
        psf_variation=p.psf_variation,
    )
    scene = fit_scene(
        img,
        noise=noise,
        psf=psf,
        mask=bad,
        saturated=saturated,
        settings=settings,
        state=state.sub(0.1, 1.0),
    )
    table = scene.table
    wanted = positions
    if target is not None:
        t = np.asarray(target, dtype=np.float64)[None, :]
        wanted = t if wanted is None else np.vstack([wanted, t])
    if wanted is not None:
        table = _nearest_rows(table, wanted, fwhm)
    return dict(
        table=table, psf=scene.psf, model=scene.model, residual=scene.residual, sky=scene.sky
    )


def _nearest_rows(table: Table, positions: np.ndarray, radius: float) -> Table:
    """Rows of ``table`` nearest to each position; a blank row where none is close."""
    from scipy.spatial import cKDTree

    from ..flags import PhotometryFlag

    out = Table({c: np.zeros(len(positions), dtype=table[c].dtype) for c in table.colnames})
    if len(table):
        d, i = cKDTree(np.c_[table["x"], table["y"]]).query(positions)
    else:
        d, i = np.full(len(positions), np.inf), np.zeros(len(positions), int)
    for c in table.colnames:
        if len(table):
            out[c] = np.asarray(table[c])[i]
    miss = d > radius
    for c in out.colnames:
        if out[c].dtype.kind == "f":
            out[c][miss] = np.nan
    out["x"][miss] = positions[miss, 0]
    out["y"][miss] = positions[miss, 1]
    out["flags"][miss] = PhotometryFlag.FIT_FAILED
    return out
