"""Astrometry panel on lights without a scale: the first light solved points the others.

The real asteroid 2713 night gives a pointing but no scale: each light was
searched on its own (up to the solver's time limit each, 25 lights). As
``fluxion run`` does, the run's first solution now gives the other lights
its centre and scale, and they are solved near it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from astropy.io import fits

from fluxion.app.panels.astrometry import AstrometryPanel
from fluxion.core.astrometry import SolveParams
from fluxion.core.simulation.simulate import NightConfig, read_truth_wcs, simulate_night

CONFIG = NightConfig(
    shape=(256, 256), n_frames=6, n_bias=0, n_dark=0, n_flat=0, star_density=3.0,
    cosmic_ray_rate=0.0, seed=6,
)  # fmt: skip
SCALE_CARDS = ("FOCALLEN", "CDELT1", "CDELT2", "PIXSCALE", "SECPIX")
pytestmark = pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")


@pytest.fixture(scope="module")
def scaleless_night(tmp_path_factory) -> Path:
    """Lights with their mount's pointing but no focal length (no scale)."""
    raw = tmp_path_factory.mktemp("scaleless_night")
    simulate_night(raw, CONFIG)
    for path in sorted(raw.glob("light_*.fits")):
        with fits.open(path, mode="update") as hdul:
            for key in SCALE_CARDS:
                hdul[0].header.remove(key, ignore_missing=True)
    return raw


def test_first_solution_points_the_other_lights(open_panel, scaleless_night, qtbot) -> None:
    panel = open_panel(AstrometryPanel, scaleless_night)
    frames = panel.session.sequence
    lights = panel.session.light_indices()
    assert len(lights) == CONFIG.n_frames
    assert all(frames[i].pixel_scale is None for i in lights)
    panel.form.set_params(
        replace(
            SolveParams(),
            catalog="Local file",
            offline=True,
            use_solve_field=False,
            catalog_file=str(scaleless_night / "truth" / "reference_catalog.ecsv"),
        )  # fmt: skip
    )
    with qtbot.waitSignal(panel.step_finished, timeout=300_000):
        panel.run_all()
    results = [panel.results[i] for i in lights]
    assert all(r.solved for r in results), [r.reason for r in results]
    searched = [any("found by search" in m for m in r.messages) for r in results]
    # The first lights (one a worker) search for the scale; the rest are given it.
    assert 1 <= sum(searched) < len(lights) - 1, searched
    for i, r in zip(lights, results, strict=True):
        truth = read_truth_wcs(scaleless_night / f"truth/{frames[i].path.stem}.wcs.fits")
        sep = truth.pixel_to_world(128, 128).separation(r.wcs.pixel_to_world(128, 128)).arcsec
        assert sep < 0.3, (frames[i].path.name, sep)


def test_searches_in_vain_stop_the_search_for_the_rest(scaleless_night) -> None:
    """Three lights searched without a scale in vain: the others are not searched, and
    the reason says what to give; a light with a scale (the user's) is still solved."""
    from fluxion.app.panels.astrometry_pointing import MAX_SEARCHES, NightHint
    from fluxion.core.astrometry import not_solved
    from fluxion.core.io.sequence import Sequence

    lights = [f for f in Sequence.from_paths([scaleless_night]).frames if f.type == "light"]
    params = SolveParams()
    night = NightHint()
    offline = replace(not_solved("search", "no match"), service_problem="Gaia DR3: unreachable")
    for k, f in enumerate(lights[:MAX_SEARCHES]):
        assert night.given_up(f, params) == ""
        # Offline (the index files answered, the online catalog did not) counts too.
        night.solved(f, offline if k == 0 else not_solved("search", "no match"), searched=True)
    why = night.given_up(lights[-1], params)
    assert why.startswith(f"not searched: {MAX_SEARCHES} lights") and "Pixel scale" in why
    assert night.given_up(lights[-1], replace(params, pixel_scale=1.5)) == ""
