"""Neighbours flag a star the same whether or not its apertures are measured on a cut-out."""

from __future__ import annotations

import numpy as np

from fluxion.core.photometry import PhotometryFlag
from fluxion.core.photometry.aperture import measure_apertures


def _contaminated(table) -> list[bool]:
    return [bool(int(f) & int(PhotometryFlag.CONTAMINATED)) for f in table["flags"]]


def test_a_neighbour_flags_stars_measured_on_a_cut_out_of_the_frame():
    rng = np.random.default_rng(3)
    image = rng.normal(100.0, 5.0, (1000, 1000))
    neighbour = np.array([[803.0, 800.0]])  # 3 px from the first star, 5 px reach
    # Two stars in one corner: only the pixels around them are read (a cut-out).
    clustered = measure_apertures(
        image, np.array([[800.0, 800.0], [850.0, 850.0]]), 3.0, (8.0, 12.0), neighbours=neighbour
    )
    # The same star with one across the frame: the whole frame is read.
    spread = measure_apertures(
        image, np.array([[800.0, 800.0], [50.0, 50.0]]), 3.0, (8.0, 12.0), neighbours=neighbour
    )
    assert _contaminated(clustered) == [True, False]
    assert _contaminated(spread) == [True, False]
