"""``fluxion track`` and ``fluxion lightcurve``: bad input gives one clear line."""

from __future__ import annotations

import pytest

from fluxion.app.cli import main
from fluxion.app.commands import CommandError
from fluxion.app.commands.track import parse_click


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    for cmd in ("track", "lightcurve"):
        rc = main(
            [cmd, str(tmp_path / "nowhere"), "--click", "0,1,2", "-o", str(tmp_path / "o.csv")]
        )
        assert rc == 2
        assert "no such file or folder" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_click_syntax_is_checked():
    assert parse_click("3,441.5,438") == (3, 441.5, 438.0)
    with pytest.raises(CommandError, match="FRAME,X,Y"):
        parse_click("441,438")


def test_folder_without_lights_is_a_clear_error(tmp_path, capsys):
    rc = main(["lightcurve", str(tmp_path), "--click", "0,1,2", "-o", str(tmp_path / "o.csv")])
    assert rc == 2
    assert "at least two light frames" in capsys.readouterr().err
