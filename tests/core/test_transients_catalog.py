"""Catalogue-based transient detection on simulated nights, scored against the truth."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from replay_server import replay_server, trust_replay_server  # noqa: F401
from transient_helpers import SKYBOT_PATH, night_asteroid_answer, simulated_frames

from fluxion.core.simulation.psf import add_sources
from fluxion.core.simulation.simulate import ASTEROID_ID, NightConfig
from fluxion.core.simulation.transients import NOVA_ID
from fluxion.core.targets.ephemerides import EphemerisError, known_objects_in_field
from fluxion.core.transients.blends import merge_blends
from fluxion.core.transients.catalog_mode import CatalogModeParams, catalogue_candidates
from fluxion.core.transients.search import catalogue_search

N = 6
CONFIG = NightConfig(shape=(400, 400), n_frames=N, outburst_start=0.3, seed=11)


@pytest.fixture(scope="module")
def night():
    return simulated_frames(CONFIG)


def _truth_row(truths, i, source_id):
    t = truths[i]
    return t[t["id"] == source_id][0]


def _near(cands, row, radius=2.0):
    d = np.hypot(np.asarray(cands["x"]) - row["x"], np.asarray(cands["y"]) - row["y"])
    return d < radius


def test_nova_and_outburst_found_and_nothing_else(night):
    n, frames, truths = night
    cat = n.catalog
    found = catalogue_search(frames, cat["ra"], cat["dec"], cat["V"])
    accepted = found[found["accepted"]]
    nova_frames, burst_frames, other = set(), set(), []
    for row in accepted:
        i = int(row["frame"])
        nova = _truth_row(truths, i, NOVA_ID)
        burst = _truth_row(truths, i, n.outburst_id)
        if np.hypot(row["x"] - nova["x"], row["y"] - nova["y"]) < 2:
            nova_frames.add(i)
        elif np.hypot(row["x"] - burst["x"], row["y"] - burst["y"]) < 2:
            burst_frames.add(i)
        else:
            other.append(row)
    # The nova (16.6 to 14.5 mag over the night, not catalogued) in every frame.
    assert nova_frames == set(range(N))
    # The outbursting star in every frame where it is 1 mag or more above its catalogue V.
    up = {
        i for i in range(N)
        if -2.5 * np.log10(n.outburst_factor(n.times[i].jd)) <= -1.2
    }  # fmt: skip
    assert up and burst_frames == up
    assert other == [], f"false candidates: {Table(rows=other)}"
    # Its brightening is measured: the candidate's mag_diff against the truth.
    for row in accepted:
        if int(row["frame"]) in burst_frames and row["catalog_mag"] == row["catalog_mag"]:
            true = -2.5 * np.log10(n.outburst_factor(row["jd_utc"]))
            assert row["mag_diff"] == pytest.approx(-true, abs=0.15)
    # The moving asteroid is never accepted: alone in each frame.
    ast = [found[_near(found, _truth_row(truths, i, ASTEROID_ID)) & (found["frame"] == i)]
           for i in range(N)]  # fmt: skip
    hits = [t for t in ast if len(t)]
    assert len(hits) >= N - 1
    assert all(not t["accepted"].any() for t in hits)
    assert all(
        t["reason"][0] == "in one frame only" or t["reason"][0].startswith("moving") for t in hits
    )
    assert np.all(np.isfinite(accepted["bjd_tdb"]))


def test_asteroid_recognised_through_replayed_skybot(night, trust_replay_server, monkeypatch):  # noqa: F811
    from astroquery.imcce import conf

    n, frames, truths = night
    server = trust_replay_server
    monkeypatch.setattr(type(conf), "skybot_server", server.https_url + SKYBOT_PATH)
    centre = n.wcs(N // 2).pixel_to_world(199.5, 199.5)
    epoch = float(np.median([f.jd_utc for f in frames]))
    server.add(SKYBOT_PATH, night_asteroid_answer(n, epoch, centre),
               content_type="application/x-votable+xml")  # fmt: skip
    known = known_objects_in_field(centre, 0.2 * u.deg, Time(epoch, format="jd"))
    assert list(known["name"]) == ["Luxembourg", "2019 RB21"]
    cat = n.catalog
    found = catalogue_search(frames, cat["ra"], cat["dec"], cat["V"], known=known)
    for i in range(N):
        row = _truth_row(truths, i, ASTEROID_ID)
        hit = found[_near(found, row) & (found["frame"] == i)]
        if len(hit):
            assert hit["reason"][0] == "known Solar System object 2713 Luxembourg"
    assert sum(len(found[_near(found, _truth_row(truths, i, ASTEROID_ID))
                         & (found["frame"] == i)]) for i in range(N)) >= N - 1  # fmt: skip
    # The nova is still there.
    assert found["accepted"].sum() >= N


def test_skybot_answer_cached_for_offline_use(trust_replay_server, monkeypatch, tmp_path):  # noqa: F811
    from astroquery.imcce import conf

    from fluxion.core.simulation.simulate import make_night

    n = make_night(NightConfig(shape=(64, 64), n_frames=2))
    server = trust_replay_server
    monkeypatch.setattr(type(conf), "skybot_server", server.https_url + SKYBOT_PATH)
    centre = SkyCoord(310 * u.deg, 40 * u.deg)
    epoch = float(n.times[0].jd)
    server.add(SKYBOT_PATH, night_asteroid_answer(n, epoch, centre),
               content_type="application/x-votable+xml")  # fmt: skip
    first = known_objects_in_field(
        centre, 0.2 * u.deg, Time(epoch, format="jd"), cache_dir=tmp_path
    )
    assert first.meta["source"] == "SkyBoT"
    server.add(SKYBOT_PATH, "down", status=503, content_type="text/plain")
    again = known_objects_in_field(
        centre, 0.2 * u.deg, Time(epoch, format="jd"), cache_dir=tmp_path
    )
    assert again.meta["source"] == "cache"
    assert list(again["name"]) == list(first["name"])
    assert np.allclose(again["ra_rate"], first["ra_rate"])
    with pytest.raises(EphemerisError, match="SkyBoT"):
        known_objects_in_field(centre, 0.3 * u.deg, Time(epoch, format="jd"), cache_dir=tmp_path)


def test_artefacts_rejected_by_shape(night):
    """A cosmic ray, a hot pixel pair and a galaxy are odd shapes; an added star is not."""
    from fluxion.core.detection.extract import Detection
    from fluxion.core.simulation.transients import render_galaxy

    n, frames, _ = night
    f = frames[0]
    image = np.array(f.image, dtype=np.float64)
    fwhm = f.fwhm
    image[100, 300] += 4000.0  # a cosmic ray hit: one pixel
    image[300, 100:102] += 2500.0  # a two-pixel hit
    gx, gy = next(
        (x, y) for x, y in ((250, 330), (330, 250), (200, 200), (120, 200), (300, 170))
        if not f.mask[y - 40 : y + 40, x - 40 : x + 40].any()
    )  # fmt: skip
    region, stamp = render_galaxy(image.shape, gx, gy, 60000.0, 6.0, 0.5, 0.7, fwhm)
    image[region] += stamp
    add_sources(image, [330.0], [60.0], [8000.0], [fwhm])  # a new point source
    det = Detection()(image.astype(np.float32), mask=f.mask, gain=1.0)
    cat = n.catalog
    c = catalogue_candidates(det.sources, f.wcs, cat["ra"], cat["dec"], cat["V"], fwhm=det.fwhm)
    for x, y in ((300, 100), (100.5, 300), (gx, gy)):
        hit = c[np.hypot(c["x"] - x, c["y"] - y) < 3]
        assert len(hit) >= 1 and hit["reason"][0] == "shape unlike the stars'", (x, y)
    star = c[np.hypot(c["x"] - 330, c["y"] - 60) < 2]
    assert len(star) == 1 and star["accepted"][0]


def test_blends_merged_before_comparison(night):
    """Two catalogued stars 1 FWHM apart are one detection: not brighter than the blend."""
    from fluxion.core.detection.extract import Detection

    n, frames, _ = night
    f = frames[0]
    fwhm = f.fwhm
    zp = 22.0 + 2.5 * np.log10(CONFIG.exptime)  # e- of a frame at airmass 0
    image = np.array(f.image, dtype=np.float64)
    x0, y0 = 60.0, 330.0
    flux = 20000.0
    add_sources(image, [x0, x0 + fwhm], [y0, y0], [flux, flux], [fwhm, fwhm])
    det = Detection()(image.astype(np.float32), mask=f.mask, gain=1.0)
    ra, dec = f.wcs.all_pix2world([x0, x0 + fwhm], [y0, y0], 0)
    cat = n.catalog
    mag = zp - 2.5 * np.log10(flux)
    all_ra = np.concatenate([cat["ra"], ra])
    all_dec = np.concatenate([cat["dec"], dec])
    all_mag = np.concatenate([cat["V"], [mag, mag]])
    p = CatalogModeParams(min_mag_diff=0.5)
    merged = catalogue_candidates(det.sources, f.wcs, all_ra, all_dec, all_mag, fwhm=det.fwhm,
                                  params=p)  # fmt: skip
    assert not (np.hypot(merged["x"] - x0 - fwhm / 2, merged["y"] - y0) < 3).any()
    # Without merging, the blend (0.75 mag brighter than either star) would be a candidate.
    p = CatalogModeParams(min_mag_diff=0.5, blend_radius=0.1)
    alone = catalogue_candidates(
        det.sources, f.wcs, all_ra, all_dec, all_mag, fwhm=det.fwhm, params=p
    )
    assert (np.hypot(alone["x"] - x0 - fwhm / 2, alone["y"] - y0) < 3).any()


def test_merge_blends_sums_flux_and_chains():
    x = np.array([0.0, 5.0, 10.0, 50.0])
    y = np.zeros(4)
    mag = np.array([10.0, 10.0, np.nan, 12.0])
    m = merge_blends(x, y, mag, 6.0)
    assert len(m) == 2
    k = int(np.argmax(m.n_members))
    assert m.n_members[k] == 3
    assert m.mag[k] == pytest.approx(10.0 - 2.5 * np.log10(2.0))
    assert m.x[k] == pytest.approx(2.5)  # the magnitude-less star moves nothing
    assert m.brightest[k] in (0, 1)
