"""One ``fluxion run``: each frame walks down the layers once, and no file of a frame is read twice.

The command is run as the terminal runs it (``fluxion.app.cli.main``, on one
worker and on two worker threads, cosmic rays searched), with two probes on for
the whole run (worker processes are not probed: they run the same functions):

- every read-mode ``open`` (the builtin and ``io.open``: astropy's FITS files,
  the ECSV tables, ``Path.read_text`` all end there) is counted by resolved
  path, so a file read again anywhere in the run is seen, not only the FITS
  readers :mod:`tests.core.test_chain_opens` counts under ``run_night``;
- a profiler on every thread records each call of application code
  (``fluxion.app``, ``fluxion.widgets``) made while engine code
  (``fluxion.core``) is below it on the stack: the engine climbing back up.
  ``tests/test_layers.py`` proves the engine never imports the layers above it;
  this proves it never calls them at run time either, except for the one
  callable the command hands down to hear progress.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from astropy.io.fits import HDUList
from night_helpers import run_args

from fluxion.app.cli import main
from fluxion.app.commands.progress import TerminalProgress
from fluxion.core.io.frames import frame_info
from fluxion.core.runtime.failures import per_file

simulate = pytest.importorskip("fluxion.core.simulation.simulate")

CONFIG = simulate.NightConfig(n_frames=3, shape=(288, 288), n_bias=2, n_dark=2, n_flat=2, seed=21)
UPPER = ("fluxion.app.", "fluxion.widgets.")
# What the command hands the engine to be called back with: progress on the terminal.
HANDED_DOWN = {TerminalProgress.__call__.__code__}


class Walk:
    """Calls of application code from below engine code, on every thread, while on."""

    def __init__(self) -> None:
        self.climbs: Counter = Counter()
        self.into_core: Counter = Counter()  # engine functions the command reached

    def _seen(self, frame, event, arg) -> None:  # noqa: ARG002 (profiler signature)
        if event != "call":
            return
        name = frame.f_globals.get("__name__", "")
        code = frame.f_code
        if code.co_name == "<module>" or not name.startswith(UPPER + ("fluxion.core.",)):
            return  # an import (tests/test_layers.py checks those), or not Fluxion's
        below = frame.f_back
        while below is not None and not below.f_globals.get("__name__", "").startswith(
            "fluxion.core."
        ):
            below = below.f_back
        if below is None:
            return
        if name.startswith(UPPER) and code not in HANDED_DOWN:
            caller = f"{below.f_globals['__name__']}.{below.f_code.co_name}"
            self.climbs[(caller, f"{name}.{code.co_qualname}")] += 1
        elif name.startswith("fluxion.core."):
            self.into_core[name.split(".")[2]] += 1

    @contextlib.contextmanager
    def on(self):
        sys.setprofile(self._seen)
        threading.setprofile(self._seen)
        try:
            yield self
        finally:
            threading.setprofile(None)
            sys.setprofile(None)


def _under(frame, code) -> bool:
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def counted_reads(monkeypatch):
    """Reads by resolved path while on: {"scan": Counter, "run": Counter}.

    A FITS file counts once an open in astropy (which opens it twice itself,
    once for its magic bytes); any other read-mode open of a file, a FITS
    file's fingerprint included, counts once. Opens made by the folder scan
    (:func:`frame_info`) are told from the run's.
    """
    reads = {"scan": Counter(), "run": Counter()}
    original_open = builtins.open
    original_fromfile = HDUList.fromfile.__func__

    def count(file, frame) -> None:
        reads["scan" if _under(frame, frame_info.__code__) else "run"][Path(file).resolve()] += 1

    def counting(file, mode="r", *args, **kwargs):
        caller = sys._getframe(1)
        if (
            isinstance(file, str | Path)
            and "r" in mode
            and "+" not in mode
            and not caller.f_globals.get("__name__", "").startswith("astropy.io.fits")
        ):
            count(file, caller)
        return original_open(file, mode, *args, **kwargs)

    def fromfile(cls, fileobj, *args, **kwargs):
        if isinstance(fileobj, str | Path):
            count(fileobj, sys._getframe(1))
        return original_fromfile(cls, fileobj, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    monkeypatch.setattr(io, "open", counting)
    monkeypatch.setattr(HDUList, "fromfile", classmethod(fromfile))
    yield reads


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("walk_night")
    simulate.simulate_night(out, CONFIG)
    return out


@pytest.fixture(scope="module", params=["1", "2 threads"])
def walked(night, tmp_path_factory, request):
    """One run of the command with both probes on: (project, reads, walk).

    On one worker, and on two worker threads (the probes see every thread).
    """
    project = tmp_path_factory.mktemp("walk") / "project"
    args = [a for a in run_args(night, project) if a != "--no-cosmic-rays"]
    if request.param == "2 threads":
        args[args.index("--workers") + 1] = "2"
        args += ["--executor", "threads"]
    walk = Walk()
    with pytest.MonkeyPatch.context() as mp, counted_reads(mp) as reads:
        with walk.on(), contextlib.redirect_stdout(io.StringIO()):
            code = main(args)
        reads = {k: Counter(v) for k, v in reads.items()}
    assert code == 0
    return project, reads, walk


def test_a_run_reads_no_file_of_a_light_twice(night, walked) -> None:
    project, reads, _ = walked
    lights = sorted(night.glob("light_*.fits"))
    assert len(lights) == CONFIG.n_frames
    for light in lights:
        products = [p for p in project.rglob(f"{light.stem}.*") if p.is_file()]
        # Each step's product of the frame: calibrated pixels, sources, WCS,
        # photometry, zero point and magnitudes.
        assert len(products) >= 6, products
        raw = light.resolve()
        # The scan reads its header (and the fingerprint's digest) in one open,
        # the chain its pixels in one more: no read for the fingerprint.
        assert (reads["scan"][raw], reads["run"][raw]) == (1, 1), light.name
        twice = {
            p.name: reads["run"][p.resolve()] for p in products if reads["run"][p.resolve()] > 1
        }
        assert not twice, (light.name, twice)
        assert not any(reads["scan"][p.resolve()] for p in products)


def test_a_run_goes_down_the_layers_without_climbing_back(walked) -> None:
    _, _, walk = walked
    assert not walk.climbs, dict(walk.climbs)
    # The probe saw the frames go down through the engine's steps.
    for package in ("chain", "calibration", "detection", "astrometry", "photometry", "zeropoint"):
        assert walk.into_core[package] > 0, (package, dict(walk.into_core))


def test_the_walk_sees_a_climb(tmp_path) -> None:
    # The engine calling back into application code that is not the progress
    # callback it was handed is caught.
    shown = TerminalProgress(io.StringIO())
    walk = Walk()
    with walk.on():
        per_file(tmp_path / "x.fits", shown.done)
        per_file(tmp_path / "y.fits", lambda: shown(0.5, "half"))
    assert list(walk.climbs) == [
        (
            "fluxion.core.runtime.failures.per_file",
            "fluxion.app.commands.progress.TerminalProgress.done",
        )
    ]
