"""Save dialogs start from a file name: the target's, in the project folder."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from fluxion.app.panels.base import suggested_file


def test_a_save_dialog_starts_from_the_target_s_name_in_the_project(tmp_path):
    session = SimpleNamespace(project=SimpleNamespace(folder=tmp_path), settings=None)
    assert suggested_file(session, "2713 Luxembourg_positions", ".ecsv") == str(
        tmp_path / "2713_Luxembourg_positions.ecsv"
    )
    last = SimpleNamespace(last_folder=lambda: str(tmp_path / "last"))
    unsaved = SimpleNamespace(project=SimpleNamespace(folder=None), settings=last)
    assert Path(suggested_file(unsaved, "", ".txt")) == tmp_path / "last" / "export.txt"
