"""Magnitude fitting of every star against the simulator's truth (table-level nights).

The nights are drawn by :mod:`fluxion.core.simulation.field_photometry`: the
stars, variables, airmass and seeing of a simulated night, measured with a
fixed aperture, noise from the CCD equation and scintillation, plus
second-order (colour) extinction. The truth's own noise is the reference:
after the fit, non-variable stars scatter as their noise says at every
magnitude, the errors the fit reports are honest, and a variable is kept
out of the fit without being damped.
"""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.field import FieldData, MagfitParams, field_from_table, magnitude_fit
from fluxion.core.field.noise import MAG_PER_LN, scintillation
from fluxion.core.field.stats import expected_rms, flux_rms
from fluxion.core.simulation.field_photometry import Systematics, simulate_field_photometry
from fluxion.core.simulation.simulate import NightConfig, make_night

CONFIG = NightConfig(
    n_frames=80, asteroid=False, seed=5, drift=0.1, star_density=3.0, mag_bright=10.0
)


@pytest.fixture(scope="module")
def night():
    night = make_night(CONFIG)
    sim = simulate_field_photometry(night, systematics=Systematics(colour_extinction=-0.04))
    scint = scintillation(0.2, night.airmass, CONFIG.exptime, CONFIG.site_elev)
    return night, sim, scint


def _binned_ratio(mag, rms, expected, select, width=1.0, min_stars=8):
    """Quadratic-mean ratio rms / expected in magnitude bins with enough stars."""
    out = {}
    for lo in np.arange(np.floor(np.nanmin(mag[select])), np.nanmax(mag[select]), width):
        k = select & (mag >= lo) & (mag < lo + width)
        if k.sum() >= min_stars:
            out[float(lo)] = float(np.sqrt(np.mean(rms[k] ** 2) / np.mean(expected[k] ** 2)))
    return out


def test_long_table_round_trip(night):
    _, sim, _ = night
    data = sim.data
    table = data.to_table({"mag_detrended": np.zeros((data.n_frames, data.n_stars))})
    assert len(table) == data.n_frames * data.n_stars
    # A star's rows are together, in time order.
    first = table[: data.n_frames]
    assert np.all(first["star_id"] == data.star_id[0])
    assert np.all(np.diff(first["jd_utc"]) > 0)
    back, columns = field_from_table(table)
    assert isinstance(back, FieldData)
    assert np.array_equal(back.star_id, data.star_id)
    assert np.allclose(back.flux, data.flux, equal_nan=True)
    assert np.array_equal(back.flags, data.flags)
    assert np.allclose(back.star_column("colour"), data.star_column("colour"), equal_nan=True)
    assert set(columns) >= {"mag", "mag_err", "mag_detrended"}


def test_non_variable_stars_reach_their_noise_at_every_magnitude(night):
    _, sim, scint = night
    data = sim.data
    res = magnitude_fit(data, scintillation=scint, shape=CONFIG.shape)
    good = data.good
    constant = (sim.kind == "star") & (good.sum(axis=0) >= 0.75 * data.n_frames)
    truth = expected_rms(MAG_PER_LN * sim.sigma, good)
    rms = flux_rms(res.mag, good)
    # Stars measured to better than 0.2 mag (S/N 5), in 1-mag bins.
    usable = constant & (truth < 0.2)
    ratios = _binned_ratio(res.reference, rms, truth, usable)
    assert len(ratios) >= 5, ratios
    assert all(0.9 < r < 1.1 for r in ratios.values()), ratios
    # The errors the fit reports (point noise and the fit's own prediction
    # error) describe the scatter as well.
    reported = _binned_ratio(res.reference, rms, expected_rms(res.mag_err, good), usable)
    assert all(0.9 < r < 1.1 for r in reported.values()), reported
    # The colour term is what the night needs (second-order extinction);
    # on the catalogue's V scale.
    assert res.model["colour"] is True
    cat = data.star_column("catalog_mag")
    assert abs(np.nanmedian(res.reference[usable] - cat[usable])) < 0.02


def test_the_variables_are_left_out_and_not_damped(night):
    nt, sim, scint = night
    data = sim.data
    res = magnitude_fit(data, scintillation=scint, shape=CONFIG.shape)
    j = int(np.flatnonzero(sim.kind == "eclipsing")[0])
    assert not res.used[j] and j in res.excluded
    # The eclipse's shape comes through: magnitudes follow the truth's.
    rel = sim.relative_flux[:, j]
    truth = -2.5 * np.log10(rel)
    got = res.mag[:, j] - np.nanmedian(res.mag[:, j] - truth)
    ok = data.good[:, j]
    assert np.ptp(truth[ok]) > 0.3
    resid = (got - truth)[ok] / res.mag_err[ok, j]
    assert np.sqrt(np.mean(resid**2)) < 1.3


def test_a_bright_star_in_the_fit_keeps_its_transit(night):
    """A star bright enough to weigh in every frame's fit, dimming by 1 %:
    its transit is not taken out by the fit it takes part in."""
    nt, sim, scint = night
    data = sim.data
    cat = data.star_column("catalog_mag")
    j = int(np.argmin(np.where((sim.kind == "star") & (data.good.all(axis=0)), cat, np.inf)))
    n = data.n_frames
    dip = np.zeros(n)
    dip[n // 3 : n // 3 + 12] = 0.01
    dimmed = FieldData(
        stars=data.stars, frames=data.frames, flux=data.flux.copy(), flux_err=data.flux_err,
        flags=data.flags, x=data.x, y=data.y, sky=data.sky, meta=data.meta,
    )  # fmt: skip
    dimmed.flux[:, j] *= 1.0 - dip
    p = MagfitParams(variability_limit=3.0)  # keep it in the fit set
    before = magnitude_fit(data, p, scintillation=scint, shape=CONFIG.shape)
    after = magnitude_fit(dimmed, p, scintillation=scint, shape=CONFIG.shape)
    assert after.used[j]
    inside = dip > 0
    depth = np.mean(after.mag[inside, j] - before.mag[inside, j]) - np.mean(
        after.mag[~inside, j] - before.mag[~inside, j]
    )
    assert abs(depth / (-2.5 * np.log10(0.99)) - 1.0) < 0.05
