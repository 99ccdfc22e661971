"""Light frames for tracking: WCS from the project's solutions, else the headers, else offsets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fluxion.core import chain
from fluxion.core.astrometry import SolveParams
from fluxion.core.io.sequence import Sequence
from fluxion.core.project.products import ProductStore
from fluxion.core.runtime.pipeline import Cancelled, StepState
from fluxion.core.simulation.simulate import NightConfig, read_truth_wcs, simulate_night
from fluxion.core.targets.inputs import load_target_frames, target_frames

CONFIG = NightConfig(n_frames=2, shape=(320, 320), n_bias=0, n_dark=0, n_flat=0, drift=3.0)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("target_night")
    simulate_night(out, CONFIG)
    return out


def _wcs_error_arcsec(wcs, truth) -> float:
    gx, gy = np.meshgrid(np.linspace(20, 300, 5), np.linspace(20, 300, 5))
    a = wcs.pixel_to_world(gx.ravel(), gy.ravel())
    return float(np.median(a.separation(truth.pixel_to_world(gx.ravel(), gy.ravel())).arcsec))


def test_unsolved_lights_follow_the_field_by_registration(night):
    frames = load_target_frames([night])
    assert len(frames) == CONFIG.n_frames and frames.wcs is None
    assert len(frames.stars) > 5
    reg = frames.registration
    assert reg is not None and reg.failed == [] and reg.frames[1].n_matched >= 6
    # The simulated drift is 3 px per frame: the second light is placed where
    # the truth WCS puts the first light's pixels, to a small fraction of a pixel.
    stems = [frames.sequence[k].path.stem for k in frames.indices]
    w0, w1 = (read_truth_wcs(night / "truth" / f"{s}.wcs.fits") for s in stems)
    grid = np.stack(np.meshgrid(np.linspace(20, 300, 5), np.linspace(20, 300, 5)), -1)
    grid = grid.reshape(-1, 2)
    true = np.column_stack(w1.world_to_pixel(w0.pixel_to_world(grid[:, 0], grid[:, 1])))
    assert np.hypot(*(true - grid).T).mean() == pytest.approx(3.0, abs=1.0)
    err = np.hypot(*(frames.to_light(1, grid) - true).T)
    assert np.max(err) < 0.1, err
    back = frames.to_first_light(1, frames.to_light(1, grid))
    assert np.allclose(back, grid, atol=1e-9)


def test_solutions_in_the_project_give_every_light_its_wcs(night, tmp_path):
    store = ProductStore(tmp_path)
    seq = Sequence.from_paths([night])
    params = SolveParams(
        catalog="Local file", catalog_file=str(night / "truth/reference_catalog.ecsv")
    )
    for f in seq.frames:
        if f.type == "light":
            assert chain.solve_frame(store, f, params).solved
    frames = target_frames(seq, store=store)
    assert frames.wcs is not None and frames.registration is None
    assert len(frames.stars) == 0  # not asked for, and not needed with a WCS
    for k, w in zip(frames.indices, frames.wcs, strict=True):
        truth = read_truth_wcs(night / "truth" / f"{seq[k].path.stem}.wcs.fits")
        assert _wcs_error_arcsec(w, truth) < 0.5
    assert np.all(np.diff(frames.times.jd) > 0)


def test_header_wcs_is_used_without_a_project(tmp_path):
    simulate_night(tmp_path, replace(CONFIG, write_wcs=True))
    frames = target_frames(Sequence.from_paths([tmp_path]), need_stars=True)
    assert frames.wcs is not None and len(frames.stars) > 5
    truth = read_truth_wcs(tmp_path / "truth" / f"{frames.files[0].removesuffix('.fits')}.wcs.fits")
    assert _wcs_error_arcsec(frames.wcs[0], truth) < 0.01


def test_cancel_stops_reading(night):
    state = StepState()
    state.cancel()
    with pytest.raises(Cancelled):
        target_frames(Sequence.from_paths([night]), state=state)
