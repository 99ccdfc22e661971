"""Light-curve errors against the simulator's truth: differential and calibrated.

A night of constant stars is observed several times over (independent noise
draws of the same frames); each star's light curve, after removing its one
constant offset, must scatter about the truth as its ``mag_err`` says:
chi2/N in 0.8-1.2 for a bright (V < 16.5, photon-limited) and a mid-brightness
(V 16.5-18.5, sky-limited) group.

* calibrated: the photometry step (aperture with its curve-of-growth
  correction) and the zero-point step against one draw of the reference
  catalog's errors, shared by every frame and draw as a real catalog's are
  (``fluxion run``'s light curve). Its errors were 1.3-5x the scatter
  (chi2/N 0.04 bright, 0.56 mid): the frame's aperture-correction error,
  one factor of all its sources that cancels against the zero point, was
  counted in each point, and a calibration star's own noise was counted
  again in the zero point it weighs in. Then 0.58 bright: the zero point's
  catalog and intrinsic-scatter share, common to the night, was in each
  point's ``mag_err``; it is ``mag_err_sys`` now.
* differential: the target against an ensemble, measured as
  :func:`~fluxion.core.lightcurve.run.measure_frames` measures
  (``fluxion lightcurve``, the transit's photometry).

The frames are small (256 px) and few (8): a draw costs ~2 s. chi2/N pools
~300 degrees of freedom per group and kind (it scatters by ~0.08).
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.lightcurve.differential import differential_magnitudes
from fluxion.core.photometry.aperture import measure_apertures
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.photometry.params import PhotometryParams
from fluxion.core.photometry.step import Photometry
from fluxion.core.simulation.camera import read_out
from fluxion.core.simulation.simulate import NightConfig, make_night
from fluxion.core.zeropoint import ZeroPoint, ZeroPointParams

SHAPE = (256, 256)
N_FRAMES = 8
N_DRAWS = 14
WINDOW = (0.8, 1.2)
BRIGHT, MID = (12.0, 16.5), (16.5, 18.5)


@pytest.fixture(scope="module")
def nights():
    """The light curves (mag, mag_err) of every draw, calibrated and differential."""
    night = make_night(
        NightConfig(shape=SHAPE, n_frames=N_FRAMES, exptime=120.0, star_density=3.0, seed=11)
    )
    truths = [night.truth(i) for i in range(N_FRAMES)]
    first = truths[0]
    x, y = np.asarray(first["x"], float), np.asarray(first["y"], float)
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(d, np.inf)
    ny, nx = SHAPE
    ok = (x > 30) & (x < nx - 31) & (y > 30) & (y < ny - 31) & (d.min(axis=1) > 12)
    ok &= ~np.asarray(first["saturated"], bool) & (np.asarray(first["kind"]) == "star")
    ids = np.asarray(first["id"])[ok]
    v = np.asarray(first["mag_V"], float)[ok]
    xy = np.array(
        [[(t["x"][t["id"] == k][0], t["y"][t["id"] == k][0]) for k in ids] for t in truths]
    )
    # Every other star of the frame is measured too, as the pipeline measures
    # all it detects: the curve of growth and the zero point need them.
    others = []
    for t in truths:
        tx, ty = np.asarray(t["x"], float), np.asarray(t["y"], float)
        inside = (tx > 3) & (tx < nx - 4) & (ty > 3) & (ty < ny - 4)
        inside &= (np.asarray(t["flux"]) > 300) & ~np.isin(np.asarray(t["id"]), ids)
        others.append(np.column_stack([tx[inside], ty[inside]]))
    expected = [night.light_expected_electrons(i, raw=True) for i in range(N_FRAMES)]
    dark = night.dark_current * night.config.exptime
    catalog = night.catalog_realisation(np.random.default_rng(3))  # one catalog for all
    photometry = Photometry(PhotometryParams(method="aperture"))
    zero_point = ZeroPoint(ZeroPointParams())
    rng = np.random.default_rng(1)
    n = len(ids)
    cal = np.full((N_DRAWS, N_FRAMES, n, 2), np.nan)
    raw = np.full((N_DRAWS, N_FRAMES, n, 2), np.nan)
    for k in range(N_DRAWS):
        for i in range(N_FRAMES):
            adu = read_out(expected[i], night.camera, rng).astype(float)
            image = ((adu - night.bias_level) * night.gain - dark) / night.flat_field
            t = photometry.run(image, np.vstack([xy[i], others[i]]), gain=1.0,
                               read_noise=night.read_noise).table  # fmt: skip
            t["ra"], t["dec"] = night.wcs(i).wcs_pix2world(np.asarray(t["x"]), t["y"], 0)
            z = zero_point(t, catalog, filter="V", image_shape=SHAPE, exptime=120.0)
            assert z.calibrated and z.n_stars >= 20
            cal[k, i, :, 0] = np.asarray(z.sources["mag"])[:n]
            cal[k, i, :, 1] = np.asarray(z.sources["mag_err"])[:n]
            a = measure_apertures(image, xy[i], 5.0, (10.0, 16.0), noise=NoiseModel())
            raw[k, i, :, 0], raw[k, i, :, 1] = a["flux"], a["flux_err"]
    return v, cal, raw, z.sources


def _chi2(mag, err, truth=0.0):
    """chi2 and degrees of freedom of one light curve, its constant offset fitted."""
    r = np.asarray(mag) - truth
    w = 1.0 / np.asarray(err) ** 2
    r = r - np.sum(w * r) / np.sum(w)
    return float(np.sum(w * r**2)), len(r) - 1


def _pooled(curves):
    chi2, dof = np.sum([c for c, _ in curves]), np.sum([n for _, n in curves])
    return chi2 / dof, dof


def _calibrated_chi2(nights, group):
    v, cal, _, _ = nights
    stars = np.flatnonzero((v >= group[0]) & (v < group[1]))
    curves = [_chi2(cal[k, :, j, 0], cal[k, :, j, 1], v[j]) for k in range(N_DRAWS) for j in stars]
    chi2, dof = _pooled(curves)
    assert dof >= 250
    return chi2


def test_calibrated_light_curve_errors_of_mid_brightness_stars(nights):
    chi2 = _calibrated_chi2(nights, MID)  # 0.56 with the correction's error in each point
    assert WINDOW[0] < chi2 < WINDOW[1], chi2


def test_calibrated_light_curve_errors_of_bright_stars(nights):
    """0.04 with the correction's error in each point, 0.58 with the zero point's whole error.

    The zero point's error at a star holds the calibration stars' catalog
    errors and the fitted intrinsic scatter, the same stars' in every frame:
    they shift the curve as a whole and now go to ``mag_err_sys``; ``mag_err``
    keeps the star's own noise (with its pixel-sampling error) and the zero
    point's noise share (0.83 here).
    """
    chi2 = _calibrated_chi2(nights, BRIGHT)
    assert WINDOW[0] < chi2 < WINDOW[1], chi2


def test_calibrated_magnitude_error_parts(nights):
    """``mag_err_sys`` holds the night's common share: the catalog errors (~0.002 mag)."""
    *_, sources = nights
    err, sys_err = np.asarray(sources["mag_err"]), np.asarray(sources["mag_err_sys"])
    ok = np.isfinite(err) & np.isfinite(sys_err)
    assert ok.sum() > 20 and np.all(sys_err[ok] >= 0)
    # ~20 calibration stars with 0.002-0.01 mag catalog errors and the
    # intrinsic scatter: about 1e-3 mag, larger than a bright star's own share.
    assert 1e-3 < np.median(sys_err[ok]) < 0.02


@pytest.mark.parametrize("group", [BRIGHT, MID], ids=["bright", "mid"])
def test_differential_light_curve_errors(nights, group):
    v, _, raw, _ = nights
    brightest = np.argsort(v)[:5]
    stars = np.flatnonzero((v >= group[0]) & (v < group[1]))
    curves = []
    for j in stars:
        ens = [e for e in brightest if e != j][:4]  # the others of the five brightest
        for k in range(N_DRAWS):
            f, e = raw[k, :, :, 0], raw[k, :, :, 1]
            d = differential_magnitudes(f[:, j], e[:, j], f[:, ens], e[:, ens])
            curves.append(_chi2(d.mag, d.mag_err))
    chi2, dof = _pooled(curves)
    assert dof >= 250
    assert WINDOW[0] < chi2 < WINDOW[1], (group, chi2, dof)


def test_zero_point_error_carries_the_aperture_correction(nights):
    """The frame's zero point of corrected fluxes carries the correction's error."""
    *_, sources = nights
    assert isinstance(sources, Table)
    corr, corr_err = sources.meta["aperture_correction"], sources.meta["aperture_correction_err"]
    assert corr_err > 0
    assert sources.meta["zero_point_err"] >= 2.5 / np.log(10) * corr_err / corr
