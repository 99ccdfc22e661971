"""Reading ECSV tables: plain numeric tables parsed with numpy, the rest by astropy.

astropy's ECSV reader splits and converts every line in Python and loads the
YAML header with PyYAML's pure-Python loader: about 20 ms for a frame's
magnitudes table, and a chain reads several tables a frame. The tables
Fluxion writes itself are mostly plain (boolean, integer and float64 columns
of one value a cell, see :mod:`.ecsv`); for those the header is loaded by
libyaml with astropy's own constructors, once per distinct header text, and
the body is split once and converted a column at a time by numpy, which
parses numbers exactly as astropy's converters do (``numpy.array`` of the
strings). Anything else (strings, masked cells, multidimensional or
serialized mixin columns, another delimiter, an unexpected layout) is read by
astropy whole, so the result is always the :class:`~astropy.table.Table`
astropy would return.
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import yaml
from astropy.io.misc.yaml import AstropyLoader
from astropy.table import Column, Table
from astropy.table.meta import _construct_odict

from ..runtime.quiet import quiet

__all__ = ["read_ecsv"]

# ECSV datatypes whose cells numpy converts as astropy does (float64 only:
# the writer keeps float32 and the others for astropy, see .ecsv).
_NUMERIC = frozenset(
    ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float64")
)


def _loader_class() -> type:
    """libyaml's safe loader with the constructors astropy's ECSV header loader has."""
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _TableLoader(base):
        """Loads what astropy's ``TableLoader`` loads (``!!omap`` as a dict, astropy tags)."""

    _TableLoader.yaml_constructors = dict(AstropyLoader.yaml_constructors)
    _TableLoader.yaml_multi_constructors = dict(
        getattr(AstropyLoader, "yaml_multi_constructors", {})
    )
    _TableLoader.add_constructor("tag:yaml.org,2002:omap", _construct_odict)
    return _TableLoader


_LOADER = _loader_class()


@lru_cache(maxsize=256)
def _header(text: str) -> dict[str, Any] | None:
    """The parsed YAML header of an ECSV file (``text``: its comment lines, unprefixed).

    Cached on the text: a night's tables of one kind share their header unless
    their meta differs. Callers deep-copy what they hand out. None when the
    YAML does not load (astropy then reports the error).
    """
    try:
        header = yaml.load(text, Loader=_LOADER)  # noqa: S506 -- a safe loader with astropy's tags
    except yaml.YAMLError:
        return None
    return header if isinstance(header, dict) else None


def _split(text: str) -> tuple[list[str], str] | None:
    """(header lines without ``# ``, body) of an ECSV text; None when not laid out plainly."""
    lines: list[str] = []
    pos = 0
    n = len(text)
    while pos < n and text.startswith("#", pos):
        end = text.find("\n", pos)
        if end < 0:
            return None
        line = text[pos + 1 : end]
        if line.startswith(" "):
            line = line[1:]
        lines.append(line)
        pos = end + 1
    if not lines or not lines[0].startswith("%ECSV ") or lines[1:2] != ["---"]:
        return None
    return lines[2:], text[pos:]


def _blocks(lines: list[str]) -> tuple[str, str]:
    """The header's YAML without its ``meta`` key, and the ``meta`` key alone.

    The columns' part is the same for every table of a kind and is loaded
    once; the meta (a frame's name, its FWHM...) differs from table to table.
    A top-level key is a line that is not indented and not a sequence item.
    """
    rest: list[str] = []
    meta: list[str] = []
    target = rest
    for line in lines:
        if line[:1] not in ("", " ", "-"):
            target = meta if line.startswith("meta:") else rest
        target.append(line)
    return "\n".join(rest), "\n".join(meta)


def _parse_header(lines: list[str]) -> dict[str, Any] | None:
    rest, meta = _blocks(lines)
    header = _header(rest)
    if header is None or not meta:
        return header
    loaded = _header(meta)
    if loaded is None or set(loaded) != {"meta"}:
        return None
    return {**header, **loaded}


def _rows(rows: str, specs: list[dict[str, Any]]) -> list[np.ndarray] | None:
    """The columns of the body's rows, parsed by numpy's C reader; None when numpy refuses.

    ``numpy.loadtxt`` converts numbers with Python's own correctly rounded
    parser, as astropy's converters do; it refuses doubled separators and
    ragged rows, which astropy then judges. Booleans are read as text and
    must be ``True`` or ``False``.
    """
    dtype = [
        (f"f{i}", "U5" if s["datatype"] == "bool" else s["datatype"]) for i, s in enumerate(specs)
    ]
    if not rows:
        return [np.empty(0, dtype=d) if d != "U5" else np.empty(0, bool) for _, d in dtype]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy's remarks (an empty input) mean "not plain"
            data = np.loadtxt(
                io.StringIO(rows), dtype=dtype, delimiter=" ", comments=None, ndmin=1,
                quotechar=None, encoding=None,
            )  # fmt: skip
    except (ValueError, OverflowError, Warning):
        return None
    out = []
    for name, d in dtype:
        values = data[name]
        if d == "U5":
            truth = values == "True"
            if not np.all(truth | (values == "False")):
                return None
            values = truth
        out.append(np.ascontiguousarray(values))
    return out


def _plain_table(text: str) -> Table | None:
    """The table in ``text`` when it is plain (see module notes), else None."""
    parts = _split(text)
    if parts is None:
        return None
    header_lines, body = parts
    header = _parse_header(header_lines)
    if header is None or "delimiter" in header and header["delimiter"] != " ":
        return None
    specs = header.get("datatype")
    meta = header.get("meta", {})
    if not isinstance(specs, list) or not specs or not isinstance(meta, dict):
        return None
    if "__serialized_columns__" in meta:
        return None
    names: list[str] = []
    for spec in specs:
        if not isinstance(spec, dict) or "subtype" in spec or not isinstance(spec.get("name"), str):
            return None
        if spec.get("datatype") not in _NUMERIC and spec.get("datatype") != "bool":
            return None
        names.append(spec["name"])
    if '"' in body or "\t" in body or "\r" in body:
        return None  # quoted (masked, spaced) cells or another layout: astropy reads it
    first, _, rows = body.partition("\n")
    if first.split(" ") != names or any(" " in n or not n for n in names):
        return None
    if rows and not rows.endswith("\n"):
        return None  # a body not ending in a line end was not written whole
    values = _rows(rows, specs)
    if values is None:
        return None
    columns = [
        Column(
            data,
            name=name,
            unit=spec.get("unit"),
            format=spec.get("format"),
            description=spec.get("description"),
            meta=copy.deepcopy(spec.get("meta")),
            copy=False,
        )
        for name, spec, data in zip(names, specs, values, strict=True)
    ]
    # astropy's reader gives the meta as loaded (an ``!!omap`` becomes a plain dict).
    return Table(columns, meta=copy.deepcopy(meta), copy=False)


def read_ecsv(path: str | os.PathLike[str]) -> Table:
    """The table in the ECSV file ``path``, as ``Table.read(path, format='ascii.ecsv')`` gives it.

    Plain numeric tables are parsed here; every other table, and any file
    this reader does not recognise, is read by astropy (whose errors name the
    cause). ECSV's remarks are silenced, as when astropy reads the file in
    the product store.

    Parameters
    ----------
    path : str or path-like
        An ECSV file.

    Returns
    -------
    astropy.table.Table
        Its columns (names, dtypes, units, formats, descriptions, meta) and meta.
    """
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        text = None
    table = _plain_table(text) if text is not None else None
    if table is not None:
        return table
    with quiet():
        if text is not None:
            # astropy parses the text already read, so the file is opened once
            # (the window reads each product once); only a table astropy
            # refuses is read again from the file, for an error naming it.
            try:
                return Table.read(text, format="ascii.ecsv")
            except Exception:  # noqa: BLE001 (the file's own read gives the error)
                pass
        return Table.read(path, format="ascii.ecsv")
