"""bench_run's step table: each step's own thread CPU a frame, measured without a profiler.

cProfile (bench_run's "where the time goes") charges every Python call a
fixed cost, so that Python-heavy steps (FITS headers, tables, imports) look
several times dearer than they are beside numpy's and sep's C loops. Here the
chain's step functions are wrapped, for one run on one worker, by a timer of
the calling thread's CPU (``time.thread_time``): the numbers a change must
move, in the same units as the run's own CPU a frame. Rows nest (a step's
parts are indented under it) and a step that calls itself is counted once.
"""

from __future__ import annotations

import collections
import functools
import importlib
import time
from pathlib import Path

_C = "fluxion.core."
# (label, module, attribute): the attribute the chain calls, where it calls it from.
TIMED = (
    ("frame (all its steps)", _C + "chain.worker", "process_frame"),
    ("calibration", _C + "chain.calibrate", "calibrate_light"),
    ("  cosmic rays", _C + "calibration.apply", "cosmic_rays"),
    ("calibrated written", _C + "chain.calibrate", "write_calibrated"),
    ("detection", _C + "chain.detect", "detect_frame"),
    ("astrometry", _C + "chain.solve", "solve_frame"),
    ("  hinted solve", _C + "astrometry.solve", "PlateSolver.solve_hinted"),
    ("  solution written", _C + "chain.solve", "_write"),
    ("photometry", _C + "chain.measure", "photometry_frame"),
    ("  measured", _C + "photometry.step", "Photometry.run"),
    ("    curve of growth", _C + "photometry.step", "curve_of_growth"),
    ("    apertures", _C + "photometry.step", "measure_apertures"),
    ("    annulus skies", _C + "photometry.annulus", "annulus_sky"),
    ("  stored", _C + "chain.measure", "store_photometry"),
    ("zero point", _C + "chain.measure", "zeropoint_frame"),
    ("  fitted", _C + "zeropoint.step", "ZeroPoint.__call__"),
    ("registration (night)", _C + "chain.register", "register_lights"),
)


def _install(seconds: collections.Counter, calls: collections.Counter) -> None:
    """Wrap each timed function where the chain looks it up."""
    busy: set[str] = set()
    for label, module, attr in TIMED:
        owner = importlib.import_module(module)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        fn = getattr(owner, name)

        def timed(*a, _fn=fn, _label=label, **kw):
            if _label in busy:  # nested in itself: counted by the outer call
                return _fn(*a, **kw)
            busy.add(_label)
            t0 = time.thread_time()
            try:
                return _fn(*a, **kw)
            finally:
                seconds[_label] += time.thread_time() - t0
                calls[_label] += 1
                busy.discard(_label)

        setattr(owner, name, functools.wraps(fn)(timed))


def _stepped(night: Path, project: Path, n_frames: int | None = None) -> dict:
    """The one-worker chain with its steps timed (a child of bench_run: its own interpreter)."""
    import bench_run

    # The frames' steps are imported by the functions that run them: import
    # them first, so that their module attributes are the ones wrapped.
    import fluxion.core.chain.steps  # noqa: F401
    import fluxion.core.chain.worker  # noqa: F401

    seconds: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    _install(seconds, calls)
    run = bench_run._run(night, project, 1, n_frames, accuracy=False)
    return {"run": run, "seconds": dict(seconds), "calls": dict(calls)}


def print_steps(stepped: dict) -> None:
    """The step table: thread CPU milliseconds a frame, and each row's share of the run's CPU."""
    run = stepped["run"]
    n = max(run["frames"], 1)
    print(f"\neach step's thread CPU (one worker, no profiler; the run {1000 * run['cpu'] / n:.1f} "
          "ms a frame; rows nest)")  # fmt: skip
    for label, _, _ in TIMED:
        seconds = stepped["seconds"].get(label, 0.0)
        if stepped["calls"].get(label):
            share = 100 * seconds / run["cpu"] if run["cpu"] else float("nan")
            print(f"  {label:<24}{1000 * seconds / n:8.1f} ms/frame {share:5.1f} %")
