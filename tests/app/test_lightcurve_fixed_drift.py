"""A fixed star's light curve on a drifting field keeps every light.

The real TrES-1 night drifts across the detector by far more than an
aperture; its star's neighbours drift with it and cancel in the differential
curve. Treating the star as a moving target that "meets" them left 49 of the
70 lights out of its curve (the transit with them). Here a simulated night
drifts 4 px a light: the fixed eclipsing binary's curve has no light flagged
as blended and follows the truth within its errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.app.panels.lightcurve_model import blended_points, run_light_curve
from fluxion.app.panels.target_model import Target
from fluxion.core.io.sequence import Sequence
from fluxion.core.lightcurve.run import LightCurveParams
from fluxion.core.simulation.simulate import NightConfig, make_night, simulate_night
from fluxion.core.targets.inputs import target_frames

# No flats to take: a camera without vignetting, dust or pixel response, so
# that the drift moves the stars over no uncorrected pattern.
CONFIG = NightConfig(
    n_frames=6, shape=(256, 256), write_wcs=True, n_bias=0, n_dark=0, n_flat=0, seed=8,
    drift=4.0, jitter=0.2, star_density=6.0, cosmic_ray_rate=0.0, vignetting=0.0, n_dust=0,
    prnu=0.0, hot_pixel_fraction=0.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def drifting_night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("drifting_night")
    simulate_night(out, CONFIG)
    return out


def test_fixed_star_on_a_drifting_field_keeps_every_light(drifting_night: Path) -> None:
    frames = target_frames(Sequence.from_paths([drifting_night]), need_stars=True)
    truth = Table.read(drifting_night / "truth" / "light_0001.ecsv")
    eb = truth[truth["kind"] == "eclipsing"][0]
    target = Target("EB", "fixed", ra=float(eb["ra"]), dec=float(eb["dec"]))
    lights = [f for f in Sequence.from_paths([drifting_night]).frames if f.type == "light"]
    gain = float(lights[0].gain or 1.0)

    def load(i: int) -> np.ndarray:
        return np.asarray(fits.getdata(lights[i].path), float) * gain

    field = np.column_stack([np.asarray(truth["x"], float), np.asarray(truth["y"], float)])
    params = LightCurveParams()
    # The binary has a neighbour reaching into its annulus: the case that was cut.
    d = np.hypot(*(field - [eb["x"], eb["y"]]).T)
    assert np.any((d > params.aperture_radius) & (d < params.annulus_outer + 5))
    run = run_light_curve(
        frames, target, params, load, field_xy=field, field_flux=np.asarray(truth["flux"], float)
    )
    lc = run.table
    xy = np.column_stack([run.positions["x"], run.positions["y"]])
    assert np.nanmax(np.hypot(*(xy - xy[0]).T)) > 3 * params.aperture_radius  # it drifts
    assert not np.any(blended_points(lc["flags"]))
    assert np.all(np.isfinite(lc["mag"]))
    jd = [
        f["jd_mid"] for f in json.loads((drifting_night / "truth/night.json").read_text())["frames"]
    ]
    rel = make_night(CONFIG).variable_relative_flux(np.array(jd))["eclipsing"]
    resid = np.asarray(lc["mag"]) + 2.5 * np.log10(rel)
    w = 1 / np.asarray(lc["mag_err"]) ** 2
    chi2 = np.sum(w * (resid - np.sum(w * resid) / np.sum(w)) ** 2) / (len(resid) - 1)
    assert chi2 < 3.0, (chi2, resid)
