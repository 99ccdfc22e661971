"""A full disk is said as such; nothing half-written is left or linked."""

from __future__ import annotations

import errno
import io
import os

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from fluxion.core.io import fitsio
from fluxion.core.runtime.failures import per_file


class _FullDisk(io.FileIO):
    """A file on a disk that fills after a few kilobytes."""

    room = 4000

    def write(self, b):
        self.room -= len(b)
        if self.room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(b)


def test_a_full_disk_is_not_hidden_by_astropy(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(fitsio.os, "fdopen", lambda fd, mode, **kw: _FullDisk(fd, "wb"))
    hdul = fits.HDUList([fits.PrimaryHDU(np.zeros((100, 100))), fits.ImageHDU(np.ones((8, 8)))])
    dest = tmp_path / "calibrated" / "light_0001.fits"
    with pytest.raises(OSError) as err:
        fitsio.atomic_write_hdulist(dest, hdul)
    assert err.value.errno == errno.ENOSPC
    assert os.listdir(dest.parent) == []  # no product, no temporary file
    done = per_file(dest, lambda: fitsio.atomic_write_hdulist(dest, hdul))
    assert done.failure.cause == "the disk is full"


def test_a_figure_qt_could_not_write_is_not_linked(tmp_path, qapp, monkeypatch) -> None:
    from pyqtgraph.exporters import ImageExporter

    from fluxion.app.report import write_report

    def empty(self, path=None, **kw):  # what Qt leaves on a full disk
        open(path, "wb").close()

    monkeypatch.setattr(ImageExporter, "export", empty)
    n = 3
    frames = Table(
        {
            "file": [f"l{k}.fits" for k in range(n)],
            "jd_utc": 2460564.4 + 0.002 * np.arange(n),
            "fwhm": np.full(n, 3.0),
            "sky": np.full(n, 100.0),
            "n_sources": np.full(n, 40),
            "wcs_ok": [True] * n,
            "astrometric_rms_arcsec": np.full(n, 0.2),
            "zero_point": np.full(n, 21.7),
            "zero_point_err": np.full(n, 0.01),
            "status": ["ok"] * n,
        }
    )
    with pytest.raises(OSError, match="could not be written"):
        write_report(tmp_path, frames, None)
    assert not any(p.suffix == ".png" for p in (tmp_path / "report").glob("*"))
