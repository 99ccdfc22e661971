"""ECSV text with the rows formatted in one pass: astropy's own text, every table."""

from __future__ import annotations

import io

import astropy.units as u
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from fluxion.core.io.atomic import atomic_write_ecsv
from fluxion.core.io.ecsv import ecsv_text
from fluxion.core.runtime.quiet import quiet


def _astropy(table: Table) -> str:
    buf = io.StringIO()
    with quiet():
        table.write(buf, format="ascii.ecsv")
    return buf.getvalue()


def _numbers(n: int = 5000) -> Table:
    rng = np.random.default_rng(5)
    # Every decade of float64, both signs, and the values where shortest digits
    # and exponent notation change.
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 0.1, 1e-4, 1e-5, 1e15, 1e16, 5e-324,
               9999999999999998.0, 1.7976931348623157e308, 2.2250738585072014e-308]  # fmt: skip
    x = np.concatenate([10.0 ** rng.uniform(-320, 308, n) * rng.choice([-1, 1], n), special])
    m = len(x)
    table = Table(
        {
            "x": x,
            "i32": rng.integers(-(2**31), 2**31, m).astype(np.int32),
            "i64": rng.integers(-(2**62), 2**62, m),
            "u64": rng.integers(0, 2**63, m, dtype=np.uint64),
            "ok": rng.random(m) > 0.5,
        },
        meta={"frame": "light_0001.fits", "fwhm": 3.2, "nested": {"a": [1, 2]}},
    )
    table["x"].unit = "electron"
    table["x"].description = "flux"
    return table


def test_plain_numbers_are_astropys_text_and_read_back_exactly():
    table = _numbers()
    text = ecsv_text(table)
    assert text == _astropy(table)
    back = Table.read(text, format="ascii.ecsv")
    for name in table.colnames:
        assert back[name].dtype == table[name].dtype
        np.testing.assert_array_equal(back[name], table[name])
    assert back.meta == table.meta


@pytest.mark.parametrize(
    "column",
    [
        np.array(["a b", "", "c"]),  # quoted strings
        np.array([0.1, 0.2, 1 / 3], dtype=np.float32),  # float32's own shortest digits
        np.zeros((3, 2)),  # multidimensional (JSON)
        MaskedColumn([1.0, 2.0, 3.0], mask=[False, True, False]),  # masked: empty fields
        np.array([1.5, 2.5, 3.5]) * u.mag,  # a Quantity
    ],
)
def test_other_columns_are_written_by_astropy(column):
    table = Table({"x": [1.0, 2.0, 3.0], "other": column})
    assert ecsv_text(table) == _astropy(table)


def test_formatted_and_empty_tables_are_astropys():
    table = Table({"x": [1.0, 2.0]})
    table["x"].info.format = ".3f"
    assert ecsv_text(table) == _astropy(table)
    assert ecsv_text(_numbers()[:0]) == _astropy(_numbers()[:0])


def test_atomic_writer_writes_the_text(tmp_path):
    table = _numbers(50)
    path = atomic_write_ecsv(tmp_path / "t.ecsv", table)
    assert path.read_text() == _astropy(table)


def test_kept_column_headers_follow_each_tables_columns_and_meta():
    # The columns' part of the header is kept between tables: a table with the
    # same names but other units, types or descriptions, or another meta, must
    # still get its own header.
    first = _numbers(20)
    assert ecsv_text(first) == _astropy(first)
    variants = [_numbers(20) for _ in range(5)]
    variants[0].meta = {"frame": "light_0002.fits", "fwhm": 2.5, "omap": {"z": 1, "a": [1.5]}}
    variants[1]["x"].unit = u.electron / u.s
    variants[2]["x"].description = "another flux"
    variants[3]["i32"] = variants[3]["i32"].astype(np.int64)
    variants[4].meta = {}
    for table in variants:
        assert ecsv_text(table) == _astropy(table)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t["x"].meta.update({"band": "V"}),  # column meta: astropy's header
        lambda t: t.rename_column("x", "x y"),  # a name astropy quotes
        lambda t: t.rename_column("x", "#x"),  # a name looking like a comment
        lambda t: t.meta.update({"shared": t.meta["nested"]}),  # YAML anchors in the meta
    ],
)
def test_headers_astropy_writes_differently_are_astropys(edit):
    table = _numbers(20)
    edit(table)
    assert ecsv_text(table) == _astropy(table)


@pytest.mark.parametrize(
    "cells",
    [
        ["V", "2MASS_J1234+5678", "#7", "é", "x,y", "q'"],  # bare
        ["used", "outlier 3.2 sigma", "", "no catalog match", "a  b"],  # spaced, empty
        ["ok", 'say "hi"'],  # quotes: astropy's
        ["ok", " lead"],  # a leading blank astropy strips: astropy's
        ["ok", "tab\there", "line\nend"],  # tabs and line ends: astropy's
    ],
)
def test_text_columns_are_astropys_text(cells):
    table = Table({"x": np.arange(len(cells), dtype=float) / 3, "s": cells}, meta={"band": "V"})
    assert ecsv_text(table) == _astropy(table)
