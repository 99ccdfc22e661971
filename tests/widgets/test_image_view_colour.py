"""The viewer shows a colour frame's RGB picture, its mosaic on demand, and reads the mosaic."""

from __future__ import annotations

import numpy as np

from fluxion.core.display.debayer import colour_picture
from fluxion.core.display.stretch import Limits
from fluxion.core.io.cfa import channel_mask
from fluxion.widgets.image_view import ImageView


def _mosaic() -> np.ndarray:
    rng = np.random.default_rng(0)
    out = 1000.0 + 10.0 * rng.standard_normal((60, 80))
    out[channel_mask(out.shape, "RGGB", "B")] -= 400.0
    return out.astype(np.float32)


def test_colour_frames_are_drawn_in_colour_and_read_as_stored(show):
    view = ImageView()
    show(view)
    mosaic = _mosaic()
    view.set_image(mosaic, limits=Limits(900.0, 1100.0), colour=colour_picture(mosaic, "RGGB"))
    assert view.colour_button.isVisible() and view.showing_colour
    assert view.image_item.image.shape == (60, 80, 3)
    # The readout is the stored pixel's (a blue one, 400 below the others).
    assert view.readout_at(1.0, 1.0).value == mosaic[1, 1]
    view.set_levels(950.0, 1050.0)
    assert tuple(view.image_item.levels) == (950.0, 1050.0)
    view.colour_button.setChecked(False)
    assert not view.showing_colour and view.image_item.image.ndim == 2
    view.colour_button.setChecked(True)
    assert view.image_item.image.ndim == 3
    # A monochrome frame after it: no colour, no button.
    view.set_image(mosaic, limits=Limits(900.0, 1100.0))
    assert not view.colour_button.isVisible() and view.image_item.image.ndim == 2
    assert view.readout_at(1.0, 1.0).colour is None


def test_the_readout_names_the_colour_of_a_colour_cameras_pixel(show):
    """Each pixel of the mosaic sees one colour: the readout says which (GRBG, as Seestar)."""
    view = ImageView()
    show(view)
    mosaic = _mosaic()
    view.set_image(
        mosaic, limits=Limits(900.0, 1100.0), colour=colour_picture(mosaic, "GRBG"),
        pattern="GRBG",
    )  # fmt: skip
    # Pixel (x, y) = (column, row): row 0 is G R G R ..., row 1 is B G B G ...
    for (x, y), colour in {(0, 0): "G", (1, 0): "R", (0, 1): "B", (1, 1): "G", (3, 2): "R"}.items():
        r = view.readout_at(float(x), float(y))
        assert r.colour == colour and r.value == mosaic[y, x]
        assert f"value {mosaic[y, x]:.6g} ({colour} pixel)" in r.text()
    # The mask agrees with the core's own channel grids.
    assert (
        channel_mask(mosaic.shape, "GRBG", "R")[0, 1]
        and channel_mask(mosaic.shape, "GRBG", "B")[1, 0]
    )
    view.set_image(mosaic, limits=Limits(900.0, 1100.0))  # monochrome: no colour named
    assert (
        view.readout_at(1.0, 0.0).colour is None
        and "pixel)" not in view.readout_at(1.0, 0.0).text()
    )
