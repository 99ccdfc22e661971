"""The Astrometry panel solves the demo frames against the demo night's own catalog."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from astropy.io import fits
from astropy.wcs import WCS

from fluxion.app.panels.astrometry import AstrometryPanel, describe
from fluxion.core.astrometry import SolveParams


def _panel(window) -> AstrometryPanel:
    return next(p for p in window.panels if isinstance(p, AstrometryPanel))


def test_panel_solves_current_frame_and_marks_matched_stars(
    window, qtbot, open_and_wait, demo_night: Path, tmp_path: Path
) -> None:
    # The panel saves the project and its solutions beside the demo's inputs:
    # a copy keeps the session's shared night without a project in it.
    demo_night = Path(shutil.copytree(demo_night, tmp_path / "night"))
    open_and_wait(window, demo_night)
    panel = _panel(window)
    params = replace(
        SolveParams(),
        catalog="Local file",
        catalog_file=str(demo_night / "truth" / "reference_catalog.ecsv"),
        mag_limit=20.0,
        min_matches=6,
        use_solve_field=False,
    )
    panel.form.set_params(params)
    assert panel.params() == params
    panel.run_current()
    i = window.session.current
    qtbot.waitUntil(lambda: i in panel.results, timeout=20_000)
    result = panel.results[i]
    assert result.solved, result.reason
    # The demo lights carry the exact WCS. With ~20 stars on this small frame the
    # solver drops to a quadratic SIP, so the cubic distortion leaves ~1 px at the
    # corners while the centre is exact.
    truth = WCS(fits.getheader(window.session.sequence[i].path))
    sky = result.wcs.pixel_to_world([128, 0, 255], [128, 0, 255])
    sep = truth.pixel_to_world([128, 0, 255], [128, 0, 255]).separation(sky).arcsec
    assert sep[0] < 0.2 and sep.max() < 2.0
    assert panel.result_label.text() == describe(i, result)
    assert "solved by hinted" in panel.result_label.text()
    overlays = (
        window.image_view.overlays if hasattr(window, "image_view") else panel.image_view.overlays
    )
    assert overlays.count("sources") == int(result.matches["used"].sum()) >= 6
    assert panel.summary(result) == pytest.approx(result.rms_arcsec)


def test_describe_a_refusal() -> None:
    from fluxion.core.astrometry import not_solved

    text = describe(2, not_solved("hinted", "only 3 usable sources detected"))
    assert text == "Frame 3: not solved. only 3 usable sources detected"
