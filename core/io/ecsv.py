"""ECSV text of a table, its rows formatted in one pass.

astropy's ECSV writer formats every value through ``str`` of a numpy scalar
and a per-item Python function: about two thirds of the 11 ms it took to
write a frame's photometry table (500 rows, 9 columns), and a chain writes
several tables a frame. The rows of plain columns are formatted here, to the
same text (Python's shortest round-trip ``repr`` of a float64 is numpy's
``str``; text cells bare or in quotes as astropy's writer puts them). Their
header is astropy's YAML, made by astropy's own function in two parts: the
columns' part, the same for every table of a kind, is made once and kept; the
table's meta is dumped for each table (about a third of what writing an empty
table through astropy costs). Any other table (masked, multidimensional,
float32, object or formatted columns, text with quotes, tabs or line ends,
mixins, columns with meta or names needing quotes) is written by astropy whole.
"""

from __future__ import annotations

import io
import re
from collections import OrderedDict

import numpy as np
from astropy.table import Column, Table
from astropy.table.meta import get_yaml_from_header

from ..runtime.quiet import quiet

__all__ = ["ecsv_text"]

# Kinds whose values astropy writes as str(numpy scalar) == str(Python value):
# booleans, signed and unsigned integers, and float64 (a float32's str is
# its own shortest digits, not those of the float64 it becomes in Python).
_PLAIN_KINDS = ("b", "i", "u")


# Text cells astropy's writer leaves bare, and those it only wraps in quotes
# (blanks inside). Others (quotes, tabs, line ends, blanks at either end, which
# astropy strips) are left to astropy.
_BARE_CELL = re.compile(r"[^\s\"]+")
_SPACED_CELL = re.compile(r"[^\s\"][^\t\n\r\f\v\"]*[^\s\"]")


def _plain(col: Column) -> bool:
    if type(col) is not Column or col.ndim != 1 or col.info.format is not None:
        return False
    dtype = col.dtype
    return dtype.kind in _PLAIN_KINDS or dtype == np.float64 or dtype.kind == "U"


def _cells(col: Column) -> list[str] | None:
    """The texts of ``col``'s cells as astropy writes them, or None when astropy must."""
    values = np.asarray(col).tolist()
    if col.dtype.kind == "f":
        return [repr(v) for v in values]
    if col.dtype.kind != "U":
        return list(map(str, values))
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


def _columns_yaml(table: Table) -> tuple[str, ...]:
    """The ``datatype`` block of the YAML header of ``table``'s columns, made once a column set."""
    columns = list(table.columns.values())
    key = tuple(_column_key(c) for c in columns)
    lines = _COLUMNS_YAML.get(key)
    if lines is None:
        lines = tuple(get_yaml_from_header({"cols": columns}))
        if len(_COLUMNS_YAML) >= _COLUMNS_YAML_MAX:
            _COLUMNS_YAML.clear()
        _COLUMNS_YAML[key] = lines
    return lines


def _column_key(col: Column) -> tuple[object, ...]:
    unit = col.info.unit
    return (col.info.name, col.dtype.str, None if unit is None else str(unit), col.info.description)


def _header(table: Table) -> str | None:
    """astropy's ECSV header and names line for ``table``, or None to let astropy write it.

    Only for the plain tables of :func:`ecsv_text`'s fast path whose columns
    have no meta (a column's meta could share objects with the table's meta,
    which YAML would write as anchors across the two parts).
    """
    columns = list(table.columns.values())
    names = table.colnames
    if any(c.info.meta for c in columns) or not all(_BARE_NAME.fullmatch(n) for n in names):
        return None
    lines = ["%ECSV 1.0", "---", *_columns_yaml(table)]
    if table.meta:
        meta = get_yaml_from_header({"cols": [], "meta": OrderedDict(table.meta)})
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
        buf.write("\n".join(" ".join(row) for row in zip(*texts, strict=True)))
        buf.write("\n")
    return buf.getvalue()
