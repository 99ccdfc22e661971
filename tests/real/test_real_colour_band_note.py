"""A colour camera's FILTER names no band, and needs none: its channels are calibrated to R, V, B.

``fluxion run`` on the Seestar S50's frames (seestar-osc, FILTER 'IRCUT', a
UV/IR-cut window over a Bayer sensor) said "filter 'IRCUT' of 8 lights is not
a known band, so they have no zero points; choose the catalog band ... with
fluxion run --band BAND": wrong for a colour camera, whose red, green and
blue channels are each calibrated to their own band whatever the FILTER (a
single --band would not apply). The run's unknown-band note leaves colour
lights out; the same lights read as monochrome with a filter slot's name
('Filter 2') still get it, and with 'IRCUT' are calibrated as clear. The run's
notes say instead how a colour night is measured (per channel, not debayered).
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from fluxion.core.chain.night import _unknown_band_notes
from fluxion.core.io.frames import frame_info, with_cfa
from fluxion.core.io.names import FrameNames
from fluxion.core.zeropoint import ZeroPointParams


@pytest.fixture(scope="module")
def lights(shared_data):
    paths = sorted((shared_data / "seestar-osc").glob("Light_*.fit"))
    if len(paths) != 8:
        pytest.skip("the Seestar frames are not all there")
    return [frame_info(p) for p in paths]


def _notes(frames) -> list[str]:
    uncalibrated = SimpleNamespace(facts={"calibrated": False})
    params = SimpleNamespace(zeropoint=ZeroPointParams())
    return _unknown_band_notes(frames, lambda f: uncalibrated, FrameNames(), params, None)


def test_colour_lights_get_no_band_note_and_monochrome_ones_do(lights):
    assert {f.filter for f in lights} == {"IRCUT"}
    assert all(f.cfa == "GRBG" for f in lights)
    assert _notes(lights) == []
    mono = [with_cfa(f, None) for f in lights]
    # On a monochrome camera a UV/IR-cut window is a luminance filter: calibrated as clear.
    assert _notes(mono) == []
    (slot,) = _notes([dataclasses.replace(f, filter="Filter 2") for f in mono])
    assert "filter 'Filter 2' of 8 lights" in slot and "--band" in slot
    assert _notes([dataclasses.replace(f, filter="Filter 2") for f in lights]) == []


def test_the_run_names_how_a_colour_night_is_measured(lights):
    from fluxion.app.commands.run import colour_note

    note = colour_note(lights, None)
    assert note is not None and note.startswith("colour camera (Bayer GRBG): ")
    assert "R, G and B on their own pixels" in note and note.endswith(
        "follows G (--channel R, G, B or L)"
    )
    assert colour_note(lights, "B").endswith("follows B (--channel R, G, B or L)")
    assert colour_note([with_cfa(f, None) for f in lights], None) is None
