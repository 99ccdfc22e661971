"""bench_run's ``--keep`` and ``--compare``: the products a speed change must leave where they were.

``keep_products`` copies a run's sources, photometry, magnitudes and light
curve aside; ``agreement`` pairs another run's stars with them by position and
gives the largest differences in units of the kept products' own errors:

    .venv/bin/python tests/benchmarks/bench_run.py --frames 8 --keep /tmp/before
    (change the code)
    .venv/bin/python tests/benchmarks/bench_run.py --frames 8 --compare /tmp/before
"""

from __future__ import annotations

import shutil
from pathlib import Path

# What --keep copies and --compare reads: the products a speed change must leave alone.
_KEPT = ("sources", "photometry", "magnitudes", "lightcurve.ecsv")


def keep_products(project: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in _KEPT:
        src, dst = project / name, folder / name
        if dst.is_dir():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst)
        elif src.exists():
            shutil.copy2(src, dst)
    print(f"products kept in {folder}")


def agreement(reference: Path, project: Path) -> dict:
    """Largest differences of ``project``'s products from ``reference``'s, in their errors.

    Stars are paired by position (within 0.01 px; a star that moved further
    counts as missing). Fluxes and calibrated magnitudes are compared in
    units of the reference's ``flux_err`` and ``mag_err``, each frame's zero
    point in its ``zero_point_err``, the light curve in its ``mag_err``.
    """
    import numpy as np
    from astropy.table import Table
    from scipy.spatial import cKDTree

    def worst(values: list) -> float:
        v = np.abs(np.asarray(values, dtype=float))
        v = v[np.isfinite(v)]
        return float(v.max()) if v.size else float("nan")

    flux, mag, zp, unpaired, rows = [], [], [], 0, 0
    for ref_file in sorted((reference / "magnitudes").glob("*.ecsv")):
        if ref_file.name.count(".") != 1:  # the matched stars and trajectories beside
            continue
        mine = project / "magnitudes" / ref_file.name
        if not mine.exists():
            unpaired += 1
            continue
        a, b = Table.read(ref_file), Table.read(mine)
        rows += len(a)
        if len(a) and len(b):
            d, k = cKDTree(np.c_[b["x"], b["y"]]).query(np.c_[a["x"], a["y"]])
            ok = d < 0.01
            unpaired += int((~ok).sum())
            a, b = a[ok], b[k[ok]]
            flux += list(_in_errors(a, b, "flux"))
            if "mag" in a.colnames and "mag" in b.colnames:
                mag += list(_in_errors(a, b, "mag"))
        za, zb = a.meta.get("zero_point"), b.meta.get("zero_point")
        if za is not None and zb is not None and a.meta.get("zero_point_err"):
            zp.append((zb - za) / a.meta["zero_point_err"])
    curve = float("nan")
    if (reference / "lightcurve.ecsv").exists() and (project / "lightcurve.ecsv").exists():
        a, b = Table.read(reference / "lightcurve.ecsv"), Table.read(project / "lightcurve.ecsv")
        if len(a) == len(b):
            curve = worst(_in_errors(a, b, "mag"))
    return {
        "stars": rows,
        "unpaired": unpaired,
        "flux": worst(flux),
        "mag": worst(mag),
        "zero_point": worst(zp),
        "light_curve": curve,
    }


def _in_errors(a, b, column: str):
    """``b[column] - a[column]`` in units of ``a[column + '_err']``."""
    import numpy as np

    return (np.asarray(b[column]) - np.asarray(a[column])) / np.asarray(a[column + "_err"])


def print_agreement(result: dict, reference: Path) -> None:
    a = result
    print(f"\nproducts against {reference} (largest |difference| / error; 0 is identical):")
    print(f"  {a['stars']} stars, {a['unpaired']} not paired within 0.01 px; flux {a['flux']:.2g}, "
          f"magnitude {a['mag']:.2g}, zero point {a['zero_point']:.2g}, "
          f"light curve {a['light_curve']:.2g}")  # fmt: skip
