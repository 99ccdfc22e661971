"""An unsaved project's products go to the user's projects folder, never beside or
inside the observer's frames, and the window says where."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from fluxion.app.session import default_project_folder, user_projects_folder
from fluxion.core.project.document import Project
from fluxion.core.project.earlier import earlier_project


def _night(root: Path) -> Path:
    night = root / "2024-05-01 M13"
    night.mkdir(parents=True)
    (night / "light_0001.fits").write_bytes(b"")
    return night


def test_products_go_to_the_user_projects_folder_named_after_the_night(tmp_path, monkeypatch):
    monkeypatch.setenv("FLUXION_PROJECTS", str(tmp_path / "projects"))
    night = _night(tmp_path / "data")
    project = Project.from_inputs([night / "light_0001.fits"])
    folder = default_project_folder(project)
    assert folder == tmp_path / "projects" / "2024-05-01_M13"
    assert not folder.is_relative_to(night.parent)  # nothing beside or inside the data
    # A second unsaved project of the same night does not mix with the first.
    folder.mkdir(parents=True)
    (folder / "project.json").write_text("{}")
    assert default_project_folder(project) == tmp_path / "projects" / "2024-05-01_M13-2"
    monkeypatch.delenv("FLUXION_PROJECTS")
    assert user_projects_folder() == Path.home() / "Fluxion" / "projects"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_demo_night_is_not_written(tmp_path, monkeypatch):
    monkeypatch.setenv("FLUXION_PROJECTS", str(tmp_path / "projects"))
    night = _night(tmp_path / "demo")
    (night / "truth").mkdir()
    (night / "truth" / "night.json").write_text("{}")
    project = Project.from_inputs([night / "light_0001.fits"])
    assert default_project_folder(project) == night  # the demo keeps its products
    night.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert default_project_folder(project).parent == tmp_path / "projects"
    finally:
        night.chmod(stat.S_IRWXU)


def test_the_window_says_where_an_unsaved_project_s_products_go(
    window, qtbot, open_and_wait, demo_night: Path, tmp_path
) -> None:
    open_and_wait(window, demo_night)
    session = window.session
    session.project.folder = None
    # Not the demo: a copy of its lights with no truth beside them.
    messages: list[str] = []
    session.status_message.connect(messages.append)
    session.project.inputs = [tmp_path / "night" / "light_0001.fits"]
    store = session.product_store()
    assert store.folder.parent == user_projects_folder()
    assert any(str(store.folder) in m and "not written" in m for m in messages)


def _saved(folder: Path, inputs: list[Path], name: str = "night") -> Project:
    project = Project.from_inputs(inputs, name=name)
    project.save(folder)
    return project


def test_the_earlier_project_of_the_same_frames_is_found(tmp_path):
    night = _night(tmp_path / "data")
    (night / "light_0002.fits").write_bytes(b"")
    frames = sorted(night.glob("*.fits"))
    projects = tmp_path / "projects"
    _saved(projects / "other", [frames[0]])  # one frame fewer: another project
    first = _saved(projects / "2024-05-01_M13", frames)
    (projects / "damaged").mkdir()
    (projects / "damaged" / "project.json").write_text("{not json")
    found = earlier_project(frames, projects)
    assert found is not None and found.folder == first.folder
    assert set(found.inputs) == {f.resolve() for f in frames}
    # Two of them: the one saved last goes on.
    later = _saved(projects / "2024-05-01_M13-2", frames)
    os.utime(later.file, (later.file.stat().st_mtime + 10,) * 2)
    found = earlier_project(frames, projects)
    assert found is not None and found.folder == later.folder
    assert earlier_project([tmp_path / "elsewhere.fits"], projects) is None
    assert earlier_project(frames, tmp_path / "no such folder") is None


def test_a_night_opened_again_goes_on_with_its_project(
    window, qtbot, open_and_wait, demo_night: Path, tmp_path
) -> None:
    # A copy of the demo's lights without its truth: an observer's night, whose
    # unsaved project goes to the user's projects folder.
    night = tmp_path / "night"
    night.mkdir()
    for path in sorted(demo_night.glob("light_*.fits"))[:3]:
        shutil.copy(path, night / path.name)
    open_and_wait(window, night)
    session = window.session
    store = session.product_store()
    assert store.folder.parent == user_projects_folder()
    session.project.targets.append({"name": "V1", "kind": "fixed", "ra": 10.0, "dec": 20.0})
    session.project.save()
    first = session.project.folder
    messages: list[str] = []
    session.status_message.connect(messages.append)
    open_and_wait(window, night)
    assert session.project.folder == first  # not a new '-2' project
    assert [t["name"] for t in session.project.targets] == ["V1"]
    assert any(str(first) in m and "opened before" in m for m in messages)
    assert sorted(p.name for p in user_projects_folder().iterdir()) == [first.name]
