"""The gain a header gives: EGAIN, camera profiles for gain settings, implausible cards."""

from __future__ import annotations

import pytest
from astropy.io import fits

from fluxion.core.io.cameras import camera_profiles, match_camera
from fluxion.core.io.headers import normalise_header
from fluxion.core.io.profiles import load_profiles


def _header(**cards) -> fits.Header:
    h = fits.Header()
    h["NAXIS"] = 2
    h["NAXIS1"] = 64
    h["NAXIS2"] = 64
    h["EXPTIME"] = 10.0
    h["DATE-OBS"] = "2025-03-27T01:20:32.955"
    for key, value in cards.items():
        h[key.replace("_", "-")] = value
    return h


def test_seestar_gain_card_is_a_setting_not_80_e_per_adu() -> None:
    """Before, the Seestar's GAIN = 80 was taken as 80 e-/ADU."""
    h = _header(CREATOR="ZWO Seestar S50", INSTRUME="Seestar S50", GAIN=80)
    facts = normalise_header(h)
    assert facts.gain is None
    assert facts.gain_setting == 80
    assert facts.sources["gain"] == (
        "unknown: GAIN=80 is the Sony IMX462 camera's gain setting (zwo-seestar)"
    )
    assert facts.problems == ()  # expected for this camera: the frames will give the gain


@pytest.mark.parametrize(
    "instrume, setting, expected",
    [
        # 0.76 e-/ADU at 0 (16-bit ADC), 0.1 dB steps: 0.76 x 10^(-100/200).
        ("ZWO ASI2600MC Pro", 100, 0.76 * 10 ** (-0.5)),
        # 5 e-/ADU at 0 on a 12-bit ADC padded to 16 bits: unity gain (139) is 1/16 e-/ADU.
        ("ZWO ASI1600MM Pro", 139, 5.0 * 10 ** (-139 / 200) / 16),
        ("ZWO ASI294MC Pro", 120, 3.89 * 10 ** (-0.6) / 4),
    ],
)
def test_zwo_profile_converts_the_setting(instrume, setting, expected) -> None:
    facts = normalise_header(_header(INSTRUME=instrume, GAIN=setting))
    assert facts.gain == pytest.approx(expected, rel=1e-9)
    assert (
        facts.sources["gain"].startswith("zwo-asi profile: Sony")
        or "Panasonic" in (facts.sources["gain"])
    )
    assert facts.gain_setting == setting


def test_egain_wins_and_unknown_zwo_models_are_left_to_the_frames() -> None:
    nina = normalise_header(_header(INSTRUME="ZWO ASI533MC Pro", GAIN=100, EGAIN=0.8))
    assert (nina.gain, nina.sources["gain"], nina.gain_setting) == (0.8, "EGAIN", 100)
    unknown = normalise_header(_header(INSTRUME="ZWO ASI533MC Pro", GAIN=100))
    assert unknown.gain is None and "gain setting" in unknown.sources["gain"]
    qhy = normalise_header(_header(INSTRUME="QHY600M", GAIN=26))
    assert qhy.gain is None and qhy.gain_setting == 26


def test_implausible_gain_card_is_reported_not_taken() -> None:
    facts = normalise_header(_header(INSTRUME="Some CMOS camera", GAIN=120))
    assert facts.gain is None
    assert "GAIN=120 is not plausible as e-/ADU for any camera (0.001-25); not used" in (
        facts.problems
    )
    # Plausible cards are still read, EGAIN first.
    assert normalise_header(_header(GAIN=1.4)).gain == 1.4
    assert normalise_header(_header(GAIN=1.4, EGAIN=2.07)).sources["gain"] == "EGAIN"


def test_camera_profiles_cite_their_sources_and_stay_out_of_header_profiles() -> None:
    cameras = {c.name: c for c in camera_profiles()}
    assert {"zwo-asi", "zwo-seestar", "cmos-gain-setting"} <= set(cameras)
    for model in cameras["zwo-asi"].models:
        assert model.e_per_adu_gain0 and model.source and model.adc_bits in (12, 14, 16)
    assert cameras["zwo-asi"].comment  # where the 0.1 dB rule and the padding come from
    assert not {p.name for p in load_profiles()} & set(cameras)
    seestar = _header(CREATOR="ZWO Seestar S50", TELESCOP="S50_1d3fe189")
    assert match_camera(seestar).name == "zwo-seestar"  # not the generic ZWO profile
