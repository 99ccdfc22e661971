"""The main window on the demo night: frames, readout, blink, stretch, overlays, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from fluxion.app.demo import demo_inputs


def _light_index(window, name: str) -> int:
    return [f.path.name for f in window.session.sequence.frames].index(name)


def test_start_page_then_demo_folder(window, qtbot, open_and_wait, demo_night: Path) -> None:
    assert window.stack.currentWidget() is window.start_page
    open_and_wait(window, demo_night)
    assert window.stack.currentWidget() is window.image_view
    names = [f.path.name for f in window.session.sequence.frames]
    # the truth folder's header-only WCS files are not frames
    assert sorted(names) == sorted(p.name for p in demo_inputs(demo_night))
    assert window.frame_table.frame_model.rowCount() == len(names)


# the truth WCS file is header-only (NAXIS = 0) by design
@pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")
def test_readout_matches_the_file_and_the_truth_wcs(
    window, qtbot, open_and_wait, demo_night: Path
) -> None:
    open_and_wait(window, demo_night)
    i = _light_index(window, "light_0003.fits")
    with qtbot.waitSignal(window.session.frame_ready, timeout=10_000):
        window.frame_table.selectRow(i)
    assert window.session.current == i
    raw = fits.getdata(demo_night / "light_0003.fits").astype(np.float64)
    truth = Table.read(demo_night / "truth" / "light_0003.ecsv")
    star = truth[np.argmax(truth["flux"])]
    x, y = float(star["x"]), float(star["y"])
    r = window.image_view.show_readout(x, y)
    col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    assert r.value == pytest.approx(raw[row, col])
    assert "value" in window.image_view.readout_label.text()
    # RA/Dec under the cursor against the exact simulated WCS (0-based pixels)
    exact = WCS(fits.getheader(demo_night / "truth" / "light_0003.wcs.fits"))
    ra, dec = exact.celestial.pixel_to_world_values(x, y)
    assert abs(r.ra - ra) * 3600 * np.cos(np.radians(dec)) < 0.01
    assert abs(r.dec - dec) * 3600 < 0.01
    # the truth catalogue's sky position of the star agrees within the simulation's precision
    assert abs(r.dec - float(star["dec"])) * 3600 < 0.05
    assert "light_0003.fits" in window.frame_label.text()
    assert "EXPTIME" in window.header_view.toPlainText()


def test_step_with_keys_blink_with_fixed_stretch(
    window, qtbot, open_and_wait, demo_night: Path
) -> None:
    open_and_wait(window, demo_night)
    n = len(window.session)
    start = window.session.current
    qtbot.waitUntil(lambda: window.session.is_prefetched((start + 1) % n), timeout=10_000)
    window.image_view.setFocus()
    with qtbot.waitSignal(window.session.frame_ready, timeout=5000) as blocker:
        qtbot.keyClick(window, "d")
    assert blocker.args[0].index == start + 1
    with qtbot.waitSignal(window.session.frame_ready, timeout=5000):
        qtbot.keyClick(window, "a")
    assert window.session.current == start
    window.image_view.set_levels(1000.0, 2000.0)
    window.rate_box.setValue(30)
    window.toggle_play()
    assert window.fixed_stretch_box.isChecked()
    seen: set[int] = set()
    window.session.frame_ready.connect(lambda f: seen.add(f.index))
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=10_000)
    window.toggle_play()
    assert not window.blink_timer.isActive()
    # the stretch stayed fixed through the blink
    lv = window.image_view.levels()
    assert (lv.vmin, lv.vmax) == (1000.0, 2000.0)


def test_stretch_limits_and_overlays(window, qtbot, open_and_wait, demo_night: Path) -> None:
    open_and_wait(window, demo_night)
    view = window.image_view
    data = view.data
    with qtbot.waitSignal(window.session.frame_ready, timeout=10_000):
        view.set_limits_method("minmax")
    lv = view.levels()
    assert lv.vmin == pytest.approx(float(np.min(data[::1, ::1])), rel=0.05)
    assert lv.vmax <= float(np.max(data))
    view.set_stretch("asinh")
    assert view.display_settings()["stretch"] == "asinh"
    view.overlays.set_sources([10.0, 20.0], [30.0, 40.0])
    view.layer_actions["sources"].trigger()
    assert not view.overlays.is_visible("sources")


def test_missing_path_and_bad_folder_show_one_error(window, qtbot, tmp_path: Path) -> None:
    window.open_path(tmp_path / "nowhere")
    assert window.error_bar.isVisible()
    assert "does not exist" in window.error_bar.label.text()
    (tmp_path / "notes.txt").write_text("no frames here")
    with qtbot.waitSignal(window.workers.error, timeout=10_000):
        window.open_path(tmp_path)
    assert "no usable FITS frames" in window.error_bar.label.text()
    assert "Choose a folder" in window.error_bar.label.text()


def test_a_night_opens_on_its_first_light(window, qtbot, open_and_wait, demo_night: Path) -> None:
    open_and_wait(window, demo_night)
    frames = window.session.sequence.frames
    assert frames[window.session.current].type == "light"
    assert all(f.type != "light" for f in frames[: window.session.current])
