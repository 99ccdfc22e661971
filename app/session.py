"""The open sequence and project, the current frame, and frame loading with prefetch.

A :class:`Session` is what the main window and every step panel share: the
:class:`~fluxion.core.io.sequence.Sequence`, the :class:`~fluxion.core.project.document.Project`,
the current frame and the :class:`~fluxion.app.workers.WorkerPool`. Frames are
prepared for display in workers (:func:`prepare_display`: pixels, WCS, limits,
histogram) and kept in a small cache; the neighbours of the current frame are
prefetched so that stepping or blinking shows a ready frame at once.

Steps keep their per-frame products in the project folder
(:meth:`Session.product_store`); the viewer shows each frame raw or, when
chosen (:meth:`Session.set_show_calibrated`), its calibrated product.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from PySide6.QtCore import QObject, Signal

from fluxion.core.catalogs.night import night_catalog
from fluxion.core.chain.project_facts import with_project_facts
from fluxion.core.chain.solve import load_solution
from fluxion.core.display.debayer import colour_picture
from fluxion.core.display.stretch import Limits, block_preview, compute_limits, display_histogram
from fluxion.core.io.fitsio import read_image
from fluxion.core.io.names import FrameNames
from fluxion.core.io.sequence import Sequence, scan
from fluxion.core.io.site import ObservingSite, with_sites
from fluxion.core.project.cache import ProductCache
from fluxion.core.project.document import Project
from fluxion.core.project.earlier import earlier_project
from fluxion.core.project.products import ProductStore
from fluxion.core.project.results import ResultsChange, SessionResults
from fluxion.core.runtime.pipeline import StepState

from .project_folder import default_project_folder, night_name, user_projects_folder
from .results_signal import ResultsSignal
from .settings import Settings
from .workers import ErrorInfo, Task, WorkerPool

__all__ = [
    "REFERENCE_CATALOG",
    "DisplayFrame",
    "default_project_folder",
    "user_projects_folder",
    "prepare_display",
    "Session",
]

log = logging.getLogger("fluxion.app.session")

# project.steps entry naming the project's reference catalog file.
REFERENCE_CATALOG = "reference_catalog"

# Frames kept ready for display: the current one, a few behind and ahead.
DISPLAY_CACHE = 8
PREFETCH_AHEAD = 3


@dataclass(frozen=True)
class DisplayFrame:
    """A frame ready to show: pixels, header, WCS, limits and histogram."""

    index: int
    data: np.ndarray
    header: fits.Header
    wcs: WCS | None
    method: str
    limits: Limits
    histogram: tuple[np.ndarray, np.ndarray]
    preview: tuple[np.ndarray, int] | None = None
    calibrated: bool = False
    colour: tuple[np.ndarray, int] | None = None
    """A colour frame's RGB picture (display only) and its block size."""
    pattern: str | None = None
    """A colour frame's Bayer pattern (its pixels' colours, e.g. 'GRBG'), with ``colour``."""


def calibrated_pixels(store: ProductStore, frame) -> np.ndarray | None:
    """The calibrated product of ``frame`` when calibration recorded one, else None."""
    path = store.path("calibration", frame.path, ".fits")
    if store.fingerprint_of("calibration", frame.path) is None or not path.is_file():
        return None
    return read_image(path, dtype=np.float32)


def prepare_display(
    sequence: Sequence,
    index: int,
    method: str = "zscale",
    state: StepState | None = None,
    store: ProductStore | None = None,
    solutions: ProductStore | None = None,
    cache: ProductCache | None = None,
) -> DisplayFrame:
    """Read frame ``index`` and compute what the viewer needs (runs in a worker).

    With a ``store``, the frame's calibrated product is shown when there is
    one (``calibrated`` says which was shown); the raw frame otherwise. With
    ``solutions`` (the project's products), the WCS is the frame's plate
    solution when it has one, so the readout gives RA and Dec once solved;
    the solution is read through ``cache`` (the panels read the same one).
    """
    data = calibrated_pixels(store, sequence[index]) if store is not None else None
    calibrated = data is not None
    if data is None:
        data = sequence.data(index)
    if state is not None:
        state.progress(0.7, "display limits")
    limits = compute_limits(data, method)
    header = sequence.header(index)
    wcs = solved_wcs(solutions, sequence[index], cache) if solutions is not None else None
    return DisplayFrame(
        index=index,
        data=data,
        header=header,
        wcs=wcs if wcs is not None else sequence.wcs(index),
        method=method,
        limits=limits,
        histogram=display_histogram(data, limits),
        preview=_preview(data),
        calibrated=calibrated,
        colour=(colour := _colour(sequence[index], data)),
        pattern=getattr(sequence[index], "cfa", None) if colour is not None else None,
    )


def solved_wcs(store: ProductStore, frame, cache: ProductCache | None = None) -> WCS | None:
    """``frame``'s plate solution's WCS, or None (not solved, or a damaged solution).

    Read through ``cache`` when given, so the viewer, the Astrometry panel and
    the target tools read a frame's solution once.
    """
    try:
        if cache is None:
            solution = load_solution(store, frame)
        else:
            solution = cache.get(store, "astrometry", frame, load_solution)
    except (OSError, ValueError) as exc:  # a damaged solution: the header's WCS
        log.warning("%s: the plate solution cannot be read: %s", frame.path.name, exc)
        return None
    if solution is None or not solution.solved:
        return None
    return solution.wcs


def _colour(frame, data: np.ndarray) -> tuple[np.ndarray, int] | None:
    """The RGB picture of a colour (Bayer) frame, None for a monochrome one."""
    pattern = getattr(frame, "cfa", None)
    # A calibrated product trimmed to another size may start on another colour.
    if not pattern or (frame.shape is not None and tuple(frame.shape) != data.shape):
        return None
    return colour_picture(data, pattern)


def _preview(data: np.ndarray) -> tuple[np.ndarray, int] | None:
    preview, factor = block_preview(data)
    return None if preview is None else (preview, factor)


def _limits_for(frame: DisplayFrame, method: str) -> DisplayFrame:
    limits = compute_limits(frame.data, method)
    return DisplayFrame(
        frame.index,
        frame.data,
        frame.header,
        frame.wcs,
        method,
        limits,
        display_histogram(frame.data, limits),
        calibrated=frame.calibrated,
        colour=frame.colour,
        pattern=frame.pattern,
    )


class Session(QObject):
    """The shared state of the window: sequence, project, current frame.

    Signals
    -------
    sequence_changed()
        A new sequence was opened (the frame table and panels reset).
    current_changed(int)
        The current frame index changed (panels redo their work on it).
    frame_ready(object)
        The :class:`DisplayFrame` of the current frame is ready to show.
    project_changed()
        The project was opened, saved or its folder changed.
    status_message(str)
        Something the user should know in passing (shown in the status bar).
    frame_column_changed(str, object, str)
        A step's per-frame values for the frame table: title, {frame index:
        value} (None removes the column), number format.
    reference_catalog_changed()
        The project's reference catalog file was set or cleared.
    targets_changed()
        ``project.targets`` changed (a target made, removed, clicked, renamed).
    site_changed()
        The project's observing site changed (the lights' sites with it).
    """

    sequence_changed = Signal()
    current_changed = Signal(int)
    frame_ready = Signal(object)
    project_changed = Signal()
    status_message = Signal(str)
    frame_column_changed = Signal(str, object, str)
    reference_catalog_changed = Signal()
    targets_changed = Signal()
    site_changed = Signal()

    def __init__(self, workers: WorkerPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workers = workers
        self.sequence: Sequence | None = None
        self.project = Project()
        self.current = -1
        self.limits_method = "zscale"
        self.shown: DisplayFrame | None = None
        self._cache: OrderedDict[int, DisplayFrame] = OrderedDict()
        self._inflight: set[int] = set()
        self._step = 1
        self.show_calibrated = False
        # Previous/Next/Play step through the lights only unless asked for every frame.
        self.step_all_frames = False
        # The user's settings (the window's), for what outlives a project; None alone.
        self.settings: Settings | None = None
        self._display_generation = 0
        self._store: ProductStore | None = None
        # Products read by the viewer and the panels, kept while current (Qt-free,
        # handed to workers): each is read once until a run changes it.
        self.product_cache = ProductCache()
        # What each step produced this session (Qt-free models, one per step):
        # a panel writes its step's, the viewer and the other panels read them.
        self.results = SessionResults()
        # The viewer's readout shows RA, Dec from a new plate solution.
        self._solutions = ResultsSignal(self.results.of("astrometry"), self)
        self._solutions.changed.connect(self._on_solutions)
        # The names of the open sequence's frames, with a weak reference to it: a
        # night closed is not kept alive (with its pixel cache) by its names.
        self._names: tuple[weakref.ref | None, FrameNames] = (None, FrameNames())

    # -- products -------------------------------------------------------------
    def product_store(self) -> ProductStore:
        """The per-frame products of the project folder (call on the GUI thread).

        An unsaved project is saved first to :func:`default_project_folder`,
        and the status bar says where.
        """
        project = self.project
        if project.folder is None:
            folder = default_project_folder(project)
            project.save(folder)
            self.status_message.emit(
                f"Unsaved project: its products go to {project.folder} (your frames are "
                "not written; File > Save project as... chooses another folder)"
            )
            log.info("project saved to %s for its products", project.folder)
            self.project_changed.emit()
        saved = project.folder
        if saved is None:  # Project.save gives it its folder
            raise RuntimeError("the project has no folder after saving")
        if self._store is None or self._store.folder != saved:
            self._store = ProductStore(saved)
        self._store.names = self.frame_names()
        return self._store

    def frame_names(self) -> FrameNames:
        """The open frames' unique names, which their products take (:mod:`fluxion.core.io.names`).

        Named over every open frame, as ``fluxion run`` names a night's, so
        the window and the run find each other's products.
        """
        seq = self.sequence
        if seq is None:
            return FrameNames()
        held = self._names[0]
        if held is None or held() is not seq:
            self._names = (weakref.ref(seq), FrameNames.of_night(seq.frames))
        return self._names[1]

    def reference_catalog(self) -> Path | None:
        """The project's reference catalog file (it may be gone), or None when it has none.

        One place for both the Astrometry panel (asked before the step's named
        catalog) and the Zero point panel (its "catalog file"); kept in
        ``project.json`` under ``steps["reference_catalog"]``.
        """
        entry = self.project.steps.get(REFERENCE_CATALOG, {})
        name = str(entry.get("file", "")) if isinstance(entry, dict) else ""
        if not name:
            return None
        path = Path(name)
        if not path.is_absolute() and self.project.folder is not None:
            path = self.project.folder / path
        return path

    def set_reference_catalog(self, path: str | os.PathLike[str] | None) -> None:
        """Make ``path`` the project's reference catalog (None: no file; services only)."""
        file = str(Path(path).resolve()) if path else ""
        self.project.steps[REFERENCE_CATALOG] = {"file": file}
        self.reference_catalog_changed.emit()

    def set_show_calibrated(self, on: bool) -> None:
        """Show frames calibrated (when their product exists) or raw; reloads the frame.

        The choice is the project's (``display['show_calibrated']``), so a reopened
        project shows its frames as they were left.
        """
        self.project.display["show_calibrated"] = bool(on)
        if bool(on) != self.show_calibrated:
            self.show_calibrated = bool(on)
            self.refresh_display()

    def refresh_display(self) -> None:
        """Forget the prepared frames and load the current one again (products changed)."""
        self._display_generation += 1
        self._cache.clear()
        self._inflight.clear()
        self.shown = None
        if self.current >= 0:
            self.go_to(self.current)

    def _on_solutions(self, change: ResultsChange) -> None:
        if change.restored:
            return  # read with the project: the frames load with their solutions
        solved = self.results.of("astrometry")
        if any(getattr(solved.get(i), "solved", False) for i in change.frames):
            self.refresh_display()

    def set_frame_column(
        self, title: str, values: Mapping[int, float] | None, fmt: str = "{:.2f}"
    ) -> None:
        """Show a step's per-frame values as a frame-table column (None removes it)."""
        self.frame_column_changed.emit(title, None if values is None else dict(values), fmt)

    # -- opening --------------------------------------------------------------
    def open_paths(
        self, paths: Iterable[str | os.PathLike[str]], project: Project | None = None
    ) -> Task:
        """Scan files and folders in a worker, then open the usable frames."""
        files = [Path(p) for p in paths]
        executor = self.workers.frame_executor

        projects = user_projects_folder()

        def work(state: StepState) -> tuple[list, list, Project | None]:
            frames = scan(files, state=state, executor=executor)
            usable = [f for f in frames if f.usable]
            # The night opened before and not saved elsewhere: its project again.
            earlier = (
                None if project is not None else earlier_project([f.path for f in usable], projects)
            )
            return usable, [f for f in frames if not f.usable], earlier

        task = self.workers.submit(work, name=f"Reading headers of {files[0].name}", key="open")
        task.result.connect(lambda res: self._opened(res, project, files))
        return task

    def _opened(
        self, result: tuple[list, list, Project | None], project: Project | None, paths: list[Path]
    ) -> None:
        usable, unusable, earlier = result
        for f in unusable:
            log.warning("%s cannot be used: %s", f.path.name, "; ".join(f.problems) or "no image")
        if not usable:
            names = ", ".join(str(p) for p in paths)
            self.workers.error.emit(
                ErrorInfo(
                    "Opening",
                    f"no usable FITS frames in {names}",
                    "Choose a folder holding FITS images (.fits, .fit, .fts, .fz).",
                )
            )
            return
        if project is None and earlier is not None:
            project = earlier
            self.status_message.emit(
                f"This night was opened before: its project in {earlier.folder} goes on, with "
                "the steps already run (File > Save project as... moves it elsewhere)"
            )
        if project is None:
            inputs = [f.path for f in usable]
            project = Project.from_inputs(inputs, name=night_name(paths, inputs))
        if REFERENCE_CATALOG not in project.steps:
            # A demo night carries the stars it was made from: it solves and
            # calibrates offline. An explicit choice (even "none") is kept.
            reference = night_catalog(paths)
            if reference is not None:
                project.steps[REFERENCE_CATALOG] = {"file": str(reference)}
        self.set_sequence(Sequence(usable, executor=self.workers.frame_executor), project)

    def set_site(self, site: ObservingSite | None) -> None:
        """Make ``site`` the project's observing site, for the lights whose headers give none.

        The open lights take it at once (their headers' sites stay), so every
        panel's next run sees it; runs already made keep their airmass and BJD.
        """
        self.project.site = site
        if self.sequence is not None:
            self.sequence.frames = with_sites(self.sequence.frames, site)
        self.site_changed.emit()

    def set_sequence(self, sequence: Sequence, project: Project | None = None) -> None:
        """Show ``sequence`` (and make ``project`` current); goes to the saved frame."""
        # The project's site and telescope aperture where the headers give none: what a
        # run of the project sees (the same airmass, BJD and scintillation in every error).
        sequence.frames = with_project_facts(
            sequence.frames, project if project is not None else self.project
        )
        self.sequence = sequence
        self.product_cache.clear()
        self.results.clear()  # every step's results were the previous night's
        self._cache.clear()
        self._inflight.clear()
        self.shown = None
        self.current = -1
        if project is not None:
            self.project = project
            # Before the first frame loads: it is shown as the project left it.
            self.show_calibrated = bool(project.display.get("show_calibrated", False))
            self.project_changed.emit()
        self.sequence_changed.emit()
        saved = self.project.display.get("frame")
        if saved is None:
            # a night opens on its first light, not on the calibration frames
            lights = [i for i, f in enumerate(sequence.frames) if f.type == "light"]
            saved = lights[0] if lights else 0
        start = int(saved)
        if len(sequence):
            self.go_to(min(max(start, 0), len(sequence) - 1))

    def __len__(self) -> int:
        return 0 if self.sequence is None else len(self.sequence)

    # -- moving between frames ------------------------------------------------
    def go_to(self, index: int) -> None:
        """Make frame ``index`` current; shows it at once when prefetched."""
        if self.sequence is None or not 0 <= index < len(self.sequence):
            return
        if index != self.current:
            self._step = 1 if index >= self.current else -1
            self.current = index
            self.project.display["frame"] = index
            self.current_changed.emit(index)
        hit = self._cache.get(index)
        if hit is not None and hit.method == self.limits_method:
            self._cache.move_to_end(index)
            self._show(hit)
        else:
            self._load(index, quiet=False)
        self._prefetch_around(index)

    def light_indices(self) -> list[int]:
        """Indices of the light frames (all frames when the night has no light)."""
        if self.sequence is None:
            return []
        lights = [i for i, f in enumerate(self.sequence.frames) if f.type == "light"]
        return lights or list(range(len(self.sequence)))

    def stepped_indices(self) -> list[int]:
        """The frames Previous, Next and Play go through: the lights, unless
        :attr:`step_all_frames` (bias, dark and flat frames too)."""
        if self.sequence is None:
            return []
        if self.step_all_frames:
            return list(range(len(self.sequence)))
        return self.light_indices()

    def time_origin(self) -> float | None:
        """The JD every panel counts "hours since the first light" from (None: no times)."""
        if self.sequence is None:
            return None
        jd = [j for j in (self.sequence[i].jd for i in self.light_indices()) if j is not None]
        return min(jd) if jd else None

    def next(self, wrap: bool = False) -> None:
        """The next frame to step to (wrapping to the first when ``wrap``)."""
        order = self.stepped_indices()
        if not order:
            return
        later = [i for i in order if i > self.current]
        if later:
            self.go_to(later[0])
        elif wrap:
            self.go_to(order[0])
        elif self.current not in order:
            self.go_to(order[-1])

    def previous(self, wrap: bool = False) -> None:
        """The previous frame to step to (wrapping to the last when ``wrap``)."""
        order = self.stepped_indices()
        if not order:
            return
        earlier = [i for i in order if i < self.current]
        if earlier:
            self.go_to(earlier[-1])
        elif wrap:
            self.go_to(order[-1])
        elif self.current not in order:
            self.go_to(order[0])

    def set_limits_method(self, method: str) -> None:
        """Recompute the current frame's display limits with ``method`` (in a worker)."""
        self.limits_method = method
        frame = self.shown
        if frame is None:
            return
        task = self.workers.submit(
            _limits_for, frame, method, name="Display limits", key="limits", pass_state=False
        )
        task.result.connect(self._on_limits)

    def _on_limits(self, frame: DisplayFrame) -> None:
        self._remember(frame)
        if frame.index == self.current:
            self._show(frame)

    def is_prefetched(self, index: int) -> bool:
        """Whether frame ``index`` is ready in the display cache."""
        return index in self._cache

    # -- internals ------------------------------------------------------------
    def _load(self, index: int, quiet: bool) -> None:
        if self.sequence is None or index in self._inflight:
            return
        self._inflight.add(index)
        seq, method = self.sequence, self.limits_method
        store = solutions = None
        if self.project.folder is not None:
            solutions = self.product_store()
            store = solutions if self.show_calibrated else None
        generation = self._display_generation
        task = self.workers.submit(
            prepare_display,
            seq,
            index,
            method,
            store=store,
            solutions=solutions,
            cache=self.product_cache,
            name=f"Loading frame {index + 1}",
            quiet=quiet,
            key=None if quiet else "frame",
        )
        task.result.connect(lambda frame, s=seq, g=generation: self._loaded(frame, s, g))
        task.finished.connect(lambda i=index: self._inflight.discard(i))

    def _loaded(self, frame: DisplayFrame, sequence: Sequence, generation: int = 0) -> None:
        if sequence is not self.sequence:
            return  # a frame of a sequence that was closed meanwhile
        if generation != self._display_generation:
            return  # prepared before the products or the raw/calibrated choice changed
        self._remember(frame)
        if frame.index == self.current and (self.shown is None or self.shown.index != frame.index):
            self._show(frame)

    def _remember(self, frame: DisplayFrame) -> None:
        self._cache[frame.index] = frame
        self._cache.move_to_end(frame.index)
        while len(self._cache) > DISPLAY_CACHE:
            old = next(iter(self._cache))
            if old == self.current:
                self._cache.move_to_end(old)
                old = next(iter(self._cache))
            del self._cache[old]

    def _prefetch_around(self, index: int) -> None:
        order = self.stepped_indices()
        n = len(order)
        if not n:
            return
        # ahead in the direction of travel (wrapping, for blinking), one behind,
        # among the frames stepping goes through
        here = int(np.searchsorted(order, index))
        if not (here < n and order[here] == index) and self._step > 0:
            here -= 1  # a frame stepping skips: the next one ahead is order[here + 1]
        wanted = [order[(here + self._step * k) % n] for k in range(1, PREFETCH_AHEAD + 1)]
        wanted.append(order[(here - self._step) % n])
        for j in wanted:
            if j not in self._cache and j != index:
                self._load(j, quiet=True)

    def _show(self, frame: DisplayFrame) -> None:
        self.shown = frame
        self.frame_ready.emit(frame)
