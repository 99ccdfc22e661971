"""Lights that failed for one cause are said once, even when the cause is timed in each.

Offline, the asteroid night's 25 lights were each "not solved: the chosen
catalog did not answer (... (3 s ago; not asked again yet)) ..." with a
different number of seconds in each, so the run printed 25 lines of ~500
characters that differ in that number only. The lights are grouped by the
cause without the "N s ago" (as the astrometry summary counts them).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

from astropy.table import Table

from fluxion.app.commands.run import _print_summary

# One light's status from the offline run of asteroid2713-night1, as printed.
STATUS = (
    "not solved: the chosen catalog did not answer (Gaia DR3: VizieR could not be reached "
    "(connection failed; offline, or the service is down) ({} s ago; not asked again yet)); "
    "only astrometry.net index files did, with 32 stars. Then: only 3 stars match the catalog "
    "(at least 8 needed): wrong field, wrong scale, or too few stars; not calibrated: the frame "
    "has no astrometric solution"
)


def test_lights_failed_alike_but_timed_apart_are_said_once(tmp_path: Path) -> None:
    files = [f"lux-{k:02d}.fit" for k in range(6)]
    statuses = [STATUS.format(s) for s in (3, 68, 5, 70, 8, 73)]
    statuses.append("ok")
    files.append("lux-06.fit")
    frames = Table({"file": files, "status": statuses})
    result = SimpleNamespace(counts={}, frames=frames, notes=[], light_curve=None)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _print_summary(result, tmp_path / "frames.ecsv")
    lines = out.getvalue().splitlines()
    failed = [x for x in lines if "not solved" in x]
    assert len(failed) == 1, failed
    assert failed[0].startswith("6 lights (lux-00.fit, lux-01.fit, lux-02.fit and 3 more): ")
    assert "s ago" not in failed[0]
    assert lines[-1] == f"1 of 7 lights fully processed; per frame: {tmp_path / 'frames.ecsv'}"
