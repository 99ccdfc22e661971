"""The observing site: parsed and checked, filling frames without one, kept in the project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from astropy.io import fits

from fluxion.core.io.frames import frame_info
from fluxion.core.io.site import ObservingSite, parse_site, site_note, with_site, with_sites
from fluxion.core.lightcurve.scintillation import site_height
from fluxion.core.project.document import Project, ProjectError


def _frame(tmp_path: Path, name: str, **cards) -> Path:
    h = fits.Header()
    h["IMAGETYP"] = "Light Frame"
    h["DATE-OBS"] = "2012-06-17T02:00:00"
    h["EXPTIME"] = 60.0
    for k, v in cards.items():
        h[k] = v
    path = tmp_path / name
    fits.PrimaryHDU(data=[[1.0, 2.0], [3.0, 4.0]], header=h).writeto(path)
    return path


def test_parse_site_reads_east_positive_degrees_and_metres():
    site = parse_site(" 283.06 , 38.99 , 40 ", "UMD")
    assert site.longitude == pytest.approx(-76.94, abs=1e-12)  # 283.06 E is 76.94 W
    assert (site.latitude, site.height, site.name) == (38.99, 40.0, "UMD")
    assert parse_site("-76.94,38.99").height is None
    assert parse_site("-76.94,38.99").triple == (-76.94, 38.99, 0.0)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("8", "LON,LAT or LON,LAT,HEIGHT"),
        ("8,47,1,2", "LON,LAT or LON,LAT,HEIGHT"),
        ("8,", "LON,LAT or LON,LAT,HEIGHT"),
        ("8E,47N", "not numbers"),
        ("8,91", "the order is longitude, latitude"),
        ("-200,47", "east-positive"),
        ("nan,47", "longitude"),
        ("8,47,1e5", "-500..9000 m"),
    ],
)
def test_a_bad_site_says_what_and_the_convention(text, said):
    with pytest.raises(ValueError, match="site") as info:
        parse_site(text)
    assert said in str(info.value)


def test_the_header_wins_and_the_project_fills_the_rest(tmp_path):
    sited = frame_info(_frame(tmp_path, "a.fits", SITELAT=47.0, SITELONG=8.0, SITEELEV=500.0))
    bare = frame_info(_frame(tmp_path, "b.fits"))
    assert bare.site is None and sited.site == (8.0, 47.0, 500.0)
    given = ObservingSite(-76.94, 38.99, 40.0, "UMD")
    a, b = with_sites([sited, bare], given)
    assert a is sited
    assert b.site == (-76.94, 38.99, 40.0)
    assert b.sources["site"] == "project setting (UMD)"
    assert site_height(b) == 40.0
    # A changed setting replaces the one filled in; none removes it.
    moved = with_site(b, ObservingSite(10.0, 50.0))
    assert moved.site == (10.0, 50.0, 0.0)
    assert moved.sources["site"] == "project setting, height default 0 m"
    assert site_height(moved) is None  # the scintillation takes the height as unknown
    cleared = with_site(moved, None)
    assert cleared.site is None and "site" not in cleared.sources
    assert with_site(sited, None) is sited


def test_site_note_says_what_is_missing_and_where_the_site_came_from(tmp_path):
    bare = frame_info(_frame(tmp_path, "b.fits"))
    sited = frame_info(_frame(tmp_path, "a.fits", SITELAT=47.0, SITELONG=8.0))
    note = site_note([bare, bare])
    assert "no observing site" in note and "airmass" in note and "21 ms" in note
    assert "--site LON,LAT" in note
    assert site_note([sited]) == ""
    given = with_sites([bare, sited], ObservingSite(8.0, 47.0, 300.0, "Home"))
    assert site_note(given) == (
        "site: project setting (Home) (+8.00000 E, +47.00000 N, 300 m) for 1 of 2 lights "
        "(their headers give none)"
    )
    assert "1 of 2 lights have none" in site_note([bare, sited])


def test_the_project_keeps_its_site(tmp_path):
    project = Project.from_inputs([], name="n")
    project.save(tmp_path / "p")
    assert "site" not in json.loads((tmp_path / "p/project.json").read_text())
    project.site = ObservingSite(-76.94, 38.99, 40.0, "UMD")
    project.save()
    doc = json.loads((tmp_path / "p/project.json").read_text())
    assert doc["site"] == {"longitude": -76.94, "latitude": 38.99, "height": 40.0, "name": "UMD"}
    assert Project.load(tmp_path / "p").site == project.site


@pytest.mark.parametrize(
    "site",
    [
        "College Park",
        {"longitude": -76.94},
        {"longitude": "76W", "latitude": 38.99},
        {"longitude": -76.94, "latitude": 138.99},
        {"longitude": True, "latitude": 38.99},
    ],
)
def test_a_damaged_site_in_the_project_file_is_named(tmp_path, site):
    project = Project.from_inputs([], name="n")
    file = project.save(tmp_path / "p")
    doc = json.loads(file.read_text())
    doc["site"] = site
    file.write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="site"):
        Project.load(tmp_path / "p")


def test_site_meta_names_the_site_used_and_its_source(tmp_path):
    from fluxion.core.io.site import site_meta

    bare = frame_info(_frame(tmp_path, "b.fits"))
    sited = frame_info(_frame(tmp_path, "a.fits", SITELAT=47.0, SITELONG=8.0, SITEELEV=500.0))
    assert site_meta([sited]) == {
        "site": [8.0, 47.0, 500.0],
        "site_source": "SITELONG/SITELAT, longitude east positive, SITEELEV",
    }
    assert set(site_meta([bare])) == {"site_note"}
    given = site_meta(with_sites([bare], ObservingSite(-76.94, 38.99, 40.0, "UMD")))
    assert given["site"] == [-76.94, 38.99, 40.0]
    assert given["site_source"] == "project setting (UMD)"
    assert site_meta([]) == {}


def test_the_night_location_is_the_first_light_with_a_site(tmp_path):
    from astropy import units as u

    from fluxion.core.io.site import night_location

    bare = frame_info(_frame(tmp_path, "b.fits"))
    sited = frame_info(_frame(tmp_path, "a.fits", SITELAT=47.0, SITELONG=8.0, SITEELEV=500.0))
    assert night_location([bare]) is None
    where = night_location([bare, sited])
    assert where is not None
    assert where.lon.deg == pytest.approx(8.0, abs=1e-9)
    assert where.lat.deg == pytest.approx(47.0, abs=1e-9)
    assert where.height.to_value(u.m) == pytest.approx(500.0, abs=1e-6)
