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
