"""A raw amplifier mosaic (one extension per amplifier, DETSEC) is said to be read in part.

Fluxion reads a multi-extension file's first image extension alone: for an
LCO Sinistro's raw frame that is one amplifier, a quarter of the field with
that amplifier's gain. ``fluxion run`` used it without a word (only
``fluxion scan`` said "amplifiers?"); it now says, before the run, what it
reads and that it does not assemble the mosaic. On a simulated light split
into two amplifiers and on the real LCO frame.
"""

from __future__ import annotations

from astropy.io import fits

from fluxion.app.commands.run import _print_unusable
from fluxion.core.io.sequence import scan
from fluxion.core.simulation.simulate import NightConfig, simulate_night

MOSAIC_NOTE = "the amplifiers of one detector (DETSEC): only HDU 1 ("


def test_a_simulated_two_amplifier_light_is_said_to_be_read_in_part(tmp_path, capsys):
    night = tmp_path / "night"
    simulate_night(night, NightConfig(n_frames=1, shape=(64, 96), n_bias=0, n_dark=0, n_flat=0))
    with fits.open(night / "light_0001.fits") as hdul:
        header, data = hdul[0].header.copy(), hdul[0].data.copy()
    mef = tmp_path / "mef"
    mef.mkdir()
    primary = fits.PrimaryHDU(header=header)
    primary.header["NAXIS"] = 0
    halves = []
    for k, (lo, hi) in enumerate([(0, 48), (48, 96)]):
        ext = fits.ImageHDU(data[:, lo:hi], name="SCI")
        ext.header["DETSEC"] = f"[{lo + 1}:{hi},1:64]"
        ext.header["GAIN"] = 1.5 + 0.1 * k
        halves.append(ext)
    fits.HDUList([primary, *halves]).writeto(mef / "light.fits")
    frames = scan([mef])
    assert len(frames) == 1 and frames[0].usable and frames[0].shape == (64, 48)
    _print_unusable(frames)
    said = capsys.readouterr().out
    assert said.startswith("note     ") and "light.fits: 2 image extensions, " in said
    assert MOSAIC_NOTE in said
    assert "(48x64 px, one amplifier's part of the field" in said
    assert "does not assemble amplifier mosaics" in said


def test_the_lco_sinistro_frame_is_said_to_be_one_amplifier(shared_data, capsys):
    path = shared_data / "neoexchange/neoexchange/photometrics/tests/mef_raw_test_frame.fits"
    frames = scan([path])
    assert frames[0].usable
    _print_unusable(frames)
    said = capsys.readouterr().out
    assert "mef_raw_test_frame.fits: 4 image extensions, " in said and MOSAIC_NOTE in said
    assert "(544x522 px" in said
