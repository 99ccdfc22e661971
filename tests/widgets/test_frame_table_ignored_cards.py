"""Frame table: header cards left aside (a camera's 0 for "unknown") do not tint a frame.

TrES-1's camera writes FOCALLEN = 0, APTDIA = 0 and APTAREA = 0 in every frame;
each was tinted as a frame with problems, so the one light with a real
problem could not be told from the rest. Such cards are listed in the
tooltip as left aside; a real problem still tints its row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt

from fluxion.core.io.frames import frame_info
from fluxion.widgets.frame_table import COLUMNS, FrameTable


@dataclass(frozen=True)
class _Frame:
    path: Path
    type: str = "light"
    problems: tuple[str, ...] = ()
    sources: dict = field(default_factory=dict)


def _camera_zeros(tmp_path: Path) -> tuple[str, ...]:
    """The notes the header reader gives a light whose camera wrote 0 for its optics."""
    import numpy as np
    from astropy.io import fits

    header = fits.Header()
    for key, value in (("IMAGETYP", "Light Frame"), ("EXPTIME", 60.0),
                       ("DATE-OBS", "2012-06-14T01:56:04"), ("FOCALLEN", 0.0),
                       ("APTDIA", 0.0)):  # fmt: skip
        header[key] = value
    path = tmp_path / "light.fits"
    fits.PrimaryHDU(np.zeros((8, 8), np.float32), header).writeto(path)
    return tuple(frame_info(path).problems)


def test_cards_left_aside_do_not_tint_and_real_problems_do(show, tmp_path) -> None:
    zeros = _camera_zeros(tmp_path)
    assert len(zeros) == 2 and all("0.0" in p for p in zeros)
    frames = [
        _Frame(Path("/d/light_0001.fits"), problems=zeros),
        _Frame(Path("/d/light_0002.fits"), problems=(*zeros, "no DATE-OBS: time unknown")),
    ]
    table = show(FrameTable())
    table.set_frames(frames)
    m = table.frame_model
    col = {c[0]: i for i, c in enumerate(COLUMNS)}
    background = Qt.ItemDataRole.BackgroundRole
    assert m.data(m.index(0, col["Object"]), background) is None
    assert m.data(m.index(1, col["Object"]), background) is not None
    tip = m.data(m.index(0, col["Object"]), Qt.ItemDataRole.ToolTipRole)
    assert "Problems" not in tip and "left aside" in tip and "FOCALLEN=0.0" in tip
    tip = m.data(m.index(1, col["Object"]), Qt.ItemDataRole.ToolTipRole)
    assert tip.index("Problems:\n- no DATE-OBS") < tip.index("left aside")
