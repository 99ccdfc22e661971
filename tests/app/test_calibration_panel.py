"""The Calibration panel builds the masters and calibrates the lights of a simulated night."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.app.panels.calibration import CalibrationPanel
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=4, shape=(256, 256), n_bias=3, n_dark=3, n_flat=3, seed=11)


@pytest.fixture(scope="module")
def night_source(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("calibration_night")
    simulate_night(out, CONFIG)
    return out


@pytest.fixture
def night(night_source: Path, tmp_path: Path) -> Path:
    """A fresh copy: runs write the project and its products into the night's folder."""
    return Path(shutil.copytree(night_source, tmp_path / "night"))


def _panel(window) -> CalibrationPanel:
    return next(p for p in window.panels if isinstance(p, CalibrationPanel))


def _run_all(window, qtbot) -> CalibrationPanel:
    panel = _panel(window)
    n_lights = sum(f.type == "light" for f in window.session.sequence.frames)
    with qtbot.waitSignal(panel.step_finished, timeout=60_000):
        panel.run_all()
    assert len(panel.results) == n_lights == CONFIG.n_frames
    return panel


def test_run_all_builds_masters_and_calibrates_every_light(
    window, qtbot, open_and_wait, night: Path
) -> None:
    open_and_wait(window, night)
    # Before the run the panel says what the night has to make masters from.
    assert _panel(window).master_view.stats_label.text() == (
        'No masters yet: 3 bias, 3 dark, 3 flat frame(s) to combine. "Run on all lights" '
        "makes the masters first."
    )
    messages: list[str] = []
    window.session.status_message.connect(messages.append)
    panel = _run_all(window, qtbot)
    # the demo-like night keeps its project (and products) in its own folder, and says so
    assert window.session.project.folder == night.resolve()
    assert (night / "project.json").is_file()
    assert messages and str(night.resolve()) in messages[0]
    for facts in panel.results.values():
        assert facts.applied == ("bias", "dark", "flat", "cosmic rays")
        assert facts.warnings == ()
        assert 0 < facts.masked_fraction < 0.01
        # Each kind counted from the product's mask, and said in words.
        kinds = dict(facts.masked_kinds)
        assert max(kinds.values()) <= facts.n_masked <= sum(kinds.values())
        assert "Masked: " in facts.describe(0) and "left out of detection" in facts.describe(0)
    masters = {m.label: m for m in panel.masters}
    assert set(masters) == {"Bias", f"Dark {CONFIG.exptime:g} s", f"Flat {CONFIG.filter}"}
    bias = masters["Bias"]
    # the bias level and its noise: read noise / gain / sqrt(3 frames), median-combined
    assert bias.stats["median"] == pytest.approx(CONFIG.bias_level, abs=3.0)
    read_noise_adu = CONFIG.read_noise / CONFIG.gain
    assert 0.4 * read_noise_adu < bias.stats["std"] < 1.5 * read_noise_adu
    assert masters[f"Flat {CONFIG.filter}"].stats["mean"] == pytest.approx(1.0, abs=1e-4)
    # the simulator's hot pixels (a fraction 2e-4 of 65536 px: about 13) show in the dark
    dark = masters[f"Dark {CONFIG.exptime:g} s"]
    assert 3 <= dark.bad_pixels <= 40 and dark.bad_kind == "hot"
    # the panel shows one master as an image with its statistics
    view = panel.master_view
    assert view.choice.count() == 3
    view.choice.setCurrentText(f"Flat {CONFIG.filter}")
    np.testing.assert_array_equal(view.image.image, masters[f"Flat {CONFIG.filter}"].data)
    assert "cold pixels" in view.stats_label.text()
    panel.show_master_in_viewer()
    assert window.image_view.data is masters[f"Flat {CONFIG.filter}"].data
    # per-frame facts in the frame table and on the plot
    model = window.frame_table.frame_model
    assert "Calibration" in model.extra_titles()
    lights = [i for i, f in enumerate(window.session.sequence.frames) if f.type == "light"]
    assert {model.extra_text(i, "Calibration") for i in lights} == {"B+D+F+CR"}
    assert panel.plot.points.data.size == len(lights)
    # the project records the step
    doc = json.loads((night / "project.json").read_text())
    assert doc["results"]["calibration"]["summary"]["n_frames"] == len(lights)


def test_calibrated_toggle_and_mask_overlay_show_the_product(
    window, qtbot, open_and_wait, night: Path
) -> None:
    open_and_wait(window, night)
    panel = _run_all(window, qtbot)
    session = window.session
    i = session.current
    assert session.sequence[i].type == "light"
    raw = np.array(session.sequence.data(i))
    with qtbot.waitSignal(session.frame_ready, timeout=20_000) as ready:
        panel.calibrated_box.setChecked(True)
    assert ready.args[0].calibrated
    product = session.product_store().path("calibration", session.sequence[i].path, ".fits")
    with fits.open(product) as hdul:
        calibrated = np.array(hdul[0].data, dtype=np.float32)
        mask = np.array(hdul["MASK"].data)
        n_masked = hdul[0].header["NMASKED"]
    np.testing.assert_array_equal(window.image_view.data, calibrated)
    # calibration removed the ~1000 ADU bias: the calibrated sky is far below the raw one
    assert np.median(raw) - np.median(calibrated) > 0.8 * CONFIG.bias_level
    with qtbot.waitSignal(session.frame_ready, timeout=20_000):
        session.next()
    np.testing.assert_array_equal(
        window.image_view.data,
        fits.getdata(product.with_name(session.sequence[session.current].path.name)),
    )
    with qtbot.waitSignal(session.frame_ready, timeout=20_000):
        session.go_to(i)

    overlays = window.image_view.overlays
    panel.mask_box.setChecked(True)
    qtbot.waitUntil(lambda: overlays.count("mask") > 0, timeout=10_000)
    assert overlays.count("mask") == n_masked == np.count_nonzero(mask)
    panel.mask_box.setChecked(False)
    assert overlays.count("mask") == 0

    with qtbot.waitSignal(session.frame_ready, timeout=20_000) as ready:
        panel.calibrated_box.setChecked(False)
    assert not ready.args[0].calibrated
    np.testing.assert_array_equal(window.image_view.data, raw)


def test_cancel_stops_run_all_and_a_calibration_frame_is_not_calibrated(
    window, qtbot, open_and_wait, night: Path
) -> None:
    open_and_wait(window, night)
    panel = _panel(window)
    task = panel.run_all()
    with qtbot.waitSignal(task.cancelled, timeout=20_000):
        panel.cancel_button.click()
    qtbot.waitUntil(lambda: task.done, timeout=20_000)
    assert panel.results == {}
    store = window.session.product_store()
    assert len(store.frames_done("calibration")) < CONFIG.n_frames
    # a bias frame: nothing to calibrate, and the panel says why
    bias = next(i for i, f in enumerate(window.session.sequence.frames) if f.type == "bias")
    with qtbot.waitSignal(window.session.frame_ready, timeout=20_000):
        window.session.go_to(bias)
    assert panel.run_current() is None
    assert "bias frame" in panel.result_label.text()


def test_reopened_project_shows_the_earlier_run(window, qtbot, open_and_wait, night) -> None:
    open_and_wait(window, night)
    first = _run_all(window, qtbot)
    facts = dict(first.results)
    window.session.sequence_changed.emit()  # as when the project is opened again
    qtbot.waitUntil(lambda: len(first.results) == len(facts), timeout=20_000)
    assert first.results == facts
    assert len(first.masters) == 3


def test_show_calibrated_frames_is_kept_with_the_project(
    window, qtbot, open_and_wait, night, tmp_path
) -> None:
    from fluxion.app.main_window import MainWindow
    from fluxion.app.settings import Settings

    open_and_wait(window, night)
    panel = _run_all(window, qtbot)
    with qtbot.waitSignal(window.session.frame_ready, timeout=20_000) as shown:
        panel.calibrated_box.setChecked(True)
    assert shown.args[0].calibrated
    window.save_project()
    folder = window.session.project.folder

    other = MainWindow(Settings(tmp_path / "other.ini"))
    try:
        with qtbot.waitSignal(other.session.frame_ready, timeout=20_000) as shown:
            other.open_path(folder)
        assert shown.args[0].calibrated  # the first frame shown is already the calibrated one
        again = _panel(other)
        assert again.calibrated_box.isChecked() and other.session.show_calibrated
    finally:
        other.close()
        other.deleteLater()
        qtbot.wait(1)
