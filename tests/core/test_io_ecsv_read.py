"""ECSV reading: the table astropy's reader returns, for every kind of table Fluxion writes."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.table import Column, MaskedColumn, Table
from astropy.time import Time

from fluxion.core.io import ecsv_read
from fluxion.core.io.atomic import atomic_write_ecsv, atomic_write_text
from fluxion.core.io.ecsv import ecsv_text
from fluxion.core.io.ecsv_read import read_ecsv
from fluxion.core.runtime.quiet import quiet


def _astropy(path) -> Table:
    with quiet():
        return Table.read(path, format="ascii.ecsv")


def assert_same_table(got: Table, want: Table) -> None:
    """Same class, columns, dtypes, units, descriptions, formats, column and table meta, values."""
    assert type(got) is type(want)
    assert got.colnames == want.colnames
    assert got.meta == want.meta
    assert type(got.meta) is type(want.meta)
    for name in want.colnames:
        g, w = got[name], want[name]
        assert type(g) is type(w), name
        if not isinstance(w, Column):  # a mixin (Time): its own equality
            assert np.all(g == w), name
            continue
        assert g.dtype == w.dtype, name
        assert g.shape == w.shape, name
        assert g.unit == w.unit and type(g.unit) is type(w.unit), name
        assert g.info.description == w.info.description, name
        assert g.info.format == w.info.format, name
        assert g.info.meta == w.info.meta, name
        if isinstance(w, MaskedColumn):
            np.testing.assert_array_equal(g.mask, w.mask)
        kind = w.dtype.kind
        assert np.array_equal(np.asarray(g), np.asarray(w), equal_nan=kind in "fc"), name


def _sources(n: int = 400, seed: int = 3) -> Table:
    """A detection/photometry/magnitudes-like table: ids, positions, fluxes, flags, units, meta."""
    rng = np.random.default_rng(seed)
    flux = rng.normal(1e4, 3e3, n)
    flux[:4] = [np.nan, np.inf, -np.inf, -0.0]
    table = Table(
        {
            "id": np.arange(1, n + 1),
            "x": rng.uniform(0, 1024, n),
            "y": rng.uniform(0, 1024, n),
            "flux": flux,
            "flux_err": rng.uniform(1, 100, n),
            "flag": rng.integers(0, 256, n).astype(np.int16),
            "npix": rng.integers(0, 2**40, n, dtype=np.uint64),
            "saturated": rng.random(n) > 0.9,
            "mag": 25 - 2.5 * np.log10(np.abs(flux) + 1),
        },
        meta={
            "frame": "light_0001.fits",
            "fwhm": 3.21,
            "calibrated": True,
            "reason": "",
            "colour_index": None,
            "aperture": [4.0, 6.5],
            "diagnostics": {"file": "light_0001.growth.fits", "sha256": "ab" * 32},
        },
    )
    table["x"].unit = "pix"
    table["flux"].unit = u.electron / u.s
    table["flux"].description = "aperture sum, sky subtracted"
    table["mag"].unit = u.mag
    table["mag"].meta = {"band": "V"}
    return table


def _write_read(tmp_path, table: Table) -> tuple[Table, Table]:
    path = atomic_write_ecsv(tmp_path / "t.ecsv", table)
    return read_ecsv(path), _astropy(path)


def test_plain_product_tables_are_read_as_astropy_reads_them(tmp_path):
    table = _sources()
    assert ecsv_read._plain_table(ecsv_text(table)) is not None  # the fast path, not the fallback
    got, want = _write_read(tmp_path, table)
    assert_same_table(got, want)
    # And the values are those written (float64 exactly, NaN and infinities kept).
    for name in table.colnames:
        assert np.array_equal(got[name], table[name], equal_nan=table[name].dtype.kind == "f")


@pytest.mark.parametrize("rows", [0, 1, 7])
def test_small_and_empty_tables(tmp_path, rows):
    got, want = _write_read(tmp_path, _sources()[:rows])
    assert_same_table(got, want)
    assert len(got) == rows


def test_a_cached_header_is_not_shared_between_tables(tmp_path):
    first = read_ecsv(atomic_write_ecsv(tmp_path / "a.ecsv", _sources(seed=1)))
    first.meta["diagnostics"]["file"] = "changed"
    first["mag"].meta["band"] = "changed"
    second = read_ecsv(atomic_write_ecsv(tmp_path / "b.ecsv", _sources(seed=1)))
    assert second.meta["diagnostics"]["file"] == "light_0001.growth.fits"
    assert second["mag"].meta["band"] == "V"


@pytest.mark.parametrize(
    "column",
    [
        np.array(["a b", "", "c"]),  # strings, quoted
        np.array([0.1, 0.2, 1 / 3], dtype=np.float32),
        np.zeros((3, 2)),  # multidimensional (JSON)
        MaskedColumn([1.0, 2.0, 3.0], mask=[False, True, False]),  # masked: empty fields
        MaskedColumn([1, 2, 3], mask=[True, False, False]),
        np.array([1.5, 2.5, 3.5]) * u.mag,  # a Quantity (serialized)
        Time([59000.0, 59000.1, 59000.2], format="mjd"),  # a mixin (serialized)
        np.array([1 + 2j, 3j, 1.0]),
    ],
)
def test_other_tables_fall_back_to_astropy_and_match(tmp_path, column):
    table = Table({"x": [1.0, np.nan, 3.0], "other": column}, meta={"k": 1})
    got, want = _write_read(tmp_path, table)
    assert_same_table(got, want)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("\n1 ", "\n1  ", 1),  # a doubled separator
        lambda t: t.rstrip("\n"),  # cut short
        lambda t: t + "3\n",  # a ragged last row
        lambda t: t.replace("# %ECSV 1.0", "# %ECSV 1.0\n# delimiter: ','", 1),
    ],
)
def test_files_not_written_plainly_are_astropys_to_judge(tmp_path, edit):
    text = edit(ecsv_text(Table({"a": [1, 2], "b": [0.5, 1.5]})))
    assert ecsv_read._plain_table(text) is None
    path = atomic_write_text(tmp_path / "t.ecsv", text)
    try:
        want = _astropy(path)
    except Exception as exc:  # astropy refuses it: so must the reader, with astropy's error
        with pytest.raises(type(exc)):
            read_ecsv(path)
    else:
        assert_same_table(read_ecsv(path), want)


def test_hand_written_ecsv_with_commas_and_comments(tmp_path):
    text = (
        "# %ECSV 1.0\n# ---\n# delimiter: ','\n# datatype:\n# - {name: a, datatype: int64}\n"
        "# - {name: b, datatype: string}\n# schema: astropy-2.0\na,b\n1,x\n2,y z\n"
    )
    path = atomic_write_text(tmp_path / "t.ecsv", text)
    assert_same_table(read_ecsv(path), _astropy(path))
