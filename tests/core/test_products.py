"""Per-frame products: naming, fingerprints, round trips, and what a killed run leaves."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from astropy.wcs import WCS

from fluxion.core.project.products import (
    INDEX_FILES,
    ProductStore,
    _replay,
    fingerprint,
    frame_key,
)


def test_frame_key_is_unique_per_file_name() -> None:
    assert frame_key("/x/light_0001.fits") == "light_0001"
    assert frame_key("a.fits.fz") == "a"
    assert frame_key("a.FITS") == "a"
    # Other suffixes are kept: x.fits and x.fts of one night must not share products.
    names = ["x.fits", "x.fts", "x.fit", "x.fit.gz", "x.fz", "lux.00000038.fit"]
    keys = [frame_key(n) for n in names]
    assert len(set(keys)) == len(keys)
    assert frame_key("lux-180.000secs.Light.Open.00000038.fit") == (
        "lux-180.000secs.Light.Open.00000038.fit"
    )
    # A name near the file system's limit gets a short key, still unique.
    long_a, long_b = "n" * 240 + "a.fits", "n" * 240 + "b.fits"
    assert len(frame_key(long_a).encode()) <= 160
    assert frame_key(long_a) != frame_key(long_b)


def test_fingerprint_follows_parameters_and_input_files(tmp_path: Path) -> None:
    f = tmp_path / "light.fits"
    f.write_bytes(b"x" * 10)
    a = fingerprint({"threshold": 1.5}, f)
    assert a == fingerprint({"threshold": 1.5}, f)
    assert a != fingerprint({"threshold": 2.0}, f)
    f.write_bytes(b"x" * 11)  # a changed input changes the fingerprint
    assert a != fingerprint({"threshold": 1.5}, f)


def test_fingerprints_stay_those_earlier_versions_recorded(tmp_path: Path) -> None:
    # A project's index holds fingerprints made by earlier versions: the same
    # inputs must hash the same, or every product of an old project is redone.
    frame = tmp_path / "light_0001.fits"
    frame.write_bytes(b"SIMPLE  =" + b" " * 71 + b"x" * 2800)
    parts = {
        "98ef54d7749b1936": (
            "photometry",
            {"radius": 3.5, "method": "aperture", 2: "two", 10: [1, 2]},
            "abc",
        ),
        "f2ef85e0e06c3698": (
            [[1.5, 2.25], [np.float64(3.0), np.int32(4)]],
            (True, None, np.bool_(False)),
            {"nested": {"t": (1, 2.0)}},
        ),
        "16640ea6824f53ee": (frame, [frame, {"file": frame}], tmp_path / "missing.fits"),
    }
    for expected, args in parts.items():
        assert fingerprint(*args) == expected


def test_table_round_trip_and_currency(tmp_path: Path) -> None:
    store = ProductStore(tmp_path)
    t = Table({"x": [1.0, 2.5], "y": [3.0, 4.0]}, meta={"fwhm": 2.5})
    assert store.read_table("detection", "light_0001.fits") is None
    path = store.write_table("detection", "light_0001.fits", t, fp="abc")
    assert path == tmp_path / "sources" / "light_0001.ecsv"
    back = store.read_table("detection", "/elsewhere/light_0001.fits")
    assert list(back["x"]) == [1.0, 2.5] and back.meta["fwhm"] == 2.5
    assert store.is_current("detection", "light_0001.fits", "abc")
    assert not store.is_current("detection", "light_0001.fits", "other")
    # A fresh store (a new process) reads the index from disk.
    assert ProductStore(tmp_path).is_current("detection", "light_0001.fits", "abc")
    assert ProductStore(tmp_path).frames_done("detection") == ["light_0001"]
    store.forget("detection")
    assert not ProductStore(tmp_path).is_current("detection", "light_0001.fits", "abc")
    with pytest.raises(ValueError, match="unknown step"):
        store.path("nonsense", "a.fits", ".ecsv")


def test_product_without_index_entry_is_not_current(tmp_path: Path) -> None:
    # What a run killed between writing the product and the index leaves behind.
    store = ProductStore(tmp_path)
    store.write_table("photometry", "f.fits", Table({"flux": [1.0]}), fp="one")
    for name in INDEX_FILES:  # the snapshot and the journal
        (tmp_path / "photometry" / name).unlink(missing_ok=True)
    assert not ProductStore(tmp_path).is_current("photometry", "f.fits", "one")
    assert not [p for p in os.listdir(tmp_path / "photometry") if p.endswith(".tmp")]


def test_image_and_wcs_round_trip(tmp_path: Path) -> None:
    store = ProductStore(tmp_path)
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = store.write_image("calibration", "f.fits", data, fp="c")
    from astropy.io import fits

    assert np.array_equal(fits.getdata(p), data)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [310.0, 40.0]
    w.wcs.crpix = [2.0, 1.5]
    w.wcs.cdelt = [-3e-4, 3e-4]
    store.write_wcs("f.fits", w, shape=(3, 4), fp="w")
    back = store.read_wcs("f.fits")
    assert back is not None
    ra, dec = back.all_pix2world([[0.0, 0.0], [3.0, 2.0]], 0).T
    ra0, dec0 = w.all_pix2world([[0.0, 0.0], [3.0, 2.0]], 0).T
    assert np.allclose(ra, ra0, atol=1e-10) and np.allclose(dec, dec0, atol=1e-10)
    assert store.read_wcs("unsolved.fits") is None


def test_index_journal_is_folded_and_survives_a_cut_line(tmp_path: Path) -> None:
    store = ProductStore(tmp_path)
    folder = tmp_path / "sources"
    n = 300
    for k in range(n):
        store.record("detection", f"light_{k:04d}.fits", f"fp{k}")
    journal = folder / INDEX_FILES[1]
    # Folded into the snapshot as it grew: never longer than the snapshot it follows.
    snapshot = json.loads((folder / INDEX_FILES[0]).read_text())
    lines = journal.read_text().splitlines() if journal.exists() else []
    assert len(snapshot) >= n // 2 and len(lines) <= max(64, len(snapshot))
    assert len(snapshot) + len(lines) == n
    store.forget("detection", ["light_0000.fits", "light_0299.fits"])
    store.record("detection", "light_0001.fits", "again")
    # A run killed while appending leaves a line cut short: skipped, the next one kept.
    with open(journal, "a") as fh:
        fh.write('["light_0002", "cu')
    store.record("detection", "light_0003.fits", "after the cut")
    fresh = ProductStore(tmp_path)
    done = fresh.frames_done("detection")
    assert len(done) == n - 2 and "light_0000" not in done and "light_0299" not in done
    assert fresh.fingerprint_of("detection", "light_0001.fits") == "again"
    assert fresh.fingerprint_of("detection", "light_0002.fits") == "fp2"
    assert fresh.fingerprint_of("detection", "light_0003.fits") == "after the cut"
    assert fresh.fingerprint_of("detection", "light_0150.fits") == "fp150"


def test_index_fold_keeps_records_of_another_store(tmp_path: Path) -> None:
    # Two stores of one project (a window beside a run) append to the same journal.
    run, window = ProductStore(tmp_path), ProductStore(tmp_path)
    run.record("detection", "first.fits", "f")  # the run's store has read the index
    window.record("detection", "by_the_window.fits", "w")
    for k in range(200):  # enough for the run's store to fold the journal
        run.record("detection", f"light_{k:04d}.fits", f"fp{k}")
    fresh = ProductStore(tmp_path)
    assert fresh.fingerprint_of("detection", "by_the_window.fits") == "w"
    assert len(fresh.frames_done("detection")) == 202


def _from_scratch(folder: Path) -> dict:
    """The index as a store reading both files whole makes it."""
    try:
        index = dict(json.loads((folder / INDEX_FILES[0]).read_text()))
    except OSError:
        index = {}
    _replay(folder / INDEX_FILES[1], index)
    return index


def test_index_read_again_is_the_index_read_whole(tmp_path: Path) -> None:
    # Each frame of a night opens a new store, whose index read continues the
    # journal where the last store of the process left it: it must be what
    # reading the files whole gives, through appends, cut lines, folds and forgets.
    folder = tmp_path / "sources"
    main = ProductStore(tmp_path)

    def check() -> None:
        fresh = ProductStore(tmp_path)
        assert {
            k: fresh.fingerprint_of("detection", k) for k in fresh.frames_done("detection")
        } == (_from_scratch(folder))

    main.record("detection", "light_0000.fits", "fp0")
    check()
    for k in range(1, 400):
        main.record("detection", f"light_{k:04d}.fits", f"fp{k}")
        if k % 7 == 0 or k in (63, 64, 65, 66):
            check()
    main.forget("detection", ["light_0003.fits"])
    check()
    with open(folder / INDEX_FILES[1], "a") as fh:  # a line being written
        fh.write('["light_0004", "cu')
    check()
    main.record("detection", "light_0005.fits", "again")
    check()
    # Another store folds the journal; a new journal may get the old one's inode.
    other = ProductStore(tmp_path)
    for k in range(300):
        other.record("detection", f"more_{k:04d}.fits", f"m{k}")
    check()
    (folder / INDEX_FILES[1]).unlink(missing_ok=True)
    check()
    other.record("detection", "light_0006.fits", "x")
    check()
    assert ProductStore(tmp_path).fingerprint_of("detection", "light_0005.fits") == "again"
