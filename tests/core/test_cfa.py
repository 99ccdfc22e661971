"""Colour-filter-array frames: the stored pixels' pattern, each channel's grid, green sums."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from fluxion.app.cli import main
from fluxion.core.io.cfa import (
    bin_cfa,
    cfa_pattern,
    channel_mask,
    channel_offsets,
    channel_view,
    read_cfa,
    shift_pattern,
    unbinned_xy,
)
from fluxion.core.io.frames import choose_cfa, frame_info, with_cfa


def _mosaic(pattern: str, ny: int = 6, nx: int = 8) -> np.ndarray:
    """Pixels holding their own colour letter, as the array is read (row 0 first)."""
    block = np.array([[pattern[0], pattern[1]], [pattern[2], pattern[3]]])
    return np.tile(block, (ny // 2, nx // 2))[:ny, :nx]


def test_pattern_is_read_only_for_raw_colour_frames():
    assert cfa_pattern(fits.Header({"NAXIS": 2, "BAYERPAT": "GRBG"})) == "GRBG"
    assert cfa_pattern(fits.Header({"NAXIS": 2, "COLORTYP": "rggb "})) == "RGGB"
    assert cfa_pattern(fits.Header({"NAXIS": 3, "NAXIS3": 3, "BAYERPAT": "RGGB"})) is None
    assert cfa_pattern(fits.Header({"NAXIS": 2})) is None
    assert cfa_pattern(fits.Header({"NAXIS": 2, "COLORTYP": "MONO"})) is None
    odd = read_cfa(fits.Header({"NAXIS": 2, "BAYERPAT": "RGBG"}))
    assert odd.pattern is None and "not a Bayer pattern" in odd.problems[0]


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
@pytest.mark.parametrize("dx, dy", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_offsets_move_the_pattern_as_cropping_the_mosaic_does(pattern, dx, dy):
    full = _mosaic(pattern, 8, 8)
    crop = full[dy:, dx:]
    assert "".join(crop[:2, :2].ravel()) == shift_pattern(pattern, dx, dy)
    h = fits.Header({"NAXIS": 2, "NAXIS2": 8, "BAYERPAT": pattern, "XBAYROFF": dx, "YBAYROFF": dy})
    assert read_cfa(h).pattern == shift_pattern(pattern, dx, dy)
    nina = fits.Header({"NAXIS": 2, "BAYERPAT": pattern, "BAYOFFX": dx, "BAYOFFY": dy})
    assert read_cfa(nina).pattern == shift_pattern(pattern, dx, dy)


@pytest.mark.parametrize("ny", [6, 7])
def test_bottom_up_rows_flip_the_pattern_when_the_row_count_is_even(ny):
    """The writer's pattern is of the image top-down; the array holds it bottom-up."""
    top_down = _mosaic("RGGB", 8, 8)[:ny]
    stored = top_down[::-1]
    h = fits.Header({"NAXIS": 2, "NAXIS1": 8, "NAXIS2": ny, "BAYERPAT": "RGGB"})
    h["ROWORDER"] = "BOTTOM-UP"
    reading = read_cfa(h)
    assert reading.pattern == "".join(stored[:2, :2].ravel())
    assert reading.pattern == ("GBRG" if ny % 2 == 0 else "RGGB")
    assert "ROWORDER BOTTOM-UP" in reading.source
    h["ROWORDER"] = "TOP-DOWN"
    assert read_cfa(h).pattern == "RGGB"
    h["ROWORDER"] = "SIDEWAYS"
    assert "neither TOP-DOWN" in read_cfa(h).problems[0]


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_channel_grids_hold_their_own_colour(pattern):
    mosaic = _mosaic(pattern)
    offsets = channel_offsets(pattern)
    for channel in ("R", "G1", "G2", "B"):
        view = channel_view(mosaic, pattern, channel)
        assert view.shape == (3, 4)
        assert set(view.ravel()) == {channel[0]}
        dy, dx = offsets[channel]
        assert view[1, 2] == mosaic[2 + dy, 4 + dx]
    # G1 shares its rows with red, G2 with blue.
    assert offsets["G1"][0] == offsets["R"][0] and offsets["G2"][0] == offsets["B"][0]
    green = channel_mask(mosaic.shape, pattern, "G")
    assert set(mosaic[green]) == {"G"} and green.sum() == mosaic.size // 2
    with pytest.raises(ValueError, match="unknown channel"):
        channel_view(mosaic, pattern, "Y")


def test_camera_profile_gives_the_pattern_when_the_card_is_missing(tmp_path):
    h = fits.Header({"CREATOR": "ZWO Seestar S50", "INSTRUME": "Seestar S50", "GAIN": 80})
    h["IMAGETYP"] = "Light"
    h["EXPTIME"] = 10.0
    h["DATE-OBS"] = "2025-03-27T01:20:32.955"
    fits.PrimaryHDU(np.zeros((16, 12), np.uint16), header=h).writeto(tmp_path / "a.fit")
    f = frame_info(tmp_path / "a.fit")
    assert f.cfa == "GRBG" and f.sources["cfa"] == "zwo-seestar profile 'GRBG'"
    h["BAYERPAT"] = "RGGB"  # the card, when written, wins
    fits.PrimaryHDU(np.zeros((16, 12), np.uint16), header=h).writeto(tmp_path / "b.fit")
    assert frame_info(tmp_path / "b.fit").cfa == "RGGB"


def test_the_user_overrides_the_pattern(tmp_path):
    h = fits.Header({"BAYERPAT": "RGGB", "EXPTIME": 5.0, "IMAGETYP": "Light"})
    fits.PrimaryHDU(np.zeros((16, 12), np.uint16), header=h).writeto(tmp_path / "c.fit")
    f = frame_info(tmp_path / "c.fit")
    g = with_cfa(f, "bggr")
    assert g.cfa == "BGGR" and "set by the user" in g.sources["cfa"] and "RGGB" in g.sources["cfa"]
    assert choose_cfa([f], "none")[0].cfa is None
    assert choose_cfa([f], "auto")[0] is f
    with pytest.raises(ValueError, match="not a Bayer pattern"):
        with_cfa(f, "RGBW")
    assert main(["scan", str(tmp_path), "--json", "--bayer", "gbrg"]) == 0


def test_scan_shows_the_pattern_and_its_source(tmp_path, capsys):
    h = fits.Header({"BAYERPAT": "RGGB", "ROWORDER": "BOTTOM-UP", "EXPTIME": 5.0})
    h["IMAGETYP"] = "Light"
    fits.PrimaryHDU(np.zeros((16, 12), np.uint16), header=h).writeto(tmp_path / "d.fit")
    assert main(["scan", str(tmp_path), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["bayer_pattern"] == "GBRG"
    assert row["bayer_pattern_source"] == "BAYERPAT 'RGGB', ROWORDER BOTTOM-UP (rows flipped)"
    assert main(["scan", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bayer" in out.splitlines()[0] and " GBRG " in out.splitlines()[1]
    assert "Bayer pattern of 1 file: GBRG from BAYERPAT 'RGGB', ROWORDER BOTTOM-UP" in out
    assert main(["scan", str(tmp_path), "--json", "--bayer", "none"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["bayer_pattern"] is None


def test_a_star_on_a_bayer_mosaic_keeps_its_position():
    """A red star on a GRBG mosaic: its checkerboard centroid leans, the greens' does not."""
    ny, nx = 64, 80
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    x0, y0, sigma = 37.3, 22.8, 1.6
    star = 1e4 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
    # GRBG: red on (even row, odd column); a red star is faint in the others.
    gain = np.full((ny, nx), 0.2)
    gain[0::2, 1::2] = 1.0
    mosaic = star * gain
    binned = bin_cfa(mosaic, "GRBG")
    assert binned.shape == (32, 40) and binned.dtype == np.float32
    by, bx = np.mgrid[0:32, 0:40]
    w = binned / binned.sum()
    x, y = unbinned_xy((w * bx).sum(), (w * by).sum())
    assert x == pytest.approx(x0, abs=0.05) and y == pytest.approx(y0, abs=0.05)
    # Summing all four pixels of a block leans towards the red one (measured 0.25 px).
    four = mosaic[0::2, 0::2] + mosaic[0::2, 1::2] + mosaic[1::2, 0::2] + mosaic[1::2, 1::2]
    x4, _ = unbinned_xy((four * bx).sum() / four.sum(), 0.0)
    assert abs(x4 - x0) > 0.2
    with pytest.raises(ValueError, match="Bayer pattern"):
        bin_cfa(mosaic, "XYZW")
