"""Aperture photometry and the curve-of-growth radius against simulated truth."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.stats import SigmaClip, mad_std
from photometry_helpers import add_stars
from photutils.aperture import (
    ApertureStats,
    CircularAnnulus,
    CircularAperture,
    aperture_photometry,
)
from scipy.spatial import cKDTree

from fluxion.core.photometry import (
    NoiseModel,
    Photometry,
    PhotometryError,
    PhotometryFlag,
    PhotometryParams,
)
from fluxion.core.photometry.annulus import FramePixels, annulus_sky
from fluxion.core.photometry.aperture import (
    _aperture_areas,
    clipped_std_factor,
    measure_apertures,
    measure_apertures_and_sums,
    poisson_median_offset,
)
from fluxion.core.photometry.growth import curve_of_growth, optimum_radius, ring_ratio
from fluxion.core.photometry.sums import circle_sums_radii
from fluxion.core.photometry.synthetic import MoffatProfile, star_field

GAIN, RN = 2.0, 5.0


def _enclosed(profile: MoffatProfile, r: np.ndarray) -> np.ndarray:
    a2 = profile.alpha**2
    return 1.0 - (1.0 + np.asarray(r) ** 2 / a2) ** (1.0 - profile.beta)


@pytest.fixture(scope="module")
def isolated_field():
    return star_field(
        (512, 512),
        220,
        seed=3,
        gain=GAIN,
        read_noise=RN,
        min_separation=32,
        border=30,
        flux_range=(1000.0, 3e4),
    )


def _pixelised_expectation(f, pos, radius, annulus):
    """Flux a perfect measurement gives: the pixel-integrated star summed over the
    exact aperture overlap, minus the star's own wing light in the sky annulus."""
    out = []
    for x, y in pos:
        fx, fy = x - np.floor(x), y - np.floor(y)
        stamp = f.profile.stamp(41, fx, fy)
        c = (20 + fx, 20 + fy)
        ap = aperture_photometry(stamp, CircularAperture(c, radius))["aperture_sum"][0]
        an = CircularAnnulus(c, *annulus)
        wing = aperture_photometry(stamp, an)["aperture_sum"][0] / an.area
        out.append(ap - wing * np.pi * radius**2)
    return np.array(out)


def test_fixed_aperture_flux_is_unbiased_with_honest_errors():
    f = star_field(
        (512, 512),
        700,
        seed=3,
        gain=GAIN,
        read_noise=RN,
        min_separation=22,
        border=20,
        flux_range=(1000.0, 3e4),
    )
    noise = NoiseModel(GAIN, RN)
    pos = np.c_[f.truth["x"], f.truth["y"]]
    radius, annulus = 5.0, (10.0, 16.0)
    t = measure_apertures(noise.to_electrons(f.image), pos, radius, annulus, noise=noise)
    expected = f.truth["flux"] * _pixelised_expectation(f, pos, radius, annulus)
    ok = t["flags"] == 0
    assert ok.sum() > 200
    z = ((t["flux"] - expected) / t["flux_err"])[ok]
    assert abs(np.median(z)) < 0.1
    assert 0.9 < mad_std(z) < 1.1
    # The sky is the simulated 100 e-/px to within its error.
    assert abs(np.median(t["sky"]) - f.sky) < 0.5


def test_curve_of_growth_follows_the_moffat_profile(isolated_field):
    f = isolated_field
    noise = NoiseModel(GAIN, RN)
    radii = np.linspace(1.0, 14.0, 20)
    cog = curve_of_growth(
        noise.to_electrons(f.image),
        np.c_[f.truth["x"], f.truth["y"]],
        radii,
        (16.0, 24.0),
        noise=noise,
    )
    truth = _enclosed(f.profile, radii) / np.mean(_enclosed(f.profile, radii[-3:]))
    assert cog.n_field_stars > 25
    np.testing.assert_allclose(cog.field_fraction, truth, atol=0.02)
    expected = radii[np.flatnonzero(truth >= 0.7)[0]]
    assert abs(cog.optimum_radius - expected) <= np.diff(radii)[0] + 1e-9
    assert cog.target_fraction is None
    assert "70%" in cog.rule


def test_the_curve_takes_its_largest_radius_from_the_apertures_sums(isolated_field):
    """The sums measure_apertures hands over are circle sums of the frame at the
    frame's positions (the curve of growth's last column, not summed again), and
    a curve built on them holds the stars' aperture fluxes at every radius."""
    f = isolated_field
    noise = NoiseModel(GAIN, RN)
    img = noise.to_electrons(f.image)
    pos = np.c_[f.truth["x"], f.truth["y"]]
    radii = np.linspace(1.0, 14.0, 20)
    table, sums = measure_apertures_and_sums(img, pos, radii[-1], (16.0, 24.0), noise=noise)
    assert sums is not None
    np.testing.assert_array_equal(sums, circle_sums_radii(img, pos, radii[-1:])[:, 0])
    np.testing.assert_array_equal(
        table["flux"], measure_apertures(img, pos, radii[-1], (16.0, 24.0), noise=noise)["flux"]
    )
    # A single star is measured on a cut-out of the frame: no sums of the frame then.
    assert measure_apertures_and_sums(img, pos[:1], 5.0, (16.0, 24.0), noise=noise)[1] is None
    cog = curve_of_growth(img, pos, radii, (16.0, 24.0), noise=noise)
    # Each field star's curve is its own circle sums less its sky, at every
    # radius alike (no edge or mask here: its area is pi r^2), the largest too.
    sky = np.asarray(table["sky"])
    direct = circle_sums_radii(img, pos, radii) - sky[:, None] * (np.pi * radii**2)
    assert cog.star_flux is not None and len(cog.star_flux) > 25
    for row in cog.star_flux:
        assert np.any(np.all(direct == row, axis=1))


def test_trailed_target_needs_a_larger_aperture():
    # A target trailed over 8 px: its curve of growth rises more slowly, so the
    # rule (both curves > 70% and within 5%) must pick a larger radius.
    f = star_field((256, 256), 60, seed=5, min_separation=30, border=20, flux_range=(5e3, 5e4))
    img = NoiseModel().to_electrons(f.image)
    profile = f.profile
    tx, ty = 128.3, 60.2
    trail = [int(round(tx - 4 + k)) for k in range(9)]
    add_stars(img, profile, trail, np.full(9, int(ty)), np.full(9, 4e3))
    field = np.c_[f.truth["x"], f.truth["y"]]
    field = field[np.hypot(field[:, 0] - tx, field[:, 1] - ty) > 30]
    radii = np.linspace(1.0, 14.0, 20)
    alone = curve_of_growth(img, field, radii, (16.0, 24.0))
    with_target = curve_of_growth(img, field, radii, (16.0, 24.0), target_position=(tx, ty))
    assert with_target.target_fraction is not None
    assert with_target.optimum_radius > alone.optimum_radius + 1.0
    i = np.searchsorted(radii, with_target.optimum_radius)
    assert with_target.target_fraction[i] >= 0.7
    assert abs(with_target.target_fraction[i] - with_target.field_fraction[i]) < 0.05


def test_optimum_radius_rule_on_given_curves():
    radii = np.arange(1.0, 11.0)
    field = np.array([0.2, 0.5, 0.72, 0.85, 0.93, 0.97, 0.99, 1.0, 1.0, 1.0])
    target = np.array([0.1, 0.3, 0.55, 0.74, 0.86, 0.94, 0.98, 1.0, 1.0, 1.0])
    assert optimum_radius(radii, field) == 3.0
    assert optimum_radius(radii, field, target) == 6.0  # 0.94 vs 0.97 within 5%


def test_step_gives_total_fluxes_in_electrons(isolated_field):
    f = isolated_field
    step = Photometry(PhotometryParams(method="aperture"))
    res = step.run(f.image, np.c_[f.truth["x"], f.truth["y"]], gain=GAIN, read_noise=RN)
    t = res.table
    assert t.colnames[:5] == ["x", "y", "flux", "flux_err", "flags"]
    assert res.unit == "electron" and res.curve_of_growth is not None
    ok = t["flags"] == 0
    # Aperture-corrected to the curve's plateau at 4.75 FWHM: the total flux to
    # within the light beyond the plateau (< 1.5% for a beta = 3 Moffat) and the
    # ~1/3 e- low median of a Poisson sky.
    ratio = np.median(t["flux"][ok] / f.truth["flux"][ok])
    assert 0.975 < ratio < 1.01
    assert res.fwhm == pytest.approx(f.profile.fwhm, rel=0.2)
    fixed = Photometry(PhotometryParams(aperture_radius_fwhm=2.0, aperture_correction=False))
    t2 = fixed.run(f.image, np.c_[f.truth["x"], f.truth["y"]], gain=GAIN, read_noise=RN)
    assert t2.aperture_radius == pytest.approx(2.0 * t2.fwhm)


def test_flags_for_edge_mask_saturation_and_neighbours():
    f = star_field((256, 256), 0, seed=1)
    img = f.image.copy()
    profile = MoffatProfile()
    stars = {
        "edge": (1.0, 100.0, 2e4),
        "masked": (60.0, 60.0, 2e4),
        "bright": (200.0, 200.0, 4e6),
        "pair_a": (120.0, 180.0, 1e4),
        "pair_b": (124.0, 180.0, 1e4),
        "clean": (180.0, 60.0, 1e4),
    }
    add_stars(img, profile, *np.array(list(stars.values())).T, size=41)
    saturation = 65000.0
    img = np.minimum(img, saturation)
    mask = np.zeros(img.shape, dtype=bool)
    # Three bad columns: a masked pixel's mirror through the star's centre is
    # masked too, so the pixels stay out of the sum and the star is flagged.
    mask[:, 59:62] = True
    pos = np.array([(x, y) for x, y, _ in stars.values()])
    t = (
        Photometry(PhotometryParams(aperture_radius=5.0))
        .run(img, pos, mask=mask, gain=1.0, read_noise=5.0, saturation=saturation)
        .table
    )
    flags = dict(zip(stars, t["flags"], strict=True))
    assert flags["edge"] & PhotometryFlag.NEAR_EDGE
    assert flags["masked"] & PhotometryFlag.MASKED
    assert flags["bright"] & PhotometryFlag.SATURATED
    assert flags["pair_a"] & PhotometryFlag.CONTAMINATED
    assert flags["pair_b"] & PhotometryFlag.CONTAMINATED
    assert flags["clean"] == 0


@pytest.mark.parametrize("shape", [(200, 300), (200, 304)])
def test_aperture_areas_are_the_exact_overlaps_of_the_good_pixels(shape):
    # 200 x 304 has whole 8x8 blocks (their fast path), 200 x 300 does not.
    rng = np.random.default_rng(5)
    bad = rng.random(shape) < 2e-3  # ~120 scattered bad pixels
    bad[:, 150] = True  # and a bad column
    pixels = FramePixels.of(np.zeros(shape), bad)
    # Each 8x8 block says whether it holds a bad pixel, edge blocks included.
    blocks = pixels.bad_blocks
    assert blocks.shape == (-(-shape[0] // 8), -(-shape[1] // 8))
    for (i, j), value in np.ndenumerate(blocks):
        assert value == bad[8 * i : 8 * i + 8, 8 * j : 8 * j + 8].any()
    # Anywhere, edges and off the frame included, and a missing position.
    pos = np.c_[rng.uniform(-8, shape[1] + 8, 3000), rng.uniform(-8, 208, 3000)]
    pos[0] = np.nan
    for radius in (1.3, 4.0, 7.55, 15.5):
        exact = circle_sums_radii(pixels.valid, pos, np.array([radius]))[:, 0]
        got = _aperture_areas(pixels, pos, radius)
        assert np.isnan(got[0]) and np.array_equal(np.isnan(got), np.isnan(exact))
        ok = ~np.isnan(exact)
        # pi r^2 where no bad pixel or edge cuts: equal to far below a pixel's area.
        assert np.allclose(got[ok], exact[ok], rtol=0, atol=1e-9)
        # Both kinds were met: whole circles and circles a bad pixel cuts.
        cut = exact[ok] < np.pi * radius**2 - 1e-6
        assert cut.any() and (~cut).any()


def test_empty_frame_and_bad_input():
    f = star_field((128, 128), 0, seed=2)
    t = Photometry().run(f.image, gain=1.0, read_noise=5.0).table
    assert len(t) == 0 and t.colnames[:5] == ["x", "y", "flux", "flux_err", "flags"]
    with pytest.raises(PhotometryError, match="masked or not finite"):
        Photometry()(np.full((64, 64), np.nan))
    with pytest.raises(PhotometryError, match="2-D"):
        Photometry()(np.zeros((3, 64, 64)))
    with pytest.raises(PhotometryError, match="gain"):
        Photometry()(f.image, gain=-1.0)
    with pytest.raises(PhotometryError, match="unknown method"):
        Photometry(PhotometryParams(method="magic"))


def _night_like_field(seed: int):
    # A 20 cm telescope's night: bright sky, a few hundred stars of all
    # fluxes, neighbours included (no minimum separation).
    return star_field(
        (512, 512),
        150,
        seed=seed,
        sky=1100.0,
        read_noise=7.0,
        gain=1.0,
        profile=MoffatProfile(3.2, 3.0),
        flux_range=(300.0, 2e5),
        border=5,
    )


def test_aperture_corrected_fluxes_are_total_fluxes_with_the_correction_error():
    ratios, pulls, corrections, corr_errs = [], [], [], []
    for seed in range(8):
        f = _night_like_field(seed)
        res = Photometry(PhotometryParams(method="aperture")).run(f.image, gain=1.0, read_noise=7.0)
        t = res.table
        tx, ty, tf = (np.asarray(f.truth[c]) for c in ("x", "y", "flux"))
        tree = cKDTree(np.c_[tx, ty])
        d, j = tree.query(np.c_[t["x"], t["y"]])
        # Isolated: nothing brighter than 0.3% of the star within 30 px.
        isolated = np.array(
            [all(tf[k] < 3e-3 * tf[i] for k in tree.query_ball_point((tx[i], ty[i]), 30) if k != i)
             for i in j]
        )  # fmt: skip
        ok = (d < 0.5) & (t["flags"] == 0) & isolated & (t["flux"] / t["flux_err"] > 30)
        ratios.append(np.asarray(t["flux"][ok] / tf[j[ok]]))
        pulls.append(np.asarray((t["flux"][ok] - tf[j[ok]]) / t["flux_err"][ok]))
        corrections.append(t.meta["aperture_correction"])
        corr_errs.append(t.meta["aperture_correction_err"])
    ratio, pull = np.concatenate(ratios), np.concatenate(pulls)
    assert ratio.size > 80
    # Total fluxes to 0.5% (the light beyond the plateau radius, 0.1% for
    # beta = 3, is the only known loss).
    assert abs(np.median(ratio) - 1.0) < 0.005
    assert abs(np.median(pull)) < 0.35
    assert 0.8 < mad_std(pull) < 1.2
    # The correction's error says how much it scatters from frame to frame.
    assert 0.5 < np.std(corrections) / np.mean(corr_errs) < 1.6
    assert all(0 < e < 0.01 for e in corr_errs)


def test_median_sky_is_corrected_for_the_poisson_skew():
    rng = np.random.default_rng(4)
    for level in (100.0, 1100.0):
        x = rng.poisson(level, (1000, 2000)) + rng.normal(0.0, 7.0, (1000, 2000))
        shift = float(np.mean(x) - np.mean(np.median(x, axis=1)))
        assert poisson_median_offset(np.array(level), 7.0) == pytest.approx(shift, abs=0.03)


def test_ring_ratio_weights_by_noise_and_clips_outliers():
    rng = np.random.default_rng(5)
    flux = 10 ** rng.uniform(3, 5, 60)
    var_ring = 900.0**2 + 0.27 * flux
    ring = 0.27 * flux + rng.normal(0.0, np.sqrt(var_ring))
    ring[:3] += 2e4  # undetected neighbours in the ring
    k, err = ring_ratio(flux, ring, flux, var_ring)
    assert abs(k - 0.27) < 3 * err
    assert 0 < err < 0.005


def test_fast_annulus_sky_equals_photutils_sigma_clipped_stats():
    f = _night_like_field(9)
    rng = np.random.default_rng(9)
    pos = np.c_[rng.uniform(-8, 520, 200), rng.uniform(-8, 520, 200)]
    bad = np.zeros(f.image.shape, dtype=bool)
    bad[:, 300] = True
    ref = ApertureStats(
        f.image, CircularAnnulus(pos, 12.0, 20.0), mask=bad, sigma_clip=SigmaClip(3.0, maxiters=5)
    )
    fast = annulus_sky(f.image, bad, pos, 12.0, 20.0)
    np.testing.assert_allclose(fast.median, ref.median, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.std, ref.std, rtol=1e-9)


def test_the_clipped_scatter_factor_is_the_truncated_gaussians_and_clipped_noise_s():
    """The closed form is scipy's truncated Gaussian std, and what clipping noise gives."""
    from scipy.stats import truncnorm

    def by_truncnorm(sigma: float, maxiters: int) -> float:
        s = 1.0
        for _ in range(maxiters):
            s = float(truncnorm(-sigma * s, sigma * s).std())
        return s

    # Both are the same formula, evaluated differently: equal to rounding.
    for sigma in (2.0, 2.5, 3.0, 3.5, 4.0):
        for maxiters in (1, 3, 5):
            assert clipped_std_factor(sigma, maxiters) == pytest.approx(
                by_truncnorm(sigma, maxiters), rel=1e-14
            )
    # Gaussian noise clipped at 3 sigma: its scatter drops by the factor, within
    # the sample's own error (std of a std ~ 1/sqrt(2 n)).
    n = 400_000
    noise = np.random.default_rng(5).normal(0.0, 1.0, n)
    kept = SigmaClip(sigma=3.0, maxiters=5, cenfunc="mean", stdfunc="std")(noise)
    assert np.std(kept.compressed()) == pytest.approx(
        clipped_std_factor(3.0, 5), abs=4 / np.sqrt(2 * n)
    )
    assert 0.98 < clipped_std_factor(3.0, 5) < 0.99
