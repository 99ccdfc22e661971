"""Benchmark of ``fluxion run``'s chain: frames per second on 1 and 2 workers, peak memory.

Simulates a night, runs the whole chain (calibration to light curve) on it
with 1 and 2 thread workers into fresh projects, and measures each run's
peak resident memory in a child process for two night lengths: memory must
not grow with the number of frames (frames stay on disk, a few in flight).

    .venv/bin/python tests/benchmarks/bench_run.py --frames 60 --size 2048
    .venv/bin/python tests/benchmarks/bench_run.py --frames 16 --size 1024   # quick

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
    from fluxion.core.project import Project
    from fluxion.core.sequence import scan

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


def _child(night: Path, project: Path, workers: int, n_frames: int | None) -> dict:
    """One run in a fresh interpreter, so that its peak memory is its own."""
    here, args = str(Path(__file__).parent), (str(night), str(project), workers, n_frames)
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); from bench_run import _run; "
        "from pathlib import Path; "
        f"print(json.dumps(_run(Path({args[0]!r}), Path({args[1]!r}), {args[2]}, {args[3]!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from fluxion.core.simulate import NightConfig, simulate_night

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--folder", type=Path, help="work folder (default: a temporary one)")
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
