"""The Photometry panel on a colour night: channels measured, one chosen for the plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.app.panels.photometry import PhotometryPanel
from fluxion.core.photometry import PhotometryParams
from fluxion.core.simulation.simulate import NightConfig, simulate_night


@pytest.fixture(scope="module")
def colour_night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("photometry_colour_night") / "night"
    config = NightConfig(
        n_frames=2, shape=(256, 256), n_bias=0, n_dark=0, n_flat=0, bayer_pattern="BGGR",
        asteroid=False, star_density=2.0, fwhm=4.0,
    )  # fmt: skip
    simulate_night(out, config)
    return out


def test_a_colour_frame_is_measured_by_channel_and_shown_by_channel(
    open_panel, colour_night, qtbot
):
    panel = open_panel(PhotometryPanel, colour_night, show=True)
    assert not panel.channel_box.isVisible()
    panel.form.set_params(PhotometryParams(channels="RGB+L"))
    i = panel.session.current
    panel.run_current()
    qtbot.waitUntil(lambda: i in panel.results, timeout=30_000)
    table = panel.results[i].table
    assert table.meta["bayer_pattern"] == "BGGR"
    assert [panel.channel_box.itemText(k) for k in range(panel.channel_box.count())] == [
        "R", "G", "B", "L",
    ]  # fmt: skip
    assert panel.channel_box.isVisible() and panel.shown_channel() == "G"
    n = int(np.sum(table["channel"] == "G"))
    assert f"{n} stars" in panel.result_label.text() and "shown: G" in panel.result_label.text()
    panel.channel_box.setCurrentText("B")
    assert "shown: B" in panel.result_label.text()
    # One aperture per star, whatever the number of channels.
    assert panel.image_view.overlays.count("apertures") == n


@pytest.fixture(scope="module")
def mono_night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("photometry_mono_night") / "night"
    config = NightConfig(n_frames=1, shape=(128, 128), n_bias=0, n_dark=0, n_flat=0, asteroid=False)
    simulate_night(out, config)
    return out


def channels_offered(panel) -> bool:
    return panel.form.layout().isRowVisible(panel.form.editor("channels"))


def test_colour_channels_are_offered_only_for_a_night_with_a_bayer_pattern(
    open_panel, colour_night, mono_night, qtbot
):
    from fluxion.core.io.sequence import Sequence

    panel = open_panel(PhotometryPanel, mono_night, show=True)
    assert panel.session.sequence[0].cfa is None
    assert not channels_offered(panel)
    assert not panel.form.editor("channels").isVisible()
    assert panel.form.editor("method").isVisible()
    # The same panel, given a colour night (BAYERPAT in its frames), offers them.
    with qtbot.waitSignal(panel.session.frame_ready, timeout=20_000):
        panel.session.set_sequence(Sequence.from_paths([colour_night]))
    assert panel.session.sequence[0].cfa == "BGGR"
    assert channels_offered(panel)
    assert panel.form.editor("channels").isVisible()
