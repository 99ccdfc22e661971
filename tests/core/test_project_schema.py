"""project.json is checked whole on load; a project never writes outside its folder."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from fluxion.core.calibration import CalibrationParams
from fluxion.core.project import document
from fluxion.core.project.document import Project, ProjectError
from fluxion.core.runtime.failures import failure_message, per_file, shown_name


def _write(folder: Path, doc) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return folder


BASE = {"schema_version": 1, "name": "n", "inputs": [], "steps": {}, "targets": [], "results": {}}


@pytest.mark.parametrize(
    "change, said",
    [
        ({"inputs": "abc"}, "'inputs' must be a list"),
        ({"inputs": ["../../etc/passwd"]}, "leaves the project folder"),
        ({"inputs": [7]}, "inputs[0] must be a path"),
        ({"schema_version": True}, "integer schema_version"),
        ({"targets": [{"name": "t", "light_curve": "../../../victim.txt"}]}, "leaves the project"),
        ({"targets": [{"name": "t", "light_curve": "/tmp/victim.txt"}]}, "leaves the project"),
        ({"targets": ["x"]}, "targets[0] must be an object"),
        ({"steps": {"calibration": 3}}, "steps.calibration must be an object"),
        ({"results": {"run": {"files": "abc"}}}, "'files' must be a list"),
        ({"name": ["x"]}, "'name' must be text"),
    ],
)
def test_a_damaged_document_is_refused_naming_the_field(tmp_path, change, said) -> None:
    folder = _write(tmp_path / "p", {**BASE, **change})
    with pytest.raises(ProjectError, match=said.replace("[", r"\[").replace("]", r"\]")):
        Project.load(folder)


def test_hostile_json_gives_a_project_error(tmp_path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    nested = {**BASE, "display": {}}
    node = nested["display"]
    for _ in range(100):
        node["x"] = {}
        node = node["x"]
    for i, text in enumerate(
        [deep, '{"schema_version": 1, "n": ' + "9" * 5000 + "}", json.dumps(nested)]
    ):
        with pytest.raises(ProjectError):
            Project.load(_write(tmp_path / f"p{i}", text))
    folder = tmp_path / "dir"
    (folder / "project.json").mkdir(parents=True)
    with pytest.raises(ProjectError, match="is a folder"):
        Project(name="x").save(folder)


def test_wrong_parameter_types_and_paths_outside_are_refused(tmp_path) -> None:
    folder = _write(tmp_path / "p", {**BASE, "steps": {"calibration": {"find_cosmic_rays": "no"}}})
    project = Project.load(folder)
    with pytest.raises(ProjectError, match="find_cosmic_rays"):
        project.step_params("calibration", CalibrationParams)
    with pytest.raises(ProjectError, match="not inside the project folder"):
        project.product_path("../../victim.txt")
    assert project.product_path("photometry/a.ecsv") == project.folder / "photometry/a.ecsv"


def test_an_unchanged_project_is_not_written_and_a_read_only_folder_is_said(
    tmp_path, monkeypatch
) -> None:
    project = Project(name="n")
    file = project.save(tmp_path / "p")
    project.record_result("run", [tmp_path / "p" / "frames.ecsv"], done=3)
    project.save()
    before = file.read_bytes()

    def refuse(path, text):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(document, "atomic_write_text", refuse)
    # The same result again: nothing to write, no error.
    project.record_result("run", [tmp_path / "p" / "frames.ecsv"], done=3)
    assert project.save() == file
    # Only the run's account changed: kept in memory, the finished project still runs.
    project.record_result("run", [tmp_path / "p" / "frames.ecsv"], done=0, current=3)
    project.save()
    # A real change cannot be saved: said in one line, with the cause.
    project.name = "renamed"
    with pytest.raises(ProjectError, match="read-only file system"):
        project.save()
    assert file.read_bytes() == before


def test_failures_are_one_line_and_names_are_escaped(tmp_path) -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/p/x.fits")
    assert failure_message(full) == "the disk is full: x.fits"
    out = per_file(tmp_path / "a.fits", lambda: 1 / 0)
    assert not out.ok and out.failure.cause == "ZeroDivisionError: division by zero"
    assert shown_name("/x/odd_new\nline.fits") == "odd_new\\nline.fits"
    assert shown_name("/x/rtl_\u202eevil.fits") == "rtl_\\u202eevil.fits"
    assert shown_name(Path(b"/x/l\xe9.fits".decode("utf-8", "surrogateescape"))) == "l\\xe9.fits"
