"""End to end: the window simulates the classroom demo in a worker, opens it, and blinks it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

simulate = pytest.importorskip("fluxion.core.simulation.simulate")


def test_demo_is_generated_in_a_worker_and_opened(qtbot, tmp_path: Path) -> None:
    from fluxion.app.main_window import MainWindow
    from fluxion.app.settings import Settings

    window = MainWindow(Settings(tmp_path / "settings.ini"))
    window.show()
    try:
        config = simulate.NightConfig(n_frames=3, shape=(256, 256), n_bias=0, n_dark=0, n_flat=0)
        with qtbot.waitSignal(window.session.frame_ready, timeout=30_000) as blocker:
            task = window.start_demo(tmp_path / "demo", config)
            assert not task.done  # the GUI thread returned at once
        frame = blocker.args[0]
        assert window.session.sequence[frame.index].path.name == "light_0001.fits"
        raw = fits.getdata(tmp_path / "demo" / "light_0001.fits").astype(np.float64)
        assert window.image_view.readout_at(17.0, 201.0).value == pytest.approx(raw[201, 17])
        with qtbot.waitSignal(window.session.frame_ready, timeout=10_000):
            window.session.next()
        assert window.frame_table.currentIndex().row() == 1
    finally:
        window.close()
        window.deleteLater()


def test_without_a_display_fluxion_says_so_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    out = subprocess.run(
        [sys.executable, "-m", "fluxion.app.cli", "--demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 3
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0] and "fluxion --help" in lines[0]
