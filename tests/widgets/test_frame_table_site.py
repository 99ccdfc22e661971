"""The frame table's Site column: the header's site, or the project's where it gives none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from PySide6.QtCore import Qt

from fluxion.core.io.frames import frame_info
from fluxion.core.io.site import ObservingSite, with_sites
from fluxion.widgets.frame_table import COLUMNS, FrameTable


def test_the_site_column_says_where_each_light_was_observed_and_from_what(
    show, tmp_path: Path
) -> None:
    h = fits.Header({"IMAGETYP": "Light Frame", "EXPTIME": 60.0, "DATE-OBS": "2024-09-10T21:30"})
    fits.PrimaryHDU(np.zeros((8, 8), np.uint16), h).writeto(tmp_path / "bare.fits")
    h.update(SITELAT=-24.6272, SITELONG=-70.4042, SITEELEV=2635.0)  # Paranal
    fits.PrimaryHDU(np.zeros((8, 8), np.uint16), h).writeto(tmp_path / "sited.fits")
    frames = [frame_info(tmp_path / "bare.fits"), frame_info(tmp_path / "sited.fits")]
    table = show(FrameTable())
    table.set_frames(frames)
    m = table.frame_model
    col = {c[0]: i for i, c in enumerate(COLUMNS)}["Site"]
    assert m.data(m.index(0, col)) == "-"
    assert m.data(m.index(1, col)) == "24.63 S 70.40 W 2635 m"
    assert m.data(m.index(1, col), Qt.ItemDataRole.ToolTipRole).startswith(
        "from header card SITELONG/SITELAT"
    )
    # File > Observing site: the bare light takes it, the header's site stays.
    table.set_frames(with_sites(frames, ObservingSite(-76.94, 38.99, 40.0, "College Park")))
    assert m.data(m.index(0, col)) == "38.99 N 76.94 W 40 m"
    assert m.data(m.index(0, col), Qt.ItemDataRole.ToolTipRole) == (
        "project setting (College Park) (File > Observing site)"
    )
    assert not m.data(m.index(0, col), Qt.ItemDataRole.FontRole)
    assert m.data(m.index(1, col)) == "24.63 S 70.40 W 2635 m"
