"""The variability search against the simulator's truth (table-level nights).

The demo night's outbursting dwarf nova, eclipsing binary and transiting star
must come out on top
without being told where they are; nights with no variable measure the
false-alarm rate; a pulsating star injected gets its period.
"""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.field import FieldData, magnitude_fit
from fluxion.core.field.detrend import detrend
from fluxion.core.field.noise import scintillation
from fluxion.core.simulation.field_photometry import Systematics, simulate_field_photometry
from fluxion.core.simulation.simulate import NightConfig, make_night
from fluxion.core.variability import VARIABILITY_COLUMNS, fold, periodogram, variability_table

DEMO = NightConfig(asteroid=False)  # the demo night: 30 frames of 120 s
SYSTEMATICS = Systematics(colour_extinction=-0.04, flat_error=0.004, fwhm_term=0.02, subpixel=0.003)


def _search(night, sim, detrended: bool = True):
    c = night.config
    scint = scintillation(0.2, night.airmass, c.exptime, c.site_elev)
    fit = magnitude_fit(sim.data, scintillation=scint, shape=c.shape)
    if not detrended:
        return variability_table(sim.data, fit.mag, fit.mag_err)
    det = detrend(sim.data, fit.mag, fit.mag_err, shape=c.shape)
    return variability_table(
        sim.data, fit.mag, fit.mag_err, detrended=det.mag, fitted_terms=det.terms
    )


def _kinds(sim, table) -> list[str]:
    kind = dict(zip(sim.data.star_id.tolist(), sim.kind.tolist(), strict=True))
    return [kind[int(s)] for s in table["star_id"]]


@pytest.fixture(scope="module")
def demo():
    return make_night(DEMO)


@pytest.mark.parametrize("systematics", [Systematics(), SYSTEMATICS], ids=["demo", "systematic"])
def test_the_demo_variables_are_the_top_candidates(demo, systematics):
    sim = simulate_field_photometry(demo, systematics=systematics, seed=0)
    table = _search(demo, sim)
    assert tuple(table.colnames[: len(VARIABILITY_COLUMNS)]) == VARIABILITY_COLUMNS
    kinds = _kinds(sim, table)
    # The 3 mag outburst and the 50 % eclipse lead.
    assert set(kinds[:2]) == {"outburst", "eclipsing"}
    if systematics == Systematics():
        # The demo night as drawn: the three variables, and nothing else.
        assert kinds[2] == "transit"
        assert np.all(table["candidate"][:3]) and int(np.sum(table["candidate"])) == 3
    else:
        # Systematics that thirty frames cannot all take out leave the 1 %
        # transit near the noise's top: among the first four.
        assert "transit" in kinds[:4]
    # The eclipse (50 % deep) is far above the threshold; rms against noise.
    ecl = table[np.array(_kinds(sim, table)) == "eclipsing"][0]
    assert ecl["rms"] > 20 * ecl["expected_rms"]


def test_false_alarms_on_nights_without_variables():
    """Six nights of constant stars: about 0.01 false candidates per night expected."""
    found, searched = 0, 0
    for seed in range(6):
        config = NightConfig(
            asteroid=False, nova=False, outburst=False, seed=100 + seed, shape=(512, 512)
        )
        night = make_night(config)
        sim = simulate_field_photometry(night, systematics=SYSTEMATICS, seed=seed, variables=False)
        table = _search(night, sim)
        found += int(np.sum(table["candidate"]))
        searched += table.meta["searched"]
    assert searched > 500
    assert found <= 1, f"{found} false candidates among {searched} stars"


def test_a_pulsating_star_gets_its_period(demo):
    night = make_night(NightConfig(asteroid=False, n_frames=80, seed=7))
    sim = simulate_field_photometry(night, seed=1)
    d = sim.data
    cat = d.star_column("catalog_mag")
    j = int(np.argmin(np.abs(np.where(sim.kind == "star", cat, np.inf) - 14.0)))
    period_d = 1.3 / 24.0
    wave = 1.0 + 0.03 * np.sin(2 * np.pi * d.jd / period_d)
    flux = d.flux.copy()
    flux[:, j] *= wave
    pulsing = FieldData(stars=d.stars, frames=d.frames, flux=flux, flux_err=d.flux_err,
                        flags=d.flags, x=d.x, y=d.y, sky=d.sky, meta=d.meta)  # fmt: skip
    sim.data = pulsing
    table = _search(night, sim)
    row = table[table["star_id"] == d.star_id[j]][0]
    assert row["candidate"] and table["star_id"][0] in (d.star_id[j],) + tuple(
        d.star_id[np.isin(sim.kind, ("eclipsing", "transit", "outburst"))]
    )
    assert abs(row["period_h"] / 1.3 - 1.0) < 0.02
    assert abs(row["amplitude"] - 2 * 1.0857 * 0.03) < 0.01
    pg = periodogram(d.jd, -2.5 * np.log10(wave), np.full(len(wave), 0.001))
    assert abs(pg.best_period / period_d - 1) < 0.01 and pg.false_alarm < 1e-10
    phase = fold(d.jd, period_d)
    assert np.all((phase >= 0) & (phase < 1)) and phase[0] == 0.0
