"""The demo night's transit layout for the transit fit's many-draw tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fluxion.core.simulation.simulate import NightConfig
from fluxion.core.simulation.variables import transit_geometry, transit_relative_flux
from fluxion.core.transit.data import TransitData
from fluxion.core.transit.ephemeris import Ephemeris
from fluxion.core.transit.model import inclination

#: White noise of the demo host's differential light curve (relative flux per light).
DEMO_NOISE = 0.0013


@dataclass(frozen=True)
class DemoLayout:
    """The demo night's lights and transit, as ``fluxion demo`` draws them.

    30 lights 3 min apart, the 55-min transit at 0.45 of the night (four
    lights before first contact, seven after the last), the simulator's own
    transit (its contacts and its 1 % central depth, limb darkening included).
    """

    config: NightConfig
    t: np.ndarray
    tmid: float
    true_flux: np.ndarray
    a_rs: float
    b: float

    def ephemeris(self, geometry: bool = False) -> Ephemeris:
        """The ephemeris predicting the transit 6 minutes off; a/Rs and inclination if asked."""
        c = self.config
        extra = {"a_rs": self.a_rs, "inc_deg": inclination(self.a_rs, self.b)} if geometry else {}
        return Ephemeris(period=c.transit_period, t0=self.tmid + 6 / 1440,
                         duration_h=c.transit_duration / 60, **extra)  # fmt: skip

    def draw(self, rng: np.random.Generator) -> TransitData:
        """One night's light curve: the transit times white noise of :data:`DEMO_NOISE`."""
        flux = self.true_flux * (1.0 + DEMO_NOISE * rng.standard_normal(self.t.size))
        return TransitData(t=self.t, flux=flux, flux_err=np.full(self.t.size, DEMO_NOISE),
                           exposure_s=self.config.exptime, filter="V")  # fmt: skip


def demo_layout() -> DemoLayout:
    """The demo night's transit layout (:class:`DemoLayout`)."""
    c = NightConfig()
    cadence = c.interval / 86400.0
    t = 2460564.459 + cadence * np.arange(c.n_frames)
    tmid = float(t[0] + c.transit_phase * (t[-1] - t[0]))
    ld = (c.transit_u1, c.transit_u2)
    total, ingress = c.transit_duration / 1440.0, c.transit_ingress / 1440.0
    true = transit_relative_flux(t, tmid, total, ingress, c.transit_depth, ld, c.transit_period)
    _, a_rs, b = transit_geometry(total, ingress, c.transit_depth, ld, c.transit_period)
    return DemoLayout(c, t, tmid, true, a_rs, b)


@dataclass(frozen=True)
class WrittenTransit:
    """The truth of a transit night written by ``fluxion demo --kind transit``."""

    config: dict
    host: dict
    k: float
    a_rs: float
    b: float


def written_transit(night) -> WrittenTransit:
    """Read ``night``'s truth files: its config, the transit host and the transit's geometry."""
    import json
    from pathlib import Path

    truth = Path(night) / "truth"
    config = json.loads((truth / "night.json").read_text())["config"]
    host = json.loads((truth / "lesson.json").read_text())["targets"][0]
    k, a_rs, b = transit_geometry(
        config["transit_duration"] / 1440, config["transit_ingress"] / 1440,
        config["transit_depth"], (config["transit_u1"], config["transit_u2"]),
        config["transit_period"],
    )  # fmt: skip
    return WrittenTransit(config, host, k, a_rs, b)


#: TrES-1 b's night of tres1-oscaar (2012-06-17) as a layout for simulated draws: the
#: lights from 2.16 h before the published mid-time to 1.56 h after (70 lights, 194 s
#: apart, 60 s exposures), the residual scatter of its fit (4.9 ppt; chi2/N 0.78 of
#: the light curve's errors) and the published transit (Winn et al. 2007: Rp/Rs 0.138,
#: a/Rs 10.52, i 88.4 deg). The night's time-averaging beta is 1.00 at 10-30 min
#: (with the published geometry, the airmass and sky baseline); the draws carry an
#: AR(1) component of 1.5 ppt and 15 min, about as much as 70 points cannot tell from
#: white noise (beta 1.0-1.1), and a 1 % per airmass extinction trend.
TRES1_NIGHT = {
    "tmid": 2456095.6740, "rp_rs": 0.138, "a_rs": 10.52, "inc_deg": 88.4, "period": 3.0300689,
    "before_h": 2.159 - 1.44, "after_h": 1.562 - 1.44, "cadence_s": 194.0, "exposure_s": 60.0,
    "noise": 0.0049, "red_noise": 0.0015, "red_time_min": 15.0, "extinction_slope": -0.01,
}  # fmt: skip
#: The host as the run's command line gives it (Winn et al. 2007's spectroscopy).
TRES1_STAR = {"teff": 5226.0, "logg": 4.59, "feh": 0.06}


def tres1_night_draw(rng: np.random.Generator, geometry: bool):
    """One simulated TrES-1 night (:data:`TRES1_NIGHT`): its light curve, ephemeris and truth.

    Limb darkening is drawn from the table's prior (as the fit's prior assumes).
    With ``geometry`` the ephemeris carries a/Rs and the inclination with
    Winn et al.'s errors (0.18, 0.5 deg) as priors, centred on a draw about the
    truth (an archive's measurement); without, only the period, T0 (the
    prediction 2 min off, as the published ephemeris' error allows) and the star.
    """
    from fluxion.core.simulation.transit_lightcurve import (
        TransitNight,
        simulate_transit_light_curve,
    )
    from fluxion.core.transit.data import transit_data_from_table
    from fluxion.core.transit.limb_darkening import limb_darkening
    from fluxion.core.transit.model import TransitShape, impact_parameter

    n = TRES1_NIGHT
    ld = limb_darkening("V", **TRES1_STAR)
    b = impact_parameter(n["a_rs"], n["inc_deg"])
    shape = TransitShape(n["tmid"], n["rp_rs"], n["a_rs"], b, rng.normal(ld.u1, ld.u1_err),
                         rng.normal(ld.u2, ld.u2_err), n["period"])  # fmt: skip
    night = TransitNight(
        shape=shape, before_h=n["before_h"], after_h=n["after_h"], cadence_s=n["cadence_s"],
        exposure_s=n["exposure_s"], noise=n["noise"], red_noise=n["red_noise"],
        red_time_min=n["red_time_min"], extinction_slope=n["extinction_slope"],
    )  # fmt: skip
    table, truth = simulate_transit_light_curve(night, seed=int(rng.integers(2**31)))
    extra: dict = {}
    if geometry:
        a_err, inc_err = 0.18, 0.5
        a_rs = n["a_rs"] + rng.normal(0.0, a_err)
        b_meas = abs(b + rng.normal(0.0, a_rs * np.radians(inc_err)))
        extra = {"a_rs": a_rs, "a_rs_err": a_err, "inc_err": inc_err,
                 "inc_deg": float(np.degrees(np.arccos(min(b_meas / a_rs, 1.0))))}  # fmt: skip
    eph = Ephemeris(period=n["period"], t0=n["tmid"] - 200 * n["period"] + 2.0 / 1440,
                    t0_err=0.00044, period_err=7e-7, name="TrES-1 b", **TRES1_STAR,
                    **extra)  # fmt: skip
    return transit_data_from_table(table), eph, truth
