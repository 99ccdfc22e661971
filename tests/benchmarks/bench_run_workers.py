"""Each step's thread CPU a frame on 1 and on 2 worker processes: which step slows beside another.

Two workers share the machine's memory bandwidth and caches (and, on shared
vCPUs, the cores themselves): a step that slows when a second frame runs beside
it is one the chain's parallel speed-up loses on. The chain runs a simulated
night on a pool of 1, then of 2 worker processes, in turn (rounds of 1 2 2 1,
so a machine that drifts weighs on both alike), with bench_run_steps' timers
installed in each worker by the forkserver. The table gives each step's median
thread CPU a frame for each pool and their ratio; a ratio near 1 for every step
means the pool's loss is not in the chain's code.

    .venv/bin/python tests/benchmarks/bench_run_workers.py --frames 16 --rounds 2
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_OUT = "FLUXION_BENCH_STEPS_OUT"  # where a worker writes its step totals


def _install_in_worker() -> None:
    """The step timers in this (worker) process; its totals written after each frame."""
    from bench_run_steps import _install

    import fluxion.core.chain.steps  # noqa: F401 (the attributes wrapped are these modules')
    import fluxion.core.chain.worker as worker

    seconds: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    _install(seconds, calls)
    timed = worker.process_frame
    out = Path(os.environ[_OUT])

    def process_frame(*args, **kwargs):
        try:
            return timed(*args, **kwargs)
        finally:
            totals = {"seconds": dict(seconds), "calls": dict(calls)}
            (out / f"{os.getpid()}.json").write_text(json.dumps(totals))

    worker.process_frame = process_frame


if os.environ.get(_OUT) and __name__ != "__main__":  # imported by the forkserver
    _install_in_worker()


def _child(night: Path, folder: Path, workers: int) -> dict:
    """One run of the chain on ``workers`` processes: each step's thread CPU ms a frame."""
    from astropy.table import Table

    from fluxion.core.astrometry import SolveParams
    from fluxion.core.chain import WORKER_PRELOAD
    from fluxion.core.chain.night import NightParams, run_night
    from fluxion.core.chain.targets import fixed_target
    from fluxion.core.io.sequence import scan
    from fluxion.core.project.document import Project
    from fluxion.core.runtime.processes import WorkerPool

    totals = folder / "steps"
    totals.mkdir(parents=True)
    os.environ[_OUT] = str(totals)
    pool = WorkerPool(workers, preload=(*WORKER_PRELOAD, Path(__file__).stem))
    frames = scan(night)
    catalog_file = night / "truth/reference_catalog.ecsv"
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    params = NightParams(
        astrometry=SolveParams(catalog="Local file", catalog_file=str(catalog_file))
    )
    project = Project.from_inputs([night])
    project.save(folder / "project")
    pool.wait_started()
    try:
        run_night(
            project, frames, params, catalog=Table.read(catalog_file),
            target=fixed_target(star["ra"], star["dec"]), executor=pool,
        )  # fmt: skip
    finally:
        pool.shutdown()
    seconds: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    for f in totals.glob("*.json"):
        one = json.loads(f.read_text())
        seconds.update(one["seconds"])
        calls.update(one["calls"])
    n = max(calls["frame (all its steps)"], 1)
    return {
        "workers": workers,
        "frames": calls["frame (all its steps)"],
        "ms": {k: 1000 * v / n for k, v in seconds.items()},
        "load": os.getloadavg()[0],
    }


def main() -> None:
    from bench_run_steps import TIMED

    from fluxion.core.simulation.simulate import NightConfig, simulate_night

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of 1 2 2 1 workers")
    ap.add_argument("--folder", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        night, folder, workers = args.child
        print(json.dumps(_child(Path(night), Path(folder), int(workers))))
        return
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        night = Path(tmp) / "night"
        config = NightConfig(n_frames=args.frames, shape=(args.size, args.size), n_bias=5,
                             n_dark=5, n_flat=5)  # fmt: skip
        simulate_night(night, config)
        runs: dict[int, list[dict]] = {1: [], 2: []}
        for k, workers in enumerate([1, 2, 2, 1] * args.rounds):
            folder = Path(tmp) / f"run{k}"
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(night), str(folder), str(workers)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            runs[workers].append(json.loads(out.strip().splitlines()[-1]))
    loads = " ".join(f"{r['load']:.1f}" for r in runs[1] + runs[2])
    print(f"{args.frames} frames of {args.size}^2, rounds of 1 2 2 1 worker processes: "
          f"{args.rounds}; load average {loads}; {time.strftime('%H:%M')}")  # fmt: skip
    print(f"\n{'thread CPU ms a frame (median)':<30}{'1 worker':>9}{'2 workers':>10}{'ratio':>7}")
    for label, _, _ in TIMED:
        one = [r["ms"][label] for r in runs[1] if label in r["ms"]]
        two = [r["ms"][label] for r in runs[2] if label in r["ms"]]
        if one and two:
            a, b = statistics.median(one), statistics.median(two)
            print(f"  {label:<28}{a:9.1f}{b:10.1f}{b / a:7.2f}")


if __name__ == "__main__":
    main()
