"""Results are never stale: a replaced input or a damaged product is redone, never trusted."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.project.products import fingerprint, product_intact

simulate = pytest.importorskip("fluxion.core.simulation.simulate")


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stale_night")
    simulate.simulate_night(
        folder,
        simulate.NightConfig(n_frames=3, shape=(256, 256), n_bias=2, n_dark=2, n_flat=2),
    )
    return folder


def _done(text: str, step: str) -> int:
    line = next(s for s in text.splitlines() if s.startswith(step))
    return int(line.split()[1])


def _run(night: Path, project: Path, capsys) -> str:
    main(["run", str(night), "--project", str(project), "--workers", "1", "--no-report",
          "--no-cosmic-rays"])  # fmt: skip
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return out.out


def test_a_same_size_same_time_replacement_changes_the_fingerprint(tmp_path) -> None:
    a, b = tmp_path / "a.fits", tmp_path / "b.fits"
    a.write_bytes(b"SIMPLE  =" + b"1" * 5000)
    b.write_bytes(b"SIMPLE  =" + b"2" * 5000)
    before = fingerprint(a)
    stat = a.stat()
    shutil.copyfile(b, a)  # as cp -p, rsync -t or unzip leave it: same size, same time
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert a.stat().st_size == stat.st_size and a.stat().st_mtime_ns == stat.st_mtime_ns
    assert fingerprint(a) != before


def test_replaced_inputs_and_damaged_products_are_redone(night, tmp_path, capsys) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(night, raw)
    project = tmp_path / "project"
    _run(raw, project, capsys)
    first = Table.read(project / "photometry" / "light_0002.ecsv")

    # light_0002 replaced by another frame of the same size, its time kept.
    target = raw / "light_0002.fits"
    stat = target.stat()
    shutil.copyfile(raw / "light_0003.fits", target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    text = _run(raw, project, capsys)
    assert _done(text, "calibration") == 1 and _done(text, "photometry") == 1
    again = Table.read(project / "photometry" / "light_0002.ecsv")
    assert len(again) != len(first) or not np.allclose(again["flux"], first["flux"])

    # A photometry table cut short and a calibrated frame overwritten from outside.
    table = project / "photometry" / "light_0001.ecsv"
    table.write_bytes(table.read_bytes()[:300])
    calibrated = project / "calibrated" / "light_0003.fits"
    calibrated.write_bytes(calibrated.read_bytes()[:5000])
    assert not product_intact(table) and not product_intact(calibrated)
    text = _run(raw, project, capsys)
    assert _done(text, "calibration") == 1  # light_0003 calibrated again, not measured raw
    # light_0001's table; light_0003's is still current (made from the same calibration).
    assert _done(text, "photometry") == 1
    assert product_intact(table) and product_intact(calibrated)
    assert "3 of 3 lights fully processed" in text
    text = _run(raw, project, capsys)
    assert _done(text, "calibration") == _done(text, "photometry") == 0
