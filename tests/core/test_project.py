"""The project file: round trip, relative paths, atomic save, migrations, bad files."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from fluxion.core.project import document as project_mod
from fluxion.core.project.document import SCHEMA_VERSION, Project, ProjectError, is_project, migrate
from fluxion.core.runtime.params import param

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class _Params:
    threshold: float = param(3.0, label="Threshold", unit="sigma")
    box: tuple[int, int] = param((32, 32), label="Box", unit="px")


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    raw = tmp_path / "proj" / "raw"
    raw.mkdir(parents=True)
    inputs = [raw / "a.fits", tmp_path / "outside.fits"]
    p = Project.from_inputs(inputs)
    p.set_step_params("detection", _Params(threshold=4.5, box=(16, 24)))
    p.targets.append({"name": "2713", "clicks": [[3, 10.5, 20.25]]})
    p.display["frame"] = 7
    file = p.save(tmp_path / "proj")
    p.record_result("detection", [tmp_path / "proj" / "sources" / "a.ecsv"], n_sources=812)
    p.save()

    doc = json.loads(file.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["inputs"][0] == "raw/a.fits"  # inside the folder: relative
    assert doc["inputs"][1] == str((tmp_path / "outside.fits").resolve())
    assert doc["results"]["detection"]["files"] == ["sources/a.ecsv"]

    q = Project.load(tmp_path / "proj")
    assert q.inputs == [i.resolve() for i in inputs]
    assert q.step_params("detection", _Params) == _Params(threshold=4.5, box=(16, 24))
    assert q.step_params("photometry", _Params) == _Params()
    assert q.targets == p.targets
    assert q.results["detection"].summary == {"n_sources": 812}
    assert q.display == {"frame": 7}
    assert is_project(tmp_path / "proj") and is_project(file)
    assert not is_project(raw)


def test_moving_the_folder_keeps_relative_inputs(tmp_path: Path) -> None:
    (tmp_path / "a" / "raw").mkdir(parents=True)
    p = Project.from_inputs([tmp_path / "a" / "raw" / "x.fits"])
    p.save(tmp_path / "a")
    shutil.move(tmp_path / "a", tmp_path / "b")
    q = Project.load(tmp_path / "b" / "project.json")
    assert q.inputs == [(tmp_path / "b" / "raw" / "x.fits").resolve()]


def test_save_is_atomic_and_never_writes_inputs(tmp_path: Path, monkeypatch) -> None:
    p = Project.from_inputs([tmp_path / "light.fits"])
    file = p.save(tmp_path)
    before = file.read_text()

    def broken_dump(*args, **kwargs):
        raise RuntimeError("disk full")

    p.name = "changed"
    monkeypatch.setattr(project_mod.json, "dumps", broken_dump)
    with pytest.raises(RuntimeError):
        p.save()
    assert file.read_text() == before
    assert [f.name for f in tmp_path.iterdir()] == ["project.json"]  # no temp file left
    monkeypatch.undo()

    q = Project.from_inputs([tmp_path / "project.json"])
    with pytest.raises(ProjectError, match="never written"):
        q.save(tmp_path)
    with pytest.raises(ProjectError, match="Save as"):
        Project().save()


def test_version_1_fixture_still_opens(tmp_path: Path) -> None:
    shutil.copy(DATA / "project_v1.json", tmp_path / "project.json")
    p = Project.load(tmp_path)
    assert p.inputs[0] == (tmp_path / "raw" / "light_0001.fits").resolve()
    assert p.inputs[2] == Path("/data/elsewhere/bias_0001.fits")
    assert p.steps["detection"]["box"] == [64, 64]
    assert p.results["calibration"].files == ["calibrated/light_0001.fits"]
    assert p.targets[0]["clicks"] == [[0, 101.5, 200.25]]


def test_migrations_run_in_order(monkeypatch) -> None:
    monkeypatch.setattr(project_mod, "SCHEMA_VERSION", 3)
    monkeypatch.setitem(project_mod.MIGRATIONS, 1, lambda d: {"inputs": d.pop("files"), **d})
    monkeypatch.setitem(project_mod.MIGRATIONS, 2, lambda d: {**d, "targets": []})
    out = migrate({"schema_version": 1, "files": ["a.fits"]})
    assert out == {"schema_version": 3, "inputs": ["a.fits"], "targets": []}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"schema_version": 99}', "newer Fluxion"),
        ('{"name": "x"}', "no integer schema_version"),
        ("[1, 2]", "not a Fluxion project"),
        ("{broken", "cannot read"),
        ('{"schema_version": 1, "results": {"a": 5}}', "damaged"),
    ],
)
def test_bad_files_give_clear_messages(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "project.json").write_text(text)
    with pytest.raises(ProjectError, match=message):
        Project.load(tmp_path)
    with pytest.raises(ProjectError, match="no project.json"):
        Project.load(tmp_path / "nothing")
