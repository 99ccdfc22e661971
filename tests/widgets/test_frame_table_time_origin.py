"""The frame table's "Time from" column: the card the time came from and its precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from PySide6.QtCore import Qt

from fluxion.core.io.frames import frame_info
from fluxion.widgets.frame_table import COLUMNS, FrameTable


def test_time_from_column_names_the_card_and_its_precision(show, tmp_path: Path) -> None:
    h = fits.Header({"IMAGETYP": "Light Frame", "EXPTIME": 60.0, "EGAIN": 1.5})
    h["DATE-OBS"] = "2017-12-19T18:33:43.317-0700"
    h["MJD-OBS"] = 58107.065
    fits.PrimaryHDU(np.zeros((8, 8), np.uint16), h).writeto(tmp_path / "a.fits")
    h["MJD-OBS"] = 58107.565  # 12 h from DATE-OBS
    fits.PrimaryHDU(np.zeros((8, 8), np.uint16), h).writeto(tmp_path / "b.fits")
    table = show(FrameTable())
    table.set_frames([frame_info(tmp_path / "a.fits"), frame_info(tmp_path / "b.fits")])
    m = table.frame_model
    col = {c[0]: i for i, c in enumerate(COLUMNS)}["Time from"]
    assert m.data(m.index(0, col)) == "DATE-OBS (UTC-0700 removed) + EXPTIME/2, 1 ms"
    assert m.data(m.index(0, col), Qt.ItemDataRole.BackgroundRole) is None
    # A disagreeing card tints the row and says by how much.
    tip = m.data(m.index(1, col), Qt.ItemDataRole.ToolTipRole)
    assert "MJD-OBS and DATE-OBS disagree by 43192.7 s (12.00 h)" in tip
    assert m.data(m.index(1, col), Qt.ItemDataRole.BackgroundRole) is not None
