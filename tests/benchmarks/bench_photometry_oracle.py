"""The oracle of bench_photometry: every flux fitted knowing the true positions, PSF and sky.

``oracle_fit`` is the best a fitter can do on a frame's noise (all fluxes at
once by weighted linear least squares); ``oracle_variants`` repeats the
crowded fitter's final forced pass with one of its inputs replaced by the
truth (``--oracles``), to tell which input costs it accuracy.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csc_matrix, diags
from scipy.sparse.linalg import lsqr
from scipy.spatial import cKDTree

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.synthetic import StarField

Result = tuple[np.ndarray, np.ndarray, np.ndarray]  # x, y, flux (e-), 0-based, x = column

_PHASES = 16  # star_field places stars on a 1/16 px grid
_FULL = 61  # star_field's painted stamp size
BRIGHT = 3e3
"""e-: the stars of the variant that moves only the bright found stars to their true places."""


def oracle_fit(field: StarField) -> Result:
    """Every flux at once with the true positions, PSF, sky and noise (weighted LSQR).

    Each star's column is its pixel-integrated stamp, 15 to 41 px by
    flux to keep case C's matrix to ~1e7 entries; the true light beyond
    that stamp (the simulation paints 61 px) is subtracted from the data
    first, so the truncation biases nothing.
    """
    truth = field.truth
    tx, ty, tf = (np.asarray(truth[c], dtype=np.float64) for c in ("x", "y", "flux"))
    ny, nx = field.image.shape
    xi, yi = np.floor(tx).astype(int), np.floor(ty).astype(int)
    mx = np.round((tx - xi) * _PHASES).astype(int) % _PHASES
    my = np.round((ty - yi) * _PHASES).astype(int) % _PHASES
    stamps: dict[tuple[int, int], np.ndarray] = {}
    sizes = np.where(tf < 1e3, 15, np.where(tf < 1e4, 25, 41))
    full = np.zeros((ny, nx))  # the true expected star light, 61 px stamps
    rows, cols, vals = [], [], []
    for k in range(len(tf)):
        if field.field_psf is not None:
            big = field.stamp_at(_FULL, tx[k], ty[k], xi[k], yi[k])
        else:
            key = (int(my[k]), int(mx[k]))
            if key not in stamps:
                stamps[key] = field.profile.stamp(_FULL, key[1] / _PHASES, key[0] / _PHASES)
            big = stamps[key]
        for size, target in ((_FULL, None), (int(sizes[k]), k)):
            h = size // 2
            c = _FULL // 2
            st = big[c - h : c + h + 1, c - h : c + h + 1]
            r0, c0 = yi[k] - h, xi[k] - h
            ra, rb, ca, cb = max(r0, 0), min(r0 + size, ny), max(c0, 0), min(c0 + size, nx)
            if ra >= rb or ca >= cb:
                continue
            part = st[ra - r0 : rb - r0, ca - c0 : cb - c0]
            if target is None:
                full[ra:rb, ca:cb] += tf[k] * part
            else:
                rr, cc = np.mgrid[ra:rb, ca:cb]
                rows.append((rr * nx + cc).ravel().astype(np.int64))
                cols.append(np.full(part.size, k, dtype=np.int64))
                vals.append(part.ravel())
    a = csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(ny * nx, len(tf)),
    )
    wing = full.ravel() - a @ tf
    data = (field.image * field.gain).ravel() - field.sky - wing
    w = 1.0 / np.sqrt(field.sky + full.ravel() + field.read_noise**2)
    aw = diags(w) @ a
    # Unit columns: LSQR then converges in a few dozen iterations.
    norm = np.sqrt(np.asarray(aw.multiply(aw).sum(axis=0))).ravel()
    norm[norm == 0] = 1.0
    sol = lsqr(aw @ diags(1.0 / norm), w * data, atol=1e-10, btol=1e-10, iter_lim=500)[0]
    return tx, ty, sol / norm


def oracle_variants(
    field: StarField, bound: np.ndarray, fwhm: float, beta: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The crowded fitter's z, and its final forced pass's with inputs replaced by the truth.

    Returns, per variant, z = (flux - true) / bound of every true star (NaN
    where not found within 1 px) and the oracle's z on the same stars;
    ``bound`` is each true star's isolated flux bound, ``fwhm`` and ``beta``
    the Moffat the fitter starts from (the field's true PSF).
    """
    from fluxion.core.photometry.noise import NoiseModel
    from fluxion.core.photometry.scene.fitter import fit_scene
    from fluxion.core.photometry.scene.forced import final_pass
    from fluxion.core.photometry.scene.records import SceneFrame, ScenePSF

    tx, ty, tf = (np.asarray(field.truth[c], dtype=np.float64) for c in ("x", "y", "flux"))
    z_oracle = (oracle_fit(field)[2] - tf) / bound
    noise = NoiseModel(1.0, field.read_noise)
    img = field.image * field.gain
    start = analytic_psf("moffat", fwhm, beta=beta)
    res = fit_scene(img, noise=noise, psf=start)
    frame = SceneFrame.of(img, noise, None, None, 1e-4)
    fitted, true_psf = ScenePSF.of(res.psf), ScenePSF.of(start)
    # The forced pass's background: the sky and the stars' light beyond
    # their stamps (which the reported sky leaves out).
    background = res.sky + res.wings
    true_sky = np.full(img.shape, field.sky) + res.wings
    x, y, fl = (np.asarray(res.table[c], dtype=np.float64) for c in ("x", "y", "flux"))
    d, i = cKDTree(np.c_[x, y]).query(np.c_[tx, ty])
    found = d < 1.0
    missed = ~found & (d > 1.5)
    plus = (np.r_[x, tx[missed]], np.r_[y, ty[missed]], np.r_[fl, tf[missed]])
    # The stars found, each moved to the true star within 1 px of it: the
    # cost of the found stars' positions alone (the missed stars still missing).
    dt, it = cKDTree(np.c_[tx, ty]).query(np.c_[x, y])
    moved = dt < 1.0
    at_truth = (np.where(moved, tx[it], x), np.where(moved, ty[it], y), fl)
    bright = moved & (tf[it] >= BRIGHT)
    bright_at_truth = (np.where(bright, tx[it], x), np.where(bright, ty[it], y), fl)
    variants = {
        "fitted": (background, fitted, (x, y, fl)),
        "true sky": (true_sky, fitted, (x, y, fl)),
        "true PSF": (background, true_psf, (x, y, fl)),
        "missed stars added": (background, fitted, plus),
        f"found >={BRIGHT:g} e- at truth": (background, fitted, bright_at_truth),
        "found stars at truth": (background, fitted, at_truth),
        "true positions": (background, fitted, (tx, ty, tf)),
        "true positions, sky, PSF": (true_sky, true_psf, (tx, ty, tf)),
    }
    out = {}
    for name, (sky, psf, (vx, vy, vf)) in variants.items():
        flux = np.asarray(final_pass(frame, sky, psf, vx, vy, vf, res.passes).table["flux"])
        if vx is tx:
            z = (flux - tf) / bound
        else:
            z = np.where(found, (flux[i] - tf) / bound, np.nan)
        out[name] = (z, z_oracle)
    return out
