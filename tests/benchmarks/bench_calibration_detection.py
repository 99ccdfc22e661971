"""Calibration and detection time per frame at 1k x 1k and 4k x 4k, on 1 and 2 workers.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_calibration_detection.py [--quick]``.
Frames are synthetic (bias, dark, vignetted flat, Gaussian stars, cosmic rays,
photon and read noise) and held in memory, so the numbers are compute time
without disk reads. Cosmic rays are found by astroscrappy (L.A.Cosmic in C).
Prints one row per (size, stage, workers): seconds per frame and speed-up.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fluxion.core.calibration import (
    Calibration,
    CalibrationMasters,
    CalibrationParams,
    MasterFrame,
    RawFrame,
)
from fluxion.core.detection.extract import Detection

GAIN = 1.5  # e-/ADU
READ_NOISE = 7.0  # e-


def synthetic_frames(n: int, size: int, seed: int = 0):
    """Raw uint16 lights and the matching masters."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    flat = (1.0 - 0.3 * (xx**2 + yy**2)).astype(np.float32)
    flat /= flat.mean()
    bias = np.full((size, size), 1000.0, np.float32)
    dark = rng.exponential(2.0, (size, size)).astype(np.float32)
    n_stars = size * size // 2000
    frames = []
    for _ in range(n):
        sky = np.full((size, size), 800.0)
        x, y = rng.uniform(10, size - 10, (2, n_stars))
        flux = 10 ** rng.uniform(3, 5.5, n_stars)
        ix, iy = x.astype(int), y.astype(int)
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                r2 = (ix + dx - x) ** 2 + (iy + dy - y) ** 2
                np.add.at(sky, (iy + dy, ix + dx), flux * np.exp(-r2 / (2 * 1.3**2)) / 10.6)
        # Photon noise is Poisson in electrons, not ADU: with ADU noise the frames
        # would be noisier than their gain says and L.A.Cosmic would flag ~1.5% of
        # the sky as hits, which costs extra passes and is not what a camera does.
        light_e = np.clip(sky * flat + dark, 0, None) * GAIN
        raw = (rng.poisson(light_e) / GAIN + bias).astype(np.float32)
        raw += rng.normal(0.0, READ_NOISE / GAIN, raw.shape).astype(np.float32)
        hits = rng.integers(0, size, (2, size * size // 20000))
        raw[hits[0], hits[1]] += 4000
        frames.append(
            RawFrame.from_array(
                np.clip(raw, 0, 65535).astype(np.uint16),
                name=f"light_{len(frames):04d}",
                exptime=60.0,
                gain=GAIN,
                read_noise=READ_NOISE,
                saturation=60000.0,
            )
        )
    masters = CalibrationMasters(
        MasterFrame("bias", bias, 10),
        (MasterFrame("dark", dark, 10, exptime=60.0),),
        (MasterFrame("flat", flat, 10, filter=None),),
    )
    return frames, masters


def timed(fn, items, workers: int) -> float:
    t0 = time.perf_counter()
    if workers == 1:
        for it in items:
            fn(it)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fn, items))
    return (time.perf_counter() - t0) / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k only")
    args = parser.parse_args()
    sizes = [(1024, 4)] if args.quick else [(1024, 4), (4096, 2)]
    # Wall times depend on what else runs, and astroscrappy's OpenMP threads on
    # top of ours: say both.
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    omp = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"{os.cpu_count()} CPUs, load average {load}, OMP_NUM_THREADS={omp}")
    print(f"{'size':>6s} {'stage':28s} {'workers':>7s} {'s/frame':>8s} {'speed-up':>8s}")
    for size, n in sizes:
        frames, masters = synthetic_frames(n, size)
        stages = {
            "calibration (no cosmic rays)": Calibration(
                CalibrationParams(find_cosmic_rays=False), masters
            ),
            "calibration + cosmic rays": Calibration(CalibrationParams(), masters),
        }
        calibrated = [stages["calibration (no cosmic rays)"](f) for f in frames]
        detect = Detection()

        def detect_one(c, detect=detect):
            return detect(c.data, mask=c.mask, gain=GAIN)

        for name, step in stages.items():
            base = None
            for workers in (1, 2):
                t = timed(step, frames, workers)
                base = base or t
                print(f"{size:6d} {name:28s} {workers:7d} {t:8.2f} {base / t:8.2f}")
        base = None
        for workers in (1, 2):
            t = timed(detect_one, calibrated, workers)
            base = base or t
            print(f"{size:6d} {'detection':28s} {workers:7d} {t:8.2f} {base / t:8.2f}")


if __name__ == "__main__":
    main()
