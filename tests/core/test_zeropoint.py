"""Zero points on simulated frames with known zero point, colour and spatial terms, scatter."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from astropy.wcs import WCS

from fluxion.core.runtime.params import param_infos
from fluxion.core.runtime.pipeline import StepState
from fluxion.core.zeropoint import ZeroPoint, ZeroPointParams, zero_point_table

SHAPE = (512, 512)
K_TRUE = 0.12  # colour term in B-V
SPATIAL_TRUE = 0.03  # mag across half the field in x


def _wcs() -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 30.0]
    w.wcs.crpix = [256.5, 256.5]
    w.wcs.cdelt = [-1.0 / 3600, 1.0 / 3600]  # 1 arcsec/px
    return w


def _catalog(rng: np.random.Generator, n: int = 40) -> tuple[Table, np.ndarray]:
    """A catalog of the simulator's shape (id, ra, dec, B, B_err, V, V_err) and true V."""
    x = rng.uniform(10, SHAPE[1] - 10, n)
    y = rng.uniform(10, SHAPE[0] - 10, n)
    ra, dec = _wcs().pixel_to_world_values(x, y)
    v_true = rng.uniform(11, 16, n)
    bv = rng.uniform(-0.1, 1.5, n)
    # Errors of Gaia synthetic photometry at 11-16 mag. (Catalog errors in the
    # colour bias a fitted colour term low by about sigma_V**2 / var(B-V),
    # 0.001 here, the errors-in-variables effect; not corrected.)
    v_err = np.full(n, 0.006)
    b_err = np.full(n, 0.008)
    cat = Table(
        {
            "id": np.arange(n),
            "ra": ra,
            "dec": dec,
            "B": v_true + bv + rng.normal(0, b_err),
            "B_err": b_err,
            "V": v_true + rng.normal(0, v_err),
            "V_err": v_err,
        }
    )
    cat.meta["source"] = "Gaia DR3 synthetic"
    return cat, np.column_stack([x, y, v_true, bv])


def _frame(rng: np.random.Generator, truth: np.ndarray, zp: float, scatter: float = 0.01) -> Table:
    """Measured sources: m_inst = V - ZP - k (B-V) - spatial, with noise and scatter."""
    x, y, v_true, bv = truth.T
    u = (x - (SHAPE[1] - 1) / 2) / (SHAPE[1] / 2)
    m_inst = v_true - zp - K_TRUE * bv - SPATIAL_TRUE * u
    flux = 10 ** (-0.4 * m_inst)
    # Photon-like errors: 0.003 mag at the bright end to ~0.03 at the faint end.
    mag_err = 0.003 + 0.03 * 10 ** (0.4 * (v_true - 16))
    measured = m_inst + rng.normal(0, mag_err) + rng.normal(0, scatter, len(x))
    ra, dec = _wcs().pixel_to_world_values(x + rng.normal(0, 0.2, len(x)), y)
    return Table(
        {
            "x": x,
            "y": y,
            "ra": ra,
            "dec": dec,
            "flux": 10 ** (-0.4 * measured),
            "flux_err": flux * mag_err / 1.0857,
            "flags": np.zeros(len(x), np.int32),
        }
    )


@pytest.fixture(scope="module")
def night():
    """150 frames through airmass 1.0-2.0 with extinction 0.2 mag/airmass."""
    rng = np.random.default_rng(7)
    step = ZeroPoint(ZeroPointParams(spatial_order=1, colour_index="B-V"))
    airmass = np.linspace(1.0, 2.0, 150)
    zps = 22.0 - 0.2 * airmass + rng.normal(0, 0.02, len(airmass))
    results, truths = [], []
    for zp in zps:
        # A fresh field (and catalog errors) per frame, so that the frames'
        # errors are independent and their pulls can be pooled.
        catalog, truth = _catalog(rng)
        sources = _frame(rng, truth, zp)
        results.append(step(sources, catalog, filter="V", fwhm_arcsec=3.0, image_shape=SHAPE))
        truths.append(truth)
    return truths, zps, results


def test_zero_point_pulls_have_unit_width(night):
    _, zps, results = night
    assert all(r.calibrated for r in results)
    pulls = np.array(
        [(r.zero_point - z) / r.zero_point_err for r, z in zip(results, zps, strict=True)]
    )
    assert abs(np.mean(pulls)) < 0.2
    assert 0.9 < np.std(pulls) < 1.1, np.std(pulls)


def test_colour_and_spatial_terms_recovered(night):
    _, _, results = night
    k = np.array([r.colour_term for r in results])
    k_err = np.array([r.colour_term_err for r in results])
    assert abs(np.average(k, weights=k_err**-2) - K_TRUE) < 0.01
    assert np.all(np.abs(k - K_TRUE) < 5 * k_err)
    assert 0.8 < np.std((k - K_TRUE) / k_err) < 1.2
    sx = np.array([r.spatial["x1y0"] for r in results])
    assert abs(np.mean(sx) - SPATIAL_TRUE) < 0.005


def test_calibrated_magnitudes_unbiased(night):
    truths, _, results = night
    diff = np.concatenate(
        [r.sources["mag"] - t[:, 2] for r, t in zip(results, truths, strict=True)]
    )
    assert abs(np.mean(diff)) < 0.005
    # Per frame the offset is the zero-point error, which is small.
    per_frame = [np.mean(r.sources["mag"] - t[:, 2]) for r, t in zip(results, truths, strict=True)]
    assert np.std(per_frame) < 0.01
    assert all(r.sources["calibrated"].all() for r in results)


def test_intrinsic_scatter_found(night):
    _, _, results = night
    s = np.median([r.intrinsic_scatter for r in results])
    assert 0.006 < s < 0.014  # 0.01 mag put in


def test_outliers_rejected_and_trajectory_kept():
    rng = np.random.default_rng(3)
    catalog, truth = _catalog(rng)
    sources = _frame(rng, truth, 21.5, scatter=0.0)
    # A variable star 0.8 mag off and a blue star 0.4 mag off (leverage on k).
    catalog["V"][0] -= 0.8
    blue = int(np.argmin(catalog["B"] - catalog["V"]))
    catalog["V"][blue] += 0.4
    res = ZeroPoint(ZeroPointParams(colour_index="B-V", spatial_order=1))(
        sources, catalog, filter="V", image_shape=SHAPE
    )
    rejected = set(res.rejected_stars["catalog_row"])
    assert {0, blue} <= rejected
    assert set(res.rejected_stars["reason"]) == {"outlier"}
    assert abs(res.zero_point - 21.5) < 3 * res.zero_point_err
    assert abs(res.colour_term - K_TRUE) < 0.02
    traj = res.trajectory
    assert traj["n_stars"][0] == len(catalog)
    assert np.all(np.diff(traj["n_stars"]) == -1)
    chosen = traj[traj["chosen"]]
    assert len(chosen) == 1 and chosen["n_stars"][0] == res.n_stars
    assert traj["chi2"][0] > 10 * chosen["chi2"][0]
    assert res.trajectory["n_stars"][-1] <= len(catalog) // 2 + 1


def test_blends_flags_and_saturation_cut():
    rng = np.random.default_rng(4)
    catalog, truth = _catalog(rng)
    sources = _frame(rng, truth, 21.5)
    catalog.add_row(catalog[5])
    catalog["ra"][-1] += 2.0 / 3600 / np.cos(np.radians(30.0))  # 2" from star 5
    sources["flags"][7] = 1  # saturated
    sources["flags"][8] = 4  # near the edge
    res = ZeroPoint(ZeroPointParams(fit_colour_term=False))(
        sources, catalog, filter="V", fwhm_arcsec=2.0
    )
    why = dict(zip(res.stars["source_row"], res.stars["reason"], strict=True))
    assert why[5] == "blend" and why[7] == "saturated" and why[8] == "flagged"
    allowed = ZeroPoint(ZeroPointParams(fit_colour_term=False, allowed_flags=4))
    stars = allowed(sources, catalog, filter="V").stars
    why = dict(zip(stars["source_row"], stars["reason"], strict=True))
    assert why[8] == "" and why[7] == "saturated" and why[5] == ""


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("offline", "no reference catalog: catalog query failed: timed out"),
        ("empty", "no stars in this field"),
        ("saturated", "saturated"),
        ("elsewhere", "no measured source lies within"),
        ("few", "too few calibration stars"),
        ("no_wcs", "needs a WCS"),
        ("filter", "not a known band"),
    ],
)
def test_failures_keep_instrumental_magnitudes(case, expect):
    rng = np.random.default_rng(5)
    catalog, truth = _catalog(rng)
    sources = _frame(rng, truth, 21.5)
    kw = {"filter": "V"}
    if case == "offline":
        catalog, kw["catalog_problem"] = None, "catalog query failed: timed out"
    elif case == "empty":
        catalog = catalog[:0]
    elif case == "saturated":
        sources["flags"][:] = 1
    elif case == "elsewhere":
        catalog["dec"] += 1.0
    elif case == "few":
        catalog = catalog[:3]
    elif case == "no_wcs":
        sources.remove_columns(["ra", "dec"])
    elif case == "filter":
        kw["filter"] = "Halpha"
    res = ZeroPoint()(sources, catalog, **kw)
    assert not res.calibrated
    assert expect in res.reason
    assert np.isnan(res.zero_point)
    mag_inst = -2.5 * np.log10(sources["flux"])
    np.testing.assert_allclose(res.sources["mag"], mag_inst)
    assert not res.sources["calibrated"].any()
    assert res.sources.meta["zeropoint_reason"] == res.reason
    row = zero_point_table(["f.ecsv"], [res])[0]
    assert not row["calibrated"] and expect in row["reason"]


def test_bad_table_is_a_clear_error():
    with pytest.raises(ValueError, match="no flux column"):
        ZeroPoint()(Table({"ra": [1.0], "dec": [2.0]}), None)


def test_solar_selection_and_fallback():
    rng = np.random.default_rng(6)
    n = 60
    x, y = rng.uniform(10, 500, n), rng.uniform(10, 500, n)
    ra, dec = _wcs().pixel_to_world_values(x, y)
    gr = np.where(np.arange(n) < 12, 0.44 + rng.uniform(-0.1, 0.1, n), rng.uniform(0.9, 1.4, n))
    ri = np.where(np.arange(n) < 12, 0.11 + rng.uniform(-0.05, 0.05, n), 0.3 + 0.1 * rng.random(n))
    r = rng.uniform(11, 15, n)
    cat = Table({"ra": ra, "dec": dec, "g": r + gr, "r": r, "i": r - ri})
    for b in "gri":
        cat[f"{b}_err"] = 0.02
    cat.meta["source"] = "SDSS"
    # Red stars are 0.1 mag off: a colour term the solar stars do not see.
    m_inst = r - 20.0 + np.where(np.arange(n) < 12, 0.0, 0.1)
    src = Table(
        {"x": x, "y": y, "ra": ra, "dec": dec, "mag_inst": m_inst, "mag_inst_err": 0.01 + 0 * x}
    )
    params = ZeroPointParams(solar_colours=True, fit_colour_term=False)
    res = ZeroPoint(params)(src, cat, filter="r'")
    assert res.n_stars == 12
    assert abs(res.zero_point - 20.0) < 0.01
    assert any("12 of 60 stars have solar colours" in note for note in res.notes)
    few = ZeroPoint(ZeroPointParams(solar_colours=True, fit_colour_term=False, min_stars=15))
    res = few(src, cat, filter="r'")
    assert res.calibrated and res.n_stars > 40
    assert any("calibrated with all" in note for note in res.notes)


def test_progress_and_parameter_metadata():
    rng = np.random.default_rng(8)
    catalog, truth = _catalog(rng)
    seen = []
    state = StepState(lambda f, m: seen.append(f))
    ZeroPoint()(_frame(rng, truth, 21.0), catalog, filter="V", state=state)
    assert seen[0] == 0.0 and seen == sorted(seen) and seen[-1] >= 0.8
    names = {i.name for i in param_infos(ZeroPointParams)}
    assert {"catalog", "band", "colour_index", "fit_colour_term", "spatial_order"} <= names
    assert {"solar_colours", "rejection_sigma", "matching_radius"} <= names
