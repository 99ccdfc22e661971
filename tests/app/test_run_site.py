"""``fluxion run --site``: a night whose headers give no site gets the one the user gave.

The truth is the same night with its SITELAT/SITELONG/SITEELEV cards: the
light curve's airmass and BJD_TDB from the given site must be the cards' (the
same site, so the same numbers to float precision), and without any site the
BJD is the geocentre's, which differs from the site's by less than the Earth's
radius in light time (21.3 ms).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from night_helpers import edited_copy, run_args, step_counts, without_site

from fluxion.app.cli import main
from fluxion.core.project.document import Project
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=4, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3)
# The Earth's equatorial radius in light time (s): the most a site moves the BJD.
EARTH_LIGHT_S = 6378.137e3 / 299792458.0


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> tuple[Path, Path]:
    """The simulated night with its site cards, and a copy of it without them (nor AIRMASS)."""
    sited = tmp_path_factory.mktemp("sited")
    simulate_night(sited, CONFIG)
    bare = tmp_path_factory.mktemp("bare") / "night"
    assert edited_copy(sited, bare, without_site) >= CONFIG.n_frames  # every light
    return sited, bare


def _site_text() -> str:
    return f"{CONFIG.site_lon!r},{CONFIG.site_lat!r},{CONFIG.site_elev!r}"


def test_a_west_site_is_given_with_a_space(nights, tmp_path, capsys):
    """``--site -76.94,38.99``: argparse alone would take the value for an option."""
    _, bare = nights
    assert main(run_args(bare, tmp_path / "p", "--site", "-76.94,38.99,40")) == 0
    assert "(-76.94000 E, +38.99000 N, 40 m) for 4 of 4 lights" in capsys.readouterr().out
    assert Project.load(tmp_path / "p").site.longitude == -76.94


def test_given_site_gives_the_cards_airmass_and_bjd(nights, tmp_path, capsys):
    sited, bare = nights
    assert main(run_args(sited, tmp_path / "cards")) == 0
    capsys.readouterr()
    assert main(run_args(bare, tmp_path / "none")) == 0
    said = capsys.readouterr().out
    assert "no observing site" in said and "--site LON,LAT" in said
    assert (
        main(run_args(bare, tmp_path / "given", "--site", _site_text(), "--site-name", "Sim")) == 0
    )
    said = capsys.readouterr().out
    assert "site: project setting (Sim)" in said and "4 of 4 lights" in said

    cards = Table.read(tmp_path / "cards/lightcurve.ecsv")
    given = Table.read(tmp_path / "given/lightcurve.ecsv")
    none = Table.read(tmp_path / "none/lightcurve.ecsv")
    assert np.all(np.isfinite(cards["airmass"])) and np.all(np.asarray(cards["airmass"]) >= 1.0)
    # The same site: the same numbers (1e-9 d is 86 us, far below the 21 ms at stake).
    np.testing.assert_allclose(given["airmass"], cards["airmass"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(given["bjd_tdb"], cards["bjd_tdb"], rtol=0, atol=1e-9)
    assert np.all(np.isnan(np.asarray(none["airmass"], float)))
    # The curve's meta says which site its times used and whose it is, or what is missing.
    assert given.meta["site"] == [CONFIG.site_lon, CONFIG.site_lat, CONFIG.site_elev]
    assert given.meta["site_source"] == "project setting (Sim)"
    assert cards.meta["site_source"].startswith("SITELONG/SITELAT")
    assert "site" not in none.meta and "no observing site" in none.meta["site_note"]
    dt = (np.asarray(none["bjd_tdb"]) - np.asarray(given["bjd_tdb"])) * 86400.0
    assert np.all(np.abs(dt) < EARTH_LIGHT_S) and np.all(np.abs(dt) > 1e-4)

    # Kept in the project file, so a later run without --site uses it.
    doc = json.loads((tmp_path / "given/project.json").read_text())
    assert doc["site"] == {
        "longitude": CONFIG.site_lon, "latitude": CONFIG.site_lat,
        "height": CONFIG.site_elev, "name": "Sim",
    }  # fmt: skip
    assert Project.load(tmp_path / "given").site is not None
    assert main(run_args(bare, tmp_path / "given")) == 0
    again = Table.read(tmp_path / "given/lightcurve.ecsv")
    np.testing.assert_allclose(again["airmass"], cards["airmass"], rtol=0, atol=1e-9)


def test_the_headers_site_wins_over_the_given_one(nights, tmp_path, capsys):
    sited, _ = nights
    far = f"{CONFIG.site_lon + 90.0!r},{-CONFIG.site_lat!r}"
    assert main(run_args(sited, tmp_path / "p", "--site", far)) == 0
    assert "project setting" not in capsys.readouterr().out
    cards = Table.read(tmp_path / "p/lightcurve.ecsv")
    assert main(run_args(sited, tmp_path / "q")) == 0
    np.testing.assert_allclose(
        cards["airmass"], Table.read(tmp_path / "q/lightcurve.ecsv")["airmass"], atol=1e-9
    )


def test_a_west_longitude_after_a_space_is_the_sites_value():
    from fluxion.app.commands.options import joined_site_value

    assert joined_site_value(["run", "d", "--site", "-76.94,38.99", "-v"]) == [
        "run", "d", "--site=-76.94,38.99", "-v",
    ]  # fmt: skip
    assert joined_site_value(["--site", "-.5,1"]) == ["--site=-.5,1"]
    assert joined_site_value(["--site", "8,47", "--site-name", "-x"]) == [
        "--site", "8,47", "--site-name", "-x",
    ]  # fmt: skip
    # Not a value: the next option stays an option (argparse then says --site lacks one).
    assert joined_site_value(["--site", "--offline"]) == ["--site", "--offline"]


@pytest.mark.parametrize(
    ("site", "said"),
    [
        ("8.0", "LON,LAT"),
        ("east,47", "not numbers"),
        ("47.0,95", "-90..90"),
        ("400,47", "east-positive"),
        ("8,47,12000", "above sea level"),
    ],
)
def test_a_bad_site_is_a_one_line_error(nights, tmp_path, capsys, site, said):
    _, bare = nights
    assert main(run_args(bare, tmp_path / "p", "--site", site)) == 2
    err = capsys.readouterr().err
    assert "--site" in err and said in err
    assert not (tmp_path / "p").exists()


def test_a_changed_site_redoes_what_depends_on_it(nights, tmp_path, capsys):
    """With a telescope aperture each light's zero point carries its scintillation,
    which depends on the airmass: a new site redoes the zero points, not the photometry."""
    _, bare = nights
    project = tmp_path / "p"
    here = run_args(bare, project, "--site", _site_text(), "--telescope-aperture", "200")
    assert main(here) == 0
    first = Table.read(project / "lightcurve.ecsv")
    capsys.readouterr()
    assert main(here) == 0
    assert step_counts(capsys.readouterr().out)["zeropoint"] == (0, CONFIG.n_frames)
    # The same longitude 60 degrees further south: the field stands lower.
    south = f"{CONFIG.site_lon!r},{CONFIG.site_lat - 60.0!r},{CONFIG.site_elev!r}"
    there = run_args(bare, project, "--site", south, "--telescope-aperture", "200")
    assert main(there) == 0
    printed = capsys.readouterr().out
    assert step_counts(printed)["zeropoint"] == (CONFIG.n_frames, 0)
    assert step_counts(printed)["photometry"] == (0, CONFIG.n_frames)
    moved = Table.read(project / "lightcurve.ecsv")
    assert np.all(np.asarray(moved["airmass"]) > np.asarray(first["airmass"]) + 0.1)
    # The scintillation grows with the airmass: so does every point's error.
    assert np.all(np.asarray(moved["mag_err"]) > np.asarray(first["mag_err"]))


def test_the_summary_page_lists_the_runs_notes(tmp_path, qapp):
    from fluxion.app.report import write_report
    from fluxion.core.io.site import site_note

    n = 3
    frames = Table({
        "file": [f"light_{k}.fits" for k in range(n)], "jd_utc": 2460564.4 + 0.002 * np.arange(n),
        "fwhm": np.full(n, 3.1), "sky": np.full(n, 120.0), "n_sources": np.full(n, 40),
        "wcs_ok": [True] * n, "astrometric_rms_arcsec": np.full(n, 0.2),
        "zero_point": np.full(n, 21.7), "zero_point_err": np.full(n, 0.01), "status": ["ok"] * n,
    })  # fmt: skip
    note = site_note([_bare_light()])
    page = write_report(tmp_path, frames, None, [note, "masters: a <bad> dark left out"])
    text = page.read_text()
    assert "<h2>Notes</h2>" in text and "no observing site" in text
    assert "a &lt;bad&gt; dark left out" in text


def _bare_light():
    from fluxion.core.io.frames import FrameInfo

    return FrameInfo(path=Path("light.fits"), type="light")
