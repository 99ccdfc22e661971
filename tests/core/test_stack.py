"""Shift-and-add stacks of a simulated night, scored against its truth."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import mad_std
from astropy.table import Table
from photutils.aperture import CircularAperture, aperture_photometry

from fluxion.core.io.fitsio import read_wcs
from fluxion.core.runtime.pipeline import Cancelled, StepState
from fluxion.core.simulation.simulate import ASTEROID_ID, NightConfig, make_night
from fluxion.core.stacking.photometry import (
    measure_stack,
    stack_photometry_path,
    write_stack_photometry,
)
from fluxion.core.stacking.stack import (
    StackError,
    StackParams,
    read_calibrated_light,
    stack_frames,
    star_offsets_from_wcs,
    target_offsets,
    translation_residual,
)
from fluxion.core.targets.tracking import Click, Track, fit_track, refine_click

N = 12
SHAPE = (300, 300)
REF = N // 2
R_AP = 12.0  # aperture radius (px): 4 FWHM keeps >99.9% of a Moffat(beta=3) star


@pytest.fixture(scope="module")
def night():
    """Calibrated frames (e-), their noiseless expectation, truth tables and WCS."""
    n = make_night(NightConfig(shape=SHAPE, n_frames=N))
    frames, expected, truths = [], [], []
    for i in range(N):
        data, _, truth = n.light(i)
        e = (data - n.bias_level) * n.gain - n.dark_current * n.config.exptime
        frames.append((e / n.flat_field).astype(np.float32))
        expected.append(n.light_expected_electrons(i).astype(np.float32))
        truths.append(truth)
    wcs = [n.wcs(i) for i in range(N)]
    return n, frames, expected, truths, wcs


def _loader(images):
    return lambda i: (images[i], None)


def _truth_xy(truths, source_id):
    rows = [t[t["id"] == source_id][0] for t in truths]
    return np.array([[r["x"], r["y"]] for r in rows])


def _flux(image, x, y, sky, r=R_AP):
    """Aperture flux above the true sky, so that only the stack is on trial."""
    ap = CircularAperture((x, y), r)
    return float(aperture_photometry(image - sky, ap)["aperture_sum"][0])


def _aperture_noise(noise_image, r=R_AP, n_apertures=2000, seed=1):
    """Scatter of aperture sums of a pure-noise image (correlations included)."""
    rng = np.random.default_rng(seed)
    ny, nx = noise_image.shape
    xy = rng.uniform(r + 20, np.array([nx, ny]) - r - 20, size=(n_apertures, 2))
    sums = aperture_photometry(np.nan_to_num(noise_image), CircularAperture(xy, r))
    return float(mad_std(np.asarray(sums["aperture_sum"])))


def _asteroid_offsets(night):
    """Offsets from a track of three sloppy clicks, as a user makes it."""
    n, frames, _, truths, wcs = night
    truth = _truth_xy(truths, ASTEROID_ID)
    track = Track(name="asteroid")
    for i in (0, N // 2, N - 1):
        r = refine_click(frames[i], truth[i, 0] + 1.0, truth[i, 1] - 0.8)
        track = track.with_click(Click(i, n.times[i].jd, r.x, r.y, r.sigma))
    pred = fit_track(track, wcs).predict(n.times.jd, wcs)
    return target_offsets(pred["x"], pred["y"], REF), truth


@pytest.fixture(scope="module")
def stacks(night):
    n, frames, expected, truths, wcs = night
    avg = StackParams(method="average")
    on_target, truth = _asteroid_offsets(night)
    on_stars = star_offsets_from_wcs(wcs, REF)
    skies = [n.sky_electrons(i) for i in range(N)]
    with ThreadPoolExecutor(2) as pool:
        out = {
            "target": stack_frames(_loader(frames), on_target, avg, on="target", executor=pool),
            "target_truth": stack_frames(_loader(expected), on_target, avg, on="target"),
            "target_sky": stack_frames(_loader(skies), on_target, avg).data,
            "stars": stack_frames(_loader(frames), on_stars, avg, executor=pool),
            "stars_truth": stack_frames(_loader(expected), on_stars, avg),
            "stars_sky": stack_frames(_loader(skies), on_stars, avg).data,
        }
    out["skies"] = skies
    out["on_target"], out["on_stars"], out["asteroid_xy"] = on_target, on_stars, truth
    return out


def test_asteroid_on_its_track_gains_sqrt_n_and_keeps_the_mean_flux(night, stacks):
    n, frames, expected, truths, wcs = night
    x, y = stacks["asteroid_xy"][REF]
    flux = _flux(stacks["target"].data, x, y, stacks["target_sky"])
    truth_flux = np.mean([t[t["id"] == ASTEROID_ID][0]["flux"] for t in truths])
    # Noise of the stack and of single frames, measured on (image - truth) in
    # small apertures (many independent ones, so the ratio is good to ~3%).
    target_noise = stacks["target"].data - stacks["target_truth"].data
    single_noise = [f - e for f, e in zip(frames, expected, strict=True)]
    gain = np.median([_aperture_noise(d, r=6.0) for d in single_noise]) / _aperture_noise(
        target_noise, r=6.0
    )
    assert 0.85 * np.sqrt(N) < gain < 1.15 * np.sqrt(N)
    # The stacked flux is the frames' mean truth flux within the stack's noise.
    sigma_stack = _aperture_noise(target_noise)
    sigma_single = np.median([_aperture_noise(d) for d in single_noise])
    assert abs(flux - truth_flux) < 3 * sigma_stack
    # Its S/N in the stack against the single frames' median S/N.
    single = np.median(
        [_flux(frames[i], *stacks["asteroid_xy"][i], stacks["skies"][i]) for i in range(N)]
    )
    assert (flux / sigma_stack) / (single / sigma_single) > 0.85 * np.sqrt(N)


def _isolated_stars(truth, min_flux=3000.0, margin=35, isolation=20.0):
    inside = (truth["x"] > margin) & (truth["x"] < SHAPE[1] - margin)
    inside &= (truth["y"] > margin) & (truth["y"] < SHAPE[0] - margin)
    stars = truth[inside & (truth["kind"] != "asteroid")]
    xy = np.column_stack([truth["x"], truth["y"]])
    keep = []
    for row in stars:
        d = np.hypot(xy[:, 0] - row["x"], xy[:, 1] - row["y"])
        if row["flux"] > min_flux and np.sort(d)[1] > isolation and not row["saturated"]:
            keep.append(row["id"])
    return keep


def test_stars_stacked_on_the_stars_keep_their_flux(night, stacks):
    n, frames, expected, truths, wcs = night
    assert translation_residual(wcs, REF, stacks["on_stars"]) < 0.1
    sigma_sky = _aperture_noise(stacks["stars"].data - stacks["stars_truth"].data)
    ids = _isolated_stars(truths[REF])
    assert len(ids) >= 5
    pulls, conservation = [], []
    for sid in ids:
        x, y = _truth_xy([truths[REF]], sid)[0]
        truth_flux = np.mean([t[t["id"] == sid][0]["flux"] for t in truths])
        # The same aperture on every noiseless frame: the aperture's own loss
        # in the PSF wings (~0.5%) is then the same on both sides.
        single = np.mean(
            [_flux(expected[i], *_truth_xy([truths[i]], sid)[0], stacks["skies"][i])
             for i in range(N)]
        )  # fmt: skip
        noiseless = _flux(stacks["stars_truth"].data, x, y, stacks["stars_sky"])
        conservation.append(noiseless / single - 1)
        flux = _flux(stacks["stars"].data, x, y, stacks["stars_sky"])
        pulls.append((flux - single) / np.hypot(sigma_sky, np.sqrt(truth_flux / N)))
        assert abs(single / truth_flux - 1) < 0.01
    # The cubic-spline shift conserves flux to far below the noise ...
    assert np.max(np.abs(conservation)) < 2e-4
    # ... and the stacked stars are their mean flux within the noise.
    assert np.max(np.abs(pulls)) < 4
    assert np.std(pulls) < 2


def test_stars_on_the_target_stack_are_trailed(night, stacks):
    n, frames, expected, truths, wcs = night
    ids = _isolated_stars(truths[REF])
    ratios = []
    for sid in ids:
        x, y = _truth_xy([truths[REF]], sid)[0]
        ix, iy = int(round(x)), int(round(y))
        box = (slice(iy - 3, iy + 4), slice(ix - 3, ix + 4))
        sky_s = np.nanmedian(stacks["stars"].data)
        sky_t = np.nanmedian(stacks["target"].data)
        ratios.append(
            (np.nanmax(stacks["target"].data[box]) - sky_t)
            / (np.nanmax(stacks["stars"].data[box]) - sky_s)
        )
    # The stars move ~2.8 px per frame against the asteroid: 12 frames smear
    # them over ~30 px, so their peak drops to well under a third.
    assert np.max(ratios) < 0.3
    x, y = stacks["asteroid_xy"][REF]
    ix, iy = int(round(x)), int(round(y))
    box = (slice(iy - 3, iy + 4), slice(ix - 3, ix + 4))
    assert np.nanmax(stacks["target"].data[box]) > 2 * np.nanmax(stacks["stars"].data[box])


def test_masked_pixels_are_left_out(night, stacks):
    n, frames, expected, truths, wcs = night
    images = [f.copy() for f in frames]
    masks = [np.zeros(SHAPE, bool) for _ in range(N)]
    images[3][100:120, 60:90] = 1e6  # a satellite trail or a bad region, flagged
    masks[3][100:120, 60:90] = True
    off = stacks["on_stars"]
    result = stack_frames(lambda i: (images[i], masks[i]), off, StackParams(method="average"))
    # The region lands shifted by -offset on the reference grid.
    dx, dy = off[3]
    y0, x0 = int(np.ceil(100 - dy)) + 2, int(np.ceil(60 - dx)) + 2
    region = (slice(y0, y0 + 15), slice(x0, x0 + 25))
    assert np.all(result.coverage[region] == N - 1)
    assert np.all(result.coverage[150:200, 150:200] == N)
    diff = result.data[region] - stacks["stars"].data[region]
    per_pixel = mad_std(stacks["stars"].data - stacks["stars_truth"].data, ignore_nan=True)
    # One frame fewer in the mean: a difference of the order of the pixel noise.
    assert np.nanmax(np.abs(diff)) < 8 * per_pixel
    # Unmasked, the clipped mean rejects it as it rejects cosmic rays.
    images_clip = stack_frames(_loader(images), off, StackParams(method="clipped"))
    clip_diff = images_clip.data[region] - stacks["stars_truth"].data[region]
    assert np.nanmax(np.abs(clip_diff)) < 8 * per_pixel


def test_stack_on_disk_equals_the_stack_in_memory(night, stacks, tmp_path):
    n, frames, *_ = night
    small = StackParams(method="median", memory_mb=2.0)  # the cube is 4.3 MB
    on_disk = stack_frames(_loader(frames), stacks["on_stars"], small, scratch_dir=tmp_path)
    in_memory = stack_frames(
        _loader(frames), stacks["on_stars"], StackParams(method="median", memory_mb=512.0)
    )
    np.testing.assert_array_equal(on_disk.data, in_memory.data)
    assert list(tmp_path.iterdir()) == []  # the scratch file is gone


def test_written_stack_says_what_was_stacked(night, stacks, tmp_path):
    n, frames, expected, truths, wcs = night
    header = fits.Header()
    header["FILTER"] = "V"
    header.update(wcs[REF].to_header(relax=True))
    files = [f"light_{i + 1:04d}.fits" for i in range(N)]
    result = stack_frames(
        _loader(frames), stacks["on_target"], StackParams(), header=header, files=files,
        on="target", target="asteroid", times=n.times, exptime=[120.0] * N,
    )  # fmt: skip
    path = result.write(tmp_path / "stack.fits")
    with fits.open(path) as hdul:
        h = hdul[0].header
        assert h["NCOMBINE"] == N and h["STACKON"] == "target" and h["STACKMTD"] == "clipped"
        assert h["STACKTGT"] == "asteroid" and h["FILTER"] == "V"
        assert h["IMCMB012"] == "light_0012.fits" and h["TOTEXP"] == 1440.0
        assert abs(h["JD-MID"] - np.mean(n.times.jd)) < 1e-8
        assert hdul["COVERAGE"].data.max() == N
        w = read_wcs(h)
    sky = w.pixel_to_world(150, 150)
    assert sky.separation(wcs[REF].pixel_to_world(150, 150)).arcsec < 1e-6
    image, mask = read_calibrated_light(path)
    assert mask is None and image.shape == SHAPE


def test_cancel_and_bad_input(night, stacks):
    n, frames, *_ = night
    state = StepState()
    calls = []

    def load(i):
        calls.append(i)
        if len(calls) == 3:
            state.cancel()
        return frames[i], None

    with pytest.raises(Cancelled):
        stack_frames(load, stacks["on_stars"], state=state)
    assert len(calls) < N
    bad = stacks["on_stars"].copy()
    bad[2] = np.nan
    with pytest.raises(StackError, match="no alignment offset"):
        stack_frames(_loader(frames), bad)
    with pytest.raises(StackError, match="exceed"):
        stack_frames(_loader(frames), stacks["on_stars"] + [[0, 400]] * N)
    with pytest.raises(StackError, match="shape"):
        stack_frames(lambda i: (frames[i][:100] if i == 0 else frames[i], None), stacks["on_stars"])
    with pytest.raises(StackError, match="unknown stack method"):
        StackParams(method="sum")


def test_photometry_on_the_target_stack_gives_the_mean_truth_flux(night, stacks, tmp_path):
    n, frames, expected, truths, wcs = night
    result = stacks["target"]
    x, y = stacks["asteroid_xy"][REF]
    table = measure_stack(
        result.data, result.coverage, result.header, gain=1.0,  # frames are in e-
        read_noise=n.config.read_noise, target=(x, y),
    )  # fmt: skip
    row = table[table["is_target"]][0]
    truth_flux = np.mean([t[t["id"] == ASTEROID_ID][0]["flux"] for t in truths])
    # The mean frame's flux equals the mean truth flux within the stated error
    # (measured: -2.2 sigma, from the simulator's stars below the detection
    # limit that raise the annulus median by ~0.1 % of the sky)...
    pull = (row["flux_per_frame"] - truth_flux) / row["flux_per_frame_err"]
    assert abs(pull) < 3, (row["flux_per_frame"], truth_flux, row["flux_per_frame_err"])
    # ...and that error is the stack's: its background part (without the
    # target's own Poisson noise and the sky level's error, which a scatter
    # of aperture sums of (stack - truth) does not hold) is close to that
    # measured scatter at the same radius, not sqrt(N) larger.
    r = table.meta["aperture_radius"]
    measured = _aperture_noise(result.data - stacks["target_truth"].data, r=r)
    background_var = row["flux_err"] ** 2 - (row["area"] * row["sky_err"]) ** 2 - row["flux"]
    stated = np.sqrt(background_var) / N / table.meta.get("aperture_correction", 1.0)
    assert 0.85 < stated / measured < 1.15, (stated, measured)
    assert table.meta["effective_gain"] == N and table.meta["n_frames"] == N
    path = write_stack_photometry(table, tmp_path / "stack.fits")
    assert path == stack_photometry_path(tmp_path / "stack.fits")
    assert path.name == "stack.phot.ecsv"
    back = Table.read(path)
    assert back["is_target"].sum() == 1 and back.meta["n_frames"] == N


def test_photometry_on_the_star_stack_has_unit_pulls(night, stacks):
    n, frames, expected, truths, wcs = night
    kw = dict(gain=1.0, read_noise=n.config.read_noise)
    result, noiseless = stacks["stars"], stacks["stars_truth"]
    table = measure_stack(result.data, result.coverage, result.header, **kw)
    # The same measurement of the noiseless stack separates the method's own
    # systematic from the noise that flux_err must describe: a Moffat
    # (beta 3) star keeps ~0.2 % of its light beyond the curve of growth's
    # largest radius (4.75 FWHM) and puts ~0.1 % into the sky annulus, which
    # the brightest star's error (0.13 %) would show as a -4 sigma pull.
    # A zero point absorbs that common fraction.
    clean = measure_stack(noiseless.data, noiseless.coverage, noiseless.header, **kw)
    truth = truths[REF]
    keep = _isolated_stars(truth)
    pulls, systematic = [], []
    for sid in keep:
        t = truth[truth["id"] == sid][0]
        # Stars are fixed on the sky: their mean flux over the night (extinction varies).
        mean = np.mean([tt[tt["id"] == sid][0]["flux"] for tt in truths])
        rows = []
        for tab in (table, clean):
            d = np.hypot(np.asarray(tab["x"]) - t["x"], np.asarray(tab["y"]) - t["y"])
            k = int(np.argmin(d))
            rows.append(tab[k] if d[k] < 1.0 else None)
        if rows[0] is None or rows[1] is None:
            continue
        pulls.append(
            (rows[0]["flux_per_frame"] - rows[1]["flux_per_frame"]) / rows[0]["flux_per_frame_err"]
        )
        systematic.append(rows[1]["flux_per_frame"] / mean - 1)
    pulls, systematic = np.array(pulls), np.array(systematic)
    assert len(pulls) >= 8
    # Measured: pulls -0.9..+1.4; systematic -0.96 %..+0.2 %, median -0.4 %.
    assert np.all(np.abs(pulls) < 4), pulls
    assert 0.5 < np.std(pulls) < 1.6, pulls
    assert np.all(np.abs(systematic) < 0.015), systematic
    assert -0.008 < np.median(systematic) < 0.002, systematic


def test_a_frame_unreadable_when_aligned_is_left_out_not_the_stack(night, stacks):
    n, frames, *_ = night
    files = [f"light_{i:02d}.fits" for i in range(N)]

    def load(i):
        if i == 1:  # registered earlier, truncated since
            raise OSError("File may have been truncated: actual file length (140618) is smaller")
        return frames[i], None

    offsets = stacks["on_stars"]
    result = stack_frames(load, offsets, files=files, reference=0)
    assert len(result.left_out) == 1 and result.left_out[0].startswith("light_01.fits: ")
    assert "truncated" in result.left_out[0]
    assert result.header["NLEFTOUT"] == 1
    # The stack is the one the other frames make, each pixel covered once less.
    others = [k for k in range(N) if k != 1]
    alone = stack_frames(
        lambda i: (frames[others[i]], None), offsets[others], files=[files[k] for k in others],
        reference=0,
    )  # fmt: skip
    np.testing.assert_array_equal(result.coverage, alone.coverage)
    np.testing.assert_allclose(result.data, alone.data, rtol=1e-6, equal_nan=True)
    with pytest.raises(StackError, match="reference frame cannot be read: light_00.fits: gone"):
        stack_frames(
            lambda i: (_ for _ in ()).throw(OSError("gone")), offsets, files=files, reference=0
        )
