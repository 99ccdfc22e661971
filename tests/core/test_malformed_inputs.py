"""Malformed inputs: every file read, named with its cause, and never a traceback.

The corpus (tests/malformed_corpus.py) is made from a good simulated light:
bad BITPIX and NAXIS, corrupt tile compression, cards astropy cannot parse,
absurd values, odd names and things that are not files.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.io import fitsio
from fluxion.core.io.cards import clean_header
from fluxion.core.io.fitsio import (
    FitsReadError,
    atomic_write_fits,
    atomic_write_hdulist,
    atomic_write_text,
    read_frame,
    read_header,
)
from fluxion.core.io.frames import frame_info
from fluxion.core.io.headers import normalise_header
from fluxion.core.io.sequence import scan

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from malformed_corpus import restore_permissions, write_corpus  # noqa: E402

simulate = pytest.importorskip("fluxion.core.simulation.simulate")

# The cause each unusable kind must be reported with (a piece of the message).
CAUSES = {
    "bitpix-16": "BITPIX = -16 is not a FITS pixel type",
    "bitpix-7": "BITPIX = 7",
    "bitpix-text": "BITPIX = 'sixteen'",
    "naxis-negative": "NAXIS1 = -256",
    "naxis-missing": "no NAXIS2",
    "naxis-huge": "truncated file",
    "naxis-huge-nx": "truncated file",
    "no-end-card": "no END card",
    "truncated-header": "no END card",
    "truncated-data-half": "truncated file",
    "truncated-one-block": "truncated file",
    "header-only": "truncated file",
    "zero-bytes": "empty file",
    "not-fits-text": "not a FITS file",
    "not-fits-zeros": "not a FITS file",
    "png-named-fits": "not a FITS file",
    "gzip-garbage": "not a FITS file",
    "all-nan": "all pixels are NaN",
    "truncated-gz": "cut short",
    "truncated-bz2": "cut short",
    "fifo": "FIFO",
    "symlink-loop": "symbolic link loop",
    "dangling-link": "broken symbolic link",
    "device": "a device",
    "bzero-text": "BZERO = 'x' is not a number",
    "bscale-zero": "BSCALE = 0",
}
# Kinds whose header reads well: their damage shows when the pixels are read.
AT_READ = {"corrupt-fz": "compressed image is damaged"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    night = tmp_path_factory.mktemp("night")
    simulate.simulate_night(
        night, simulate.NightConfig(n_frames=1, shape=(64, 64), n_bias=0, n_dark=0, n_flat=0)
    )
    folder = tmp_path_factory.mktemp("corpus")
    bad = write_corpus(folder, night / "light_0001.fits", cores=True)
    yield folder, bad
    restore_permissions(folder)


def test_scan_names_every_bad_file_with_its_cause(corpus) -> None:
    folder, bad = corpus
    frames = {os.fsencode(f.path): f for f in scan(folder, measure_gain=False)}
    for b in bad:
        if b.kind in ("folder-named-fits", "unreadable"):
            continue  # a folder is descended into; root reads every file
        f = frames[os.fsencode(b.path)]
        assert all("\n" not in p and "Traceback" not in p for p in f.problems)
        assert "ignore_missing_simple" not in " ".join(f.problems)
        if b.kind in AT_READ:
            with pytest.raises(FitsReadError, match=AT_READ[b.kind]):
                read_frame(b.path)
        elif b.usable:
            assert f.usable and f.type == "light", (b.kind, f.problems)
        else:
            assert not f.usable, b.kind
            assert any(CAUSES.get(b.kind, "") in p for p in f.problems), (b.kind, f.problems)


def test_unparsable_cards_are_read_and_said(corpus) -> None:
    folder, _ = corpus
    cases = {
        "bad_exptime-unterminated.fits": ("exptime", 120.0),
        "bad_object-control-chars.fits": ("object", "Cygnus"),
        "bad_filter-unterminated.fits": ("filter", "V"),
        "bad_exptime-12.0.0.fits": ("exptime", None),
        "bad_exptime-nan.fits": ("exptime", None),
        "bad_exptime-1e30.fits": ("exptime", None),
        "bad_gain-inf.fits": ("gain", 1.5),  # GAIN unreadable: measured or default later
    }
    for name, (fact, value) in cases.items():
        header, _ = read_header(folder / name)
        facts = normalise_header(header, file_name=name)
        if fact != "gain":
            assert getattr(facts, fact) == value, (name, getattr(facts, fact))
        assert facts.time is not None, name  # DATE-OBS still gives the time
        said = " ".join(facts.problems)
        key = name.split("_")[1].split("-")[0].upper()
        assert key in said, (name, facts.problems)
    # A header read by astropy alone (not through fitsio) is repaired the same way.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = fits.getheader(folder / "bad_exptime-12.0.0.fits")
    assert normalise_header(raw).exptime is None


def test_products_with_bad_cards_and_long_names_are_written(corpus, tmp_path) -> None:
    folder, _ = corpus
    for name in (
        "bad_lower-case-keyword.fits",
        "bad_non-ascii-keyword.fits",
        "bad_keyword-with-space.fits",
        "bad_object-control-chars.fits",
        "bad_continue-broken.fits",
    ):
        data, header, _ = read_frame(folder / name)
        # A calibrated product copies the raw header; a raw astropy header too.
        with warnings.catch_warnings():  # astropy's own complaints about these cards
            warnings.simplefilter("ignore")
            raw = fits.getheader(folder / name)
        out = atomic_write_fits(tmp_path / ("copy_" + name), data, header)
        hdul = fits.HDUList([fits.PrimaryHDU(data, raw), fits.ImageHDU(np.zeros((2, 2)))])
        out2 = atomic_write_hdulist(tmp_path / ("mef_" + name), hdul)
        for p in (out, out2):
            with fits.open(p) as back:
                back.verify("exception")
                assert np.array_equal(back[0].data, data)
    long = tmp_path / ("x" * 250 + ".ecsv")
    atomic_write_text(long, "# %ECSV 1.0\n")
    assert long.read_text() == "# %ECSV 1.0\n"


def test_a_comment_too_long_for_its_card_is_cut_without_a_warning(tmp_path) -> None:
    # A product header that names a long file in a card's comment: astropy
    # cuts the comment as it writes (and warns, an error under the tests'
    # filters); the value and the pixels are kept.
    header = fits.Header()
    header["STACKED"] = ("light_0001.fits", "first frame: " + "odd_latin1_\\xe9t\\xe9 " * 6)
    data = np.arange(4.0).reshape(2, 2)
    for out in (
        atomic_write_fits(tmp_path / "one.fits", data, header),
        atomic_write_hdulist(
            tmp_path / "mef.fits", fits.HDUList([fits.PrimaryHDU(data, header.copy())])
        ),
    ):
        with fits.open(out) as back:
            assert back[0].header["STACKED"] == "light_0001.fits"
            assert back[0].header.comments["STACKED"].startswith("first frame: odd_latin1")
            assert np.array_equal(back[0].data, data)


def test_clean_header_is_idempotent_and_keeps_good_cards() -> None:
    good = fits.Header([("EXPTIME", 30.0), ("OBJECT", "M67"), ("COMMENT", "fine")])
    clean = clean_header(good)
    assert list(clean.items()) == list(good.items()) and clean.repairs == ()
    assert clean_header(clean) is clean


def test_a_claimed_size_beyond_memory_is_refused_before_allocating(corpus, monkeypatch) -> None:
    folder, _ = corpus
    monkeypatch.setattr(fitsio, "_physical_memory", lambda: 1 << 12)
    with pytest.raises(FitsReadError, match="more than this computer can hold"):
        read_frame(folder / "odd_same.fits")


def test_nan_grid_frame_is_usable_and_fifo_does_not_block(corpus) -> None:
    folder, _ = corpus
    f = frame_info(folder / "bad_nan-quarter-grid.fits")
    assert f.usable and "all pixels are NaN" not in f.problems
    assert "FIFO" in frame_info(folder / "bad_fifo.fits").problems[0]
