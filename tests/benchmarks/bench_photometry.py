"""Accuracy and speed of Fluxion's photometry next to photutils and crowdsource.

Cases (Moffat PSF, beta 3, FWHM 3.5 px; sky 100 e-/px; read noise 5 e-; fluxes
log-uniform 100 to 1e5 e-):

    A  1024 x 1024,   500 stars
    B  1024 x 1024,  5000 stars
    C  2048 x 2048, 20000 stars

and with a PSF that changes across the field (:class:`fluxion.core.simulation.psf.FieldPSF`:
FWHM 2.5 px at the centre to 4.5 px in the corners, ellipticity 1 - b/a 0 to 0.3,
major axis along the radius, both growing as r^2; beta 3):

    FA 1024 x 1024,   500 stars (sparse)
    FB 1024 x 1024,  5000 stars (crowded)

For those, the bias and scatter of each method are also printed per region
of the frame (3 x 3 cells, the centre, edges and corners,
where the PSF differs most) and the Fluxion methods run twice: with the PSF
chosen by held-out residuals (``psf``, ``crowded``), and with one PSF for the
whole frame (``psf-1psf``, ``crowded-1psf``), which shows the position-
dependent bias a single PSF leaves.

For each method it prints the wall time on one core and the CPU time (the
fair comparison on a shared machine), the completeness (true
stars with S/N > 5 found within 1 px), the false detections (no true star
within 1 px), the same two with each true star's match radius 3 times its
position bound (1 px up to FWHM/2: a star at S/N 5 is found more than 1 px
from where it is 7% of the time by a fitter at the bound, which the 1 px
criterion counts as a miss and a false detection, see :func:`match_radius`),
the false detections by kind (a real star found 1-2.5 px from where it is, a
second detection of a star already found, or nothing there: :func:`false_kinds`),
and per flux bin the robust centre and scatter (astropy's
biweight location and scale) of (flux - true) / sigma_CRLB, sigma_CRLB being
the Cramér-Rao bound of an isolated star with the true PSF, with the
scatter's standard error (bootstrap) and the number of stars. ``--repeat N``
pools N frames of different seeds: one frame of case A has ~80 stars per
bin, whose scatter is uncertain by +-0.08, too much to tell 1.03 from 1.10.
The biweight scale is used rather than the MAD because it is twice as
efficient on Gaussian errors (standard error 0.76 / sqrt(n) against 1.17 /
sqrt(n)) while still ignoring the few catastrophic blends.

The crowded bound ("crowded CRLB") is each star's flux sigma with every neighbour
within ~12 px fitted too (their fluxes and positions free, and theirs within
12 px of them) and the sky known: the Fisher matrix of that local scene,
inverted (:func:`fluxion.core.photometry.scene.bound.crowded_flux_bound`, radius 12 px).

The "oracle" row is the best a fitter can do that knows every star's true
position, the true PSF and the true sky: all fluxes at once by weighted
linear least squares (scipy's sparse LSQR), weighted by the true expected
variance. Its scatter is what noise alone allows in the scene; above 1 only
where crowding costs information that the isolated bound ignores. Each
method's "-oracle" row is the centre and scatter of its z minus the
oracle's z for the same stars on the same noise: the error the method adds
(0 for a method as good as the oracle; a total scatter of 1.03 over an
oracle at 1.0 is an added scatter of 0.25), measured to a few hundredths
even where the total scatter's sampling error is +-0.04.

Crowding alone makes the isolated bound unreachable: a star blended with a
neighbour shares its pixels. For a subset of stars (``--bound-stars``) the
bound in the scene (the Fisher matrix of every star's flux and position,
:func:`fluxion.core.photometry.scene.bound.crowded_flux_bound`) is computed
too, and printed per flux bin as: the robust scatter a fitter AT the crowded
bound would show against the isolated one ("crowded CRLB" row), and each
method's robust scatter of (flux - true) / sigma_crowded ("/crowded" rows;
1.0 is the best any unbiased fitter can do).

``--oracles`` takes the crowded fitter apart: its final forced pass is
repeated with one of its inputs replaced by the truth (the sky, the PSF,
the found stars' positions, bright ones' only or all, every true star at
its place, or the stars it missed added there), on the fitted background
(sky and the stars' wings), and each variant's scatter over the oracle is printed per bin.
Case B, seeds 211+212 and 221+222, above 3000 e-: the true sky moves the
fluxes by +0.05 sigma (the fitted sky holds the light of the stars below
the detection limit) and leaves the scatter over the oracle (0.18-0.26)
within 0.01; the true PSF lowers it by up to 0.05 at 3e4 e-; the missed
stars added, to 0.14-0.21; the found stars at their true places, to
0.06-0.14; every star at its place, to 0.04-0.09. The excess over the
crowded bound (which knows every star) is the confusion of the
undetected stars and what they do to the positions of the bright ones.

Run by hand:  .venv/bin/python tests/benchmarks/bench_photometry.py --cases A B
"""

from __future__ import annotations

import os

# One core: set before numpy is imported (BLAS thread pools read these once).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from astropy.stats import biweight_location, biweight_scale  # noqa: E402
from bench_photometry_false import FALSE_KINDS, false_kinds  # noqa: E402
from bench_photometry_oracle import oracle_fit, oracle_variants  # noqa: E402
from bench_photometry_warm import warm_up  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from fluxion.app.memory import use_memory_policy  # noqa: E402
from fluxion.core.photometry import Photometry, PhotometryParams  # noqa: E402
from fluxion.core.photometry.epsf import analytic_psf  # noqa: E402
from fluxion.core.photometry.scene.bound import crowded_flux_bound  # noqa: E402
from fluxion.core.photometry.scene.records import PlacedStars  # noqa: E402
from fluxion.core.photometry.synthetic import StarField, star_field  # noqa: E402
from fluxion.core.simulation.psf import FieldPSF  # noqa: E402

CASES = {
    "A": ((1024, 1024), 500),
    "B": ((1024, 1024), 5000),
    "C": ((2048, 2048), 20000),
    "FA": ((1024, 1024), 500),
    "FB": ((1024, 1024), 5000),
}
BOUND_RADIUS = 12.0
"""px: a star's neighbours within this distance are fitted too in the crowded bound."""
SKY, READ_NOISE, FWHM, BETA = 100.0, 5.0, 3.5, 3.0
BINS = (100, 300, 1e3, 3e3, 1e4, 3e4, 1.0001e5)

Result = tuple[np.ndarray, np.ndarray, np.ndarray]  # x, y, flux (e-), 0-based, x = column


def fluxion_method(method: str, variation: str = "auto") -> Callable[[StarField], Result]:
    def run(field: StarField) -> Result:
        params = PhotometryParams(method=method, fwhm=0.0, psf_variation=variation)
        t = Photometry(params)(field.image, gain=field.gain, read_noise=field.read_noise)
        return np.asarray(t["x"]), np.asarray(t["y"]), np.asarray(t["flux"])

    return run


def _photutils_setup(field: StarField):
    from photutils.detection import DAOStarFinder

    if field.field_psf is not None:
        from fluxion.core.photometry.gridpsf.model import FieldPSFModel
        from fluxion.core.photometry.synthetic import field_shape_of

        # The true PSF across the field (photutils takes any model of flux, x_0, y_0).
        true_field = field_shape_of(field.field_psf).to_field(field.image.shape)
        psf = FieldPSFModel(true_field, radius=6.0)
    else:
        psf = analytic_psf("moffat", FWHM, beta=BETA).image_psf()  # the true PSF
    data = field.image * field.gain - field.sky  # the true sky: only the fit is compared
    error = np.sqrt(np.maximum(field.image * field.gain, 0) + field.read_noise**2)
    sigma = np.sqrt(field.sky + field.read_noise**2)
    finder = DAOStarFinder(threshold=5.0 * sigma, fwhm=FWHM)
    return psf, data, error, finder


def photutils_psf(field: StarField) -> Result:
    from photutils.psf import PSFPhotometry

    psf, data, error, finder = _photutils_setup(field)
    phot = PSFPhotometry(psf, (7, 7), finder=finder, aperture_radius=4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = phot(data, error=error)
    return np.asarray(t["x_fit"]), np.asarray(t["y_fit"]), np.asarray(t["flux_fit"])


def photutils_iterative(field: StarField) -> Result:
    from photutils.psf import IterativePSFPhotometry

    psf, data, error, finder = _photutils_setup(field)
    phot = IterativePSFPhotometry(psf, (7, 7), finder=finder, aperture_radius=4.0, maxiters=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = phot(data, error=error)
    return np.asarray(t["x_fit"]), np.asarray(t["y_fit"]), np.asarray(t["flux_fit"])


def crowdsource_fit(field: StarField) -> Result:
    import crowdsource.crowdsource_base as cs
    import crowdsource.psf as cpsf

    if field.field_psf is not None:
        # crowdsource's PSF is one for the frame: the truth at the centre.
        ny, nx = field.image.shape
        stamp = field.stamp_at(59, (nx - 1) / 2.0, (ny - 1) / 2.0).astype("f4")
    else:
        stamp = analytic_psf("moffat", FWHM, beta=BETA).stamp(59).astype("f4")
    psf = cpsf.SimplePSF(stamp, normalize=-1)  # the true PSF, total-flux normalised
    im = (field.image * field.gain).astype("f4")
    weight = (1.0 / np.sqrt(np.maximum(im, 1.0) + field.read_noise**2)).astype("f4")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stars, _, _, _ = cs.fit_im(im, psf, weight=weight, refit_psf=False, verbose=False)
    # crowdsource's x runs along the first array axis (rows).
    return np.asarray(stars["y"]), np.asarray(stars["x"]), np.asarray(stars["flux"])


METHODS: dict[str, Callable[[StarField], Result]] = {
    "oracle": oracle_fit,
    "fluxion-aperture": fluxion_method("aperture"),
    "fluxion-psf": fluxion_method("psf"),
    "fluxion-psf-1psf": fluxion_method("psf", "constant"),
    "fluxion-crowded": fluxion_method("crowded"),
    "fluxion-crowded-1psf": fluxion_method("crowded", "constant"),
    "photutils-PSFPhotometry": photutils_psf,
    "photutils-Iterative": photutils_iterative,
    "crowdsource": crowdsource_fit,
}


def _available(name: str) -> bool:
    if name != "crowdsource":
        return True
    try:
        import crowdsource.crowdsource_base  # noqa: F401
    except ImportError:
        return False
    return True


def crowded_bounds(field: StarField, n_stars: int) -> np.ndarray:
    """Crowded-field flux bound of every ``len/n_stars``-th true star (NaN for the others)."""
    truth = field.truth
    tx, ty, tf = (np.asarray(truth[c]) for c in ("x", "y", "flux"))
    out = np.full(len(tf), np.nan)
    if n_stars <= 0:
        return out
    which = np.arange(0, len(tf), max(len(tf) // n_stars, 1))
    crowded, _ = crowded_flux_bound(
        PlacedStars(tx, ty, tf),
        which,
        field.profile.stamp,
        field.sky,
        field.read_noise,
        radius=BOUND_RADIUS,
        shape=field.image.shape,
        stamp_at=field.stamp_at if field.field_psf is not None else None,
        unresolved=0.05 * FWHM,  # closer true stars are one source (two at one place: no bound)
    )
    out[which] = crowded
    return out


_ISOLATED: dict[int, np.ndarray] = {}


def isolated_bounds(field: StarField) -> np.ndarray:
    """Every true star's isolated bound, computed once per field (slow for a varying PSF)."""
    key = id(field)
    if key not in _ISOLATED:
        _ISOLATED[key] = field.star_bounds()
    return _ISOLATED[key]


def match(
    field: StarField, x: np.ndarray, y: np.ndarray, flux: np.ndarray, crowded: np.ndarray
) -> dict:
    """Per-star results of one frame: found, z = (flux - true) / CRLB, false detections.

    ``zc`` is (flux - true) over the crowded-field bound (NaN where not computed).
    """
    truth = field.truth
    tx, ty, tf = (np.asarray(truth[c]) for c in ("x", "y", "flux"))
    bound = isolated_bounds(field)
    good = np.isfinite(x) & np.isfinite(y) & np.isfinite(flux)
    x, y, flux = x[good], y[good], flux[good]
    if len(x) == 0:
        return {
            "found": np.zeros(len(tf), bool),
            "z": np.full(len(tf), np.nan),
            "zc": np.full(len(tf), np.nan),
            "ratio": crowded / bound,
            "true_flux": tf,
            "snr5": tf / bound > 5,
            "false": 0,
            "found_pos": np.zeros(len(tf), bool),
            "false_pos": 0,
            "false_kinds": np.zeros(len(FALSE_KINDS), dtype=int),
            "n": 0,
            "region": regions(field),
        }
    d, i = cKDTree(np.c_[x, y]).query(np.c_[tx, ty])
    dt, it = cKDTree(np.c_[tx, ty]).query(np.c_[x, y])
    found_pos, false_pos = position_match(field, x, y)
    return {
        "false_kinds": false_kinds(dt, it, d < 1.0, tf / bound),
        "found": d < 1.0,
        "found_pos": found_pos,
        "false_pos": false_pos,
        "z": (flux[i] - tf) / bound,
        "zc": (flux[i] - tf) / crowded,
        "ratio": crowded / bound,
        "true_flux": tf,
        "snr5": tf / bound > 5,
        "false": int(np.sum(dt > 1.0)),
        "n": len(x),
        "region": regions(field),
    }


def match_radius(field: StarField) -> np.ndarray:
    """Per true star: 3 times its isolated position bound, from 1 px up to half the FWHM.

    A star at S/N 5 has a position error of 0.47 px per axis at the
    Cramér-Rao bound, so a fitter AT the bound finds 7% of such stars more
    than 1 px away, and the 1 px criterion counts each of them as missed and
    as a false detection; at 3 sigma that is 1%. Half the FWHM keeps two
    stars that the fit cannot tell apart from both being matched.
    """
    tf = np.asarray(field.truth["flux"], dtype=np.float64)
    sigma = np.asarray(field.bound(tf).sigma_x, dtype=np.float64)
    return np.clip(3.0 * sigma, 1.0, FWHM / 2.0)


def position_match(field: StarField, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
    """Completeness mask and false detections with :func:`match_radius` for each true star."""
    tx, ty = (np.asarray(field.truth[c], dtype=np.float64) for c in ("x", "y"))
    radius = match_radius(field)
    if not len(x):
        return np.zeros(len(tx), bool), 0
    d, _ = cKDTree(np.c_[x, y]).query(np.c_[tx, ty])
    found = d < radius
    near = cKDTree(np.c_[tx, ty]).query_ball_point(np.c_[x, y], float(radius.max()))
    false = 0
    for k, cand in enumerate(near):
        c = np.asarray(cand, dtype=np.intp)
        if not np.any(np.hypot(tx[c] - x[k], ty[c] - y[k]) < radius[c]):
            false += 1
    return found, false


REGION_NAMES = ("corner", "edge", "centre")


def regions(field: StarField, cells: int = 3) -> np.ndarray:
    """Region of each true star: its cell of a ``cells`` x ``cells`` grid (0..cells^2-1)."""
    ny, nx = field.image.shape
    tx, ty = (np.asarray(field.truth[c]) for c in ("x", "y"))
    i = np.clip((tx + 0.5) * cells // nx, 0, cells - 1).astype(int)
    j = np.clip((ty + 0.5) * cells // ny, 0, cells - 1).astype(int)
    return j * cells + i


def region_table(runs: list[dict], key: str = "z", min_flux: float = 0.0) -> list[tuple]:
    """Per region (3 x 3 cells): stars, robust bias, its standard error and the scatter."""
    found = np.concatenate([r["found"] for r in runs])
    z = np.concatenate([r[key] for r in runs])
    reg = np.concatenate([r["region"] for r in runs])
    tf = np.concatenate([r["true_flux"] for r in runs])
    snr5 = np.concatenate([r["snr5"] for r in runs])
    out = []
    for k in range(9):
        sel = found & snr5 & (reg == k) & np.isfinite(z) & (tf >= min_flux)
        if sel.sum() < 5:
            out.append((k, int(sel.sum()), np.nan, np.nan, np.nan))
            continue
        loc, scale, _ = _robust(z[sel], boot=0)
        out.append((k, int(sel.sum()), loc, scale / np.sqrt(sel.sum()) * 1.25, scale))
    return out


def _print_regions(label: str, rows: list[tuple]) -> None:
    cells = "  ".join(
        f"{loc:+5.2f}+-{se:4.2f} s{sc:4.2f} ({n})" if n >= 5 else f"{'-':>22s}"
        for _, n, loc, se, sc in rows
    )
    print(f"{label:24s} {cells}", flush=True)


def _robust(z: np.ndarray, boot: int = 200) -> tuple[float, float, float]:
    """Biweight location and scale of ``z``, and the scale's bootstrap standard error."""
    z = np.asarray(z, dtype=np.float64)
    if boot <= 0:
        return float(biweight_location(z)), float(biweight_scale(z)), float("nan")
    rng = np.random.default_rng(0)
    resampled = z[rng.integers(0, len(z), (boot, len(z)))]
    se = float(np.std(biweight_scale(resampled, axis=1)))
    return float(biweight_location(z)), float(biweight_scale(z)), se


def at_crowded_bound(runs: list[dict], draws: int = 200) -> list[tuple]:
    """Per-bin robust scatter, against the isolated bound, of a fitter AT the crowded bound.

    Gaussian errors of the crowded bound's size for every star of the subset
    (``draws`` per star: the expectation, not one noisy realisation).
    """
    ratio = np.concatenate([r["ratio"] for r in runs])
    ok = np.isfinite(ratio)
    tf = np.tile(np.concatenate([r["true_flux"] for r in runs])[ok], draws)
    z = (ratio[ok] * np.random.default_rng(0).standard_normal((draws, int(ok.sum())))).ravel()
    bins = []
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        sel = (tf >= lo) & (tf < hi)
        loc, scale = float(biweight_location(z[sel])), float(biweight_scale(z[sel]))
        bins.append((lo, int(sel.sum()) // draws, loc, scale, 0.0))
    return bins


def summarise(runs: list[dict], key: str = "z") -> dict:
    """Completeness, false detections and per-bin median and robust scatter of z.

    ``key="zc"``: the same against the crowded bound, on the subset where it
    was computed; ``key="dz"``: of the difference to the oracle's z.
    """
    found = np.concatenate([r["found"] for r in runs])
    z = np.concatenate([r[key] for r in runs])
    if key != "z":
        found = found & np.isfinite(z)
    tf = np.concatenate([r["true_flux"] for r in runs])
    snr5 = np.concatenate([r["snr5"] for r in runs])
    bins = []
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        sel = found & (tf >= lo) & (tf < hi)
        if sel.sum() < 5:
            bins.append((lo, int(sel.sum()), np.nan, np.nan, np.nan))
            continue
        bins.append((lo, int(sel.sum()), *_robust(z[sel])))
    found_pos = np.concatenate([r["found_pos"] for r in runs])
    return {
        "completeness": float(found[snr5].mean()),
        "false": sum(r["false"] for r in runs),
        "completeness_pos": float(found_pos[snr5].mean()),
        "false_pos": sum(r["false_pos"] for r in runs),
        "false_kinds": sum(r["false_kinds"] for r in runs),
        "n": sum(r["n"] for r in runs),
        "bins": bins,
    }


def main() -> None:
    # The application's memory policy (fluxion.app.cli), for every method of the run alike.
    use_memory_policy()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["A", "B"], choices=sorted(CASES))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="frames per case (different seeds)")
    ap.add_argument(
        "--bound-stars", type=int, default=1000, help="stars per frame with the crowded bound"
    )
    ap.add_argument(
        "--oracles",
        action="store_true",
        help="the crowded fitter's forced pass with the truth in place of each input",
    )
    args = ap.parse_args()
    for case in args.cases:
        shape, n = CASES[case]
        field_psf = FieldPSF(shape) if case.startswith("F") else None
        fields = [
            star_field(
                shape,
                n,
                sky=SKY,
                read_noise=READ_NOISE,
                gain=1.0,
                seed=seed,
                border=0,
                field_psf=field_psf,
            )
            for seed in range(args.seed, args.seed + args.repeat)
        ]
        print(f"\ncase {case}: {shape[1]}x{shape[0]}, {n} stars, {args.repeat} frame(s)")
        if field_psf is not None:
            print(
                "PSF across the field: FWHM 2.5 -> 4.5 px, ellipticity 0 -> 0.3 to the corners; "
                "regions: 3 x 3 cells, row by row from (0, 0); bias +- its error, s = scatter"
            )
        bounds = [crowded_bounds(field, args.bound_stars) for field in fields]
        warm_up([METHODS[m] for m in {"oracle", *args.methods} if _available(m)], n, fields[0])
        head = f"{'method':24s} {'time s':>7s} {'cpu s':>6s} {'compl':>6s} {'false':>6s} "
        head += f"{'found':>6s}  "
        head += "  ".join(f"{f'{lo:g}+':>{_CELL}s}" for lo in BINS[:-1])
        print(head)
        print(f"{'':54s}" + "  ".join(f"{'bias scat+-se (n)':>{_CELL}s}" for _ in BINS[:-1]))
        if args.bound_stars > 0:
            ratios = []
            for field, crowded in zip(fields, bounds, strict=True):
                tf = np.asarray(field.truth["flux"])
                ratios.append({"ratio": crowded / isolated_bounds(field), "true_flux": tf})
            _print_bins("crowded CRLB", at_crowded_bound(ratios))
            print(
                f"{'':24s} (crowded CRLB: each star's flux sigma with every neighbour within "
                f"{BOUND_RADIUS:g} px fitted too and the sky known, over the isolated bound)"
            )
        # The oracle's errors on the same noise: a method's errors minus the
        # oracle's isolate what the method adds, with far less sampling noise
        # than comparing two scatters (the "-oracle" rows).
        # The oracle's own row reuses these fits.
        fitted = {"oracle": [_timed(oracle_fit, f) for f in fields]}
        oracle = [
            match(f, *fit, b)["z"]
            for f, (fit, _), b in zip(fields, fitted["oracle"], bounds, strict=True)
        ]
        timing: dict[str, tuple[float, float]] = {}
        for name in args.methods:
            if not _available(name):
                print(f"{name:24s} not installed (pip install --no-deps crowdsourcephoto)")
                continue
            try:
                fits = fitted.get(name) or [_timed(METHODS[name], f) for f in fields]
                runs = [
                    match(f, *fit, b) for f, (fit, _), b in zip(fields, fits, bounds, strict=True)
                ]
                times = [wall for _, (wall, _) in fits]
                cpu = [c for _, (_, c) in fits]
            except Exception as exc:  # noqa: BLE001 - a benchmark row, not a crash
                print(f"{name:24s} failed: {type(exc).__name__}: {exc}")
                continue
            timing[name] = (float(np.mean(times)), float(np.mean(cpu)))
            s = summarise(runs)
            cells = _cells(s["bins"])
            print(
                f"{name:24s} {np.mean(times):7.1f} {np.mean(cpu):6.1f} {s['completeness']:6.3f} "
                f"{s['false']:6d} {s['n']:6d}  {cells}",
                flush=True,
            )
            print(
                f"{'  matched within 3 sigma':24s} {'':14s} {s['completeness_pos']:6.3f} "
                f"{s['false_pos']:6d}  (match radius: 3 x the position bound, 1 to FWHM/2 px)"
            )
            kinds = ", ".join(
                f"{k} {int(v)}" for k, v in zip(FALSE_KINDS, s["false_kinds"], strict=True)
            )
            print(f"{'  false detections':24s} {'':21s} {kinds}  (within 2.5 px: see false_kinds)")
            if args.bound_stars > 0:
                _print_bins("  /crowded", summarise(runs, "zc")["bins"])
            if name != "oracle":
                for run, z0 in zip(runs, oracle, strict=True):
                    run["dz"] = run["z"] - z0
                _print_bins("  -oracle", summarise(runs, "dz")["bins"])
            if field_psf is not None:
                _print_regions("  regions z", region_table(runs))
                _print_regions("  regions z >=1e3 e-", region_table(runs, min_flux=1e3))
                if args.bound_stars > 0:
                    _print_regions("  regions /crowded", region_table(runs, "zc"))
                    _print_regions(
                        "  regions /crowded >=1e3", region_table(runs, "zc", min_flux=1e3)
                    )
                if name != "oracle":
                    _print_regions("  regions -oracle", region_table(runs, "dz"))
        _print_speed_ratios(timing)
        if args.oracles and field_psf is None:
            print_oracle_variants(fields)


def print_oracle_variants(fields: list[StarField]) -> None:
    """Per bin: each variant's total scatter and its bias and scatter over the oracle."""
    runs = [oracle_variants(f, isolated_bounds(f), FWHM, BETA) for f in fields]
    tf = np.concatenate([np.asarray(f.truth["flux"]) for f in fields])
    print(f"{'oracle variants':28s}" + "  ".join(f"{f'{lo:g}+':>19s}" for lo in BINS[1:-1]))
    print(f"{'':28s}" + "  ".join(f"{'scat  -oracle b/s':>19s}" for _ in BINS[1:-1]))
    for name in runs[0]:
        z = np.concatenate([r[name][0] for r in runs])
        z0 = np.concatenate([r[name][1] for r in runs])
        cells = []
        for lo, hi in zip(BINS[1:-1], BINS[2:], strict=True):
            sel = np.isfinite(z) & (tf >= lo) & (tf < hi)
            dz = z[sel] - z0[sel]
            loc, scale, _ = _robust(dz, boot=0)
            cells.append(f"{_robust(z[sel], boot=0)[1]:5.2f}  {loc:+5.2f} {scale:4.2f}".rjust(19))
        print(f"{name:28s}" + "  ".join(cells), flush=True)


def _print_speed_ratios(timing: dict[str, tuple[float, float]]) -> None:
    """Each Fluxion method's wall and CPU time over crowdsource's in this run."""
    if "crowdsource" not in timing:
        return
    wall0, cpu0 = timing["crowdsource"]
    for name, (wall, cpu) in timing.items():
        if name.startswith("fluxion"):
            print(f"{name} / crowdsource: wall {wall / wall0:.2f}x, CPU {cpu / cpu0:.2f}x")


def _timed(
    method: Callable[[StarField], Result], field: StarField
) -> tuple[Result, tuple[float, float]]:
    """The method's result on ``field``, and the wall-clock and CPU seconds it took.

    The CPU time (this process, one BLAS thread) is the fair comparison on a
    shared machine, where the wall time also counts the other processes' turns.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    result = method(field)
    return result, (time.perf_counter() - t0, time.process_time() - c0)


def _cells(bins: list) -> str:
    return "  ".join(f"{b[2]:+5.2f} {b[3]:4.2f}+-{b[4]:4.2f} ({b[1]})".rjust(_CELL) for b in bins)


_CELL = 24


def _print_bins(label: str, bins: list) -> None:
    print(f"{label:24s} {'':29s}  {_cells(bins)}", flush=True)


if __name__ == "__main__":
    main()
