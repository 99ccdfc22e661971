"""The Photometry panel's model and residual images: only in the viewer while its tab is in front.

The viewer is shared by every step panel; the Photometry panel may replace
the frame by its fitted model or residual, but only while the user sees its
tab, and it puts the frame back when another tab comes to the front.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fluxion.app.panels.detection import DetectionPanel
from fluxion.app.panels.photometry import PhotometryPanel
from fluxion.core.photometry import PhotometryParams
from fluxion.core.simulation.simulate import NightConfig, simulate_night

# A camera that needs no calibration, as in test_photometry_panel: PSF fits of
# raw frames with bias and hot pixels take far longer than a test may.
CLEAN_CAMERA = dict(
    n_bias=0, n_dark=0, n_flat=0, bias_level=0.0, bias_column_rms=0.0, dark_current=0.0,
    hot_pixel_fraction=0.0, vignetting=0.0, n_dust=0, prnu=0.0, cosmic_ray_rate=0.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def clean_night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("photometry_viewer") / "night"
    simulate_night(out, NightConfig(n_frames=2, shape=(256, 256), write_wcs=True, **CLEAN_CAMERA))
    return out


def _settle(window, qtbot) -> None:
    """Wait until no work (prefetch, restores) is left and queued signals are delivered."""
    qtbot.waitUntil(lambda: not window.workers.running(include_quiet=True), timeout=30_000)
    qtbot.wait(20)


def _bring(window, qtbot, panel) -> None:
    window.raise_step(panel.title)
    others = [p for p in window.panels if p is not panel]
    qtbot.waitUntil(lambda: panel.in_front and not any(p.in_front for p in others))
    _settle(window, qtbot)


def _go(window, qtbot, index: int) -> None:
    window.session.go_to(index)
    qtbot.waitUntil(lambda: window.session.shown is not None)
    qtbot.waitUntil(lambda: window.session.shown.index == index, timeout=20_000)
    _settle(window, qtbot)


def _measure(window, qtbot, panel) -> None:
    i = window.session.current
    panel.run_current()
    qtbot.waitUntil(lambda: i in panel.results, timeout=30_000)
    _settle(window, qtbot)


def _model(panel: PhotometryPanel, index: int):
    return panel.results[index].images["model"][0]


def test_model_image_only_while_the_panel_is_in_front(
    window, qtbot, open_and_wait, clean_night: Path
) -> None:
    open_and_wait(window, clean_night)
    _settle(window, qtbot)
    view = window.image_view
    photometry = next(p for p in window.panels if isinstance(p, PhotometryPanel))
    detection = next(p for p in window.panels if isinstance(p, DetectionPanel))
    lights = [i for i, f in enumerate(window.session.sequence.frames) if f.type == "light"]
    first, second = lights[0], lights[1]

    _go(window, qtbot, first)
    _bring(window, qtbot, photometry)
    photometry.form.set_params(replace(PhotometryParams(), method="psf"))
    _measure(window, qtbot, photometry)
    photometry.show_box.setCurrentText("model")
    assert view.data is _model(photometry, first)
    # In front, a new frame with a model shows its model (after the window showed the frame).
    _go(window, qtbot, second)
    _measure(window, qtbot, photometry)
    assert view.data is _model(photometry, second)
    _go(window, qtbot, first)
    assert view.data is _model(photometry, first)

    # Another tab in front: the frame is back in the viewer ...
    _bring(window, qtbot, detection)
    assert view.data is window.session.shown.data
    # ... and stays there on a new frame that has a model.
    _go(window, qtbot, second)
    assert window.session.shown.index == second
    assert view.data is window.session.shown.data
    # A result arriving behind the tab does not replace it either.
    del photometry.results[second]
    _measure(window, qtbot, photometry)
    assert view.data is window.session.shown.data

    # In front again: the chosen model of the frame shown.
    _bring(window, qtbot, photometry)
    assert view.data is _model(photometry, second)
