"""A refusal whose reason is not ASCII (a file name, a service's answer) is still stored.

FITS cards hold printable ASCII only: astropy refused to write a "not solved"
product whose reason quoted an accented file name, so the refusal was lost and
the frame searched again on every run.
"""

from __future__ import annotations

from pathlib import Path

from astropy.io import fits

from fluxion.core.astrometry.result import SolveResult, not_solved
from fluxion.core.chain.solve import _write, load_solution
from fluxion.core.io.frames import FrameInfo
from fluxion.core.project.products import ProductStore


def test_a_refusal_quoting_an_accented_name_is_stored_and_read_back(tmp_path: Path) -> None:
    store = ProductStore(tmp_path / "project")
    frame = FrameInfo(path=tmp_path / "lumière_001.fits", type="light")
    reason = "catalog file not found: /données/étoiles.ecsv — give another"
    _write(store, frame, not_solved("hinted", reason), "fp")
    back = load_solution(store, frame)
    assert isinstance(back, SolveResult) and not back.solved
    assert back.reason.startswith("catalog file not found: /donn\\xe9es/")
    assert "\\u2014 give another" in back.reason
    path = store.path("astrometry", frame.path, ".wcs.fits")
    assert fits.getheader(path)["FLXSOLV"] == "none"
