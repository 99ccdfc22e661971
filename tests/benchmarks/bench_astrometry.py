"""Hinted plate solving beside astrometry.net's solve-field on the same simulated frames.

Both get the same detected sources and the same scale hint (5 % off); the
hinted solve also gets the header pointing (10 arcmin off), solve-field gets it
too (``--ra/--dec/--radius``). solve-field uses index files built here from the
simulator's catalog (``build-astrometry-index``), since the simulated sky is not
the real one. Prints time per frame, solve rate and WCS error against the truth.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_astrometry.py [N_FRAMES] [SIZE]``
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
    PlateSolver,
    ScaleGuess,
    SolveField,
    SolveHint,
    SolveParams,
)
from fluxion.core.detection import Detection
from fluxion.core.simulate import NightConfig, make_night


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
    rows = {"hinted (Fluxion)": [], "solve-field": []}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_index(night.catalog, Path(tmp)) if have_sf else None
        solver = PlateSolver(SolveParams(mag_limit=20.0, sip_order=3), catalog=night.catalog)
        sf = SolveField(config=cfg, timeout=60) if cfg else None
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


def _row(result, seconds, night, i, scale):
    if not result.solved:
        return (False, seconds, 0, np.nan)
    err = field_error_px(result.wcs, night.wcs(i), night.config.shape, scale)
    return (True, seconds, result.n_matched, err)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
