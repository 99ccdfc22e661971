"""The scene fitter's flux and position errors against their scatter in a crowded frame."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.stats import biweight_scale
from scipy.spatial import cKDTree

from fluxion.core.photometry import Photometry, PhotometryParams
from fluxion.core.photometry.synthetic import star_field

GAIN, RN = 1.5, 5.0


@pytest.fixture(scope="module")
def crowded():
    """Matched fitted and true stars of two crowded frames, pooled.

    5.6 stars per 1000 px^2, above case B's density: a third of the stars
    above 1000 e- have a neighbour within 1.5 FWHM, fitted at the same time.
    """
    rows: dict[str, list[np.ndarray]] = {
        k: [] for k in ("flux", "err", "true", "iso", "near", "dpos", "pos_err", "pos_iso")
    }
    for seed in (23, 25):
        field = star_field((352, 352), 700, seed=seed, gain=GAIN, read_noise=RN)
        res = Photometry(PhotometryParams(method="crowded")).run(
            field.image, gain=GAIN, read_noise=RN
        )
        t, truth = res.table, field.truth
        tx, ty = np.asarray(truth["x"]), np.asarray(truth["y"])
        d, i = cKDTree(np.c_[t["x"], t["y"]]).query(np.c_[tx, ty])
        _, back = cKDTree(np.c_[tx, ty]).query(np.c_[t["x"], t["y"]])
        # One-to-one matches: each found star is the nearest of its detection.
        found = (d < 1.0) & (back[i] == np.arange(len(d)))
        near, _ = cKDTree(np.c_[tx, ty]).query(np.c_[tx, ty], k=2)
        true = np.asarray(truth["flux"])
        rows["flux"].append(np.asarray(t["flux"])[i[found]])
        rows["err"].append(np.asarray(t["flux_err"])[i[found]])
        rows["true"].append(true[found])
        rows["iso"].append(field.bound(true[found]).sigma_flux)
        rows["near"].append(near[found, 1])
        # x and y pooled: offsets from the truth, reported and isolated errors.
        bound = field.bound(true[found])
        for c, tc in (("x", tx), ("y", ty)):
            rows["dpos"].append(np.asarray(t[c])[i[found]] - tc[found])
            rows["pos_err"].append(np.asarray(t[f"{c}_err"])[i[found]])
            rows["pos_iso"].append(getattr(bound, f"sigma_{c}"))
    out = {k: np.concatenate(v) for k, v in rows.items()}
    out["pos_true"] = np.concatenate([np.tile(t, 2) for t in rows["true"]])
    return out


@pytest.mark.parametrize("low, high", [(1e3, 1e4), (1e4, 1e6)])
def test_flux_pulls_have_unit_width_in_a_crowded_frame(crowded, low, high):
    c = crowded
    # Above 1000 e- (S/N > 15) no star is found only for its noise's sake,
    # so the pulls are not cut by the detection threshold.
    sel = (c["true"] >= low) & (c["true"] < high)
    assert sel.sum() > 300
    pull = (c["flux"][sel] - c["true"][sel]) / c["err"][sel]
    # ~450 stars a bin: the width's own error is ~0.05, so a width outside
    # 0.8-1.2 is an error that is not the fluxes' scatter.
    assert 0.8 < biweight_scale(pull) < 1.2
    # The same fluxes over the isolated-star bound scatter wider: the
    # neighbours' fitted fluxes and positions are in the reported error.
    iso = (c["flux"][sel] - c["true"][sel]) / c["iso"][sel]
    assert biweight_scale(iso) > biweight_scale(pull)


def test_blended_stars_report_larger_errors_than_isolated_ones(crowded):
    c = crowded
    sel = c["true"] >= 1e3
    ratio = c["err"][sel] / c["iso"][sel]
    # A star with a neighbour within 1.5 FWHM shares its light with it; one
    # with none within 4 FWHM has the isolated star's error.
    close = c["near"][sel] < 1.5 * 3.5
    far = c["near"][sel] > 4 * 3.5
    assert np.median(ratio[far]) == pytest.approx(1.0, abs=0.05)
    assert np.median(ratio[close]) > 1.15


@pytest.mark.parametrize("low, high", [(1e3, 1e4), (1e4, 1e6)])
def test_position_pulls_have_unit_width_in_a_crowded_frame(crowded, low, high):
    c = crowded
    sel = (c["pos_true"] >= low) & (c["pos_true"] < high)
    assert sel.sum() > 600
    pull = c["dpos"][sel] / c["pos_err"][sel]
    # x and y of ~450 stars a bin: the width's own error is ~0.04.
    assert 0.8 < biweight_scale(pull) < 1.2
    # Over the isolated star's position bound the same offsets scatter
    # wider: the neighbours' fitted positions are in the reported error.
    iso = c["dpos"][sel] / c["pos_iso"][sel]
    assert biweight_scale(iso) > biweight_scale(pull)
