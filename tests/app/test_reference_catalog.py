"""The project's reference catalog: set for a demo night, asked first by both panels."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from astropy.table import Table

from fluxion.app.panels.astrometry import AstrometryPanel, reference_chain
from fluxion.app.panels.targets import TargetsPanel
from fluxion.app.panels.zeropoint import CATALOG_FILE, ZeroPointPanel
from fluxion.app.session import REFERENCE_CATALOG
from fluxion.core.astrometry import SolveParams
from fluxion.core.catalogs import CatalogChain, Cone, LocalCatalog


def _panel(window, cls):
    return next(p for p in window.panels if isinstance(p, cls))


def _stars(ra: float, dec: float, n: int) -> Table:
    rng = np.random.default_rng(1)
    return Table(
        {
            "ra": ra + rng.uniform(-0.05, 0.05, n),
            "dec": dec + rng.uniform(-0.05, 0.05, n),
            "V": rng.uniform(10, 15, n),
        }
    )


def test_the_reference_catalog_answers_first_and_a_field_it_misses_falls_through() -> None:
    here = LocalCatalog(_stars(310.0, 40.0, 30), name="here")
    elsewhere = LocalCatalog(_stars(10.0, -20.0, 30), name="elsewhere")
    chain = CatalogChain([here]).preferring(elsewhere)
    assert chain.name == "elsewhere > here"
    answer = chain.query(Cone(310.0, 40.0, 0.2))
    assert answer.source == "here" and len(answer.table) == 30
    assert any("elsewhere: only 0 stars" in m for m in answer.messages)
    assert chain.query(Cone(10.0, -20.0, 0.2)).source == "elsewhere"
    # preferring a source already in the chain asks it once, first
    assert CatalogChain([here, elsewhere]).preferring(elsewhere).name == "elsewhere > here"


def test_reference_chain_keeps_the_steps_catalog_behind_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ref.ecsv"
    _stars(310.0, 40.0, 5).write(path)
    chain = reference_chain(SolveParams(offline=True), path)
    assert chain.name.startswith("ref.ecsv > Gaia DR3") and chain.offline
    assert reference_chain(SolveParams(), None) is None
    own = SolveParams(catalog="Local file", catalog_file=str(path))
    assert reference_chain(own, path) is None  # the step names its own file


def test_a_demo_night_opens_with_its_reference_catalog(
    window, open_and_wait, demo_night: Path, tmp_path: Path
) -> None:
    night = Path(shutil.copytree(demo_night, tmp_path / "night"))
    open_and_wait(window, night)
    expected = (night / "truth" / "reference_catalog.ecsv").resolve()
    assert window.session.reference_catalog() == expected
    zp = _panel(window, ZeroPointPanel)
    assert zp.catalog_source() == (CATALOG_FILE, str(expected))
    assert "reference_catalog.ecsv" in zp.file_label.text()
    astro = _panel(window, AstrometryPanel)
    assert "reference_catalog.ecsv" in astro.reference_label.text()
    # Choosing another file in the Zero point panel changes it for both panels.
    other = tmp_path / "other.ecsv"
    _stars(310.0, 40.0, 5).write(other)
    zp.set_catalog_file(other)
    assert window.session.reference_catalog() == other.resolve()
    assert "other.ecsv" in astro.reference_label.text() and "other.ecsv" in zp.file_label.text()


def test_an_explicit_no_reference_catalog_is_kept(window, qtbot, demo_night: Path) -> None:
    from fluxion.core.project.document import Project

    inputs = sorted(demo_night.glob("*.fits"))
    project = Project.from_inputs(inputs)
    project.steps[REFERENCE_CATALOG] = {"file": ""}
    with qtbot.waitSignal(window.session.frame_ready, timeout=20_000):
        window.session.open_paths(inputs, project)
    assert window.session.reference_catalog() is None
    assert _panel(window, AstrometryPanel).reference_label.isHidden()


def test_targets_run_never_raises(window, qtbot, open_and_wait, demo_night: Path) -> None:
    open_and_wait(window, demo_night)
    panel = _panel(window, TargetsPanel)
    dock = window.panel_docks[window.panels.index(panel)]
    dock.show()
    dock.raise_()
    qtbot.waitUntil(lambda: panel.frames is not None, timeout=120_000)
    assert panel.run_current() is None and panel.run_all() is None
    assert "No target yet" in panel.result_label.text()
    # the hidden "redo when the frame changes" path goes through run_current too
    panel.redo_box.setChecked(True)
    window.session.go_to((window.session.current + 1) % len(window.session))
    panel.new_target("moving")
    assert panel.run_current() is None  # a moving target without clicks: nothing to fit
