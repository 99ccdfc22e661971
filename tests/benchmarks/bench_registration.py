"""Frame registration beside astroalign on the same frames: success rate, residual, time.

Both get the same star lists (Fluxion's registration sources of each frame,
brightest first) and register every frame to the first one.
``astroalign.find_transform`` matches each frame to the first directly (it
has no chaining); Fluxion registers through neighbours and a star list
(:func:`fluxion.core.registration.register_sources`). Printed per night:
frames registered, median matched stars, median residual of the matched
stars (px), and on simulated nights the rms error of the transform against
the truth WCS (px); times in seconds, and the ratios Fluxion / astroalign.

Nights: a simulated one drifting ~375 px and turning 4 degrees over 16
frames (512 x 512), and the real ones in the shared data folder when found
(TrES-1, asteroid 2713, Seestar colour frames on 2x2 super-pixels).

Run by hand: ``.venv/bin/python tests/benchmarks/bench_registration.py [DATA]``
(needs ``pip install astroalign``, which is not a dependency of Fluxion).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from fluxion.core.registration import (
    cfa_pattern,
    register_sources,
    registration_sources,
)
from fluxion.core.simulation.simulate import NightConfig, make_night

try:
    import astroalign
except ImportError:  # pragma: no cover - a benchmark's optional reference
    sys.exit("astroalign is needed for this benchmark: pip install astroalign")


def _astroalign(sources, shape):
    """astroalign on each frame against the first: (ok, n, rms, affine per frame)."""
    ref = sources[0].xy
    out = []
    for s in sources:
        try:
            t, (src, dst) = astroalign.find_transform(s.xy, ref)
        except Exception:  # astroalign raises MaxIterError / ValueError / TypeError
            out.append((False, 0, np.nan, None))
            continue
        # t maps this frame -> the first; the residual of its matched stars:
        rms = float(np.sqrt(np.mean(np.sum((t(src) - dst) ** 2, axis=1))))
        inv = np.linalg.inv(t.params)  # first -> this frame, as Fluxion's
        out.append((True, len(src), rms, inv[:2]))
    return out


def _truth_error(night, i, affine, shape):
    ny, nx = shape
    g = np.stack(np.meshgrid(np.linspace(0, nx - 1, 7), np.linspace(0, ny - 1, 7)), -1)
    g = g.reshape(-1, 2)
    true = np.column_stack(night.wcs(i).world_to_pixel(night.wcs(0).pixel_to_world(*g.T)))
    inside = np.all((true > 0) & (true < [nx - 1, ny - 1]), axis=1)
    if not inside.any():
        return np.nan
    pred = g[inside] @ affine[:, :2].T + affine[:, 2]
    return float(np.sqrt(np.mean((pred - true[inside]) ** 2)))


def bench(name, images, cfa=None, night=None):
    shape = images[0].shape
    t0 = time.perf_counter()
    sources = [registration_sources(im, cfa=cfa) for im in images]
    t_detect = time.perf_counter() - t0
    t0 = time.perf_counter()
    reg = register_sources(sources, shape)
    t_flux = time.perf_counter() - t0
    t0 = time.perf_counter()
    aa = _astroalign(sources, shape)
    t_aa = time.perf_counter() - t0
    n = len(images)
    f_ok = [f.ok for f in reg.frames]
    f_n = [f.n_matched for f in reg.frames[1:] if f.ok]
    f_rms = [f.rms for f in reg.frames[1:] if f.ok]
    a_n = [a[1] for a in aa[1:] if a[0]]
    a_rms = [a[2] for a in aa[1:] if a[0]]
    row = {
        "night": name,
        "frames": n,
        "fluxion_ok": sum(f_ok),
        "astroalign_ok": sum(a[0] for a in aa),
        "fluxion_matched": np.median(f_n) if f_n else np.nan,
        "astroalign_matched": np.median(a_n) if a_n else np.nan,
        "fluxion_rms": np.median(f_rms) if f_rms else np.nan,
        "astroalign_rms": np.median(a_rms) if a_rms else np.nan,
        "fluxion_s": t_flux,
        "astroalign_s": t_aa,
        "detect_s": t_detect,
    }
    if night is not None:
        fe = [_truth_error(night, i, f.transform.affine, shape)
              for i, f in enumerate(reg.frames) if i and f.ok]  # fmt: skip
        ae = [_truth_error(night, i, a[3], shape) for i, a in enumerate(aa) if i and a[0]]
        row["fluxion_truth"] = np.nanmedian(fe) if fe else np.nan
        row["astroalign_truth"] = np.nanmedian(ae) if ae else np.nan
    return row


def _read(paths):
    out = []
    for p in paths:
        with fits.open(p) as hdul:
            out.append(np.asarray(next(h for h in hdul if h.data is not None).data, float))
    return out


def main(data: Path) -> None:
    rows = []
    cfg = NightConfig(
        seed=3, n_frames=16, shape=(512, 512), drift=25.0, field_rotation=4.0, sip=False,
        n_bias=0, n_dark=0, n_flat=0, star_density=2.0, asteroid=False,
    )  # fmt: skip
    night = make_night(cfg)
    rows.append(bench("simulated drift+rotation", [night.light(i)[0] * 1.0 for i in range(16)],
                      night=night))  # fmt: skip
    if (data / "tres1-oscaar").is_dir():
        paths = sorted(p for p in (data / "tres1-oscaar").glob("tres1-*.fit.fz")
                       if not p.name.endswith("d.fit.fz"))  # fmt: skip
        rows.append(bench("tres1-oscaar", _read(paths)))
    if (data / "asteroid2713-night1").is_dir():
        rows.append(
            bench("asteroid2713", _read(sorted((data / "asteroid2713-night1").glob("*Light*.fit"))))
        )
    if (data / "seestar-osc").is_dir():
        paths = sorted((data / "seestar-osc").glob("Light_*.fit"))
        rows.append(bench("seestar-osc", _read(paths), cfa=cfa_pattern(fits.getheader(paths[0]))))
    print(
        f"{'night':26s} {'frames':>6s} {'ok F/A':>9s} {'matched F/A':>13s} "
        f"{'rms px F/A':>15s} {'truth px F/A':>15s} {'time s F/A':>13s} {'ratio':>6s}"
    )
    for r in rows:
        truth = (f"{r['fluxion_truth']:.4f}/{r['astroalign_truth']:.4f}"
                 if "fluxion_truth" in r else "-")  # fmt: skip
        print(
            f"{r['night']:26s} {r['frames']:6d} {r['fluxion_ok']:4d}/{r['astroalign_ok']:<4d} "
            f"{r['fluxion_matched']:6.0f}/{r['astroalign_matched']:<6.0f} "
            f"{r['fluxion_rms']:7.3f}/{r['astroalign_rms']:<7.3f} {truth:>15s} "
            f"{r['fluxion_s']:6.2f}/{r['astroalign_s']:<6.2f} "
            f"{r['fluxion_s'] / max(r['astroalign_s'], 1e-9):6.2f}"
        )
    print("(F = Fluxion, A = astroalign; times exclude detection, which both share)")


if __name__ == "__main__":
    here = Path(__file__).resolve().parents[2]
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent / "shared" / "data")
