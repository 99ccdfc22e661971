"""The PSF method on a frame whose PSF varies across the field: its error, cause by cause.

Cases FA and FB of ``bench_photometry.py`` (1024 x 1024, 500 or 5000 stars
(``--case``), the simulator's :class:`fluxion.core.simulation.psf.FieldPSF`:
FWHM 2.5 px at the centre to 4.5 px in the corners, ellipticity 0 to 0.3).
``--size`` makes the frame smaller at the same density of stars and the same
PSF from centre to corner (384: ~700 stars for FB, a sixth of its cost).
Every row is scored on the same noise against the oracle (true positions,
PSF and sky, all fluxes at once: ``bench_photometry.oracle_fit``): per 3 x 3
region, the robust centre of ``dz = z - z_oracle`` (z = (flux - true) /
isolated bound) of the stars of at least ``--min-flux`` e-, with its standard
error, and under it the robust scatter of dz (the error the row adds to the
noise); ``--repeat`` frames are pooled.

    psf            the PSF method, PSF chosen by held-out residuals
    psf-1psf       one PSF for the frame (the position-dependent bias it leaves)
    psf-truePSF    the method given the true PSF as a grid file (17 x 17 nodes):
                   its fitter, sky and companion search alone
    psf-nocomp     the method without its residual search for companions
    forced-model   forced fits at the true positions with the true sky and
                   the method's PSF: the PSF model's own error
    forced-true    the same with the true PSF (the forced fitter's own error)
    crowded        the crowded-field (scene) method, PSF chosen as the PSF method's
    crowded-1psf   the scene method with one PSF for the frame
    crowded-truePSF  the scene method given the true PSF's grid file

and ``scale``: the flux the method's PSF gives a noise-free star of
``--scale-flux`` e- at each region's centre, minus the truth, in units of its
bound (the shift a PSF error gives every such star of the region alike).

Run by hand:  .venv/bin/python tests/benchmarks/bench_psf_field.py --repeat 4
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from astropy.io.fits.verify import VerifyWarning  # noqa: E402
from astropy.stats import biweight_location, biweight_scale  # noqa: E402
from bench_photometry import READ_NOISE, SKY, oracle_fit, regions  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

import fluxion.core.photometry.psf_step as psf_step  # noqa: E402
from fluxion.core.photometry import Photometry, PhotometryParams  # noqa: E402
from fluxion.core.photometry.gridpsf.io import write_psf_grid  # noqa: E402
from fluxion.core.photometry.noise import NoiseModel  # noqa: E402
from fluxion.core.photometry.psf import fit_psf_photometry  # noqa: E402
from fluxion.core.photometry.synthetic import StarField, field_shape_of, star_field  # noqa: E402
from fluxion.core.simulation.psf import FieldPSF  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_photometry_field_psf import flux_scale  # noqa: E402

SHAPE = (1024, 1024)
N_STARS = {"FA": 500, "FB": 5000}
ROWS = (
    "psf",
    "psf-1psf",
    "psf-truePSF",
    "psf-nocomp",
    "forced-model",
    "forced-true",
    "crowded",
    "crowded-1psf",
    "crowded-truePSF",
)


def _method(
    field: StarField, method: str = "psf", **params
) -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    run = Photometry(PhotometryParams(method=method, fwhm=0.0, **params)).run(
        field.image, gain=field.gain, read_noise=field.read_noise
    )
    t = run.table
    return np.asarray(t["x"]), np.asarray(t["y"]), np.asarray(t["flux"]), run.psf


def _forced(field: StarField, psf) -> np.ndarray:
    tx, ty = (np.asarray(field.truth[c], dtype=np.float64) for c in ("x", "y"))
    fit = fit_psf_photometry(
        field.image * field.gain,
        np.c_[tx, ty],
        psf,
        sky=field.sky,
        noise=NoiseModel(field.gain, field.read_noise),
        group_distance=7.0,
        forced=True,
    )
    return np.asarray(fit.table["flux"])


def frame_rows(
    field: StarField, min_flux: float, scale_flux: float, grid: Path, rows: tuple[str, ...] = ROWS
) -> dict:
    """dz per true star (NaN where not found) for each of ``rows``, and the PSF's flux scale."""
    tx, ty, tf = (np.asarray(field.truth[c], dtype=np.float64) for c in ("x", "y", "flux"))
    bound = field.star_bounds()
    z_oracle = (oracle_fit(field)[2] - tf) / bound
    true_field = field_shape_of(field.field_psf).to_field(field.image.shape, nodes=17)
    with warnings.catch_warnings():  # 289 nodes: DET_YX100.. are HIERARCH cards
        warnings.simplefilter("ignore", VerifyWarning)
        write_psf_grid(grid, true_field, nodes=(17, 17))
    out: dict[str, np.ndarray] = {}
    x, y, f, psf = _method(field)
    out["scale"] = flux_scale(field, psf, scale_flux)
    out["psf_info"] = (
        f"{getattr(psf, 'meta', {}).get('chosen', psf.kind)}, {psf.n_stars} stars, "
        f"beta {psf.moffat_beta:.4f}"
    )
    fits = {"psf": (x, y, f)}
    if "psf-1psf" in rows:
        fits["psf-1psf"] = _method(field, psf_variation="constant")[:3]
    if "psf-truePSF" in rows:
        fits["psf-truePSF"] = _method(field, psf_file=str(grid))[:3]
    if "psf-nocomp" in rows:
        passes = psf_step._COMPANION_PASSES
        psf_step._COMPANION_PASSES = 0  # the search's constant: no residual search at all
        try:
            fits["psf-nocomp"] = _method(field)[:3]
        finally:
            psf_step._COMPANION_PASSES = passes
    if "crowded" in rows:
        fits["crowded"] = _method(field, "crowded")[:3]
    if "crowded-1psf" in rows:
        fits["crowded-1psf"] = _method(field, "crowded", psf_variation="constant")[:3]
    if "crowded-truePSF" in rows:
        fits["crowded-truePSF"] = _method(field, "crowded", psf_file=str(grid))[:3]
    if "forced-model" in rows:
        fits["forced-model"] = (tx, ty, _forced(field, psf))
    if "forced-true" in rows:
        fits["forced-true"] = (tx, ty, _forced(field, true_field))
    keep = tf >= min_flux
    for name, (x, y, f) in fits.items():
        d, i = cKDTree(np.c_[x, y]).query(np.c_[tx, ty])
        dz = (np.asarray(f)[i] - tf) / bound - z_oracle
        out[name] = np.where((d < 1.0) & keep, dz, np.nan)
    out["region"] = regions(field)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="FA", choices=sorted(N_STARS))
    ap.add_argument("--size", type=int, default=SHAPE[0], help="frame side (px), same density")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    ap.add_argument("--repeat", type=int, default=1, help="frames (different seeds) pooled")
    ap.add_argument("--min-flux", type=float, default=1e3, help="stars scored (e-)")
    ap.add_argument("--scale-flux", type=float, default=3e4, help="star of the flux-scale row")
    args = ap.parse_args()
    frames = []
    shape = (args.size, args.size)
    n_stars = round(N_STARS[args.case] * args.size**2 / (SHAPE[0] * SHAPE[1]))
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seed, args.seed + args.repeat):
            field = star_field(
                shape,
                n_stars,
                sky=SKY,
                read_noise=READ_NOISE,
                seed=seed,
                field_psf=FieldPSF(shape),
            )
            frames.append(
                frame_rows(
                    field,
                    args.min_flux,
                    args.scale_flux,
                    Path(tmp) / "true.fits",
                    ("psf", *args.rows),
                )
            )
            print(
                f"frame {seed}: PSF {frames[-1]['psf_info']}; scale "
                + " ".join(f"{v:+.2f}" for v in frames[-1]["scale"]),
                flush=True,
            )
    print(
        f"\n{args.case} ({args.size}^2, {n_stars} stars), {len(frames)} frame(s); per region "
        f"(rows of the frame from y = 0): robust dz = z - z_oracle +- its error, and its "
        f"scatter, stars >= {args.min_flux:g} e-"
    )
    region = np.concatenate([f["region"] for f in frames])
    for name in (r for r in ROWS if r in frames[0]):
        dz = np.concatenate([f[name] for f in frames])
        cells, spread = [], []
        for k in range(9):
            v = dz[(region == k) & np.isfinite(dz)]
            scatter = biweight_scale(v)
            cells.append(f"{biweight_location(v):+.3f}+-{1.25 * scatter / np.sqrt(len(v)):.3f}")
            spread.append(f"{scatter:11.2f}")
        print(f"{name:15s} " + " ".join(cells))
        print(f"{'  scatter':15s} " + " ".join(spread))
    scale = np.array([f["scale"] for f in frames])
    print(
        f"{'scale':15s} "
        + " ".join(f"{m:+.3f}+-{s:.3f}" for m, s in zip(scale.mean(0), scale.std(0), strict=True))
        + f"  (mean and frame-to-frame scatter, {args.scale_flux:g} e- star)"
    )


if __name__ == "__main__":
    main()
