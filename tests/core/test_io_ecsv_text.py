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


def test_measurements_of_every_size_are_astropys_text():
    """Where a frame's numbers live (1e-6 to 1e18, rounded and full-precision, NaN among
    them): every cell as astropy writes it, whichever formatter made it."""
    rng = np.random.default_rng(11)
    n = 40000
    full = 10.0 ** rng.uniform(-6, 18, n) * rng.choice([-1, 1], n)
    rounded = np.round(rng.uniform(-2e5, 2e5, n), 3)
    edges = np.array([1e-4, np.nextafter(1e-4, 0), np.nextafter(1e-4, 1), 1e16,
                      np.nextafter(1e16, 0), 0.0, -0.0, np.nan, 2.0, 1e15])  # fmt: skip
    full[rng.integers(0, n, 50)] = np.nan
    table = Table({"flux": np.concatenate([full, edges]), "x": np.concatenate([rounded, edges])})
    text = ecsv_text(table)
    assert text == _astropy(table)


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


def _random_meta(rng: np.random.Generator) -> dict:
    """A table meta of the kinds a frame's tables carry, with awkward text among them."""
    ascii_chars = [chr(c) for c in range(32, 127)]
    words = ["true", "null", "yes", "~", "1.0", "1e5", "2024-09-10T23:01:00.000", "-", "---", "<<"]

    def text() -> str:
        if rng.random() < 0.2:
            return str(rng.choice(words))
        n = int(rng.choice([0, 1, 5, 30, 125, 140, 300]))  # past the 130-column lines too
        return "".join(rng.choice(ascii_chars, n))

    def value(depth: int = 0) -> object:
        kind = rng.integers(8 if depth < 2 else 4)
        if kind == 0:
            return text()
        if kind == 1:
            return float(rng.choice([rng.normal() * 1e3, 10.0 ** rng.uniform(-300, 300), np.nan,
                                     np.inf, -0.0, 1e16, 1e17]))  # fmt: skip
        if kind == 2:
            return rng.choice([int(rng.integers(-(2**62), 2**62)), True, False, None])
        if kind == 3:
            return np.float64(rng.normal())
        if kind in (4, 5):
            return [value(depth + 1) for _ in range(rng.integers(6))]
        if kind == 6:
            return {text()[:10] or "k": value(depth + 1) for _ in range(rng.integers(5))}
        return rng.normal(size=rng.integers(4)) * u.mag

    meta = {text()[:20] or f"k{j}": value() for j in range(rng.integers(1, 12))}
    if rng.random() < 0.3:  # one object twice: YAML anchors
        shared = [1, 2, {"a": "b"}]
        meta["s1"], meta["s2"] = shared, {"x": shared}
    return meta


def test_metas_of_any_printable_text_are_astropys_header():
    # The meta is dumped by libyaml's emitter unless a scalar needs double
    # quotes; its text must still be astropy's for any text libyaml dumps.
    rng = np.random.default_rng(11)
    for _ in range(300):
        table = Table({"x": [1.0, 2.5]}, meta=_random_meta(rng))
        assert ecsv_text(table) == _astropy(table)


@pytest.mark.parametrize(
    "meta",
    [
        {"OBJECT": "Café de Flore", "frame": "light_0001.fits"},  # non-ASCII: double quotes
        {"note": "tab\there " * 20, "file": "é" * 200},  # escapes in long lines
        {"note": 'say "hi"'},  # a double quote inside plain text
        # A file name that is not UTF-8, as os.fsdecode gives it (a lone
        # surrogate): libyaml refuses to emit it, PyYAML escapes it.
        {"frame": "odd_latin1_\udce9t\udce9.fits"},
    ],
)
def test_metas_needing_double_quotes_are_astropys_header(meta):
    table = Table({"x": [1.0, 2.5]}, meta=meta)
    assert ecsv_text(table) == _astropy(table)


@pytest.mark.parametrize(
    "description",
    [
        "flux in e\u207b",
        "\u00e9 " * 80,
        'the "best" flux',
        "a long description " * 10,
        "x: y # z",
        "'quoted'",
    ],
)
def test_column_descriptions_are_astropys_header(description):
    table = Table({"x": [1.0, 2.5], "n": [1, 2]})
    table["x"].description = description
    table["x"].unit = "electron / s"
    assert ecsv_text(table) == _astropy(table)
