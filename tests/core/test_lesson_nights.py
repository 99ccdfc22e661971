"""Lesson nights: each kind carries its target, and the difficulty changes what the data say."""

from __future__ import annotations

import json

import numpy as np
import pytest
from photutils.psf import fit_fwhm

from fluxion.app.cli import main
from fluxion.core.simulation.lessons import (
    KINDS,
    lesson_config,
    lesson_truth,
    simulate_lesson,
    target_snr,
)
from fluxion.core.simulation.simulate import NightConfig, make_night

SMALL = {"shape": (256, 256), "n_bias": 1, "n_dark": 1}


def test_the_mixed_normal_night_is_the_demo():
    assert lesson_config() == NightConfig()
    assert lesson_config(seed=11) == NightConfig(seed=11)


def test_bad_kind_or_difficulty_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="asteroid"):
        lesson_config("comet")
    with pytest.raises(ValueError, match="hard"):
        lesson_config("transit", "impossible")


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "mixed"])
def test_each_kind_shows_its_target_in_the_night(kind):
    night = make_night(lesson_config(kind, **SMALL))
    truth = lesson_truth(night, kind, "normal")
    wanted = {"asteroid": "asteroid", "transit": "transit", "variable": "eclipsing"}.get(kind, kind)
    assert truth["target"] == wanted
    target = truth["targets"][0]
    assert target["kind"] == wanted and target["snr_median"] > 20
    jd = night.times.jd
    inside = 0
    for i in range(night.n_frames):
        t = night.truth(i)
        rows = t[t["kind"] == wanted]
        assert len(rows) == 1
        inside += bool(0 <= rows["x"][0] < 256 and 0 <= rows["y"][0] < 256)
    assert inside == night.n_frames
    rel = night.variable_relative_flux(jd)
    if kind == "transit":
        # The whole transit with baseline on both sides.
        half = target["duration_min"] / 2 / 1440
        assert jd[0] < target["mid_jd"] - half - 10 / 1440
        assert jd[-1] > target["mid_jd"] + half + 10 / 1440
        depth = target["depth"]
        assert np.min(rel["transit"]) == pytest.approx(1 - depth, abs=0.3 * depth)
        assert not night.config.asteroid
    if kind == "variable":
        # Both eclipses fall in the night: the period can be read off it.
        primary, secondary = target["min_jd"], target["min_jd"] - target["period_d"] / 2
        assert jd[0] < secondary < primary < jd[-1]
        near = np.argmin(np.abs(jd - primary))
        assert rel["eclipsing"][near] < 1 - 0.5 * target["depth"]
    if kind == "asteroid":
        # More than one rotation in the night.
        assert (jd[-1] - jd[0]) * 24 > target["period_h"]


def test_seeds_give_different_but_comparable_nights():
    a, b = lesson_config("transit", seed=1), lesson_config("transit", seed=2)
    assert a != b and a.transit_phase != b.transit_phase and a.transit_depth != b.transit_depth
    assert lesson_config("transit", seed=1) == a
    for cfg in (a, b):
        assert 0.008 <= cfg.transit_depth <= 0.015 and cfg.interval == 240.0


def _measured_seeing(night) -> float:
    """Median FWHM fitted on the noiseless image's bright isolated stars of light 0."""
    image = night.light_expected_electrons(0)
    image = image - np.median(image)
    t = night.truth(0)
    x, y = np.asarray(t["x"]), np.asarray(t["y"])
    ok = (x > 12) & (x < 244) & (y > 12) & (y < 244) & ~np.asarray(t["saturated"])
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) + np.eye(len(t)) * 1e9
    ok &= d.min(axis=1) > 15
    flux = np.asarray(t["flux"])
    best = np.argsort(np.where(ok, -flux, 0))[: min(8, ok.sum())]
    return float(np.median(fit_fwhm(image, xypos=np.c_[x[best], y[best]], fit_shape=11)))


def test_difficulty_changes_seeing_snr_clouds_dawn_and_flats():
    nights = {d: make_night(lesson_config("transit", d, n_frames=12, **SMALL)) for d in
              ("easy", "normal", "hard")}  # fmt: skip
    seeing = {d: _measured_seeing(n) for d, n in nights.items()}
    assert seeing["easy"] < seeing["normal"] < seeing["hard"]
    # The fitted FWHM follows the simulated seeing (Gaussian fit of a Moffat: within 15 %).
    for d, n in nights.items():
        assert seeing[d] == pytest.approx(n.fwhm[0], rel=0.15)
    snr = {d: np.nanmedian(target_snr(n, "transit")) for d, n in nights.items()}
    assert snr["easy"] > snr["normal"] > 1.5 * snr["hard"]
    hard = nights["hard"]
    # Passing clouds: some lights lose light, others are clear.
    assert np.max(hard.cloud_loss) > 0.1 and np.min(hard.cloud_loss) == 0.0
    assert not np.any(nights["normal"].cloud_loss)
    # A constant star's light changes with the clouds beyond the airmass.
    star = [np.asarray(hard.truth(i)["flux"])[0] for i in range(hard.n_frames)]
    k = hard.config.extinction
    corrected = -2.5 * np.log10(star) - k * hard.airmass
    assert np.ptp(corrected) == pytest.approx(np.ptp(hard.cloud_loss), abs=1e-6)
    # Dawn: the last light's sky is far brighter than the first's; a normal night's is not.
    assert hard.sky_factor(hard.n_frames - 1) > 10 * hard.sky_factor(0)
    assert nights["normal"].sky_factor(11) == 1.0
    assert hard.config.n_flat == 0 and nights["easy"].config.n_flat > 0
    assert hard.config.star_density > nights["normal"].config.star_density


def test_demo_command_writes_a_lesson_night_and_its_truth(tmp_path, capsys):
    out = tmp_path / "night"
    args = ["demo", str(out), "--kind", "variable", "--difficulty", "hard", "--seed", "7",
            "--frames", "3", "--size", "128", "128"]  # fmt: skip
    assert main(args) == 0
    assert "hard variable night" in capsys.readouterr().out
    lesson = json.loads((out / "truth" / "lesson.json").read_text())
    assert (lesson["kind"], lesson["difficulty"], lesson["seed"]) == ("variable", "hard", 7)
    assert lesson["target"] == "eclipsing" and lesson["conditions"]["flats"] == 0
    assert not list(out.glob("flat*.fits")) and len(list(out.glob("light_*.fits"))) == 3
    night = json.loads((out / "truth" / "night.json").read_text())
    assert night["config"]["seed"] == 7
    assert {"cloud_loss", "sky_factor"} <= set(night["frames"][0])


def test_simulate_lesson_writes_truth(tmp_path):
    written = simulate_lesson(tmp_path, "asteroid", "easy", seed=3, n_frames=2, **SMALL)
    lesson = json.loads((tmp_path / "truth" / "lesson.json").read_text())
    assert lesson["target"] == "asteroid" and len(written.lights) == 2
    assert lesson["targets"][0]["period_h"] == lesson_config("asteroid", seed=3).asteroid_period
