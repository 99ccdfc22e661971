"""The project: a folder holding ``project.json`` and the products made from the inputs.

``project.json`` records the schema version, the input files, each step's
parameters, the targets, the results index (which products each finished step
wrote) and the display state. The window and the headless ``fluxion run`` write
the same file. Input files are never written to; the project file is saved
atomically, so a crash mid-save leaves the previous version intact.

Older files are brought up to date by :data:`MIGRATIONS`, one function per
schema step; when the schema changes, keep an old file as a test fixture.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import errno
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.fitsio import atomic_write_text
from ..io.folders import PROJECT_FILE
from ..io.site import ObservingSite
from ..runtime.failures import failure_message
from ..runtime.params import params_from_dict, params_to_dict
from .schema import check_document, inside

__all__ = [
    "SCHEMA_VERSION",
    "PROJECT_FILE",
    "MIGRATIONS",
    "ProjectError",
    "StepResult",
    "Project",
    "migrate",
    "is_project",
]

SCHEMA_VERSION = 1

# version -> function turning a document of that version into version + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class ProjectError(ValueError):
    """A project file that cannot be used; the message says why and what to do."""


log = logging.getLogger(__name__)

# Why a save fails in a folder the user may only read.
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _positive(value: Any) -> float | None:
    """A stored positive number (the schema has checked it), or None when absent."""
    return None if value is None else float(value)


def migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """Bring a project document to :data:`SCHEMA_VERSION` through :data:`MIGRATIONS`."""
    version = doc.get("schema_version")
    if not isinstance(version, int):
        raise ProjectError("not a Fluxion project file: it has no integer schema_version")
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"this project was written by a newer Fluxion (schema {version}, this one reads up "
            f"to {SCHEMA_VERSION}); update Fluxion to open it"
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ProjectError(f"no migration from project schema {version}; cannot open it")
        doc = step(dict(doc))
        version += 1
        doc["schema_version"] = version
    return doc


def _same_kind(value: Any, default: Any) -> bool:
    """Whether a stored parameter value may stand for a field whose default is ``default``."""
    if default is dataclasses.MISSING or default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, tuple | list):
        return isinstance(value, list | tuple)
    return True


def is_project(path: str | os.PathLike[str]) -> bool:
    """True for a project folder or a ``project.json`` file."""
    p = Path(path)
    return (p.is_dir() and (p / PROJECT_FILE).is_file()) or (p.is_file() and p.name == PROJECT_FILE)


@dataclass
class StepResult:
    """What a finished step left in the project folder."""

    files: list[str] = field(default_factory=list)
    """Products, relative to the project folder."""
    finished: str = ""
    """ISO time (UTC) the step finished."""
    summary: dict[str, Any] = field(default_factory=dict)
    """Small JSON-able numbers worth showing without opening the products."""


@dataclass
class Project:
    """A Fluxion project; ``folder`` is None until it is first saved.

    Paths of inputs are kept absolute in memory; in the file they are relative
    to the project folder when they lie inside it, so a project folder that
    holds its data can be moved as a whole.
    """

    folder: Path | None = None
    name: str = "untitled"
    inputs: list[Path] = field(default_factory=list)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, StepResult] = field(default_factory=dict)
    display: dict[str, Any] = field(default_factory=dict)
    site: ObservingSite | None = None
    """The observing site for frames whose headers give none (theirs win)."""
    telescope_aperture_mm: float | None = None
    """The telescope's aperture diameter (mm) for lights whose headers give none (theirs win):
    the scintillation in every star's error."""
    created: str = field(default_factory=_now)
    modified: str = ""
    # The document as last read or written (without its time), to save only changes.
    _saved: str = field(default="", repr=False, compare=False)
    _saved_state: str = field(default="", repr=False, compare=False)

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_inputs(cls, inputs: Iterable[str | os.PathLike[str]], name: str = "") -> Project:
        """An unsaved project over these input files."""
        paths = [Path(p).resolve() for p in inputs]
        if not name and paths:
            name = paths[0].parent.name
        return cls(name=name or "untitled", inputs=paths)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Project:
        """Open a project folder (or its ``project.json``)."""
        p = Path(path)
        file = p / PROJECT_FILE if p.is_dir() else p
        if not file.is_file():
            raise ProjectError(f"no {PROJECT_FILE} in {p}; open a project folder or its file")
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProjectError(f"cannot read {file}: {exc}") from exc
        except (ValueError, RecursionError) as exc:  # a 5000-digit number, deep nesting
            raise ProjectError(f"{file} is not a usable project file: {exc}") from exc
        if not isinstance(doc, dict):
            raise ProjectError(f"{file} is not a Fluxion project (no JSON object)")
        try:
            check_document(doc)
        except ValueError as exc:
            raise ProjectError(f"{file} is damaged: {exc}") from exc
        project = cls._from_doc(migrate(doc), file.parent.resolve())
        project._saved = project._content()
        project._saved_state = project._content(bookkeeping=False)
        return project

    @classmethod
    def _from_doc(cls, doc: dict[str, Any], folder: Path) -> Project:
        try:
            results = {
                k: StepResult(
                    files=list(v.get("files", [])),
                    finished=str(v.get("finished", "")),
                    summary=dict(v.get("summary", {})),
                )
                for k, v in doc.get("results", {}).items()
            }
            return cls(
                folder=folder,
                name=str(doc.get("name", folder.name)),
                inputs=[(folder / p).resolve() for p in doc.get("inputs", [])],
                steps={k: dict(v) for k, v in doc.get("steps", {}).items()},
                targets=[dict(t) for t in doc.get("targets", [])],
                results=results,
                display=dict(doc.get("display", {})),
                site=None if doc.get("site") is None else ObservingSite.from_dict(doc["site"]),
                telescope_aperture_mm=_positive(doc.get("telescope_aperture_mm")),
                created=str(doc.get("created", "")),
                modified=str(doc.get("modified", "")),
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise ProjectError(f"the project file in {folder} is damaged: {exc}") from exc

    # -- saving ---------------------------------------------------------------
    @property
    def file(self) -> Path | None:
        """The ``project.json`` path, or None while unsaved."""
        return None if self.folder is None else self.folder / PROJECT_FILE

    def to_doc(self) -> dict[str, Any]:
        """The JSON document (paths relative to the folder where possible)."""
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "created": self.created,
            "modified": self.modified,
            "inputs": [self._relative(p) for p in self.inputs],
            "steps": self.steps,
            "targets": self.targets,
            "results": {k: dataclasses.asdict(v) for k, v in self.results.items()},
            "display": self.display,
        }
        if self.site is not None:  # absent, not null: a project without one reads as before
            doc["site"] = self.site.to_dict()
        if self.telescope_aperture_mm is not None:
            doc["telescope_aperture_mm"] = self.telescope_aperture_mm
        return doc

    def save(self, folder: str | os.PathLike[str] | None = None) -> Path:
        """Write ``project.json`` atomically into ``folder`` (default: the current one).

        Saving into a new folder is "Save as": the folder becomes the project's.
        """
        target = Path(folder).resolve() if folder is not None else self.folder
        if target is None:
            raise ProjectError("the project has no folder yet; choose one with Save as")
        if target.exists() and not target.is_dir():
            raise ProjectError(f"{target} is a file; choose a folder for the project")
        file = target / PROJECT_FILE
        if file.is_dir():
            raise ProjectError(f"{file} is a folder; a project file cannot be written there")
        if file.resolve() in {p.resolve() for p in self.inputs}:
            raise ProjectError(f"{file} is one of the inputs; input files are never written")
        if target == self.folder and file.is_file() and self._content() == self._saved:
            # Nothing changed: a finished project re-runs from a read-only folder.
            return file
        target.mkdir(parents=True, exist_ok=True)
        self.folder = target
        self.modified = _now()
        try:
            atomic_write_text(file, json.dumps(self.to_doc(), indent=1, default=str) + "\n")
        except OSError as exc:
            why = failure_message(exc)
            if exc.errno in _READ_ONLY and self._content(bookkeeping=False) == self._saved_state:
                # Only the run's own account changed (when each step finished, how
                # many frames it redid): a finished project in a read-only folder.
                log.warning("%s not updated: %s", file, why)
                return file
            raise ProjectError(f"cannot save the project in {target}: {why}") from exc
        self._saved = self._content()
        self._saved_state = self._content(bookkeeping=False)
        return file

    def _content(self, bookkeeping: bool = True) -> str:
        doc = self.to_doc()
        doc.pop("modified", None)
        if not bookkeeping:
            doc["results"] = {k: v["files"] for k, v in doc["results"].items()}
        return json.dumps(doc, sort_keys=True, default=str)

    def _relative(self, p: Path) -> str:
        if self.folder is not None:
            try:
                return Path(p).resolve().relative_to(self.folder).as_posix()
            except ValueError:
                pass
        return str(Path(p).resolve())

    # -- steps, targets, results ----------------------------------------------
    def set_step_params(self, step: str, params: Any) -> None:
        """Store a step's parameters (a parameter dataclass or a plain dict)."""
        values = params_to_dict(params) if dataclasses.is_dataclass(params) else dict(params)
        self.steps[step] = values

    def step_params(self, step: str, params_type: type) -> Any:
        """The stored parameters of ``step`` as ``params_type`` (defaults when none).

        Raises
        ------
        ProjectError
            When a stored value is not of its parameter's type (text for a number).
        """
        values = self.steps.get(step, {})
        for f in dataclasses.fields(params_type):
            if f.name in values and not _same_kind(values[f.name], f.default):
                raise ProjectError(
                    f"steps.{step}.{f.name} = {values[f.name]!r} in the project file is not "
                    f"a {type(f.default).__name__}"
                )
        try:
            return params_from_dict(params_type, values)
        except (TypeError, ValueError) as exc:
            raise ProjectError(f"the project's {step} parameters are not usable: {exc}") from exc

    def record_result(
        self, step: str, files: Iterable[str | os.PathLike[str]] = (), **summary: Any
    ) -> StepResult:
        """Note that ``step`` finished and which products it wrote."""
        result = StepResult(
            files=[self._relative(Path(f)) for f in files], finished=_now(), summary=summary
        )
        old = self.results.get(step)
        if old is not None and (old.files, old.summary) == (result.files, result.summary):
            # The same result again keeps its time, so an unchanged re-run changes nothing.
            result.finished = old.finished
        self.results[step] = result
        return result

    def product_path(self, relative: str) -> Path:
        """Absolute path of a product inside the project folder."""
        if self.folder is None:
            raise ProjectError("the project has no folder yet; save it first")
        try:
            return inside(self.folder, relative)
        except ValueError as exc:
            raise ProjectError(str(exc)) from exc
