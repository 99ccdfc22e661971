"""``fluxion run --ra --dec`` takes the coordinates as a user copies them: sexagesimal too.

The TrES-1 night's notes (tres1-oscaar/SOURCE.txt) give the star at
"RA 19:04:09.85, Dec +36:37:57.4"; a new user's ``--ra 19:04:09.85`` stopped
with "argument --ra: invalid float value". Sexagesimal RA is hours, Dec
degrees, a plain number degrees; a southern ``--dec -05:12:30`` is not taken
for an option.
"""

from __future__ import annotations

import argparse
import re

import pytest

from fluxion.app.cli import main
from fluxion.app.commands.coordinates import dec_degrees, ra_degrees
from fluxion.app.commands.options import joined_site_value

#: TrES-1 in degrees (2MASS J19040985+3637574).
TRES1 = (286.0410417, 36.6326111)


def test_the_night_notes_coordinates_are_read_as_published(shared_data):
    source = shared_data / "tres1-oscaar" / "SOURCE.txt"
    if not source.is_file():
        pytest.skip("tres1-oscaar not in the shared data")
    found = re.search(r"at RA (\S+), Dec (\S+) \(J2000\)", source.read_text())
    assert found is not None
    ra, dec = ra_degrees(found.group(1)), dec_degrees(found.group(2))
    # 0.01 s of RA is 0.04 arcsec here; the published digits are 0.01 s and 0.1 arcsec.
    assert ra == pytest.approx(TRES1[0], abs=0.05 / 3600)
    assert dec == pytest.approx(TRES1[1], abs=0.05 / 3600)
    assert ra_degrees("19h04m09.85s") == pytest.approx(ra, abs=1e-9)
    assert ra_degrees("286.0410417") == pytest.approx(TRES1[0], abs=1e-9)


def test_wrong_coordinates_are_refused_by_name():
    with pytest.raises(argparse.ArgumentTypeError, match="not a right ascension"):
        ra_degrees("19:04:xx")
    with pytest.raises(argparse.ArgumentTypeError, match="outside 0-360"):
        ra_degrees("400")
    with pytest.raises(argparse.ArgumentTypeError, match="outside -90"):
        dec_degrees("+95:00:00")


def test_a_southern_sexagesimal_dec_reaches_the_run(tmp_path, capsys):
    assert joined_site_value(["--dec", "-05:12:30"]) == ["--dec=-05:12:30"]
    assert joined_site_value(["--dec", "-5.2"]) == ["--dec=-5.2"]
    assert dec_degrees("-05:12:30") == pytest.approx(-(5 + 12 / 60 + 30 / 3600))
    # Parsed: the run stops at the missing folder, not at the options.
    rc = main(["run", str(tmp_path / "none"), "--project", str(tmp_path / "p"),
               "--ra", "19:04:09.85", "--dec", "-05:12:30"])  # fmt: skip
    said = capsys.readouterr().err
    assert rc != 0 and "invalid" not in said and "expected one argument" not in said
    assert "none" in said
