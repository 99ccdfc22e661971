"""Benchmark of ``fluxion run``'s chain: frames per second on 1 and 2 workers, peak memory.

Simulates a night, runs the whole chain (calibration to light curve) on it
with 1 and 2 thread workers into fresh projects, and measures each run's
peak resident memory in a child process for two night lengths: memory must
not grow with the number of frames (frames stay on disk, a few in flight).

    .venv/bin/python tests/benchmarks/bench_run.py --frames 60 --size 2048
    .venv/bin/python tests/benchmarks/bench_run.py --frames 16 --size 1024   # quick

The ``--memory-scan`` mode asks the same question at scale with cheap steps:
one night of the largest length (default 120 frames of 2048^2, no calibration
frames, no cosmic rays) is simulated once into a scratch folder, and
detection plus aperture photometry (the chain's ``detect_frame`` and
``photometry_frame``, products written into a fresh project) run on its first
20, 60 and 120 lights with 1 and 2 workers, each in its own interpreter. The
table gives peak RSS against the number of frames: flat when frames stay on
disk. The scratch folder is deleted afterwards.

    .venv/bin/python tests/benchmarks/bench_run.py --memory-scan 20 60 120 --size 2048

Prints a table; run by hand, not by pytest.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(night: Path, project: Path, workers: int, n_frames: int | None) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from astropy.table import Table

    from fluxion.core.astrometry import SolveParams
    from fluxion.core.chain.night import NightParams, run_night
    from fluxion.core.chain.targets import fixed_target
    from fluxion.core.io.sequence import scan
    from fluxion.core.project.document import Project

    frames = scan(night)
    if n_frames is not None:
        lights = [f for f in frames if f.type == "light"][:n_frames]
        frames = [f for f in frames if f.type != "light"] + lights
    catalog_file = night / "truth/reference_catalog.ecsv"
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    params = NightParams(
        astrometry=SolveParams(catalog="Local file", catalog_file=str(catalog_file))
    )
    folder = project
    project = Project.from_inputs([night])
    project.save(folder)
    t0 = time.perf_counter()
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        result = run_night(
            project, frames, params, catalog=Table.read(catalog_file),
            target=fixed_target(star["ra"], star["dec"]), executor=pool,
        )  # fmt: skip
    finally:
        if pool is not None:
            pool.shutdown()
    seconds = time.perf_counter() - t0
    n = len(result.frames)
    return {
        "frames": n,
        "workers": workers,
        "seconds": seconds,
        "frames_per_s": n / seconds,
        "ok": int(sum(s == "ok" for s in result.frames["status"])),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


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
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(
    night: Path, project: Path, workers: int, n_frames: int | None, what: str = "_run"
) -> dict:
    """One run in a fresh interpreter, so that its peak memory is its own."""
    here, args = str(Path(__file__).parent), (str(night), str(project), workers, n_frames)
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); from bench_run import {what}; "
        "from pathlib import Path; "
        f"print(json.dumps({what}(Path({args[0]!r}), Path({args[1]!r}), {args[2]}, {args[3]!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from fluxion.core.simulation.simulate import NightConfig, simulate_night

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--folder", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument(
        "--memory-scan", type=int, nargs="+", metavar="N",
        help="peak memory of detection + aperture photometry on N frames (e.g. 20 60 120)",
    )  # fmt: skip
    args = ap.parse_args()
    if args.memory_scan:
        _memory_scan(sorted(args.memory_scan), args.size, args.folder)
        return
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        night = Path(tmp) / "night"
        t0 = time.perf_counter()
        config = NightConfig(n_frames=args.frames, shape=(args.size, args.size), n_bias=5,
                             n_dark=5, n_flat=5)  # fmt: skip
        simulate_night(night, config)
        print(
            f"simulated {args.frames} frames of {args.size}^2 in {time.perf_counter() - t0:.0f} s"
        )
        rows = []
        for workers in (1, 2):
            rows.append(_child(night, Path(tmp) / f"p{workers}", workers, None))
        half = max(2, args.frames // 4)
        rows.append(_child(night, Path(tmp) / "short", 2, half))
        print(
            f"{'frames':>6} {'workers':>7} {'seconds':>8} {'frames/s':>9} {'ok':>4} {'peak MB':>8}"
        )
        for r in rows:
            print(
                f"{r['frames']:6d} {r['workers']:7d} {r['seconds']:8.1f} {r['frames_per_s']:9.3f} "
                f"{r['ok']:4d} {r['peak_rss_mb']:8.0f}"
            )


def _memory_scan(counts: list[int], size: int, folder: Path | None) -> None:
    """Peak RSS and speed against the number of frames, one night simulated once."""
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
                r = _child(night, Path(tmp) / f"p{n}-{workers}", workers, n, "_cheap")
                print(
                    f"{r['frames']:6d} {r['workers']:7d} {r['seconds']:8.1f} "
                    f"{r['frames_per_s']:9.3f} {r['stars_per_frame']:6.0f} "
                    f"{r['baseline_rss_mb']:8.0f} {r['peak_rss_mb']:8.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
