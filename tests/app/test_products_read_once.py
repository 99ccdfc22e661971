"""The window reads each product of a project once, and its workers get plain inputs.

A project made by ``fluxion run`` is opened in the window; every step panel is
brought to the front and every frame shown, twice. Every file the process opens
under the project folder is recorded (a Python audit hook sees astropy's,
numpy's and our own opens alike): no product may be read twice, since the
viewer, the panels and the target tools share what was read
(:class:`fluxion.core.project.cache.ProductCache`). A second test starts each
panel's run and looks at what reaches the worker pool: no widget, no session,
no method bound to a panel, only plain snapshots.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject

from fluxion.app.panels.lightcurve_model import calibration_stars, field_stars
from fluxion.core.project.cache import ProductCache
from fluxion.core.project.products import ProductStore

# Opens recorded while _WATCH[0] holds a folder: {path: number of reads}. An audit
# hook cannot be removed, so it stays installed and idle outside these tests.
_WATCH: list[str | None] = [None]
_READS: Counter = Counter()
_LAST: dict[int, tuple[str, int]] = {}


def _hook(event: str, args: tuple) -> None:
    folder = _WATCH[0]
    if event != "open" or folder is None or not isinstance(args[0], str | Path):
        return
    path = str(args[0])
    mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
    if not path.startswith(folder) or any(c in mode for c in "wax+"):
        return
    # One Python call may raise two events (io.open, then the FileIO it makes):
    # count a read once per calling frame.
    caller = sys._getframe(1)
    seen = (path, id(caller))
    if _LAST.get(threading.get_ident()) == seen:
        return
    _LAST[threading.get_ident()] = seen
    _READS[path] += 1


sys.addaudithook(_hook)


def _idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.workers.running(include_quiet=True), timeout=60_000)


def _visit_everything(qtbot, window) -> None:
    for panel in window.panels:
        window.raise_step(panel.title)
        _idle(qtbot, window)
    for i in range(len(window.session.sequence)):
        with qtbot.waitSignal(window.session.frame_ready, timeout=20_000):
            window.session.go_to(i)
        _idle(qtbot, window)


def test_opening_a_project_reads_each_product_once(window, qtbot, field_project) -> None:
    _, folder, _ = field_project
    _READS.clear()
    _WATCH[0] = str(folder)
    try:
        with qtbot.waitSignal(window.session.frame_ready, timeout=60_000):
            window.open_project(folder)
        _idle(qtbot, window)
        _visit_everything(qtbot, window)
        _visit_everything(qtbot, window)  # coming back reads nothing again
        # What a light curve reads besides the pixels (the first light's detections
        # and zero-point stars) the Detection and Zero point panels read already.
        targets = next(p for p in window.panels if p.title == "Targets")
        qtbot.waitUntil(lambda: targets.frames is not None, timeout=120_000)
        store, cache = window.session.product_store(), window.session.product_cache
        first = window.session.sequence[targets.frames.indices[0]]
        assert field_stars(store, first, cache) is not None
        assert calibration_stars(store, targets.frames, 12.0, cache) is not None
    finally:
        _WATCH[0] = None
    products = {
        p: n
        for p, n in _READS.items()
        if not p.endswith(("index.json", "index.jsonl", "project.json"))
    }
    # Something was read (the panels show what the run left)...
    solutions = [p for p in products if p.endswith(".wcs.fits")]
    assert len(solutions) == len(window.session.light_indices())
    assert any("/sources/" in p for p in products) and any("/photometry/" in p for p in products)
    # ...and nothing twice.
    twice = {Path(p).relative_to(folder).as_posix(): n for p, n in products.items() if n > 1}
    assert not twice, f"products read more than once: {twice}"


def _qt_objects(root: Any, depth: int = 0, seen: set[int] | None = None) -> list[str]:
    """What of ``root`` (a callable and its arguments) is or holds a QObject."""
    seen = set() if seen is None else seen
    if depth > 6 or id(root) in seen:
        return []
    seen.add(id(root))
    if isinstance(root, QObject):
        return [type(root).__name__]
    found: list[str] = []
    inner: list[Any] = []
    if isinstance(root, functools.partial):
        inner = [root.func, *root.args, *root.keywords.values()]
    elif hasattr(root, "__self__") and hasattr(root, "__func__"):  # a bound method
        inner = [root.__self__, root.__func__]
    elif callable(root) and hasattr(root, "__code__"):
        inner = [c.cell_contents for c in (root.__closure__ or ()) if _filled(c)]
        inner += list(root.__defaults__ or ()) + list((root.__kwdefaults__ or {}).values())
    elif isinstance(root, list | tuple | set | frozenset):
        inner = list(root)
    elif isinstance(root, dict):
        inner = list(root.values())
    elif dataclasses.is_dataclass(root) and not isinstance(root, type):
        inner = [getattr(root, f.name) for f in dataclasses.fields(root)]
    for item in inner:
        found += _qt_objects(item, depth + 1, seen)
    return found


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018 (an empty cell raises)
    except ValueError:
        return False
    return True


def test_panel_runs_hand_their_workers_plain_inputs(
    window, qtbot, field_project, monkeypatch
) -> None:
    _, folder, _ = field_project
    with qtbot.waitSignal(window.session.frame_ready, timeout=60_000):
        window.open_project(folder)
    _idle(qtbot, window)
    submit = window.workers.submit
    handed: list[tuple[str, list[str]]] = []

    def watching(fn, *args, name: str, **kwargs):
        handed.append((name, _qt_objects((fn, args, kwargs))))
        return submit(fn, *args, name=name, **kwargs)

    monkeypatch.setattr(window.workers, "submit", watching)
    ran = []
    for panel in window.panels:
        window.raise_step(panel.title)
        if panel.run_current() is not None:
            ran.append(panel.title)
        window.workers.cancel_all()  # what matters is what was handed over
        _idle(qtbot, window)
    # The frame-by-frame steps all started (the project has what they need).
    assert {"Frame statistics", "Astrometry", "Photometry", "Zero point"} <= set(ran)
    assert handed
    widgets = {name: found for name, found in handed if found}
    assert not widgets, f"workers were handed Qt objects: {widgets}"


def test_the_cache_reads_a_product_again_only_when_a_run_changed_it(tmp_path) -> None:
    store = ProductStore(tmp_path)
    frame = type("Frame", (), {"path": tmp_path / "light_0001.fits"})()
    cache = ProductCache()
    reads: list[int] = []

    def load(s: ProductStore, f: Any) -> int:
        reads.append(1)
        return len(reads)

    store.record("detection", frame.path, "fp-1")
    assert cache.get(store, "detection", frame, load) == 1
    assert cache.get(store, "detection", frame, load) == 1
    assert len(reads) == 1
    store.record("detection", frame.path, "fp-2")  # a new run made it again
    assert cache.get(store, "detection", frame, load) == 2
    # Another step's record leaves it alone; another product of the step is its own.
    store.record("photometry", frame.path, "fp-3")
    assert cache.get(store, "detection", frame, load) == 2
    assert cache.get(store, "detection", frame, load, what="other") == 3
    assert cache.reads == 3


def test_the_cache_keeps_no_failure_and_reads_once_for_two_threads(tmp_path) -> None:
    store = ProductStore(tmp_path)
    frame = type("Frame", (), {"path": tmp_path / "light_0001.fits"})()
    cache = ProductCache()

    def broken(s: ProductStore, f: Any) -> int:
        raise OSError("damaged")

    with pytest.raises(OSError, match="damaged"):
        cache.get(store, "astrometry", frame, broken)
    assert len(cache) == 0
    gate, calls = threading.Event(), []

    def slow(s: ProductStore, f: Any) -> str:
        calls.append(1)
        gate.wait(5)
        return "solution"

    out: list[str] = []
    threads = [
        threading.Thread(target=lambda: out.append(cache.get(store, "astrometry", frame, slow)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert out == ["solution", "solution"] and len(calls) == 1


def test_a_small_cache_forgets_the_least_recently_used(tmp_path) -> None:
    store = ProductStore(tmp_path)
    frames = [type("F", (), {"path": tmp_path / f"light_{k}.fits"})() for k in range(3)]
    cache = ProductCache(max_entries=2)
    for f in frames:
        cache.get(store, "detection", f, lambda s, fr: fr.path.name)
    assert len(cache) == 2 and cache.reads == 3
    cache.get(store, "detection", frames[0], lambda s, fr: fr.path.name)
    assert cache.reads == 4  # the first was dropped
