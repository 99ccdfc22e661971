"""a/Rs and the inclination or impact parameter from the command line: parsed, held or priors."""

from __future__ import annotations

import math
import re

import pytest

from fluxion.core.transit.ephemeris import Ephemeris
from fluxion.core.transit.model import impact_parameter
from fluxion.core.transit.setup import make_setup
from fluxion.core.transit.user_geometry import (
    GeometryError,
    parse_value_error,
    with_user_geometry,
)

EPH = Ephemeris(period=3.0300689, t0=2455489.66026, t0_err=0.00044, name="TrES-1 b")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10.5", (10.5, None)), ("10.5+-0.3", (10.5, 0.3)), ("10.5 +/- 0.3", (10.5, 0.3)),
     ("88.4±0.5", (88.4, 0.5)), ("1.05e1+-3e-1", (10.5, 0.3))],
)  # fmt: skip
def test_values_and_errors_are_parsed(text, expected):
    assert parse_value_error(text, "--a-rs") == pytest.approx(expected)


@pytest.mark.parametrize("text", ["ten", "10.5+-", "10.5+-0", "10.5+--0.3", "10+-1+-2", "nan"])
def test_bad_values_are_refused_by_name(text):
    with pytest.raises(GeometryError, match="--a-rs"):
        parse_value_error(text, "--a-rs")


def test_values_without_errors_are_held_and_with_errors_are_priors():
    held, mode = with_user_geometry(EPH, a_rs=(10.52, None), inclination=(88.4, None))
    assert mode == "fixed" and (held.a_rs, held.inc_deg) == (10.52, 88.4)
    assert held.a_rs_err is None and held.source == EPH.source
    assert held.geometry_source == "a/Rs and inclination from the command line"
    prior, mode = with_user_geometry(EPH, a_rs=(10.52, 0.18), inclination=(88.4, 0.5))
    assert mode == "prior" and (prior.a_rs_err, prior.inc_err) == (0.18, 0.5)
    # An explicit mode is kept; nothing given changes nothing.
    assert with_user_geometry(EPH, a_rs=(10.52, 0.18), geometry="free")[1] == "free"
    assert with_user_geometry(EPH) == (EPH, "auto")


def test_the_impact_parameter_becomes_the_inclination_and_back():
    eph, mode = with_user_geometry(EPH, a_rs=(10.52, 0.18), impact=(0.29, 0.06))
    assert mode == "prior"
    assert impact_parameter(10.52, eph.inc_deg) == pytest.approx(0.29, rel=1e-9)
    # sigma_b = a/Rs sin(i) sigma_i: the fit's prior on b is the one given.
    b_err = 10.52 * math.sin(math.radians(eph.inc_deg)) * math.radians(eph.inc_err)
    assert b_err == pytest.approx(0.06, rel=1e-9)


def _setup(**given):
    """The fit's setup for a night of epoch 200 with the given geometry."""
    import numpy as np

    from fluxion.core.transit.data import TransitData
    from fluxion.core.transit.limb_darkening import limb_darkening

    t = EPH.t0 + 200 * EPH.period + np.linspace(-0.12, 0.12, 80)
    data = TransitData(t=t, flux=np.ones_like(t), flux_err=np.full_like(t, 1e-3))
    eph, mode = with_user_geometry(EPH, **given)
    return make_setup(data, eph, limb_darkening("V", 5226, 4.59, 0.06), geometry=mode)


def test_the_fit_holds_or_constrains_what_was_given():
    held = _setup(a_rs=(10.52, None), inclination=(88.4, None))
    assert "a_rs" not in held.free and "b" not in held.free
    assert held.start["a_rs"] == 10.52
    assert held.start["b"] == pytest.approx(impact_parameter(10.52, 88.4))
    prior = _setup(a_rs=(10.52, 0.18), inclination=(88.4, 0.5))
    assert prior.priors["a_rs"] == (10.52, 0.18) and "b" in prior.priors
    # Only a/Rs with its error: its prior, b free from its start.
    only_a = _setup(a_rs=(10.52, 0.18))
    assert "a_rs" in only_a.priors and "b" not in only_a.priors and "b" in only_a.free


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"a_rs": (10.5, 0.3), "inclination": (88.4, None)}, "errors on a/Rs only"),
        ({"inclination": (88.0, None), "impact": (0.3, None)}, "not both"),
        ({"impact": (0.3, 0.1)}, "needs a/Rs"),
        ({"a_rs": (10.5, None)}, "needs both a/Rs and the inclination"),
        ({"a_rs": (0.8, None), "inclination": (88.0, None)}, "inside the star"),
        ({"a_rs": (10.5, None), "impact": (11.0, None)}, "below a/Rs"),
        ({"a_rs": (10.5, None), "inclination": (95.0, None)}, "(0, 90]"),
    ],
)
def test_incomplete_or_impossible_geometry_is_refused(given, message):
    with pytest.raises(GeometryError, match=re.escape(message)):
        with_user_geometry(EPH, **given)
