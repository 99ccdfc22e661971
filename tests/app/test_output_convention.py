"""One output convention: every command that writes takes ``--out DIR``.

``track``, ``lightcurve`` and ``stack`` write one main file: ``--out DIR`` puts it
in DIR under a fixed name, and ``-o`` still takes the file itself; a path with a
table (or image) suffix is a file, an existing folder or a path without such a
suffix is a folder. No command ever answers "unknown table format".
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from fluxion.app.cli import build_parser, main
from fluxion.app.commands import names
from fluxion.core.simulation.simulate import ASTEROID_ID, NightConfig, simulate_night

N = 4
# Commands that print instead of writing files.
_PRINT_ONLY = {"scan"}


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    out = tmp_path_factory.mktemp("night")
    config = NightConfig(shape=(160, 160), n_frames=N, n_bias=0, n_dark=0, n_flat=0,
                         write_wcs=True)  # fmt: skip
    simulate_night(out, config)
    truths = [Table.read(out / "truth" / f"light_{i + 1:04d}.ecsv") for i in range(N)]
    return out, truths


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_writing_command_takes_out_dir() -> None:
    parsers = _subparsers(build_parser())
    assert set(parsers) == set(names())
    for name, p in parsers.items():
        options = {s for a in p._actions for s in a.option_strings}
        if name in _PRINT_ONLY:
            assert "--out" not in options
            continue
        assert "--out" in options, f"fluxion {name} has no --out"
        out = next(a for a in p._actions if "--out" in a.option_strings)
        assert out.metavar in (None, "DIR"), (name, out.metavar)


def _clicks(truths) -> list[str]:
    ast = [t[t["id"] == ASTEROID_ID][0] for t in truths]
    return ["--click", f"0,{ast[0]['x']:.2f},{ast[0]['y']:.2f}",
            "--click", f"{N - 1},{ast[-1]['x']:.2f},{ast[-1]['y']:.2f}"]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "name"), [("track", "positions.ecsv"), ("lightcurve", "lightcurve.ecsv")]
)
def test_track_and_lightcurve_write_into_out_dir(night, tmp_path, capsys, command, name):
    folder, truths = night
    out = tmp_path / "results"
    assert main([command, str(folder), *_clicks(truths), "--out", str(out)]) == 0
    table = Table.read(out / name)
    assert len(table) == N
    # The asteroid's track passes through its true positions.
    ast = np.array([[t[t["id"] == ASTEROID_ID][0][k] for k in ("x", "y")] for t in truths])
    if command == "track":
        xy = np.column_stack([table["x"], table["y"]])
        assert np.max(np.hypot(*(xy - ast).T)) < 0.5
    else:
        assert np.all(np.isfinite(table["mag"]))
    assert str(out / name) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("lc.csv", "lc.csv"),  # a table suffix: the file itself
        ("lc.ecsv", "lc.ecsv"),
        ("existing", "existing/lightcurve.ecsv"),  # an existing folder
        ("new_folder", "new_folder/lightcurve.ecsv"),  # no suffix: a folder
        ("run.v2", "run.v2/lightcurve.ecsv"),  # not a table suffix: a folder
    ],
)
def test_dash_o_is_a_file_or_a_folder(night, tmp_path, spelling, expected):
    folder, truths = night
    (tmp_path / "existing").mkdir()
    assert main(["lightcurve", str(folder), *_clicks(truths), "-o", str(tmp_path / spelling)]) == 0
    assert len(Table.read(tmp_path / expected)) == N


def test_wrong_kind_of_file_is_named_before_any_work(night, tmp_path, capsys):
    folder, truths = night
    rc = main(["lightcurve", str(folder), *_clicks(truths), "-o", str(tmp_path / "lc.fits")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown table format" not in err
    assert "lc.fits" in err and ".ecsv" in err
    afile = tmp_path / "plain"
    afile.write_text("")
    assert main(["track", str(folder), *_clicks(truths), "--out", str(afile)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert main(["stack", str(folder), "-o", str(tmp_path / "s.ecsv")]) == 2
    assert ".fits" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_stack_writes_into_out_dir(night, tmp_path):
    folder, _ = night
    out = tmp_path / "stacks"
    assert main(["stack", str(folder), "--method", "average", "--photometry", "--out",
                 str(out)]) == 0  # fmt: skip
    with fits.open(out / "stack.fits") as hdul:
        assert hdul[0].header["NCOMBINE"] == N
    assert len(Table.read(out / "stack.phot.ecsv")) > 5


def test_run_and_demo_take_out_dir(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["run", "night", "--out", str(tmp_path / "p")])
    assert args.project == tmp_path / "p"
    night = tmp_path / "demo"
    assert main(["demo", "--out", str(night), "--frames", "1", "--size", "96", "96"]) == 0
    assert (night / "light_0001.fits").is_file()
    assert main(["demo", str(night), "--out", str(night)]) == 2
