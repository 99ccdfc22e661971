"""Frames of the same name in different folders get distinct product names; others keep theirs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.io.names import FrameNames, frame_names
from fluxion.core.project.products import ProductStore


def test_unique_names_are_kept_and_clashing_ones_get_their_folders(tmp_path) -> None:
    night = tmp_path / "night"
    a = night / "2026-01-01" / "LIGHT" / "Light_0001.fits"
    b = night / "2026-01-02" / "LIGHT" / "Light_0001.fits"
    c = night / "2026-01-02" / "LIGHT" / "Light_0002.fits"
    d = night / "2026-01-02" / "DARK" / "Dark_0001.fits"
    names = FrameNames.of([a, b, c, d])
    assert names.file(a) == "2026-01-01/LIGHT/Light_0001.fits"
    assert names.file(b) == "2026-01-02/LIGHT/Light_0001.fits"
    assert names.key(a) == "2026-01-01/LIGHT/Light_0001"
    assert names.folder(b) == "2026-01-02/LIGHT"
    # a name no other frame has stays the file name: an ordinary night is unchanged
    assert (names.file(c), names.key(c), names.folder(c)) == ("Light_0002.fits", "Light_0002", "")
    assert names.key(d) == "Dark_0001"
    assert set(frame_names([a, b, c, d])) == {os.path.abspath(a), os.path.abspath(b)}
    assert not FrameNames.of([c, d]) and FrameNames.of([c, d]).key(c) == "Light_0002"


def test_the_name_is_below_the_deepest_folder_holding_the_clashing_frames(tmp_path) -> None:
    m67, ngc = (
        tmp_path / "targets" / "M67" / "n0001.fit",
        tmp_path / "targets" / "NGC188" / "n0001.fit",
    )
    sub = tmp_path / "targets" / "M67" / "late" / "n0001.fit"
    names = FrameNames.of([m67, ngc, sub])
    assert [names.key(p) for p in (m67, ngc, sub)] == [
        "M67/n0001.fit", "NGC188/n0001.fit", "M67/late/n0001.fit",
    ]  # fmt: skip
    # the same frames named from a relative path (a command run from the night's folder)
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        rel = FrameNames.of([Path("targets/M67/n0001.fit"), Path("targets/NGC188/n0001.fit")])
        assert rel.key("targets/M67/n0001.fit") == "M67/n0001.fit"
        assert rel.key(m67) == "M67/n0001.fit"
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize(
    ("files", "keys"),
    [
        # x.fits and x.fits.fz both make x.ecsv: beside a namesake they keep whole names
        (["a/x.fits", "a/x.fits.fz", "b/x.fits"], ["a/x.fits", "a/x.fits.fz", "b/x"]),
        # a detection catalogue of x.fit and of x.fits is x.ecsv; X.ecsv and x.ecsv
        # are one file on macOS and Windows
        (["a/x.fit", "b/x.fits", "c/X.FITS"], ["a/x.fit", "b/x", "c/X"]),
        # alike in one folder, as before: distinct keys, no folders
        (["x.fit", "x.fits"], ["x.fit", "x"]),
    ],
)
def test_names_alike_but_for_suffix_or_case_get_distinct_keys(tmp_path, files, keys) -> None:
    paths = [tmp_path / f for f in files]
    names = FrameNames.of(paths)
    assert [names.key(p) for p in paths] == keys
    assert [names.folder(p) for p in paths] == [str(Path(f).parent).strip(".") for f in files]


def test_names_travel_to_worker_processes() -> None:
    names = FrameNames.of(["/n/a/x.fits", "/n/b/x.fits"])
    again = pickle.loads(pickle.dumps(names))
    assert again.key("/n/b/x.fits") == "b/x" and again.key("/n/c/y.fits") == "y"


def test_the_store_files_clashing_frames_in_sub_folders_and_indexes_them_apart(tmp_path) -> None:
    a, b = tmp_path / "raw" / "M67" / "n1.fits", tmp_path / "raw" / "NGC188" / "n1.fits"
    store = ProductStore(tmp_path / "project", FrameNames.of([a, b]))
    for k, frame in enumerate((a, b)):
        store.write_table("detection", frame, Table({"x": np.arange(k + 2.0)}), fp=f"fp{k}")
    assert store.path("detection", a, ".ecsv") == tmp_path / "project/sources/M67/n1.ecsv"
    assert len(store.read_table("detection", a)) == 2 and len(store.read_table("detection", b)) == 3
    reopened = ProductStore(tmp_path / "project", FrameNames.of([a, b]))
    assert reopened.is_current("detection", a, "fp0") and reopened.is_current("detection", b, "fp1")
    assert not reopened.is_current("detection", b, "fp0")
    assert reopened.frames_done("detection") == ["M67/n1", "NGC188/n1"]
    # without the night's names a product is looked for under the file name alone
    assert ProductStore(tmp_path / "project").read_table("detection", a) is None


def test_a_positions_file_finds_lights_of_the_same_name_by_their_folders() -> None:
    from fluxion.core.reports.table import track_from_positions

    files = ["n1/x.fits", "n2/x.fits", "y.fits"]
    jd = np.array([2460000.0, 2460000.1, 2460000.2])
    rows = Table(
        {
            "file": ["n2/x.fits", "/data/y.fits", "x.fits"],
            # times that would pick other lights: the names decide where they can
            "jd": [jd[0], jd[0], jd[0]],
            "x": [10.0, 20.0, 30.0],
            "y": [1.0, 2.0, 3.0],
        }
    )
    track = track_from_positions(rows, jd, files)
    by_frame = {c.frame: c.x for c in track.clicks}
    # the whole name picks n2's light; a file name only one light has picks it; a
    # name two lights share falls back on the time
    assert by_frame == {1: 10.0, 2: 20.0, 0: 30.0}
