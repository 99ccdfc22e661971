"""ECSV text of a table, its rows formatted in one pass.

astropy's ECSV writer formats every value through ``str`` of a numpy scalar
and a per-item Python function: about two thirds of the 11 ms it took to
write a frame's photometry table (500 rows, 9 columns), and a chain writes
several tables a frame. The rows of plain columns are formatted here, to the
same text: the ``repr`` of a column's values as one Python list (one call in
C; Python's shortest round-trip ``repr`` of a float64 is numpy's ``str``),
text cells bare or in quotes as astropy's writer puts them. Their header is
astropy's YAML, made by astropy's own dumper class in two parts: the columns'
part, the same for every table of a kind, is made once and kept; the table's
meta is dumped for each table. Both go through libyaml's emitter (PyYAML's,
in Python, took three quarters of the time of a header), which writes the
same text as PyYAML's for every scalar that is plain or in single quotes; a
part with a scalar in double quotes (text with characters other than
printable ASCII, where the two emitters break long lines differently) is
dumped by astropy's function. Any other table (masked, multidimensional, float32,
object or formatted columns, text with quotes, tabs or line ends, mixins,
columns with meta or names needing quotes) is written by astropy whole.
"""

from __future__ import annotations

import functools
import io
import re
from collections import OrderedDict
from typing import Any

import numpy as np
import yaml
from astropy.io.misc.yaml import AstropyDumper
from astropy.table import Column, Table
from astropy.table.meta import _get_col_attributes, get_yaml_from_header

from ..runtime.quiet import quiet

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - a dependency; repr is the same text, slower
    _orjson = None  # type: ignore[assignment]

__all__ = ["ecsv_text"]

# Kinds whose values astropy writes as str(numpy scalar) == repr(Python value):
# booleans, signed and unsigned integers, and float64 (a float32's str is
# its own shortest digits, not those of the float64 it becomes in Python).
_PLAIN_KINDS = ("b", "i", "u")


# Text cells astropy's writer leaves bare, and those it only wraps in quotes
# (blanks inside). Others (quotes, tabs, line ends, blanks at either end, which
# astropy strips) are left to astropy.
_BARE_CELL = re.compile(r"[^\s\"]+")
_SPACED_CELL = re.compile(r"[^\s\"][^\t\n\r\f\v\"]*[^\s\"]")
_NOT_BARE = re.compile(r"[\s\"]")


def _plain(col: Column) -> bool:
    if type(col) is not Column or col.ndim != 1 or col.info.format is not None:
        return False
    dtype = col.dtype
    return dtype.kind in _PLAIN_KINDS or dtype == np.float64 or dtype.kind == "U"


def _float_cells(data: np.ndarray, values: list[float]) -> list[str]:
    """``repr`` of each of a float64 column's ``values`` (``data`` as an array).

    Python's ``repr`` finds each float's shortest round-trip digits with
    David Gay's algorithm, 0.2-2 microseconds a value: most of a table's
    time. orjson writes the same shortest digits (Ryu), 20 times faster, in
    the same form for every finite value from 1e-4 to 1e16 and for zero
    (checked against ``repr`` on 8 million values); outside that range (and
    for NaN and infinities, which JSON writes as null) the text differs, and
    those cells are ``repr``'s.
    """
    if _orjson is None:
        return repr(values)[1:-1].split(", ")
    cells = _orjson.dumps(values).decode()[1:-1].split(",")
    with np.errstate(invalid="ignore"):
        a = np.abs(data)
        odd = ~(((a >= 1e-4) & (a < 1e16)) | (a == 0))
    for i in np.flatnonzero(odd).tolist():
        cells[i] = repr(values[i])
    return cells


def _cells(col: Column) -> list[str] | None:
    """The texts of ``col``'s cells as astropy writes them, or None when astropy must."""
    values = col.data.tolist()
    if col.dtype == np.float64:
        return _float_cells(col.data, values)
    if col.dtype.kind != "U":
        # Integers and booleans: the list's repr is each value's, joined by ", "
        # (which no number's text contains).
        return repr(values)[1:-1].split(", ")
    if "" not in values and not _NOT_BARE.search("".join(values)):  # all bare
        return values
    out = []
    for v in values:
        if _BARE_CELL.fullmatch(v):
            out.append(v)
        elif not v:
            out.append('""')
        elif _SPACED_CELL.fullmatch(v):
            out.append(f'"{v}"')
        else:
            return None
    return out


# Column names astropy writes unquoted on the names line: no blanks, quotes or
# leading comment character.
_BARE_NAME = re.compile(r"[^\s\"#][^\s\"]*")


# The ``datatype`` blocks made so far, keyed on what they say of each column
# (:func:`_column_key`); a night has a handful of kinds of table.
_COLUMNS_YAML: dict[tuple[tuple[object, ...], ...], tuple[str, ...]] = {}
_COLUMNS_YAML_MAX = 256


def _columns_yaml(columns: list[Column]) -> tuple[str, ...]:
    """The ``datatype`` block of the YAML header of ``columns``, made once a column set."""
    key = tuple(_column_key(c) for c in columns)
    lines = _COLUMNS_YAML.get(key)
    if lines is None:
        lines = tuple(_yaml_lines(columns, None))
        if len(_COLUMNS_YAML) >= _COLUMNS_YAML_MAX:
            _COLUMNS_YAML.clear()
        _COLUMNS_YAML[key] = lines
    return lines


def _column_key(col: Column) -> tuple[object, ...]:
    unit = col.unit
    return (col.name, col.dtype.str, None if unit is None else str(unit), col.description)


class _Probe:
    """A value only :func:`_table_dumper` dumps: its representer hands back the dumper's class."""


@functools.cache
def _table_dumper() -> type | None:
    """astropy's ECSV dumper class on libyaml's emitter, or None without libyaml.

    astropy makes its dumper class (``!!omap`` for ordered dicts, its own
    representers) inside :func:`get_yaml_from_header`; a representer for this
    module's own :class:`_Probe` type catches it there.
    """
    try:
        from yaml.cyaml import CEmitter, CSafeDumper
    except ImportError:
        return None
    found: list[type] = []

    def catch(dumper: yaml.Dumper, data: _Probe) -> yaml.Node:
        found.append(type(dumper))
        return dumper.represent_none(None)

    AstropyDumper.add_representer(_Probe, catch)
    get_yaml_from_header({"cols": [], "meta": OrderedDict(probe=_Probe())})
    if not found:
        return None
    # CSafeDumper's constructor sets up the emitter, representer and resolver.
    return type("CTableDumper", (CEmitter, found[0]), {"__init__": CSafeDumper.__init__})


def _yaml_lines(columns: list[Column], meta: Any) -> list[str]:
    """The lines of :func:`get_yaml_from_header` for ``columns`` and ``meta`` (None: no meta)."""
    header: dict[str, Any] = {"datatype": [_get_col_attributes(c) for c in columns]}
    if meta is not None:
        header["meta"] = OrderedDict(meta)
    dumper = _table_dumper()
    if dumper is not None:
        try:
            text = yaml.dump(header, default_flow_style=None, Dumper=dumper, width=130)
        except UnicodeEncodeError:
            # libyaml cannot emit a lone surrogate (a file name that is not
            # UTF-8, decoded by os.fsdecode); PyYAML's emitter escapes it.
            text = '"'
        # Without a double-quoted scalar, libyaml's text is PyYAML's.
        if '"' not in text:
            return text.splitlines()
    if meta is not None:
        return get_yaml_from_header({"cols": columns, "meta": header["meta"]})
    return get_yaml_from_header({"cols": columns})


def _header(table: Table) -> str | None:
    """astropy's ECSV header and names line for ``table``, or None to let astropy write it.

    Only for the plain tables of :func:`ecsv_text`'s fast path whose columns
    have no meta (a column's meta could share objects with the table's meta,
    which YAML would write as anchors across the two parts).
    """
    columns = list(table.columns.values())
    names = table.colnames
    if any(c.meta for c in columns) or not all(_BARE_NAME.fullmatch(n) for n in names):
        return None
    lines = ["%ECSV 1.0", "---", *_columns_yaml(columns)]
    if table.meta:
        meta = _yaml_lines([], table.meta)
        if meta[:1] != ["datatype: []"]:
            return None
        lines += meta[1:]
    lines.append("schema: astropy-2.0")
    return "".join(f"# {line}\n" for line in lines) + " ".join(names) + "\n"


def ecsv_text(table: Table) -> str:
    """The ECSV text astropy writes for ``table`` (``format='ascii.ecsv'``).

    ECSV's remarks about meta it cannot represent exactly are silenced, as
    when astropy writes the file.
    """
    buf = io.StringIO()
    columns = list(table.columns.values())
    fast = len(table) > 0 and not table.masked and all(_plain(c) for c in columns)
    texts = [_cells(c) for c in columns] if fast else []
    fast = fast and all(t is not None for t in texts)
    with quiet():
        header = _header(table) if fast else None
        if header is not None:
            buf.write(header)
        else:
            # The header and the column names only: astropy's text for no rows.
            (table[:0] if fast else table).write(buf, format="ascii.ecsv")
    if fast:
        # One line a row, joined in C (no Python call a row).
        buf.write("\n".join(map(" ".join, zip(*texts, strict=True))))
        buf.write("\n")
    return buf.getvalue()
