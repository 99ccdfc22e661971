"""bench_run's ``--memory-scan``: peak memory and speed of detection + aperture photometry.

One night of the largest length (no calibration frames, no cosmic rays) is
simulated once into a scratch folder, and the chain's ``detect_frame`` and
``photometry_frame`` run on its first N lights with 1 and 2 workers, each in
its own interpreter (bench_run's ``_child``, which finds ``_cheap`` there).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_run_usage import peak_mb


def _detect_and_measure(folder: str, frame, detection, photometry) -> int:
    """Detection, then aperture photometry of the sources found, of one frame (a worker)."""
    import numpy as np

    from fluxion.core.chain.detect import detect_frame
    from fluxion.core.chain.measure import photometry_frame
    from fluxion.core.chain.worker import FrameStore

    # FrameStore: workers note their products instead of sharing the index's lock.
    store = FrameStore(folder)
    found = detect_frame(store, frame, detection)
    xy = np.column_stack([np.asarray(found.sources["x"]), np.asarray(found.sources["y"])])
    return len(photometry_frame(store, frame, photometry, xy))


def _cheap(night: Path, project: Path, workers: int, n_frames: int | None) -> dict:
    """Detection and aperture photometry of the first ``n_frames`` lights; speed and memory."""
    from concurrent.futures import ThreadPoolExecutor

    from fluxion.core.chain.batch import run_frames
    from fluxion.core.detection.extract import DetectionParams
    from fluxion.core.io.sequence import scan
    from fluxion.core.photometry import PhotometryParams

    lights = [f for f in scan(night) if f.type == "light"][:n_frames]
    project.mkdir(parents=True)
    # Fixed radius and no aperture correction: the cheap steps, no curve of growth.
    photometry = PhotometryParams(aperture_radius=5.0, aperture_correction=False)
    detection = DetectionParams()
    baseline = peak_mb()
    measured: list[int] = []

    def keep(_frame, result) -> None:
        if isinstance(result, Exception):
            raise result
        measured.append(result)

    t0 = time.perf_counter()
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        run_frames(
            lights, _detect_and_measure,
            lambda f: (str(project), f, detection, photometry), keep, executor=pool,
        )  # fmt: skip
    finally:
        if pool is not None:
            pool.shutdown()
    seconds = time.perf_counter() - t0
    return {
        "frames": len(measured),
        "workers": workers,
        "seconds": seconds,
        "frames_per_s": len(measured) / seconds,
        "stars_per_frame": sum(measured) / max(1, len(measured)),
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_mb(),
    }


def memory_scan(
    counts: list[int], size: int, folder: Path | None, child: Callable[..., dict]
) -> None:
    """Peak RSS and speed against the number of frames, one night simulated once.

    ``child(name, *args)`` runs ``name`` of bench_run in a fresh interpreter.
    """
    from fluxion.core.simulation.simulate import NightConfig, simulate_night

    with tempfile.TemporaryDirectory(prefix="fluxion-bench-", dir=folder) as tmp:
        night = Path(tmp) / "night"
        t0 = time.perf_counter()
        config = NightConfig(n_frames=max(counts), shape=(size, size), n_bias=0, n_dark=0,
                             n_flat=0, cosmic_ray_rate=0.0)  # fmt: skip
        simulate_night(night, config)
        mb = sum(p.stat().st_size for p in night.glob("light_*.fits")) / 2**20
        print(f"simulated {max(counts)} frames of {size}^2 ({mb:.0f} MB on disk) "
              f"in {time.perf_counter() - t0:.0f} s")  # fmt: skip
        print(f"{'frames':>6} {'workers':>7} {'seconds':>8} {'frames/s':>9} {'stars':>6} "
              f"{'base MB':>8} {'peak MB':>8}")  # fmt: skip
        for n in counts:
            for workers in (1, 2):
                r = child("_cheap", night, Path(tmp) / f"p{n}-{workers}", workers, n)
                print(
                    f"{r['frames']:6d} {r['workers']:7d} {r['seconds']:8.1f} "
                    f"{r['frames_per_s']:9.3f} {r['stars_per_frame']:6.0f} "
                    f"{r['baseline_rss_mb']:8.0f} {r['peak_rss_mb']:8.0f}",
                    flush=True,
                )
