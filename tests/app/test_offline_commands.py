"""Offline, ``fluxion solve``, ``fluxion run`` and the window say so first, then what still works.

Every socket is refused (``no_network``); the astrometry.net index files are
left out so that the chosen catalog is the only one asked, as on a computer
without them.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from fluxion.app.cli import main
from fluxion.app.workers import describe_error
from fluxion.core.catalogs import CatalogError
from fluxion.core.runtime.network import OFFLINE_HELP, NetworkFailure
from fluxion.core.targets.ephemerides import EphemerisError

CAUSE = "no catalog could answer: APASS DR9: VizieR could not be reached"


@pytest.fixture
def no_index_files(monkeypatch):
    import fluxion.core.astrometry.step as step

    monkeypatch.setattr(step, "find_index_files", lambda *a, **k: [])


def test_errors_from_the_network_are_not_called_bugs():
    offline = NetworkFailure("offline", "could not be reached (connection refused; offline?)")
    horizons = EphemerisError(
        "JPL Horizons could not be reached (connection refused; offline?)",
        service="JPL Horizons",
        failure=offline,
    )
    info = describe_error("Ephemeris of 2713", horizons)
    assert info.message.startswith("JPL Horizons could not be reached")
    assert "bug" not in info.hint and OFFLINE_HELP in info.hint
    # A library's own connection error, not wrapped by Fluxion.
    info = describe_error("Catalog", requests.ConnectionError("Max retries exceeded"))
    assert info.message.startswith("a service could not be reached")
    assert "bug" not in info.hint and OFFLINE_HELP in info.hint
    # A catalog that answered badly is no network problem, and no bug either.
    info = describe_error("Catalog", CatalogError("catalog file not found: x.ecsv"))
    assert "bug" not in info.hint and "network" not in info.hint
    assert "bug" in describe_error("Solve", KeyError("x")).hint  # a real bug still is one


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    """Three 256 x 256 demo lights, without the night's own catalog (truth/)."""
    out = tmp_path_factory.mktemp("offline_night")
    assert main(["demo", str(out), "--frames", "3", "--size", "256", "256"]) == 0
    shutil.rmtree(out / "truth")
    return out


def test_solve_offline_says_why_and_what_still_works(
    night, tmp_path, capsys, no_network, no_index_files
):
    lights = sorted(str(p) for p in night.glob("light_*.fits"))
    rc = main(["solve", *lights, "--out", str(tmp_path / "out"), "--catalog", "APASS DR9",
               "--cache-dir", str(tmp_path / "cache"), "--no-solve-field"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 1
    rows = [line for line in out.splitlines() if "NOT SOLVED" in line]
    assert len(rows) == 3 and all(f"NOT SOLVED: {CAUSE}" in r for r in rows), out
    assert "0 of 3 frames solved" in out
    assert f"3 not solved because {CAUSE}" in out
    assert OFFLINE_HELP in out
    assert "wrong field, wrong scale" not in out.split("0 of 3 frames solved")[1]


def test_run_offline_says_why_and_what_still_works(
    night, tmp_path, capsys, no_network, no_index_files
):
    # Threads: the network is cut by patching this process, which worker processes are not.
    rc = main(["run", str(night), "--project", str(tmp_path / "project"), "--catalog",
               "APASS DR9", "--workers", "2", "--executor", "threads", "--no-cosmic-rays",
               "--no-report"])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 1
    assert "astrometry: 0 of 3 lights solved" in captured.out
    assert f"3 not solved because {CAUSE}" in captured.out
    assert OFFLINE_HELP in captured.out
    # The zero points' catalog, asked once for the night, says the same first (its last
    # sentence runs on into what that means for the magnitudes).
    assert f"catalog: {CAUSE}" in captured.err
    assert f"{OFFLINE_HELP.rstrip('.')}; magnitudes stay instrumental" in captured.err


def test_astrometry_panel_offline_says_why(
    open_panel, qtbot, night, tmp_path, no_network, no_index_files
):
    from fluxion.app.panels.astrometry import AstrometryPanel
    from fluxion.core.astrometry import SolveParams

    copy = Path(shutil.copytree(night, tmp_path / "night"))
    panel = open_panel(AstrometryPanel, copy)
    panel.form.set_params(replace(SolveParams(), catalog="APASS DR9", use_solve_field=False))
    task = panel.run_all()
    qtbot.waitUntil(lambda: task.done, timeout=60_000)
    text = panel.result_label.text()
    assert text.startswith("0 of 3 lights solved"), text
    assert f"3 not solved because {CAUSE}" in text and OFFLINE_HELP in text
