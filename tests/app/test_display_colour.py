"""The window's frame preparation: a colour frame gets its RGB picture (display only)."""

from __future__ import annotations

import numpy as np


def test_the_window_prepares_a_colour_picture_for_colour_frames_only(tmp_path):
    from astropy.io import fits

    from fluxion.app.session import prepare_display
    from fluxion.core.io.sequence import Sequence, scan

    # A flat sky, its blue pixels darker: the stored mosaic of a colour camera.
    mosaic = np.full((60, 80), 1000.0, dtype=np.float32)
    mosaic[1::2, 1::2] = 600.0
    colour = fits.Header({"BAYERPAT": "RGGB", "IMAGETYP": "Light Frame", "EXPTIME": 1.0})
    fits.writeto(tmp_path / "colour.fits", mosaic, colour)
    fits.writeto(tmp_path / "mono.fits", mosaic, fits.Header({"IMAGETYP": "Light Frame"}))
    seq = Sequence([f for f in scan([tmp_path / "colour.fits", tmp_path / "mono.fits"])])
    shown = {seq[i].path.name: prepare_display(seq, i) for i in range(len(seq))}
    picture, block = shown["colour.fits"].colour
    assert block == 1 and picture.shape == (60, 80, 3)
    # The sky is grey in the picture: blue brought to the green's level.
    assert np.allclose(np.asarray(picture, float), 1000.0)
    assert shown["mono.fits"].colour is None
    # The pattern goes with the picture, for the readout to name each pixel's colour.
    assert shown["colour.fits"].pattern == "RGGB" and shown["mono.fits"].pattern is None
