"""Products written in a durable batch: whole at once, synced to disk together at its end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.io import atomic
from fluxion.core.io.atomic import (
    atomic_write_ecsv,
    atomic_write_fits,
    atomic_write_text,
    durable_batch,
)
from fluxion.core.project.products import product_intact


@pytest.fixture
def syncs(monkeypatch):
    """Every fsync and syncfs of the product writers from here on."""
    seen: dict[str, list[int]] = {"fsync": [], "syncfs": []}
    real_fsync = atomic._fsync

    def fsync(fd: int) -> None:
        seen["fsync"].append(fd)
        real_fsync(fd)

    monkeypatch.setattr(atomic, "_fsync", fsync)
    real = atomic._syncfs()
    if real is not None:

        def syncfs(fd: int) -> int:
            seen["syncfs"].append(fd)
            return real(fd)

        monkeypatch.setattr(atomic, "_syncfs", lambda: syncfs)
    return seen


def _write_three(folder: Path) -> list[Path]:
    from astropy.table import Table

    paths = [folder / "a.fits", folder / "sub" / "b.txt", folder / "c.ecsv"]
    atomic_write_fits(paths[0], np.arange(12, dtype=np.float32).reshape(3, 4))
    atomic_write_text(paths[1], "jd,mag\n1,12.5\n")
    atomic_write_ecsv(paths[2], Table({"x": [1.5, 2.5]}))
    return paths


def test_outside_a_batch_every_file_is_synced_before_it_replaces(tmp_path, syncs) -> None:
    _write_three(tmp_path)
    assert len(syncs["fsync"]) == 3  # one a file, as it is written
    assert syncs["syncfs"] == []


def test_a_batch_syncs_once_at_its_end_and_its_files_are_whole_at_once(tmp_path, syncs) -> None:
    with durable_batch():
        paths = _write_three(tmp_path)
        # Visible and whole before the batch ends (other steps of the frame read them).
        assert all(product_intact(p) for p in paths)
        assert fits.getdata(paths[0]).sum() == 66
        assert syncs["fsync"] == [] and syncs["syncfs"] == []
    if atomic._syncfs() is not None:
        assert len(syncs["syncfs"]) == 1  # one file system, one sync
        assert syncs["fsync"] == []
    else:
        assert len(syncs["fsync"]) == 3
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no temporary file left


def test_without_syncfs_a_batch_syncs_each_file_at_its_end(tmp_path, monkeypatch, syncs) -> None:
    monkeypatch.setattr(atomic, "_syncfs", lambda: None)
    with durable_batch():
        paths = _write_three(tmp_path)
        atomic_write_text(paths[1], "jd,mag\n2,12.6\n")  # written twice, synced once
        assert syncs["fsync"] == []
    assert len(syncs["fsync"]) == 3
    assert paths[1].read_text() == "jd,mag\n2,12.6\n"


def test_a_failing_syncfs_falls_back_to_each_file(tmp_path, monkeypatch, syncs) -> None:
    monkeypatch.setattr(atomic, "_syncfs", lambda: lambda fd: -1)
    with durable_batch():
        _write_three(tmp_path)
    assert len(syncs["fsync"]) == 3


def test_a_batch_that_raises_still_syncs_what_it_wrote(tmp_path, monkeypatch, syncs) -> None:
    monkeypatch.setattr(atomic, "_syncfs", lambda: None)
    with pytest.raises(RuntimeError), durable_batch():
        atomic_write_text(tmp_path / "done.txt", "finished\n")
        raise RuntimeError("the next step failed")
    assert len(syncs["fsync"]) == 1
    assert (tmp_path / "done.txt").read_text() == "finished\n"
    # The batch is over: the next write is synced on its own again.
    atomic_write_text(tmp_path / "next.txt", "x")
    assert len(syncs["fsync"]) == 2


def test_a_batch_inside_another_joins_it(tmp_path, monkeypatch, syncs) -> None:
    monkeypatch.setattr(atomic, "_syncfs", lambda: None)
    with durable_batch():
        with durable_batch():
            atomic_write_text(tmp_path / "a.txt", "a")
        assert syncs["fsync"] == []  # the inner end does not sync
        atomic_write_text(tmp_path / "b.txt", "b")
    assert len(syncs["fsync"]) == 2


def test_a_failed_write_in_a_batch_keeps_the_old_file(tmp_path, monkeypatch, syncs) -> None:
    monkeypatch.setattr(atomic, "_syncfs", lambda: None)
    out = tmp_path / "img.fits"
    atomic_write_fits(out, np.zeros((4, 4), np.float32))
    with durable_batch():
        with pytest.raises(Exception):  # noqa: B017 - astropy's own error for object data
            atomic_write_fits(out, np.array([object(), object()]))
        assert fits.getdata(out).shape == (4, 4)
    assert len(syncs["fsync"]) == 1  # the first write's own; nothing from the failed one
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
