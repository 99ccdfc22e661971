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


def ey_uma(data: Path, n_boot: int = 200) -> None:
    """The EY UMa thumbnail's centre against astrometry.net's, with its uncertainty."""
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    from fluxion.core.astrometry import fit_wcs
    from fluxion.core.astrometry.centroids import centroids_for_solving
    from fluxion.core.astrometry.files import hint_for_file
    from fluxion.core.catalogs import LocalCatalog
    from fluxion.core.fitsio import read_image

    base = data / "astroquery" / "astrometry_net"
    cats = data / "stellarphot" / "stellarphot" / "tests" / "data"
    image_path = base / "thumbnail-image.fit.gz"
    with warnings.catch_warnings():  # a header-only file (NAXIS = 0); one thread here
        warnings.simplefilter("ignore", FITSFixedWarning)
        recorded = WCS(fits.getheader(base / "wcs-sol-from-thumbnail-image-index-5200.fit"))
    theirs = recorded.pixel_to_world(127.5, 127.5)
    image = read_image(image_path)
    hint = hint_for_file(fits.getheader(image_path), ra=135.58333, dec=49.82194, scale=9.0)
    detected = Detection()(image).sources
    print("EY UMa thumbnail: centre minus astrometry.net's (index 5206, SIP 2), arcsec")
    print(f"{'catalog':8s} {'centroids':9s} {'stars':>5s} {'rms px':>6s} {'SIP':>3s} "
          f"{'offset':>6s} {'cov 1s/axis':>11s} {'boot 1s RA, Dec':>16s}")  # fmt: skip
    for label, name, epoch in (
        ("RefCat2", "all_refcat2_ey_uma.ecsv", 2015.5),
        ("APASS", "all_apass_ey_uma.ecsv", 2000.0),
    ):
        for choice in ("detected", "auto"):
            params = SolveParams(sip_order=3, min_matches=6, max_rms=0.6, centroids=choice)
            sources = centroids_for_solving(image, detected, choice, max_sources=params.max_sources)
            solver = PlateSolver(params, catalog=LocalCatalog(cats / name, epoch=epoch))
            r = solver(sources, image.shape, hint)
            if not r.solved:
                print(f"{label:8s} {choice:9s} not solved: {r.reason}")
                continue
            offset = r.wcs.pixel_to_world(127.5, 127.5).separation(theirs).arcsec
            m = r.matches[r.matches["used"]]
            xy = np.column_stack([m["x"], m["y"]])
            ra, dec = np.asarray(m["ra"], float), np.asarray(m["dec"], float)
            order = 1 if r.wcs.sip is None else r.wcs.sip.a_order
            rng = np.random.default_rng(1)
            boot = []
            sig = np.asarray(m["sigma"], float)
            sig = None if not np.isfinite(sig).all() else sig
            for _ in range(n_boot):  # the same weighted fit on resampled stars
                k = rng.integers(0, len(xy), len(xy))
                w = fit_wcs(
                    xy[k],
                    ra[k],
                    dec[k],
                    image_shape=image.shape,
                    sip_order=order,
                    sigma=None if sig is None else sig[k],
                ).wcs
                c = w.pixel_to_world(127.5, 127.5)
                boot.append((c.ra.deg * np.cos(c.dec.rad) * 3600, c.dec.deg * 3600))
            sd = np.std(np.asarray(boot), axis=0)
            print(
                f"{label:8s} {choice:9s} {r.n_matched:5d} {r.rms_px:6.3f} {order:3d} "
                f"{offset:6.3f} {r.centre_sigma:11.3f} {sd[0]:7.3f}, {sd[1]:.3f}"
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["ey-uma"]:
        root = Path(__file__).resolve().parents[3] / "shared" / "data"
        ey_uma(Path(sys.argv[2]) if len(sys.argv) > 2 else root)
    else:
        args = [int(a) for a in sys.argv[1:3]]
        main(*args)
