"""The checks the subcommands share: one message per mistake, exit status 2."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fluxion.app.cli import main
from fluxion.app.commands import CommandError
from fluxion.app.commands.options import check_folder, check_paths, check_workers, target_lights
from fluxion.core.simulation.simulate import NightConfig, simulate_night


def test_every_missing_input_is_named_and_the_others_kept(tmp_path, capsys):
    here = tmp_path / "a.fits"
    here.write_bytes(b"")
    paths = [here, tmp_path / "b.fits", tmp_path / "c"]
    check_paths(paths)  # one mistyped path does not refuse the others
    assert paths == [here]
    err = capsys.readouterr().err
    assert "b.fits: no such file or folder" in err and "c: no such file or folder" in err
    with pytest.raises(CommandError, match=r"no such file or folder: .*b\.fits, .*c$"):
        check_paths([tmp_path / "b.fits", tmp_path / "c"])
    check_paths([here, tmp_path])  # all there: no error


def test_folder_and_worker_checks(tmp_path):
    afile = tmp_path / "out"
    afile.write_text("")
    with pytest.raises(CommandError, match="exists and is not a folder"):
        check_folder(afile)
    check_folder(tmp_path / "new")  # created later by the command
    with pytest.raises(CommandError, match="--workers must be at least 1"):
        check_workers(0)


def test_one_light_is_not_a_sequence(tmp_path):
    config = replace(NightConfig(), n_frames=1, shape=(128, 128), n_bias=0, n_dark=0, n_flat=0)
    simulate_night(tmp_path, config)
    with pytest.raises(CommandError, match="need at least two light frames with a time; found 1"):
        target_lights([tmp_path])


@pytest.mark.parametrize("command", ["calibrate", "detect", "photometry"])
def test_commands_share_the_messages(tmp_path, capsys, command):
    afile = tmp_path / "out"
    afile.write_text("")
    assert main([command, str(tmp_path), "--out", str(afile)]) == 2
    assert f"{afile} exists and is not a folder" in capsys.readouterr().err
