"""Transit model geometry, limb-darkening table, red-noise statistic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.transit.limb_darkening import limb_darkening, table_band
from fluxion.core.transit.model import (
    TransitCurve,
    TransitShape,
    durations,
    impact_parameter,
    inclination,
)
from fluxion.core.transit.noise import red_noise_beta, rms_by_bin_size
from fluxion.core.transit.setup import a_rs_from_density

SHAPE = TransitShape(0.0, 0.138, 10.5, 0.3, 0.5, 0.2, 3.03)


def test_contacts_where_the_model_starts_and_stops_dimming():
    total, ingress = durations(SHAPE)
    t = np.linspace(-0.1, 0.1, 40001)
    flux = TransitCurve(t).flux(SHAPE)
    dimmed = t[flux < 1.0]
    # First and fourth contact from the geometry agree with batman's curve to 1 s.
    assert dimmed.min() == pytest.approx(-total / 2, abs=1.5e-5)
    assert dimmed.max() == pytest.approx(total / 2, abs=1.5e-5)
    # Depth at mid-transit: k^2 times the limb darkening's central brightening.
    mu = np.sqrt(1 - SHAPE.b**2)
    centre = (1 - 0.5 * (1 - mu) - 0.2 * (1 - mu) ** 2) / (1 - 0.5 / 3 - 0.2 / 6)
    assert SHAPE.depth == pytest.approx(SHAPE.rp_rs**2 * centre, rel=0.02)
    assert 0 < ingress < total / 4


def test_geometry_round_trips_and_kepler():
    assert impact_parameter(10.5, inclination(10.5, 0.3)) == pytest.approx(0.3)
    # A Sun-like star: a/Rs = 215 at one year.
    assert a_rs_from_density(365.25) == pytest.approx(215.0, rel=0.01)


def test_exposure_integration_smooths_the_contacts():
    t = np.linspace(-0.08, 0.08, 400)
    sharp = TransitCurve(t).flux(SHAPE)
    smooth = TransitCurve(t, exposure_s=600).flux(SHAPE)
    # Same area (flux removed), softer edges.
    assert np.sum(1 - smooth) == pytest.approx(np.sum(1 - sharp), rel=0.01)
    assert np.max(np.abs(np.diff(smooth))) < np.max(np.abs(np.diff(sharp)))


def test_limb_darkening_at_a_table_node_is_the_table_value():
    # Claret & Bloemen (2011), ATLAS, L, xi = 2: V, 5250 K, log g 4.5, [M/H] 0.
    table = Table.read(Path(__file__).parents[2] / "resources" / "limb_darkening_claret2011.ecsv")
    row = table[
        (table["band"] == "V") & (table["teff"] == 5250) & (table["logg"] == 4.5)
        & (table["feh"] == 0.0)
    ]  # fmt: skip
    ld = limb_darkening("V", 5250, 4.5, 0.0, teff_err=1e-6, logg_err=1e-9, feh_err=1e-9)
    assert (ld.u1, ld.u2) == pytest.approx((row["u1"][0], row["u2"][0]), abs=1e-6)
    assert ld.u1_err == pytest.approx(0.05, abs=1e-4)  # the model-atmosphere floor only
    # Redder band, weaker limb darkening; hotter star, weaker limb darkening.
    assert limb_darkening("I", 5250, 4.5, 0.0).u1 < ld.u1
    assert limb_darkening("V", 6500, 4.5, 0.0).u1 < ld.u1


def test_filter_names_and_an_unknown_filter():
    assert table_band("Rc") == "R" and table_band("SR") == "rp" and table_band("r'") == "rp"
    assert table_band("Filter 2") is None
    ld = limb_darkening("Filter 2", 5250, 4.5, 0.0)
    assert ld.band == "V+R" and ld.u1_err >= 0.2
    v, r = limb_darkening("V", 5250, 4.5, 0.0), limb_darkening("R", 5250, 4.5, 0.0)
    assert min(v.u1, r.u1) <= ld.u1 <= max(v.u1, r.u1)


def test_beta_is_one_for_white_noise_and_grows_with_correlated_noise():
    rng = np.random.default_rng(4)
    t = np.arange(300) * 2.0 / 1440  # 2 min cadence
    betas = [red_noise_beta(t, rng.normal(0, 1, t.size)).beta for _ in range(30)]
    assert np.mean(betas) < 1.1
    # A random walk's binned rms stays high: beta well above 1.
    walk = np.cumsum(rng.normal(0, 1, t.size))
    walk -= np.polyval(np.polyfit(t, walk, 1), t)
    assert red_noise_beta(t, walk + rng.normal(0, 1, t.size)).beta > 2.0
    curve = rms_by_bin_size(rng.normal(0, 1, 400))
    # White noise: the measured rms follows 1/sqrt(n) within the scatter of few bins.
    ratio = curve["rms"] / curve["expected"]
    assert np.all(np.abs(ratio[curve["bin_points"] <= 20] - 1) < 0.35)
