"""Fault injection: the malformed corpus beside a good night, through every command.

For each command: no traceback, every unusable file named in the output, every
good light's products present, and every input byte-identical afterwards.

The fast set (one file per kind, ~70 files) runs with the suite. The long set
adds 200 seeded random variants (damaged cards, flipped bytes, cut files) and
runs by hand::

    FLUXION_RELIABILITY_FULL=1 pytest tests/app/test_fault_injection.py
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

import pytest
from astropy.table import Table

from fluxion.app.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from malformed_corpus import restore_permissions, write_corpus  # noqa: E402

simulate = pytest.importorskip("fluxion.core.simulation.simulate")

FULL = os.environ.get("FLUXION_RELIABILITY_FULL") == "1"
GOOD = ("light_0001", "light_0002")


def _digests(folder: Path) -> dict[bytes, str]:
    """SHA-256 of every regular file below ``folder`` (links and FIFOs left alone)."""
    out = {}
    for root, _, names in os.walk(os.fsencode(folder)):
        for n in names:
            p = os.path.join(root, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IRUSR:
                out[p] = hashlib.sha256(Path(os.fsdecode(p)).read_bytes()).hexdigest()
    return out


def _night_with_corpus(night: Path, size: int) -> list:
    """A good night of ``size`` px lights and calibration frames, the corpus in ``bad/``."""
    simulate.simulate_night(
        night,
        simulate.NightConfig(
            n_frames=len(GOOD), shape=(size, size), write_wcs=True, n_bias=3, n_dark=3, n_flat=3
        ),
    )
    return write_corpus(night / "bad", night / "light_0001.fits", seed=7, cores=not FULL)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    night = tmp_path_factory.mktemp("mixed")
    bad = _night_with_corpus(night, 96)
    yield night, bad, _digests(night)
    restore_permissions(night / "bad")


def _run(argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def _check(text: str, bad, night: Path, before) -> None:
    assert "Traceback" not in text
    for b in bad:
        if b.usable or b.kind in ("folder-named-fits", "unreadable") or b.kind.startswith("random"):
            continue
        name = os.fsdecode(os.fsencode(b.path.name))
        assert name in text, (b.kind, name)
    assert _digests(night) == before, "an input file changed"


@pytest.mark.parametrize("command", ["scan", "detect", "photometry", "calibrate"])
def test_each_command_survives_the_corpus(command, mixed, tmp_path, capsys) -> None:
    night, bad, before = mixed
    out = tmp_path / "out"
    argv = [command, night] + ([] if command == "scan" else ["--out", out])
    if command != "scan":
        argv += ["--workers", "1"]
    code, text = _run(argv, capsys)
    assert code in (0, 1), text[-2000:]
    _check(text, bad, night, before)
    if command == "scan":
        return
    for stem in GOOD:
        made = list(out.glob(f"{stem}*"))
        assert made, (command, stem, sorted(p.name for p in out.iterdir())[:20])
    # Good frames with odd names are processed like the others.
    odd = [b for b in bad if b.usable and b.kind.endswith("name")]
    written = {os.fsencode(p.name) for p in out.iterdir()}
    for b in odd:
        stem = os.fsencode(b.path.name).rsplit(b".", 1)[0][:40]
        assert any(w.startswith(stem) for w in written), (command, b.kind)


def test_solve_names_bad_files_and_solves_the_good(mixed, tmp_path, capsys) -> None:
    night, bad, before = mixed
    files = [night / f"{s}.fits" for s in GOOD] + [b.path for b in bad if not b.usable]
    files.append(night / "no_such_frame.fits")
    catalog = night / "truth" / "reference_catalog.ecsv"
    argv = ["solve", *files, "--out", tmp_path / "wcs", "--offline", "--catalog", catalog]
    code, text = _run(argv, capsys)
    assert code == 1, text[-2000:]
    assert "no_such_frame.fits: no such file" in text
    _check(text, bad, night, before)
    # Every file given has its row (96 px frames hold too few stars to solve;
    # what counts here is that the bad files did not end the sequence).
    table = Table.read(tmp_path / "wcs" / "solve.ecsv")
    assert len(table) == sum(p.is_file() for p in files)
    assert {f"{s}.fits" for s in GOOD} <= {Path(f).name for f in table["file"]}
    assert _digests(night) == before


# Usable oddities kept for the whole chain (the rest of the usable kinds go
# through the per-step commands above; the chain is slower per frame).
RUN_USABLE = ("non-utf8-name", "newline-name", "long-name", "exptime-12.0.0", "same-stem")


@pytest.fixture(scope="module")
def run_night(tmp_path_factory):
    night = tmp_path_factory.mktemp("run_night")
    bad = _night_with_corpus(night, 256)
    for b in bad:
        if b.usable and b.kind not in RUN_USABLE:
            os.unlink(os.fsencode(b.path))
    bad = [b for b in bad if not b.usable or b.kind in RUN_USABLE]
    yield night, bad, _digests(night)
    restore_permissions(night / "bad")


def test_run_processes_every_good_frame_and_reruns_nothing(run_night, tmp_path, capsys) -> None:
    night, bad, before = run_night
    project = tmp_path / "project"
    argv = ["run", night, "--project", project, "--workers", "1", "--no-report", "--no-cosmic-rays"]
    code, text = _run(argv, capsys)
    assert code == 1, text[-3000:]
    _check(text, bad, night, before)
    for stem in GOOD:
        assert (project / "photometry" / f"{stem}.ecsv").is_file()
        assert (project / "magnitudes" / f"{stem}.ecsv").is_file(), text[-3000:]
    code, text = _run(argv, capsys)
    assert "Traceback" not in text
    assert "photometry      0 done" in text, text[-3000:]  # nothing redone
    saved = (project / "project.json").read_bytes()
    mtime = (project / "project.json").stat().st_mtime_ns
    _run(argv, capsys)
    # Nothing changed, so the project file is not written again.
    assert (project / "project.json").read_bytes() == saved
    assert (project / "project.json").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("command", ["track", "lightcurve", "stack"])
def test_sequence_commands_leave_bad_lights_out(command, run_night, tmp_path, capsys) -> None:
    night, bad, before = run_night
    argv = [command, night, "--out", tmp_path / "out"]
    if command != "stack":
        argv += ["--click", "0,128,128", "--click", "1,128,128"]
    code, text = _run(argv, capsys)
    assert code == 0, text[-3000:]
    assert "Traceback" not in text
    # The damaged compressed light is read only here (its header is fine).
    assert "bad_corrupt.fits.fz: the compressed image is damaged" in text
    assert any((tmp_path / "out").iterdir())
    assert _digests(night) == before
