"""The PSF method on a frame whose PSF varies across the field: its error, cause by cause.

Cases FA and FB of ``bench_photometry.py`` (1024 x 1024, 500 or 5000 stars
(``--case``), the simulator's :class:`fluxion.core.simulation.psf.FieldPSF`:
FWHM 2.5 px at the centre to 4.5 px in the corners, ellipticity 0 to 0.3).
``--size`` makes the frame smaller at the same density of stars and the same
PSF from centre to corner (384: ~700 stars for FB, a sixth of its cost).
Every row is scored on the same noise against the oracle (true positions,
PSF and sky, all fluxes at once: ``bench_photometry.oracle_fit``): per 3 x 3
region, the robust centre of ``dz = z - z_oracle`` (z = (flux - true) /
isolated bound) of the stars of at least ``--min-flux`` e-. A row that holds
two or more true stars (each nearest to it within 1 px: a pair the method
cannot resolve) is scored once, on its brightest star, against the oracle's
summed flux of them all (:func:`score_rows`), so an unresolved pair is not
counted as a bias. The ``oracle`` row is the oracle's own ``z``.

With one frame each cell is the robust centre +- its standard error, with
the robust scatter of dz under it (the error the row adds to the noise).
With ``--repeat`` frames (seeds ``--seed``, ``--seed`` + 1, ...) each cell is
the mean over frames of the per-frame centres +- its standard error over the
frames, and under it the frame-to-frame spread of those centres: one frame's
PSF error is shared by all its stars and is a "bias" on that frame that
averages out over frames; a real bias keeps its sign. A second table gives
the same by true flux (all regions, from 300 e-): a PSF shape error's bias
grows with flux, a sky error's falls. ``--cache`` keeps the oracle's fluxes
per seed (its fit is a minute of CPU a FB frame). With ``--bound-stars N``
a third table gives, per region, each row's robust scatter of (flux - true)
over the crowded-field bound (every neighbour within 12 px fitted too:
``bench_photometry.crowded_bounds``) of every ``len/N``-th star of at least
``--min-flux`` e-, pooled over the frames (1.0: as good as any unbiased
fitter can be; the oracle's own row shows what the scoring itself gives).

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

and ``scale``: the flux the PSF method's PSF (the crowded method's when the
``psf`` row is not asked for) gives a noise-free star of
``--scale-flux`` e- at each region's centre, minus the truth, in units of its
bound (the shift a PSF error gives every such star of the region alike).

Run by hand:  .venv/bin/python tests/benchmarks/bench_psf_field.py --repeat 4
(the crowded method on FB with its scatter against the crowded bound:
``--case FB --rows crowded --repeat 8 --bound-stars 1000 --cache DIR``)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from astropy.io.fits.verify import VerifyWarning  # noqa: E402
from astropy.stats import biweight_location, biweight_scale  # noqa: E402
from bench_photometry import (  # noqa: E402
    READ_NOISE,
    SKY,
    crowded_bounds,
    oracle_fit,
    regions,
)
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


FLUX_EDGES = (300.0, 1e3, 3e3, 1e4, 3e4, np.inf)
"""e-: bins of the second table (a PSF error's bias grows with flux, a sky error's falls)."""

CPU: dict[str, float] = {}
"""Process CPU seconds of each row's last run (the PSF method's under ``psf``)."""


def _method(
    field: StarField, method: str = "psf", **params
) -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    c0 = time.process_time()
    run = Photometry(PhotometryParams(method=method, fwhm=0.0, **params)).run(
        field.image, gain=field.gain, read_noise=field.read_noise
    )
    CPU[f"{method}/{params}"] = time.process_time() - c0
    t = run.table
    return np.asarray(t["x"]), np.asarray(t["y"]), np.asarray(t["flux"]), run.psf


def score_rows(
    x: np.ndarray,
    y: np.ndarray,
    f: np.ndarray,
    truth: tuple[np.ndarray, np.ndarray, np.ndarray],
    bound: np.ndarray,
    f_oracle: np.ndarray,
    radius: float = 1.0,
) -> tuple[np.ndarray, int]:
    """dz = (flux - oracle flux) / bound per true star (NaN where no row is within ``radius``).

    ``truth`` is the true (x, y, flux). Each true star takes its nearest
    row. A row taken by two or more true stars stands for all of them (a
    pair closer than the method can resolve, which the oracle fits as two):
    it is scored once, on the brightest, as its flux less the oracle's sum of
    theirs, and the others are NaN. Returns dz and the number of such rows.
    """
    tx, ty, tf = truth
    x, y, f = (np.asarray(v, dtype=np.float64) for v in (x, y, f))
    dz = np.full(len(tf), np.nan)
    if len(x) == 0:
        return dz, 0
    d, i = cKDTree(np.c_[x, y]).query(np.c_[tx, ty])
    found = d < radius
    dz[found] = (f[i[found]] - f_oracle[found]) / bound[found]
    taken = np.bincount(i[found], minlength=len(x))
    shared = np.flatnonzero(taken > 1)
    for r in shared:
        members = np.flatnonzero(found & (i == r))
        brightest = members[np.argmax(tf[members])]
        dz[members] = np.nan
        dz[brightest] = (f[r] - f_oracle[members].sum()) / bound[brightest]
    return dz, len(shared)


def oracle_fluxes(
    field: StarField, cache: Path | None, key: str, bound_stars: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The oracle's fluxes, the isolated and the crowded bounds, kept in ``cache``/``key``.npz.

    The crowded bound is computed for ``bound_stars`` stars (NaN for the
    others; all NaN when 0) and recomputed when the cache holds fewer.
    """
    path = cache / f"{key}.npz" if cache is not None else None
    kept = dict(np.load(path)) if path is not None and path.exists() else {}
    if "f_oracle" not in kept:
        kept["f_oracle"] = np.asarray(oracle_fit(field)[2], dtype=np.float64)
        kept["bound"] = field.star_bounds()
    n_crowded = int(np.isfinite(kept.get("crowded", np.zeros(0))).sum())
    if bound_stars > n_crowded:
        kept["crowded"] = crowded_bounds(field, bound_stars)
    elif "crowded" not in kept:
        kept["crowded"] = np.full(len(kept["f_oracle"]), np.nan)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **kept)
    return kept["f_oracle"], kept["bound"], kept["crowded"]


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
    field: StarField,
    min_flux: float,
    scale_flux: float,
    grid: Path,
    rows: tuple[str, ...] = ROWS,
    oracle: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict:
    """dz per true star (NaN where not found) for each of ``rows``, and the PSF's flux scale.

    ``oracle`` is the oracle's fluxes, the isolated and the crowded bounds
    (computed when None, the crowded one not). ``zc`` holds each row's
    (flux - true) / crowded bound (the oracle's too).
    """
    tx, ty, tf = (np.asarray(field.truth[c], dtype=np.float64) for c in ("x", "y", "flux"))
    f_oracle, bound, crowded = oracle if oracle is not None else oracle_fluxes(field, None, "")
    true_field = field_shape_of(field.field_psf).to_field(field.image.shape, nodes=17)
    with warnings.catch_warnings():  # 289 nodes: DET_YX100.. are HIERARCH cards
        warnings.simplefilter("ignore", VerifyWarning)
        write_psf_grid(grid, true_field, nodes=(17, 17))
    out: dict[str, np.ndarray] = {}
    fits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    # The PSF of the scale row: the PSF method's, the crowded method's without it.
    psf = None
    if "psf" in rows or "forced-model" in rows:
        x, y, f, psf = _method(field)
        fits["psf"] = (x, y, f)
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
        x, y, f, crowded_psf = _method(field, "crowded")
        fits["crowded"] = (x, y, f)
        psf = crowded_psf if psf is None else psf
    if "crowded-1psf" in rows:
        fits["crowded-1psf"] = _method(field, "crowded", psf_variation="constant")[:3]
    if "crowded-truePSF" in rows:
        fits["crowded-truePSF"] = _method(field, "crowded", psf_file=str(grid))[:3]
    if psf is not None:
        out["scale"] = flux_scale(field, psf, scale_flux)
        out["psf_info"] = (
            f"{getattr(psf, 'meta', {}).get('chosen', psf.kind)}, {psf.n_stars} stars, "
            f"beta {psf.moffat_beta:.4f}"
        )
    if "forced-model" in rows:
        fits["forced-model"] = (tx, ty, _forced(field, psf))
    if "forced-true" in rows:
        fits["forced-true"] = (tx, ty, _forced(field, true_field))
    out["oracle"] = (f_oracle - tf) / bound
    out["pairs"] = {}
    out["zc"] = {"oracle": (f_oracle - tf) / crowded}
    for name, (x, y, f) in fits.items():
        out[name], out["pairs"][name] = score_rows(x, y, f, (tx, ty, tf), bound, f_oracle)
        # Against the truth (an unresolved pair against its summed flux).
        out["zc"][name] = score_rows(x, y, f, (tx, ty, tf), crowded, tf)[0]
    out["cpu"] = dict(CPU)
    # The regions count the stars of at least ``min_flux`` (-1: none).
    out["region"] = np.where(tf >= min_flux, regions(field), -1)
    out["flux_bin"] = np.searchsorted(FLUX_EDGES, tf, side="right") - 1
    return out


def _cells(frames: list[dict], name: str, group: str = "region") -> tuple[list[str], list[str]]:
    """Per region (or flux bin): the cell (centre +- its error) and the line under it.

    Under it: the robust scatter of dz (one frame), or the frame-to-frame
    spread of the frames' centres.
    """
    n_groups = 9 if group == "region" else len(FLUX_EDGES) - 1
    centre = np.full((len(frames), n_groups), np.nan)
    pooled = np.concatenate([f[name] for f in frames])
    where = np.concatenate([f[group] for f in frames])
    for j, f in enumerate(frames):
        for k in range(n_groups):
            v = f[name][(f[group] == k) & np.isfinite(f[name])]
            centre[j, k] = biweight_location(v) if len(v) else np.nan
    cells, under = [], []
    for k in range(n_groups):
        v = pooled[(where == k) & np.isfinite(pooled)]
        scatter = biweight_scale(v) if len(v) else np.nan
        if len(frames) == 1:
            cells.append(f"{centre[0, k]:+.3f}+-{1.25 * scatter / np.sqrt(max(len(v), 1)):.3f}")
            under.append(f"{scatter:11.2f}")
        else:
            spread = np.std(centre[:, k], ddof=1)
            cells.append(f"{centre[:, k].mean():+.3f}+-{spread / np.sqrt(len(frames)):.3f}")
            under.append(f"{spread:11.3f}")
    return cells, under


def crowded_scatter(frames: list[dict], name: str) -> list[str]:
    """Per region: the robust scatter of (flux - true) / crowded bound, pooled over ``frames``.

    Each cell is the scatter +- its standard error (biweight scale / sqrt(2 n),
    as for a normal sample) and the number of stars; "-" under 10 stars.
    """
    zc = np.concatenate([f["zc"][name] for f in frames])
    where = np.concatenate([f["region"] for f in frames])
    cells = []
    for k in range(9):
        v = zc[(where == k) & np.isfinite(zc)]
        if len(v) < 10:
            cells.append(f"{'-':>17s}")
            continue
        scale = biweight_scale(v)
        cells.append(f"{scale:.2f}+-{scale / np.sqrt(2 * len(v)):.2f} ({len(v):4d})")
    return cells


def print_table(frames: list[dict]) -> None:
    """The per-region and per-flux tables of every row (see the module's docstring)."""
    under_name = "  scatter" if len(frames) == 1 else "  spread"
    names = [r for r in ("oracle", *ROWS) if r in frames[0]]
    for group in ("region", "flux_bin"):
        if group == "flux_bin":
            print(
                "by true flux (all regions), from " + ", ".join(f"{e:g}" for e in FLUX_EDGES[:-1])
            )
        for name in names:
            cells, under = _cells(frames, name, group)
            print(f"{name:15s} " + " ".join(cells))
            print(f"{under_name:15s} " + " ".join(under))
    if np.isfinite(np.concatenate([f["zc"]["oracle"] for f in frames])).any():
        print("per region: robust scatter of (flux - true) / crowded bound, frames pooled")
        for name in names:
            print(f"{name:15s} " + " ".join(crowded_scatter(frames, name)))
    if len(frames) > 1:
        print("per frame (region centres, then the flux bins'):")
        for name in names[1:]:
            for f in frames:
                cells = [
                    c.split("+-")[0]
                    for g in ("region", "flux_bin")
                    for c in _cells([f], name, g)[0]
                ]
                print(f"{name + ' ' + str(f['seed']):15s} " + " ".join(c.rjust(7) for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="FA", choices=sorted(N_STARS))
    ap.add_argument("--size", type=int, default=SHAPE[0], help="frame side (px), same density")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    ap.add_argument("--repeat", type=int, default=1, help="frames (different seeds) pooled")
    ap.add_argument("--min-flux", type=float, default=1e3, help="stars scored (e-)")
    ap.add_argument("--scale-flux", type=float, default=3e4, help="star of the flux-scale row")
    ap.add_argument("--cache", type=Path, default=None, help="folder of the oracle's fluxes")
    ap.add_argument(
        "--bound-stars", type=int, default=0, help="stars given the crowded bound (0: none)"
    )
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
            key = f"{args.case}_{args.size}_{seed}"
            frames.append(
                frame_rows(
                    field,
                    args.min_flux,
                    args.scale_flux,
                    Path(tmp) / "true.fits",
                    tuple(args.rows),
                    oracle_fluxes(field, args.cache, key, args.bound_stars),
                )
            )
            frames[-1]["seed"] = seed
            print(
                f"frame {seed}: PSF {frames[-1].get('psf_info', '-')}; scale "
                + " ".join(f"{v:+.2f}" for v in frames[-1].get("scale", []))
                + "; CPU s "
                + " ".join(f"{k} {v:.0f}" for k, v in frames[-1]["cpu"].items())
                + "; rows holding 2+ true stars "
                + " ".join(f"{k} {v}" for k, v in frames[-1]["pairs"].items()),
                flush=True,
            )
    what = (
        "robust dz = z - z_oracle +- its error, and its scatter"
        if len(frames) == 1
        else "mean over frames of the robust dz = z - z_oracle +- its error, and its spread"
    )
    print(
        f"\n{args.case} ({args.size}^2, {n_stars} stars), {len(frames)} frame(s); per region "
        f"(rows of the frame from y = 0): {what}, stars >= {args.min_flux:g} e-"
    )
    print_table(frames)
    if "scale" not in frames[0]:
        return
    scale = np.array([f["scale"] for f in frames])
    print(
        f"{'scale':15s} "
        + " ".join(f"{m:+.3f}+-{s:.3f}" for m, s in zip(scale.mean(0), scale.std(0), strict=True))
        + f"  (mean and frame-to-frame scatter, {args.scale_flux:g} e- star)"
    )


if __name__ == "__main__":
    main()
