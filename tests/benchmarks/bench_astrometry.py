"""Hinted plate solving beside astrometry.net's solve-field on the same simulated frames.

Both get the same detected sources and the same scale hint (5 % off); the
hinted solve also gets the header pointing (10 arcmin off), solve-field gets it
too (``--ra/--dec/--radius``). solve-field uses index files built here from the
simulator's catalog (``build-astrometry-index``), since the simulated sky is not
the real one. Prints time per frame, solve rate and WCS error against the truth.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_astrometry.py [N_FRAMES] [SIZE]``

``bench_astrometry.py ey-uma [DATA]`` solves the real 256 x 256 EY UMa
thumbnail (undersampled, 9 arcsec/px) against APASS and ATLAS-RefCat2 and
prints the centre's distance from astrometry.net's recorded solution beside
its uncertainty: the fit's covariance and a bootstrap over the matched stars.
DATA is the shared data folder (``../shared/data`` by default).

``bench_astrometry.py seestar [DATA]`` solves the ZWO Seestar frames of M94
offline (Tycho-2 index files) and with solve-field on the same stars and
hint: stars, times and their ratio, the two WCS's difference in arcsec and
where M94's catalog position lands against the nucleus in the image.

``bench_astrometry.py faults [N_SEEDS]`` sweeps the header faults the search
must survive (focal reducer x0.63, binning left out x2, a thumbnail's x1/16,
a unit error x1000, no optics, a pointing 30 arcmin off) over N_SEEDS
simulated frames with random rotations and both parities, against the sky
1 degree around each frame; then noise frames, wrong fields and three-star
fields, which must not be solved. Prints the fraction solved within 0.05 px
and every wrong solution (> 0.5 px from the truth) it would have written.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from fluxion.core.astrometry import (
    FrameToSolve,
    PlateSolver,
    ScaleGuess,
    SolveField,
    SolveHint,
    SolveParams,
    solve_sequence,
)
from fluxion.core.catalogs import Cone
from fluxion.core.detection.extract import Detection
from fluxion.core.simulation.simulate import NightConfig, make_night


def build_index(catalog: Table, folder: Path, presets=(0, 1, 2, 3)) -> Path:
    cat = folder / "catalog.fits"
    Table(
        {"RA": np.asarray(catalog["ra"]), "DEC": np.asarray(catalog["dec"]), "MAG": catalog["V"]}
    ).write(cat, overwrite=True)
    lines = [f"add_path {folder}"]
    for p in presets:
        out = folder / f"index-96{p:02d}.fits"
        subprocess.run(
            ["build-astrometry-index", "-i", str(cat), "-o", str(out), "-P", str(p),
             "-S", "MAG", "-A", "RA", "-D", "DEC", "-E", "-I", f"96{p:03d}"],
            check=True, capture_output=True,
        )  # fmt: skip
        lines.append(f"index {out.stem}")
    cfg = folder / "astrometry.cfg"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def field_error_px(fitted, truth, shape, scale) -> float:
    ny, nx = shape
    gx, gy = np.meshgrid(np.linspace(0, nx - 1, 20), np.linspace(0, ny - 1, 20))
    a = truth.pixel_to_world(gx.ravel(), gy.ravel())
    b = fitted.pixel_to_world(gx.ravel(), gy.ravel())
    return float(np.sqrt(np.mean(a.separation(b).arcsec ** 2)) / scale)


def main(n_frames: int = 10, size: int = 1024) -> None:
    config = NightConfig(
        shape=(size, size), n_frames=n_frames, pointing_error=600.0, rotation=23.0, seed=99
    )
    night = make_night(config)
    scale = config.pixel_scale
    have_sf = shutil.which("solve-field") and shutil.which("build-astrometry-index")
    rows = {"hinted (Fluxion)": [], "solve-field": [], "sequence (previous frame)": []}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_index(night.catalog, Path(tmp)) if have_sf else None
        solver = PlateSolver(SolveParams(mag_limit=20.0, sip_order=3), catalog=night.catalog)
        sf = SolveField(config=cfg, timeout=60) if cfg else None
        frames = []
        for i in range(n_frames):
            data, _, _ = night.light(i)
            sources = Detection()(data.astype(np.float32)).sources
            c = night.pointing(i)
            hint = SolveHint(
                c.ra.deg, c.dec.deg, ScaleGuess(scale * 1.05, 0.06, "user"), search_radius=0.25
            )
            t0 = time.perf_counter()
            r = solver(sources, data.shape, hint)
            rows["hinted (Fluxion)"].append(_row(r, time.perf_counter() - t0, night, i, scale))
            if sf is not None:
                t0 = time.perf_counter()
                r = sf(sources, data.shape, hint)
                rows["solve-field"].append(_row(r, time.perf_counter() - t0, night, i, scale))
            frames.append(FrameToSolve(f"frame {i}", sources, data.shape, hint))
        # The night as a sequence: each frame hinted by the previous frame's solution.
        results = solve_sequence(frames, solver)
        for i, r in enumerate(results):
            rows["sequence (previous frame)"].append(_row(r, r.seconds, night, i, scale))
    print(f"{n_frames} simulated frames {size}x{size}, {scale} arcsec/px, SIP distortion, "
          f"hint 10' off, scale guess 5 % off")  # fmt: skip
    print(f"{'solver':18s} {'solved':>7s} {'s/frame':>8s} {'median':>7s} {'stars':>6s} "
          f"{'WCS err px (rms over field)':>28s}")  # fmt: skip
    for name, rs in rows.items():
        if not rs:
            print(f"{name:18s}  not installed")
            continue
        ok = [r for r in rs if r[0]]
        t = np.array([r[1] for r in rs])
        err = np.array([r[3] for r in ok]) if ok else np.array([np.nan])
        stars = np.median([r[2] for r in ok]) if ok else 0
        print(
            f"{name:18s} {len(ok):3d}/{len(rs):<3d} {t.mean():8.2f} {np.median(t):7.2f} "
            f"{stars:6.0f} {np.median(err):12.3f} (max {err.max():.3f})"
        )
    if rows["solve-field"] and rows["hinted (Fluxion)"]:
        ours = np.median([r[1] for r in rows["hinted (Fluxion)"]])
        theirs = np.median([r[1] for r in rows["solve-field"]])
        print(f"speed: solve-field / hinted = {theirs / ours:.1f}x (median time per frame)")
    if rows["sequence (previous frame)"]:
        seq = np.median([r[1] for r in rows["sequence (previous frame)"]])
        print(f"sequence, each frame hinted by the previous one: {seq:.3f} s per frame")


def _row(result, seconds, night, i, scale):
    if not result.solved:
        return (False, seconds, 0, np.nan)
    err = field_error_px(result.wcs, night.wcs(i), night.config.shape, scale)
    return (True, seconds, result.n_matched, err)


def ey_uma(data: Path, n_boot: int = 200, n_draws: int = 40) -> None:
    """The EY UMa thumbnail's centre against astrometry.net's, with its uncertainty.

    Per axis (RA cos Dec, Dec) on the sky: the offset; the fit's covariance
    with that axis's own chi^2 (the solver pools both axes); a bootstrap over
    the matched stars; and ``n_draws`` noise draws: the frame's fitted stars
    rendered with the noise map's noise (and each catalog star moved by its
    stated error), centroided and fitted again, which is what the reported
    errors claim the centre's scatter to be.
    """
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    from fluxion.core.astrometry.centroids import centroids_for_solving
    from fluxion.core.astrometry.files import hint_for_file
    from fluxion.core.catalogs import LocalCatalog
    from fluxion.core.io.fitsio import read_image

    base = data / "astroquery" / "astrometry_net"
    cats = data / "stellarphot" / "stellarphot" / "tests" / "data"
    image_path = base / "thumbnail-image.fit.gz"
    with warnings.catch_warnings():  # a header-only file (NAXIS = 0); one thread here
        warnings.simplefilter("ignore", FITSFixedWarning)
        recorded = WCS(fits.getheader(base / "wcs-sol-from-thumbnail-image-index-5200.fit"))
    theirs = recorded.pixel_to_world(127.5, 127.5)
    image = read_image(image_path).astype(float)
    hint = hint_for_file(fits.getheader(image_path), ra=135.58333, dec=49.82194, scale=9.0)
    detected = Detection()(image).sources
    draws = _noise_draws(image, detected, n_draws)
    print("EY UMa thumbnail: centre minus astrometry.net's (index 5206, SIP 2), arcsec;")
    print("1-sigma per axis (RA cos Dec, Dec): fit covariance pooled (as solved) and per")
    print(f"axis, bootstrap over stars ({n_boot}), noise draws on the frame's model ({n_draws})")
    print(f"{'catalog':8s} {'centroids':9s} {'stars':>5s} {'rms px':>6s} {'SIP':>3s} "
          f"{'offset (RA, Dec)':>22s} {'cov':>5s} {'cov/axis':>11s} {'boot':>11s} "
          f"{'draws':>11s}")  # fmt: skip
    for label, name, epoch in (
        ("RefCat2", "all_refcat2_ey_uma.ecsv", 2015.5),
        ("APASS", "all_apass_ey_uma.ecsv", 2000.0),
    ):
        for choice in ("detected", "auto"):
            params = SolveParams(sip_order=3, min_matches=6, max_rms=0.6, centroids=choice)
            sources = centroids_for_solving(image, detected, choice, max_sources=params.max_sources)
            catalog = LocalCatalog(cats / name, epoch=epoch)
            r = PlateSolver(params, catalog=catalog)(sources, image.shape, hint)
            if not r.solved:
                print(f"{label:8s} {choice:9s} not solved: {r.reason}")
                continue
            c = r.wcs.pixel_to_world(127.5, 127.5)
            off = _sky_offset(c, theirs)
            m = r.matches[r.matches["used"]]
            order = 1 if r.wcs.sip is None else r.wcs.sip.a_order
            per_axis = _covariance_per_axis(r.wcs, m, image.shape)
            boot = _bootstrap(m, image.shape, order, n_boot)
            mc = (np.nan, np.nan)
            if choice == "auto":
                cat = catalog.query(Cone(hint.ra, hint.dec, 0.5, None, epoch))
                mc = _draw_scatter(m, sources, draws, cat, image.shape, order)
            print(
                f"{label:8s} {choice:9s} {r.n_matched:5d} {r.rms_px:6.3f} {order:3d} "
                f"{c.separation(theirs).arcsec:6.3f} ({off[0]:+6.3f}, {off[1]:+6.3f}) "
                f"{r.centre_sigma:5.3f} {per_axis[0]:5.3f},{per_axis[1]:5.3f} "
                f"{boot[0]:5.3f},{boot[1]:5.3f} {mc[0]:5.3f},{mc[1]:5.3f}"
            )


def _sky_offset(c, ref) -> tuple[float, float]:
    """(RA cos Dec, Dec) of ``c`` minus ``ref`` in arcsec."""
    return (
        float((c.ra.deg - ref.ra.deg) * np.cos(ref.dec.rad) * 3600),
        float((c.dec.deg - ref.dec.deg) * 3600),
    )


def _refit_centre(xy, ra, dec, sigma, shape, order) -> tuple[float, float]:
    from fluxion.core.astrometry import fit_wcs

    w = fit_wcs(xy, ra, dec, image_shape=shape, sip_order=order, sigma=sigma).wcs
    c = w.pixel_to_world(127.5, 127.5)
    return c.ra.deg, c.dec.deg


def _axis_scatter(centres) -> np.ndarray:
    """Standard deviation (arcsec) of (ra, dec) centres along RA cos Dec and Dec.

    One cos Dec for all: RA x cos(each centre's own Dec) would turn a 0.2
    arcsec scatter in Dec into 0.36 arcsec of false scatter in RA at RA 135
    deg, Dec 50 deg (d(RA cos Dec) = -RA sin Dec dDec), as an earlier
    version of this bootstrap did.
    """
    c = np.asarray(centres)
    cos = np.cos(np.radians(np.mean(c[:, 1])))
    return np.std(np.column_stack([c[:, 0] * cos, c[:, 1]]) * 3600.0, axis=0)


def _bootstrap(m, shape, order, n) -> np.ndarray:
    """Scatter per axis of the centre refitted on stars drawn with replacement."""
    xy = np.column_stack([m["x"], m["y"]])
    ra, dec, sig = (np.asarray(m[c], float) for c in ("ra", "dec", "sigma"))
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        k = rng.integers(0, len(xy), len(xy))
        out.append(_refit_centre(xy[k], ra[k], dec[k], sig[k], shape, order))
    return _axis_scatter(out)


def _covariance_per_axis(wcs, m, shape) -> np.ndarray:
    """The centre's covariance error per sky axis, each scaled by its own chi^2.

    Residuals are turned to the sky with the CD matrix; the weights are the
    pairs' errors with the scatter they leave unexplained (as the solver's
    fit adds it) in quadrature.
    """
    from fluxion.core.astrometry.wcsfit import _excess_scatter

    ny, nx = shape
    u = (np.asarray(m["x"], float) - (nx - 1) / 2) / (nx / 2)
    v = (np.asarray(m["y"], float) - (ny - 1) / 2) / (ny / 2)
    sig = np.asarray(m["sigma"], float)
    resid_px = np.column_stack([m["dx"], m["dy"]])
    n_terms = 3 if wcs.sip is None else (wcs.sip.a_order + 1) * (wcs.sip.a_order + 2) // 2
    floor = _excess_scatter(np.hypot(*resid_px.T), sig, 2 * n_terms)
    w = 1.0 / np.hypot(sig, floor)
    cd = wcs.wcs.cd * 3600.0
    sky = resid_px @ cd.T  # (xi, eta) arcsec: xi is RA cos Dec, sign aside
    a = np.column_stack([np.ones_like(u), u, v]) * w[:, None]
    inv00 = float(np.linalg.inv(a.T @ a)[0, 0])
    scale = float(np.sqrt(abs(np.linalg.det(cd))))
    dof = max(len(u) - n_terms, 1)
    chi2 = np.sum((sky * w[:, None]) ** 2, axis=0) / dof / scale**2
    return np.sqrt(inv00 * np.maximum(chi2, 1.0)) * scale


def _noise_draws(image, detected, n):
    """Frames made of the thumbnail's fitted stars and the noise map's noise, centroided."""
    from photutils.psf import PSFPhotometry

    from fluxion.core.astrometry.centroids import centroids_for_solving, prf_centroids
    from fluxion.core.astrometry.noise import noise_map

    ref = centroids_for_solving(image, detected, "prf", max_sources=100)
    fitted = np.isfinite(np.asarray(ref["x_err"], float))
    prf = prf_centroids(image, detected[fitted], fwhm=float(detected.meta["fwhm"]))
    sky = float(np.median(image))
    phot = PSFPhotometry(prf.meta["prf"].model(), fit_shape=(5, 5), aperture_radius=2.5)
    phot(image - sky, init_params=Table({"x": prf["x"], "y": prf["y"]}))
    model = phot.make_model_image(image.shape)
    sigma = noise_map(model, prf.meta["sky_rms"], prf.meta["gain"])
    rng = np.random.default_rng(5)
    out = []
    for _ in range(n):
        frame = sky + model + rng.normal(0.0, sigma)
        out.append(centroids_for_solving(frame, detected, "prf", max_sources=100))
    return ref, out


def _draw_scatter(m, sources, draws, cat, shape, order) -> np.ndarray:
    """Scatter per axis of the centre over the noise draws (catalog errors drawn too)."""
    from scipy.spatial import cKDTree

    ref, frames = draws
    xy = np.column_stack([m["x"], m["y"]])
    d, rows = cKDTree(np.column_stack([ref["x"], ref["y"]])).query(xy)
    keep = d < 1e-6  # the same stars, centroided the same way
    ra, dec, sig = (np.asarray(m[c], float)[keep] for c in ("ra", "dec", "sigma"))
    _, k = cKDTree(np.column_stack([cat["ra"], cat["dec"]])).query(np.column_stack([ra, dec]))
    cos = np.cos(np.radians(dec))
    era = np.nan_to_num(np.asarray(cat["ra_err"], float)[k]) if "ra_err" in cat.colnames else 0
    ede = np.nan_to_num(np.asarray(cat["dec_err"], float)[k]) if "dec_err" in cat.colnames else 0
    rng = np.random.default_rng(9)
    out = []
    for f in frames:
        fxy = np.column_stack([f["x"], f["y"]])[rows[keep]]
        ra_i = ra + rng.normal(0.0, 1.0, len(ra)) * era / 3600 / cos
        dec_i = dec + rng.normal(0.0, 1.0, len(ra)) * ede / 3600
        out.append(_refit_centre(fxy, ra_i, dec_i, sig, shape, order))
    return _axis_scatter(out)


FAULTS = {
    "reducer x0.63": (0.63, 0.10, "focal length and pixel size", 0.0),
    "binning x2": (0.5, 0.10, "focal length and pixel size", 0.0),
    "thumbnail x1/16": (1 / 16, 0.02, "header WCS", 0.0),
    "unit x1000": (1000.0, 0.05, "header plate scale", 0.0),
    "no FOCALLEN/XPIXSZ": (None, 0.0, "", 0.0),
    "pointing 30' off": (1.0, 0.10, "focal length and pixel size", 30.0),
}


def faults(n_seeds: int = 20) -> None:
    """Header faults over many seeds, rotations and parities (see the module)."""
    import astropy.units as u

    from fluxion.core.astrometry import PlateSolver, SolveParams

    counts = {k: [0, 0, 0, 0.0] for k in (*FAULTS, "refusals")}  # good, imprecise, wrong, s
    errors: list[float] = []
    params = SolveParams(mag_limit=20.0, sip_order=3, time_limit=60.0)
    for seed in range(n_seeds):
        rng = np.random.default_rng(1000 + seed)
        config = NightConfig(
            shape=(448, 448), n_frames=1, star_density=3.0, rotation=float(rng.uniform(0, 360)),
            pointing_error=60.0, asteroid=False, seed=1000 + seed,
        )  # fmt: skip
        night = make_night(config)
        sky = night.surrounding_catalog(1.0, seed=seed)
        data, _, _ = night.light(0)
        mirrored = bool(seed % 2)
        if mirrored:
            data = data[:, ::-1]
        sources = Detection()(data.astype(np.float32)).sources
        solver = PlateSolver(params, catalog=sky)
        truth = night.wcs(0)
        if mirrored:
            truth = _mirrored_wcs(truth, data.shape[1])
        c = night.pointing(0)
        for name, (factor, tol, origin, off) in FAULTS.items():
            scale = ScaleGuess(config.pixel_scale * factor, tol, origin) if factor else None
            at = c.directional_offset_by(rng.uniform(0, 360) * u.deg, off * u.arcmin) if off else c
            t0 = time.perf_counter()
            r = solver(sources, data.shape, SolveHint(at.ra.deg, at.dec.deg, scale))
            row = counts[name]
            row[3] += time.perf_counter() - t0
            if not r.solved:
                print(f"  seed {seed} {name}: not solved: {r.reason[:160]}")
                continue
            err = field_error_px(r.wcs, truth, data.shape, config.pixel_scale)
            errors.append(err)
            k = 0 if err <= 0.05 else 1 if err <= 0.5 else 2
            row[k] += 1
            if k:
                print(f"  seed {seed} {name}: solved {err:.3f} px from the truth ({r.n_matched})")
        # What must not solve: noise, a wrong field (stars of the right density,
        # elsewhere), three stars; every third seed (a refusal searches to the
        # time limit).
        if seed % 3:
            continue
        row = counts["refusals"]
        for what, src, cat in _refusal_cases(night, data.shape, sky, rng):
            t0 = time.perf_counter()
            r = PlateSolver(params, catalog=cat)(
                src, data.shape, SolveHint(c.ra.deg, c.dec.deg, ScaleGuess(0.6, 0.1, "header"))
            )
            row[3] += time.perf_counter() - t0
            row[2 if r.solved else 0] += 1
            if r.solved:
                print(f"  seed {seed} {what}: WRONGLY solved")
    print(f"{n_seeds} seeds, 448 x 448 px at 1.2 arcsec/px, SIP, random rotation, "
          "mirrored on odd seeds; sky 1 deg around")  # fmt: skip
    print(f"{'case':20s} {'<=0.05 px':>9s} {'<=0.5 px':>8s} {'wrong':>6s} {'not':>4s} "
          f"{'s/frame':>7s}")  # fmt: skip
    for name, (good, fair, wrong, secs) in counts.items():
        n = 3 * len(range(0, n_seeds, 3)) if name == "refusals" else n_seeds
        missed = n - good - fair - wrong
        label = "refused" if name == "refusals" else "<=0.05 px"
        print(f"{name:20s} {good:5d}/{n:<3d} {fair:8d} {wrong:6d} {missed:4d} {secs / n:7.2f}"
              + (f"  ({label})" if name == "refusals" else ""))  # fmt: skip
    solved = sum(v[0] for k, v in counts.items() if k != "refusals")
    total = n_seeds * len(FAULTS)
    print(f"faults solved within 0.05 px: {solved}/{total} = {100 * solved / total:.1f} %; "
          f"median error {np.median(errors):.4f} px; wrong solutions: "
          f"{sum(v[2] for v in counts.values())}")  # fmt: skip


def _mirrored_wcs(w, nx):
    """The WCS of the frame flipped left-right (x -> nx - 1 - x), exactly (SIP included)."""

    class _Flipped:
        def pixel_to_world(self, x, y):
            return w.pixel_to_world(nx - 1 - np.asarray(x), y)

    return _Flipped()


def _refusal_cases(night, shape, sky, rng):
    from fluxion.core.simulation.field import star_catalog

    noise = rng.normal(1000.0, 10.0, shape).astype(np.float32)
    yield "noise", Detection()(noise).sources, sky
    data, _, _ = night.light(0)
    sources = Detection()(data.astype(np.float32)).sources
    # Elsewhere in the sky: the same statistics around a field 20 deg away.
    from fluxion.core.simulation.field import tan_wcs

    c = night.pointing(0)
    n = int(2 * 1.0 * 3600 / night.config.pixel_scale)
    wide = tan_wcs((n, n), c, night.config.pixel_scale, 0.0)
    cfg = night.config
    other, _, _ = star_catalog(
        wide, (n, n), 0.0, cfg.star_density, cfg.mag_bright, cfg.mag_faint, cfg.lf_slope, rng
    )
    yield "wrong field", sources, other
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    few = rng.normal(1000.0, 10.0, shape)
    for x0, y0 in rng.uniform(40, shape[0] - 40, (3, 2)):
        few += 5000.0 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 1.5**2))
    yield "three stars", Detection()(few.astype(np.float32)).sources, sky


# NGC 4736's nucleus (SIMBAD), in the Seestar frames.
M94 = (192.721088, 41.120458)


def seestar(data: Path) -> None:
    """The Seestar S50 frames of M94 offline: Fluxion and solve-field, same stars, same hint.

    Both get the stars measured on the frames' green pixels and the header's
    hint (pointing 15' off, scale from FOCALLEN and XPIXSZ); both use the
    installed Tycho-2 index files (Fluxion reads their stars as a catalog).
    Prints per frame the stars each matched, the times and their ratio, the
    two WCS's difference (arcsec: at the centre, at M94, RMS over the frame),
    and where M94's catalog position lands against the nucleus seen in the
    image (px).
    """
    from astropy.io import fits

    from fluxion.core.astrometry.cfa_sources import green_sources
    from fluxion.core.astrometry.files import hint_for_file
    from fluxion.core.catalogs import CatalogChain, IndexFileCatalog
    from fluxion.core.io.cfa import cfa_pattern
    from fluxion.core.io.fitsio import read_image

    paths = sorted((data / "seestar-osc").glob("*.fit"))
    params = SolveParams(use_solve_field=False)
    catalog = CatalogChain([IndexFileCatalog()])
    catalog.query(Cone(*M94, 0.1))  # the index files read once, before timing
    solver = PlateSolver(params, catalog=catalog)
    sf = SolveField(timeout=60)
    print(f"{len(paths)} Seestar S50 frames of M94 (1080 x 1920, GRBG), Tycho-2 index files "
          "08-19, header hint; load " + _load())  # fmt: skip
    print(f"{'frame':8s} {'ours':>4s} {'s':>6s} {'sf':>4s} {'s':>6s} {'ratio':>6s} "
          f"{'d centre':>8s} {'d M94':>6s} {'d rms':>6s} {'nucleus px':>10s}")  # fmt: skip
    ratios, diffs = [], []
    for path in paths:
        header = fits.getheader(path)
        image = read_image(path).astype(np.float32)
        pattern = cfa_pattern(header)
        sources = green_sources(
            image, pattern, lambda img, _m: Detection()(img).sources, max_sources=200
        )
        hint = hint_for_file(header)
        t0 = time.perf_counter()
        ours = solver(sources, image.shape, hint)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = sf(sources, image.shape, hint)
        t_sf = time.perf_counter() - t0
        name = path.stem[-6:]
        if not (ours.solved and theirs.solved):
            print(f"{name:8s} ours: {ours.reason or 'solved'}; solve-field: "
                  f"{theirs.reason or 'solved'}")  # fmt: skip
            continue
        d = _wcs_difference(ours.wcs, theirs.wcs, image.shape)
        nucleus = _nucleus_offset(image, pattern, ours.wcs)
        ratios.append(t_sf / t_ours)
        diffs.append(d)
        print(f"{name:8s} {ours.n_matched:4d} {t_ours:6.2f} {theirs.n_matched:4d} "
              f"{t_sf:6.2f} {t_sf / t_ours:5.1f}x {d[0]:8.2f} {d[1]:6.2f} {d[2]:6.2f} "
              f"{nucleus:10.2f}")  # fmt: skip
    if ratios:
        d = np.array(diffs)
        print(f"solved by both: {len(ratios)}/{len(paths)}; solve-field / Fluxion time: median "
              f"{np.median(ratios):.1f}x; WCS difference (arcsec) median at the centre "
              f"{np.median(d[:, 0]):.2f}, at M94 {np.median(d[:, 1]):.2f}, RMS over the frame "
              f"{np.median(d[:, 2]):.2f}")  # fmt: skip


def _load() -> str:
    import os

    return "{:.1f} {:.1f} {:.1f} on {} cores".format(*os.getloadavg(), os.cpu_count())


def _wcs_difference(a, b, shape) -> tuple[float, float, float]:
    """Distance (arcsec) between two WCS's: at the frame's centre, at M94, RMS over the frame."""
    from astropy.coordinates import SkyCoord

    ny, nx = shape
    centre = a.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
    at_centre = centre.separation(b.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)).arcsec
    m94 = SkyCoord(*M94, unit="deg")
    x, y = a.world_to_pixel(m94)
    at_m94 = a.pixel_to_world(x, y).separation(b.pixel_to_world(x, y)).arcsec
    gx, gy = np.meshgrid(np.linspace(0, nx - 1, 12), np.linspace(0, ny - 1, 20))
    sep = a.pixel_to_world(gx.ravel(), gy.ravel()).separation(
        b.pixel_to_world(gx.ravel(), gy.ravel())
    )
    return float(at_centre), float(at_m94), float(np.sqrt(np.mean(sep.arcsec**2)))


def _nucleus_offset(image, pattern, wcs) -> float:
    """Pixels between M94's catalog position through ``wcs`` and the nucleus in the image."""
    from astropy.coordinates import SkyCoord

    from fluxion.core.io.cfa import bin_cfa

    x, y = wcs.world_to_pixel(SkyCoord(*M94, unit="deg"))
    fx, fy = nucleus_xy(bin_cfa(image, pattern), float(x), float(y))
    return float(np.hypot(fx - x, fy - y))


def nucleus_xy(green: np.ndarray, x: float, y: float, box: int = 31) -> tuple[float, float]:
    """The brightest peak in a ``box``-pixel box of the green grid about frame position (x, y).

    ``green`` is the sum of each 2 x 2 block's greens; a quadratic fitted to
    the 5 x 5 pixels about the brightest one places the peak (photutils); the
    result is in the frame's pixels.
    """
    from photutils.centroids import centroid_quadratic, centroid_sources

    gx, gy = centroid_sources(
        green, (x - 0.5) / 2, (y - 0.5) / 2, box_size=box, centroid_func=centroid_quadratic
    )
    return 2 * float(gx[0]) + 0.5, 2 * float(gy[0]) + 0.5


if __name__ == "__main__":
    if sys.argv[1:2] == ["seestar"]:
        root = Path(__file__).resolve().parents[3] / "shared" / "data"
        seestar(Path(sys.argv[2]) if len(sys.argv) > 2 else root)
    elif sys.argv[1:2] == ["faults"]:
        faults(*(int(a) for a in sys.argv[2:3]))
    elif sys.argv[1:2] == ["ey-uma"]:
        root = Path(__file__).resolve().parents[3] / "shared" / "data"
        ey_uma(Path(sys.argv[2]) if len(sys.argv) > 2 else root)
    else:
        args = [int(a) for a in sys.argv[1:3]]
        main(*args)
