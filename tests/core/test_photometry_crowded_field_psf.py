"""The crowded method on a frame whose PSF changes across the field, region by region.

The simulator's field PSF widens from FWHM 2.5 px at the centre to 4.5 px in
the corners and stretches to an ellipticity of 0.3 there. Each star's flux
error is scored against an oracle on the same noise: the weighted least-squares
flux with the true position, the true PSF, the true sky and every neighbour's
true light subtracted. The difference ``dz`` (in units of the isolated
Cramér-Rao bound) is the error the fitter adds; its per-region centre is the
fitter's bias, measured to ~0.02 sigma with a few dozen stars where the
flux error itself (scatter 1) could only be centred to ~0.15. Its scatter
bounds the total: a method whose dz scatters by s has a scatter
sqrt(1 + s^2) times the oracle's (s = 0.2: 1.02x).

A fast subset of case FA of ``tests/benchmarks/bench_photometry.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.stats import biweight_location, biweight_scale
from scipy.spatial import cKDTree

from fluxion.core.photometry import Photometry, PhotometryParams
from fluxion.core.photometry.gridpsf import PSFField
from fluxion.core.photometry.synthetic import StarField, star_field
from fluxion.core.simulation.psf import FieldPSF

SHAPE = (640, 640)
FULL = 61  # star_field's painted stamp
FIT = 31  # the oracle's fit stamp


@pytest.fixture(scope="module")
def field() -> StarField:
    return star_field(
        SHAPE, 420, seed=11, field_psf=FieldPSF(SHAPE), border=8, flux_range=(300.0, 1e5)
    )


def _paint(field: StarField, size: int, k: int) -> tuple[np.ndarray, slice, slice]:
    """Star ``k``'s unit stamp clipped to the frame, and its rows and columns."""
    x, y = (float(field.truth[c][k]) for c in ("x", "y"))
    cx, cy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    h = size // 2
    ny, nx = field.image.shape
    r0, c0 = cy - h, cx - h
    ra, rb, ca, cb = max(r0, 0), min(r0 + size, ny), max(c0, 0), min(c0 + size, nx)
    stamp = field.stamp_at(size, x, y, cx, cy)[ra - r0 : rb - r0, ca - c0 : cb - c0]
    return stamp, slice(ra, rb), slice(ca, cb)


@pytest.fixture(scope="module")
def oracle(field) -> np.ndarray:
    """Each star's flux with its position, PSF, sky and neighbours known (weighted LS)."""
    tf = np.asarray(field.truth["flux"], dtype=np.float64)
    model = np.zeros(field.image.shape)
    for k in range(len(tf)):
        stamp, rows, cols = _paint(field, FULL, k)
        model[rows, cols] += tf[k] * stamp
    data = field.image * field.gain - field.sky
    weight = 1.0 / (field.sky + model + field.read_noise**2)
    out = np.empty(len(tf))
    for k in range(len(tf)):
        full, rows_f, cols_f = _paint(field, FULL, k)
        own = np.zeros(field.image.shape)
        own[rows_f, cols_f] = tf[k] * full
        p, rows, cols = _paint(field, FIT, k)
        d = data[rows, cols] - (model[rows, cols] - own[rows, cols])
        w = weight[rows, cols]
        out[k] = np.sum(w * p * d) / np.sum(w * p * p)
    return out


def _regions(field: StarField, table, oracle: np.ndarray, min_flux: float = 1e3):
    """Per 3 x 3 region: (n, bias of dz, its standard error, scatter of dz, bias of z)."""
    t = field.truth
    tx, ty, tf = (np.asarray(t[c], dtype=np.float64) for c in ("x", "y", "flux"))
    bound = field.star_bounds()
    d, i = cKDTree(np.c_[table["x"], table["y"]]).query(np.c_[tx, ty])
    z = (np.asarray(table["flux"])[i] - tf) / bound
    dz = z - (oracle - tf) / bound
    ny, nx = SHAPE
    region = np.clip(ty * 3 // ny, 0, 2) * 3 + np.clip(tx * 3 // nx, 0, 2)
    ok = (d < 1.0) & (tf >= min_flux) & np.isfinite(dz)
    rows = []
    for k in range(9):
        sel = ok & (region == k)
        loc, scale = float(biweight_location(dz[sel])), float(biweight_scale(dz[sel]))
        se = 1.25 * scale / np.sqrt(sel.sum())
        rows.append((int(sel.sum()), loc, se, scale, float(biweight_location(z[sel]))))
    return rows


def test_crowded_field_psf_unbiased_in_every_region(field, oracle):
    run = Photometry(PhotometryParams(method="crowded")).run(
        field.image, gain=field.gain, read_noise=field.read_noise
    )
    assert isinstance(run.psf, PSFField) and run.psf.varies
    rows = _regions(field, run.table, oracle)
    for k, (n, bias, se, scatter, _) in enumerate(rows):
        assert n >= 15, (k, rows)
        # The fitter's own bias, within 0.1 sigma of the isolated bound in
        # every region beyond what the region's stars resolve: the PSF built
        # from ~150 stars is itself uncertain (FWHM +-0.005-0.01 px in the
        # corners), which shifts a region's bright stars together by a few
        # hundredths to a tenth of a sigma from frame to frame.
        assert abs(bias) < 0.1 + 3 * se, (k, rows)
        # Scatter added to the oracle's: total within 1.02x of it. Faint
        # companions made of the frame-wide PSF's misfit in the corners took
        # light from bright stars there (scatter 0.24-0.31 in two corners).
        assert scatter < 0.2, (k, rows)
