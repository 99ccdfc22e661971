"""After plate solving, the viewer's readout gives RA and Dec from the solution (the
lights have no WCS of their own), and it follows a frame change under a still cursor."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from astropy.wcs import WCS

from fluxion.app.panels.astrometry import AstrometryPanel
from fluxion.core.astrometry import SolveParams
from fluxion.core.simulation.simulate import NightConfig, read_truth_wcs, simulate_night

CONFIG = NightConfig(n_frames=3, shape=(256, 256), write_wcs=False, n_bias=1, n_dark=0, n_flat=0)


@pytest.fixture
def night(tmp_path) -> Path:
    out = tmp_path / "night"
    simulate_night(out, CONFIG)
    return out


def test_readout_gives_the_solved_position_and_follows_the_frame(
    window, qtbot, open_and_wait, night: Path, tmp_path: Path
) -> None:
    open_and_wait(window, night)
    view, session = window.image_view, window.session
    assert view.wcs is None  # nothing in the headers
    window.save_project_as(tmp_path / "project")
    panel = next(p for p in window.panels if isinstance(p, AstrometryPanel))
    panel.form.set_params(replace(
        SolveParams(), catalog="Local file", mag_limit=20.0, min_matches=6,
        catalog_file=str(night / "truth" / "reference_catalog.ecsv"), use_solve_field=False,
    ))  # fmt: skip
    i = session.current
    with qtbot.waitSignal(session.frame_ready, timeout=60_000):
        panel.run_current()
    qtbot.waitUntil(lambda: view.wcs is not None, timeout=20_000)
    assert panel.results[i].solved
    truth: WCS = read_truth_wcs(night / "truth" / f"{session.sequence[i].path.stem}.wcs.fits")
    x, y = 100.0, 140.0
    r = view.show_readout(x, y)
    sky = truth.pixel_to_world(x, y)
    assert abs(r.ra - sky.ra.deg) * 3600 < 1.0 and abs(r.dec - sky.dec.deg) * 3600 < 1.0
    assert "RA" in view.readout_label.text() or "ra" in view.readout_label.text().lower()

    # The next light, the cursor still: the readout is that frame's pixel.
    with qtbot.waitSignal(session.frame_ready, timeout=20_000):
        session.next()
    assert view.last_readout.value == pytest.approx(float(view.data[140, 100]))
    assert view.readout_label.text() == view.last_readout.text()
