"""Difference imaging on simulated nights: templates, ZOGY noise, candidates, forced photometry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.stats import mad_std
from replay_server import replay_server, trust_replay_server  # noqa: F401
from transient_helpers import HIPS2FITS_PATH, hips2fits_answer, simulated_frames, truth_kinds

from fluxion.core.simulation.simulate import ASTEROID_ID, NightConfig
from fluxion.core.simulation.transients import NOVA_ID
from fluxion.core.transients.difference import (
    difference_search,
    forced_on_differences,
    subtract_frame,
)
from fluxion.core.transients.template import (
    Template,
    TemplateError,
    night_template,
    reference_template,
    survey_template,
    template_on_frame,
)

N = 7
SHAPE = (300, 300)
CONFIG = NightConfig(shape=SHAPE, n_frames=N, outburst_start=0.3, seed=11)


@pytest.fixture(scope="module")
def night():
    return simulated_frames(CONFIG)


@pytest.fixture(scope="module")
def searched(night):
    n, frames, truths = night
    template = night_template(frames, n_best=3)
    found, kept = difference_search(frames, template, keep=True)
    return template, found, kept


def _row(truths, i, source_id):
    t = truths[i]
    return t[t["id"] == source_id][0]


def test_nova_and_outburst_found_in_the_differences(night, searched):
    n, frames, truths = night
    template, found, _ = searched
    assert "sharpest" in template.source
    accepted = found[found["accepted"]]
    kinds = truth_kinds(accepted, truths)
    # Only what changed: the nova, the dwarf nova and the eclipsing binary.
    assert set(kinds) <= {"nova", "outburst", "eclipsing"}, kinds
    assert kinds.count("nova") >= 3 and kinds.count("outburst") >= 3
    # The asteroid moves: never accepted.
    for i in range(N):
        a = _row(truths, i, ASTEROID_ID)
        near = np.hypot(found["x"] - a["x"], found["y"] - a["y"]) < 3
        assert not (found["accepted"] & near & (found["frame"] == i)).any()


def test_difference_noise_is_the_expected_noise(night, searched):
    """Away from bright stars ``D`` has unit noise in frames not in the template."""
    n, frames, truths = night
    template, _, kept = searched
    used = {f.file for f in frames if f.file in template.source}
    ratios = []
    for f in frames:
        if f.file in used:
            continue
        diff = kept[f.index]
        t = truths[f.index]
        bright = t[t["flux"] > 2e4]
        yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
        near = np.zeros(SHAPE, bool)
        for r in bright:
            near |= np.hypot(xx - r["x"], yy - r["y"]) < 4 * f.fwhm
        good = ~diff.bad & ~near
        ratios.append(mad_std(diff.result.difference[good]))
        assert 0.9 < mad_std(diff.result.score[good]) < 1.1
    assert len(ratios) >= 3
    assert all(0.9 < r < 1.1 for r in ratios), ratios


def test_forced_photometry_on_the_differences(night, searched):
    """The nova's flux on the differences is its flux minus the template's, within the errors."""
    n, frames, truths = night
    template, _, kept = searched
    nova = _row(truths, 0, NOVA_ID)
    table = forced_on_differences(frames, kept, float(nova["ra"]), float(nova["dec"]))
    used = [f for f in frames if f.file in template.source]
    # The template is the clipped mean of its frames: the nova's mean flux there.
    in_template = np.mean([_row(truths, f.index, NOVA_ID)["flux"] for f in used])
    pulls = []
    for row in table:
        true = _row(truths, int(row["frame"]), NOVA_ID)["flux"] - in_template
        pulls.append((row["flux"] - true) / row["flux_err"])
    assert np.all(np.abs(pulls) < 4), pulls
    assert table["detected"].sum() >= 3 and np.all(np.isfinite(table["limit_mag"]))


def test_user_reference_image_as_template(night, searched, tmp_path):
    from astropy.io import fits

    n, frames, truths = night
    template, _, _ = searched
    path = tmp_path / "reference.fits"
    fits.PrimaryHDU(template.image, template.wcs.to_header(relax=True)).writeto(path)
    ref = reference_template(path, gain=template.gain)
    assert ref.source == "reference image reference.fits"
    diff = subtract_frame(frames[-1], ref)
    nova = _row(truths, N - 1, NOVA_ID)
    assert diff.result.score[int(round(nova["y"])), int(round(nova["x"]))] > 10
    bad = tmp_path / "nowcs.fits"
    fits.PrimaryHDU(np.zeros((20, 20), np.float32)).writeto(bad)
    with pytest.raises(TemplateError, match="no WCS"):
        reference_template(bad)


def test_survey_cutout_replayed_and_cached(night, trust_replay_server, monkeypatch, tmp_path):  # noqa: F811
    from astroquery.hips2fits import conf

    n, frames, truths = night
    server = trust_replay_server
    monkeypatch.setattr(type(conf), "server", server.https_url + HIPS2FITS_PATH)
    f = frames[-1]
    server.add(HIPS2FITS_PATH, hips2fits_answer(n, f.wcs, SHAPE), content_type="image/fits")
    survey = survey_template(f.wcs, SHAPE, cache_dir=tmp_path)
    q = server.requests[0].query
    assert q["hips"] == ["CDS/P/DSS2/red"] and q["format"] == ["fits"]
    asked = json.loads(q["wcs"][0])
    assert asked["NAXIS1"] == SHAPE[1] and asked["CTYPE1"].startswith("RA---TAN")
    assert survey.image.shape == SHAPE and survey.gain is None
    # The plate predates the nova: it stands out in the difference.
    diff = subtract_frame(f, survey)
    nova = _row(truths, N - 1, NOVA_ID)
    assert diff.result.score[int(round(nova["y"])), int(round(nova["x"]))] > 10
    # Offline afterwards: the cache answers without a request.
    server.add(HIPS2FITS_PATH, "down", status=503, content_type="text/plain")
    again = survey_template(f.wcs, SHAPE, cache_dir=tmp_path)
    assert "cached" in again.source and np.array_equal(again.image, survey.image)
    assert len(server.requests) == 1
    with pytest.raises(TemplateError, match="hips2fits"):
        survey_template(frames[0].wcs, SHAPE, cache_dir=tmp_path)


def test_template_holes_stay_holes(night):
    n, frames, _ = night
    f = frames[0]
    image = np.array(f.image, dtype=np.float32)
    image[100:110, 100:110] = np.nan
    on = template_on_frame(Template(image, f.wcs), f.wcs, SHAPE)
    assert np.isnan(on[103:107, 103:107]).all()
    assert np.isfinite(on[150:200, 150:200]).all()
    assert np.allclose(on[150:200, 150:200], image[150:200, 150:200], rtol=1e-4, atol=1e-2)
