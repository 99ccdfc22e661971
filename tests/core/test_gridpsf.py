"""The field-varying PSF: its fit to a frame's stars, the held-out choice, and grid files."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.photometry.epsf import analytic_psf, fit_analytic_psf
from fluxion.core.photometry.gridpsf import PSFField, choose_psf, psf_shape
from fluxion.core.photometry.gridpsf.cells import build_cells, cell_grid
from fluxion.core.photometry.gridpsf.choose import _better
from fluxion.core.photometry.gridpsf.fit import FieldShape, fit_field_shape, star_cutouts
from fluxion.core.photometry.gridpsf.io import PSFFileError, read_psf_grid, write_psf_grid
from fluxion.core.photometry.synthetic import field_shape_of, star_field
from fluxion.core.simulation.psf import FieldPSF

SHAPE = (600, 800)  # not square: x and y must not be swapped anywhere


def _truth_shape(shape=SHAPE) -> FieldShape:
    """The FieldPSF default (FWHM 2.5 -> 4.5, e 0 -> 0.3) as exact degree-2 polynomials."""
    return field_shape_of(FieldPSF(shape))


def test_truth_polynomials_are_the_simulators_field():
    truth = FieldPSF(SHAPE)
    shape = _truth_shape()
    x = np.array([0.0, 799.0, 400.0, 123.0, 650.0])
    y = np.array([0.0, 599.0, 300.0, 480.0, 37.0])
    fwhm, e1, e2 = shape.at(x, y)
    t_fwhm, t_ell, t_theta = truth.at(x, y)
    np.testing.assert_allclose(fwhm, t_fwhm, atol=1e-12)
    np.testing.assert_allclose(np.hypot(e1, e2), t_ell, atol=1e-12)
    far = t_ell > 0.01
    np.testing.assert_allclose(np.cos(np.arctan2(e2, e1)[far] - 2 * t_theta[far]), 1.0, atol=1e-9)


def test_field_psf_matches_the_true_stars_across_the_frame():
    """The analytic field sampled, compressed and interpolated is the true PSF everywhere."""
    truth = FieldPSF(SHAPE)
    field = _truth_shape().to_field(SHAPE)
    assert field.varies and field.n_basis <= 16
    rng = np.random.default_rng(3)
    for x, y in zip(rng.uniform(0, 799, 12), rng.uniform(0, 599, 12), strict=True):
        cx, cy = np.floor(x + 0.5), np.floor(y + 0.5)
        ours = field.stamps(15, np.array([x - cx]), np.array([y - cy]), [x], [y])[0]
        real = truth.stamp(15, x, y)
        # Flux of a bright star fitted with our PSF (Poisson weights): 1e-4 is
        # 0.03 sigma for 1e5 e-, the brightest stars of the benchmarks.
        w = 1.0 / (100.0 + 1e5 * real)
        ratio = np.sum(w * ours * real) / np.sum(w * ours * ours)
        assert abs(ratio - 1) < 2e-4
        assert np.abs(ours - real).max() < 2e-3 * real.max()


@pytest.fixture(scope="module")
def varying_field():
    return star_field(
        SHAPE,
        260,
        seed=5,
        field_psf=FieldPSF(SHAPE),
        min_separation=22,
        border=12,
        flux_range=(3e3, 1e5),
    )


def _positions(f):
    rng = np.random.default_rng(0)
    return np.c_[f.truth["x"], f.truth["y"]] + rng.normal(0, 0.2, (len(f.truth), 2))


def test_polynomial_fit_recovers_the_field(varying_field):
    f = varying_field
    data = f.image * f.gain - f.sky
    stars = star_cutouts(data, _positions(f), 15)
    shape, refined = fit_field_shape(stars, SHAPE, 3.0, degree=2)
    truth = FieldPSF(SHAPE)
    x = np.array([399.5, 0.0, 799.0, 0.0, 799.0])
    y = np.array([299.5, 0.0, 0.0, 599.0, 599.0])
    fwhm, e1, e2 = shape.at(x, y)
    t_fwhm, t_ell, _ = truth.at(x, y)
    np.testing.assert_allclose(fwhm, t_fwhm, atol=0.05)
    np.testing.assert_allclose(np.hypot(e1, e2), t_ell, atol=0.02)
    assert shape.beta == pytest.approx(3.0, abs=0.05)
    # The same field with the terms tied as optics tie them (4 parameters).
    radial, _ = fit_field_shape(stars, SHAPE, 3.0, degree=2, family="radial")
    fwhm, e1, e2 = radial.at(x, y)
    np.testing.assert_allclose(fwhm, t_fwhm, atol=0.03)
    np.testing.assert_allclose(np.hypot(e1, e2), t_ell, atol=0.015)
    assert radial.family == "radial" and radial.beta == pytest.approx(3.0, abs=0.05)
    # Positions refined to a few hundredths of a pixel (they started 0.2 off).
    tx = np.c_[f.truth["x"], f.truth["y"]]
    d = np.hypot(*(refined.positions[:, None, :] - tx[None]).transpose(2, 0, 1)).min(axis=1)
    assert np.median(d) < 0.03


def test_held_out_residuals_choose_a_varying_psf_only_where_it_varies(varying_field):
    f = varying_field
    data = f.image * f.gain - f.sky
    pos = _positions(f)
    const, _ = fit_analytic_psf(data, pos, 3.0)
    choice = choose_psf(data, pos, const)
    # The simulator's field grows as r^2 about the centre: the 4-parameter
    # radial shape, which the 19 free degree-2 terms do not beat.
    assert isinstance(choice.psf, PSFField) and choice.chosen == "radial"
    assert choice.scores["radial"] < 0.5 * choice.scores["constant"]
    assert choice.scores["radial"] <= choice.scores["degree 2"] * 1.01
    flat = star_field(SHAPE, 260, seed=5, min_separation=22, border=12, flux_range=(3e3, 1e5))
    data = flat.image * flat.gain - flat.sky
    const, _ = fit_analytic_psf(data, _positions(flat), 3.0)
    choice = choose_psf(data, _positions(flat), const)
    # One PSF for the frame: the circular fit, or an elliptical one of no ellipticity.
    assert not getattr(choice.psf, "varies", False)
    assert choice.chosen in ("constant", "degree 0")
    data = choice.psf.image_at(0, 0) if isinstance(choice.psf, PSFField) else choice.psf.data
    assert psf_shape(data, 4).ellipticity < 0.01


class _TiltedPSF(FieldPSF):
    """A PSF widening from 2.5 px at the left edge to 4 px at the right (a tilted sensor)."""

    def at(self, x, y):
        x = np.asarray(x, dtype=np.float64)
        fwhm = 2.5 + 1.5 * x / (self.shape[1] - 1)
        zero = np.zeros_like(fwhm + np.asarray(y, dtype=np.float64))
        return fwhm + zero, zero, zero


def test_a_field_that_is_not_radial_gets_a_free_shape():
    f = star_field(
        SHAPE,
        260,
        seed=6,
        field_psf=_TiltedPSF(SHAPE),
        min_separation=22,
        border=12,
        flux_range=(3e3, 1e5),
    )
    data = f.image * f.gain - f.sky
    pos = _positions(f)
    const, _ = fit_analytic_psf(data, pos, 3.0)
    choice = choose_psf(data, pos, const)
    assert isinstance(choice.psf, PSFField) and choice.chosen not in ("radial", "degree 0")
    shape = choice.psf.meta["shape"]
    x = np.array([0.0, 799.0, 400.0, 0.0, 799.0])
    y = np.array([0.0, 0.0, 300.0, 599.0, 599.0])
    np.testing.assert_allclose(shape.at(x, y)[0], f.field_psf.at(x, y)[0], atol=0.06)


def test_cell_grid_follows_the_number_of_stars():
    assert cell_grid(10, (1024, 1024)) == (1, 1)
    assert cell_grid(100, (1024, 1024)) == (2, 2)
    assert cell_grid(230, (1024, 1024)) == (3, 3)
    assert cell_grid(150, (512, 1536)) == (3, 2) or cell_grid(150, (512, 1536))[0] > 1
    assert max(cell_grid(100000, (4096, 4096))) == 5


def test_cells_of_epsfs_follow_the_field(varying_field):
    f = varying_field
    data = f.image * f.gain - f.sky
    grid = build_cells(data, _positions(f), (2, 2))
    assert grid.kind == "cells" and grid.order == 1 and grid.coeffs.shape[1:] == (2, 2)
    truth = FieldPSF(SHAPE)
    for x, y in zip(grid.xs, grid.ys[::-1], strict=True):
        # Each cell's ePSF is as wide as the stars of its cell (their mean FWHM).
        measured = psf_shape(grid.image_at(x, y), grid.oversampling).fwhm
        expected = float(truth.at(x, y)[0])
        assert measured == pytest.approx(expected, rel=0.12)


# -- files -------------------------------------------------------------------------------------


def test_written_grid_reads_back_through_photutils(tmp_path):
    from photutils.psf import GriddedPSFModel

    field = _truth_shape().to_field(SHAPE, size=21)
    path = write_psf_grid(tmp_path / "grid.fits", field, nodes=(4, 3), meta={"filter": "V"})
    model = GriddedPSFModel.read(path)
    assert model.data.shape[0] == 12 and tuple(model.oversampling) == (4, 4)
    assert sorted(set(model.grid_xypos[:, 0])) == pytest.approx([0, 799 / 3, 2 * 799 / 3, 799])
    assert sorted(set(model.grid_xypos[:, 1])) == pytest.approx([0, 299.5, 599])
    # Each node is the PSF where photutils says it is.
    for (x, y), img in zip(model.grid_xypos, model.data, strict=True):
        expected = field.image_at(x, y)
        assert np.abs(img - expected).max() < 1e-6 * expected.max()
    back = read_psf_grid(path)
    assert back.kind == "grid" and back.shape == SHAPE
    assert back.fwhm == pytest.approx(field.fwhm)
    for x, y in [(0, 0), (799, 0), (0, 599), (433.3, 211.7)]:
        ours = back.image_at(x, y)
        yy, xx = np.mgrid[-6:7, -6:7]
        theirs = model.evaluate(xx + 300.0, yy + 200.0, 1.0, 300.0, 200.0)
        mine = back.stamps(13, np.zeros(1), np.zeros(1), [300.0], [200.0])[0]
        np.testing.assert_allclose(mine, theirs, atol=1e-10)
        assert ours.shape == field.basis.shape[1:]
    with fits.open(path) as hdul:
        assert hdul[0].header["FILTER"] == "V"
        assert hdul[0].header["PSFKIND"] == "moffat-field"


def test_constant_psf_writes_a_one_psf_grid(tmp_path):
    from photutils.psf import GriddedPSFModel

    psf = analytic_psf("moffat", 3.0)
    path = write_psf_grid(tmp_path / "one.fits", psf)
    model = GriddedPSFModel.read(path)
    assert model.data.shape[0] == 1
    back = read_psf_grid(path)
    assert not back.varies
    np.testing.assert_allclose(back.basis[0], psf.data)


def test_stpsf_grid_of_even_size_is_centred_on_a_sample(tmp_path):
    """An STPSF file (even-sized ePSFs, DET_YX cards) is read with the star on the middle sample."""
    k, n = 4, 20 * 4
    yy, xx = np.indices((n, n))
    c = (n - 1) / 2  # the star between the two middle samples
    cube = []
    cards = {}
    # STPSF's location order: x slowest; the PSF widens to the right.
    for x in (0.0, 2047.0):
        for _ in (0.0, 2047.0):
            s = 2.0 + x / 2047.0
            img = np.exp(-((xx - c) ** 2 + (yy - c) ** 2) / (2 * (s * k) ** 2))
            cube.append(img / img.sum() * k**2)
    # STPSF writes its cube in photutils' order (y, then x) with "(a, b)" read as (x, y).
    order = [0, 2, 1, 3]
    for i, j in enumerate(order):
        x, y = ((0.0, 0.0), (0.0, 2047.0), (2047.0, 0.0), (2047.0, 2047.0))[j]
        cards[f"DET_YX{i}"] = f"({x}, {y})"
    hdu = fits.PrimaryHDU(np.stack([cube[j] for j in order]))
    hdu.header["OVERSAMP"] = k
    hdu.header["NUM_PSFS"] = 4
    for key, value in cards.items():
        hdu.header[key] = value
    path = tmp_path / "nircam_nrca1_f200w_fovp20_samp4_npsf4.fits"
    hdu.writeto(path)
    grid = read_psf_grid(path)
    assert grid.basis.shape[1] % 2 == 1
    left, right = grid.image_at(0.0, 1000.0), grid.image_at(2047.0, 1000.0)
    m = (grid.basis.shape[1] - 1) // 2
    for img in (left, right):
        # Centred: the middle sample is the peak and the profile symmetric.
        assert np.unravel_index(np.argmax(img), img.shape) == (m, m)
        np.testing.assert_allclose(img, img[::-1, ::-1], rtol=1e-6, atol=1e-9)
    assert psf_shape(right, k).fwhm > 1.3 * psf_shape(left, k).fwhm


@pytest.mark.parametrize("content", [None, b"not a fits file", "image"])
def test_unreadable_grid_names_the_file(tmp_path, content):
    path = tmp_path / "bad.fits"
    if content == "image":
        fits.PrimaryHDU(np.zeros((5, 5))).writeto(path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(PSFFileError, match="bad.fits"):
        read_psf_grid(path)


def test_a_smooth_grid_read_back_holds_the_psf_between_its_nodes(tmp_path):
    """A polynomial field written as a grid and read back gives stars their flux between nodes.

    Bilinear interpolation (photutils' rule) between 7 x 7 nodes of a PSF
    widening from FWHM 2.5 to 4.5 px mixes a narrow and a wide PSF, which is
    not the PSF between them; Fluxion reads its own smooth grids bicubically.
    """
    import dataclasses

    from fluxion.core.photometry.gridpsf.io import read_psf_grid, write_psf_grid
    from fluxion.core.photometry.synthetic import field_shape_of

    shape = (512, 512)
    truth = FieldPSF(shape)
    path = write_psf_grid(tmp_path / "smooth.fits", field_shape_of(truth).to_field(shape))
    grid = read_psf_grid(path)
    assert grid.order == 3
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 511, (25, 2))

    def flux_ratios(field):
        out = []
        for x, y in xy:
            cx, cy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
            t = truth.stamp(31, x, y, cx, cy)
            m = field.stamps(31, np.array([x - cx]), np.array([y - cy]), [x], [y])[0]
            out.append(np.sum(m * t) / np.sum(m * m))  # LSQ flux of a unit star
        return np.asarray(out)

    # 0.3% of a 1e5 e- star is 1 sigma; the worst of 25 places, not the typical.
    assert np.max(np.abs(flux_ratios(grid) - 1)) < 0.003
    assert np.max(np.abs(flux_ratios(dataclasses.replace(grid, order=1)) - 1)) > 0.005


def test_one_contaminated_star_does_not_outvote_the_others():
    # Held-out chi^2/px of 153 PSF stars of a crowded 384^2 frame (FB's
    # density), one PSF against the radial field: 141 fit better (median
    # 2.1 -> 0.8), one star holding a neighbour neither model describes goes
    # from 120 to 270 and alone triples the standard error of the mean.
    rng = np.random.default_rng(3)
    n = 153
    rich = 0.8 * rng.chisquare(50, n) / 50
    simple = rich + np.where(rng.uniform(size=n) < 0.92, rng.exponential(1.3, n), -0.05)
    simple[0], rich[0] = 120.0, 270.0
    d = simple - rich
    assert np.mean(d) < 2.0 * np.std(d, ddof=1) / np.sqrt(n)  # the mean alone says no
    assert _better(simple, rich)
    assert not _better(rich, simple)
    # Noise alone, or most stars a little better but the total worse: no.
    assert not _better(simple, simple + rng.normal(0, 0.05, n))
    worse = simple - 0.01
    worse[:20] += 5.0
    assert not _better(simple, worse)
