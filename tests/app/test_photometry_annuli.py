"""Sky annuli on the image: drawn on a sparse field, left out on a crowded one.

On the real TrES-1 frames (1092 x 736 px) the rings of 1411 stars overlap into
one sheet that hides the image; a small simulated field's 38 stars keep theirs
(the photometry panel's tests draw them). The panel's line says when they are
not drawn.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.app.panels.photometry import MAX_ANNULI, FramePhotometry, annuli_to_draw, describe
from fluxion.core.photometry import PhotometryResult


def test_crowded_field_leaves_the_annuli_out() -> None:
    assert annuli_to_draw(1411, (8.9, 14.2)) is None
    assert annuli_to_draw(MAX_ANNULI + 1, (8.9, 14.2)) is None


def test_sparse_field_keeps_the_annuli() -> None:
    assert annuli_to_draw(38, (16.26, 26.01)) == (16.26, 26.01)
    assert annuli_to_draw(MAX_ANNULI, (16.26, 26.01)) == (16.26, 26.01)
    assert annuli_to_draw(5, None) is None


def _result(n: int) -> FramePhotometry:
    table = Table({"x": np.arange(n, dtype=float), "y": np.zeros(n), "flags": np.zeros(n, int)})
    r = PhotometryResult(
        table=table, method="aperture", fwhm=1.8, unit="electron", sky=np.zeros((4, 4)),
        aperture_radius=2.1, annulus=(8.9, 14.2),
    )  # fmt: skip
    return FramePhotometry(result=r, gain=1.0)


def test_the_line_says_when_the_annuli_are_not_drawn_and_names_the_unit() -> None:
    crowded = describe(10, _result(1411))
    assert f"sky annulus 8.9-14.2 px (not drawn: over {MAX_ANNULI} stars)" in crowded
    assert crowded.endswith("fluxes in electrons.")
    assert "not drawn" not in describe(10, _result(38))
