"""Nights in sub-folders: what a scan of a top folder reads, skips and how it types frames.

How Fluxion's own outputs are told apart (and left out) when a folder is opened:

* a sub-folder whose name starts with a dot is hidden: not entered;
* a sub-folder holding ``project.json`` is a Fluxion project: not entered;
* a sub-folder holding the marker ``.fluxion-output`` was made by a Fluxion
  command for its products (``--out``, the simulator's ``truth/``): not entered;
* a FITS file below the top folder whose header carries Fluxion's product
  cards (``FLXKIND`` of a master, ``CALSTEPS`` of a calibrated light) is a
  product written before the marker existed: read, but not listed as a frame;
* the folder the user names is always read, whatever it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time

from fluxion.core.io.folders import (
    OUTPUT_MARKER,
    expand_paths,
    prepare_output_folder,
    walk_inputs,
)
from fluxion.core.io.sequence import group_frames, scan
from fluxion.core.simulation.simulate import NightConfig, simulate_night

SHAPE = (24, 32)


def _fits(path: Path, kind: str | None = "Light Frame", exptime: float = 30.0, **cards) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    h = fits.Header()
    if kind:
        h["IMAGETYP"] = kind
    h["DATE-OBS"] = "2024-03-05T21:00:00"
    h["EXPTIME"] = exptime
    for k, v in cards.items():
        h[k] = v
    fits.PrimaryHDU(np.full(SHAPE, 1000, np.uint16), h).writeto(path)
    return path


@pytest.fixture
def night(tmp_path: Path) -> Path:
    """A night with frames in sub-folders and every kind of folder that is not read."""
    top = tmp_path / "night"
    _fits(top / "top.fits")
    _fits(top / "LIGHT" / "l1.fits")
    _fits(top / "2024-03-05" / "DARK" / "d1.fits", kind="Dark Frame")
    _fits(top / ".cache" / "hidden.fits")
    _fits(top / "project" / "calibrated" / "p.fits")
    (top / "project" / "project.json").write_text("{}")
    out = prepare_output_folder(top / "out")
    _fits(out / "o.fits")
    # Products of an older run, before folders were marked: known by their cards.
    _fits(top / "old_cal" / "c.fits", CALSTEPS="bias,dark")
    _fits(top / "old_cal" / "masters" / "master_bias.fits", FLXKIND="BIAS")
    return top


def _names(paths) -> set[str]:
    return {Path(p).name for p in paths}


def test_a_top_folder_finds_every_frame_below_it_but_not_fluxions_outputs(night: Path) -> None:
    walk = walk_inputs([night])
    assert _names(walk.files) == {"top.fits", "l1.fits", "d1.fits", "c.fits", "master_bias.fits"}
    assert {(p.name, why) for p, why in walk.skipped} == {
        (".cache", "hidden folder"),
        ("project", "a Fluxion project"),
        ("out", "Fluxion products"),
    }
    assert walk.below == set(walk.files) - {night / "top.fits"}
    frames = scan(night)
    assert _names(f.path for f in frames) == {"top.fits", "l1.fits", "d1.fits"}
    assert group_frames(frames).counts() == {
        "bias": 0, "dark": 1, "flat": 0, "light": 2, "unknown": 0,
    }  # fmt: skip
    # Not descending: the top folder only.
    assert _names(expand_paths([night], recursive=False)) == {"top.fits"}
    # A folder named explicitly is read whatever it is: products are inputs there.
    assert _names(f.path for f in scan(night / "out")) == {"o.fits"}
    assert _names(f.path for f in scan(night / "old_cal")) == {"c.fits"}
    assert [f.product for f in scan(night / "old_cal")] == ["calibrated"]


def test_an_output_folder_is_marked_only_when_fluxion_made_it(tmp_path: Path) -> None:
    made = prepare_output_folder(tmp_path / "new" / "deep")
    assert (made / OUTPUT_MARKER).is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (prepare_output_folder(empty) / OUTPUT_MARKER).is_file()
    mine = tmp_path / "mine"
    _fits(mine / "raw.fits")  # the user's own folder (the night given as --out)
    prepare_output_folder(mine)
    assert not (mine / OUTPUT_MARKER).exists()
    assert _names(expand_paths([tmp_path])) == {"raw.fits"}


def test_a_linked_sub_folder_is_read_once(tmp_path: Path) -> None:
    night = tmp_path / "night"
    _fits(night / "LIGHT" / "a.fits")
    (night / "again").symlink_to(night / "LIGHT", target_is_directory=True)
    (night / "LIGHT" / "loop").symlink_to(night, target_is_directory=True)
    assert _names(expand_paths([night])) == {"a.fits"}


def test_sub_folder_names_say_the_frame_type_when_no_card_does(tmp_path: Path) -> None:
    night = tmp_path / "flat_field_night"  # the night's own name is not a frame type
    _fits(night / "n0001.fits", kind=None)
    _fits(night / "zero" / "n0002.fits", kind=None, exptime=0.0)
    _fits(night / "Darks" / "n0003.fits", kind=None)
    _fits(night / "flats" / "n0004.fits", kind=None, exptime=2.0)
    _fits(night / "M67" / "n0005.fits", kind=None)
    _fits(night / "dark" / "n0006.fits", kind="Light Frame")  # a card wins over the folder
    by_name = {f.path.name: f for f in scan(night)}
    assert {n: f.type for n, f in by_name.items()} == {
        "n0001.fits": "light", "n0002.fits": "bias", "n0003.fits": "dark",
        "n0004.fits": "flat", "n0005.fits": "light", "n0006.fits": "light",
    }  # fmt: skip
    assert by_name["n0003.fits"].sources["image_type"] == "guessed from folder name"
    assert by_name["n0001.fits"].sources["image_type"] == "guessed (no image-type card)"


@pytest.mark.parametrize("layout", ["flat", "nina", "observatory"])
def test_simulated_layouts_scan_to_the_same_night(tmp_path: Path, layout: str) -> None:
    config = NightConfig(n_frames=3, shape=(48, 64), star_density=0.2, n_bias=2, n_dark=2,
                         n_flat=2, layout=layout)  # fmt: skip
    truth = simulate_night(tmp_path, config)
    record = json.loads(truth.night_json.read_text())
    frames = scan(tmp_path)
    groups = group_frames(frames)
    assert groups.counts() == {"bias": 2, "dark": 2, "flat": 2, "light": 3, "unknown": 0}
    assert {f.path for f in frames} == {*truth.lights, *truth.biases, *truth.darks, *truth.flats}
    assert list(groups.flats) == ["V"] and list(groups.darks) == [config.exptime]
    lights = sorted(groups.lights[(config.object_name, "V")], key=lambda f: f.jd)
    for f, row, path in zip(lights, record["frames"], truth.lights, strict=True):
        assert f.path == path == tmp_path / row["file"]
        assert abs(f.jd - row["jd_mid"]) * 86400 < 1e-3
    folders = {p.parent.relative_to(tmp_path).as_posix() for p in (*truth.lights, *truth.darks)}
    if layout == "flat":
        assert folders == {"."}
    elif layout == "nina":
        day = Time(config.start).datetime.strftime("%Y-%m-%d")
        assert folders == {f"{day}/LIGHT", f"{day}/DARK"}
        assert all(f.sources["image_type"] == "IMAGETYP" for f in frames)
    else:
        assert folders == {"Cygnus_field", "dark"}
        assert {f.sources["image_type"] for f in frames if f.type in ("dark", "flat", "bias")} == {
            "guessed from folder name"
        }
        # One running number in the order the frames were taken: flats at dusk first.
        assert [p.name for p in truth.flats] == ["n0001.fits", "n0002.fits"]
