"""The window's frame preparation: a colour frame gets its RGB picture (display only)."""

from __future__ import annotations

import numpy as np

from fluxion.core.io.cfa import channel_mask


def _mosaic() -> np.ndarray:
    rng = np.random.default_rng(0)
    out = 1000.0 + 10.0 * rng.standard_normal((60, 80))
    out[channel_mask(out.shape, "RGGB", "B")] -= 400.0
    return out.astype(np.float32)


def test_the_window_prepares_a_colour_picture_for_colour_frames_only(tmp_path):
    from astropy.io import fits

    from fluxion.app.session import prepare_display
    from fluxion.core.io.sequence import Sequence, scan

    mosaic = _mosaic()
    colour = fits.Header({"BAYERPAT": "RGGB", "IMAGETYP": "Light Frame", "EXPTIME": 1.0})
    fits.writeto(tmp_path / "colour.fits", mosaic, colour)
    fits.writeto(tmp_path / "mono.fits", mosaic, fits.Header({"IMAGETYP": "Light Frame"}))
    seq = Sequence([f for f in scan([tmp_path / "colour.fits", tmp_path / "mono.fits"])])
    shown = {seq[i].path.name: prepare_display(seq, i) for i in range(len(seq))}
    picture, block = shown["colour.fits"].colour
    assert block == 1 and picture.shape == (60, 80, 3)
    assert shown["mono.fits"].colour is None
