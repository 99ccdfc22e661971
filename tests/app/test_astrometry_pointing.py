"""Astrometry panel on lights whose headers give no pointing: the fixed target points them.

As MaxIm DL writes without a telescope link (the real TrES-1 night): no RA/DEC,
no focal length. The panel says so and how to give one; once the target is
made from its RA/Dec, a light that was not solved is searched near it (its
earlier failure is not current) and solved, the WCS against the simulator's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.panels.astrometry import AstrometryPanel
from fluxion.app.panels.astrometry_pointing import pointed, pointing_note, target_pointing
from fluxion.core.astrometry import SolveParams
from fluxion.core.simulation.simulate import read_truth_wcs

pytestmark = pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")


def _run_current(panel, qtbot, index: int):
    panel.results.pop(index, None)
    panel.run_current()
    qtbot.waitUntil(lambda: index in panel.results, timeout=120_000)
    return panel.results[index]


def test_fixed_target_points_the_lights_and_they_solve(open_panel, unpointed_night, qtbot) -> None:
    panel = open_panel(AstrometryPanel, unpointed_night)
    session = panel.session
    params = replace(
        SolveParams(), catalog="Local file", offline=True, use_solve_field=False,
        catalog_file=str(unpointed_night / "truth" / "reference_catalog.ecsv"),
    )  # fmt: skip
    panel.form.set_params(params)
    note = panel.pointing_label.text()
    assert "2 lights give no pointing" in note and "Targets panel" in note
    assert not panel.pointing_label.isHidden()
    index = session.current
    assert session.sequence[index].type == "light"
    before = _run_current(panel, qtbot, index)
    assert not before.solved and "pointing" in before.reason

    # The target made from its RA/Dec (the Targets panel's "Fixed target..."):
    # a star of the field, so a pointing good to half a field.
    first = Table.read(unpointed_night / "truth" / "light_0001.ecsv")
    star = first[np.argmin(np.hypot(first["x"] - 60.0, first["y"] - 200.0))]
    session.project.targets = [
        {"name": "star", "kind": "fixed", "ra": float(star["ra"]), "dec": float(star["dec"])}
    ]
    session.targets_changed.emit()
    assert "searched near star" in panel.pointing_label.text()
    after = _run_current(panel, qtbot, index)
    assert after.solved, after.reason
    # What the solve says was missing: the scale, not the pointing given.
    assert any("no pixel-scale hint" in m for m in after.messages), after.messages
    assert not any("no pointing" in m for m in after.messages), after.messages
    # Against the simulator's WCS: the centre and the corners.
    truth = read_truth_wcs(unpointed_night / f"truth/{session.sequence[index].path.stem}.wcs.fits")
    px = [128, 0, 255]
    sep = truth.pixel_to_world(px, px).separation(after.wcs.pixel_to_world(px, px)).arcsec
    assert sep[0] < 0.3 and sep.max() < 2.0, sep


def test_pointed_leaves_lights_with_a_pointing_and_other_frames(unpointed_night) -> None:
    from fluxion.core.io.sequence import Sequence

    frames = list(Sequence.from_paths([unpointed_night]).frames)
    light = next(f for f in frames if f.type == "light")
    target = target_pointing([{"kind": "moving"}, {"kind": "fixed", "ra": 10.0, "dec": -5.0}])
    assert target == ("", 10.0, -5.0)
    assert (pointed(light, target).ra, pointed(light, target).dec) == (10.0, -5.0)
    own = replace(light, ra=11.0, dec=-6.0)
    assert pointed(own, target) is own
    assert pointed(light, None) is light
    assert target_pointing([{"kind": "fixed", "ra": None, "dec": None}]) is None


def test_the_pointing_note_names_a_target_of_coordinates_once(unpointed_night) -> None:
    from fluxion.core.io.sequence import Sequence

    frames = list(Sequence.from_paths([unpointed_night]).frames)
    bare = sum(f.type == "light" for f in frames)
    # fluxion run --ra/--dec names its target after its coordinates.
    by_coords = {"kind": "fixed", "ra": 286.0410417, "dec": 36.6326111,
                 "name": "RA 286.04104 Dec +36.63261"}  # fmt: skip
    note = pointing_note(frames, [by_coords])
    assert (
        note == f"{bare} lights give no pointing in the header: searched near {by_coords['name']}."
    )
    named = {**by_coords, "name": "TrES-1"}
    assert pointing_note(frames, [named]).endswith(
        "searched near TrES-1 (RA 286.04104 Dec +36.63261)."
    )
