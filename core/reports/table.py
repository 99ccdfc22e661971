"""Light curves and track positions as CSV or ECSV tables.

ECSV keeps units, column types and the table's metadata (comparison stars,
magnitude scale error); CSV is for spreadsheets. The format follows the file's
suffix. Positions files hold ``file, jd, ra, dec, x, y`` (plus ``sigma_px``
and ``clicked`` when known) and are read back into a :class:`Track`.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..io.fitsio import atomic_write_text
from ..targets.tracking import Click, Track
from . import ExportError

__all__ = ["write_table", "read_positions", "track_from_positions", "POSITION_COLUMNS"]

#: Columns every positions file has.
POSITION_COLUMNS = ("file", "jd", "ra", "dec", "x", "y")

_FORMATS = {".csv": "ascii.csv", ".ecsv": "ascii.ecsv", ".txt": "ascii.fixed_width_two_line"}


def _format_of(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        # Name the file: a bare suffix ('' for a folder-like name) says nothing.
        what = f"suffix {path.suffix!r}" if path.suffix else "no suffix"
        raise ExportError(f"{path}: a table file needs .csv, .ecsv or .txt ({what})")
    return fmt


def write_table(path: str | os.PathLike[str], table: Table) -> Path:
    """Write a light curve or positions table atomically; format from the suffix.

    Floats are written with enough digits for JD to 0.01 s and positions to
    0.001 px; NaN is written as an empty CSV cell.
    """
    path = Path(path)
    fmt = _format_of(path)
    out = Table(table, copy=True)
    for name in out.colnames:
        col = out[name]
        if col.dtype.kind == "f":
            col.info.format = ".7f" if name.startswith(("jd", "bjd", "ra", "dec")) else ".5g"
            if name in ("x", "y", "sigma_px"):
                col.info.format = ".3f"
    buf = io.StringIO()
    kwargs = {"delimiter": "|"} if fmt.startswith("ascii.fixed_width") else {}
    out.write(buf, format=fmt, **kwargs)
    return atomic_write_text(path, buf.getvalue())


def read_positions(path: str | os.PathLike[str]) -> Table:
    """Read a positions file (CSV or ECSV) and check its columns.

    Raises
    ------
    ExportError
        When the file is missing, unreadable or lacks one of ``jd, x, y``.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"no positions file at {path}")
    try:
        table = Table.read(path, format=_format_of(path))
    except (ValueError, OSError, IndexError) as exc:
        raise ExportError(f"cannot read positions file {path.name}: {exc}") from exc
    missing = [c for c in ("jd", "x", "y") if c not in table.colnames]
    if missing:
        raise ExportError(f"positions file {path.name} lacks column(s) {', '.join(missing)}")
    return table


def track_from_positions(
    table: Table,
    jd: Sequence[float] | np.ndarray,
    files: Sequence[str] | None = None,
    *,
    name: str = "target",
    tolerance_s: float = 1.0,
) -> Track:
    """A track whose clicks are the rows of a positions file.

    Rows are matched to frames by file name when both have names (the whole
    name, with its folders where frames of the same name are in different
    folders; else the file name when only one frame has it), else by time
    (within ``tolerance_s``); rows that match no frame are dropped. Rows with
    a ``clicked`` column keep only the clicked ones, so that a track exported
    with its predictions re-imports as the same clicks.
    """
    jd = np.asarray(jd, dtype=float)
    by_name: dict[str, int] = {}
    by_base: dict[str, int] = {}
    if files is not None:
        by_name = {str(f): i for i, f in enumerate(files)}
        bases = [Path(f).name for f in files]
        once = {b for b, n in Counter(bases).items() if n == 1}
        by_base = {b: i for i, b in enumerate(bases) if b in once}
    rows = table
    if "clicked" in table.colnames:
        # CSV gives the booleans back as text.
        clicked = np.array(
            [str(v).strip().lower() in ("true", "1", "yes") for v in table["clicked"]]
        )
        if clicked.any():
            rows = table[clicked]
    track = Track(name=name)
    for row in rows:
        frame = None
        fname = str(row["file"]) if "file" in rows.colnames else ""
        if fname and fname in by_name:
            frame = by_name[fname]
        elif fname and Path(fname).name in by_base:
            frame = by_base[Path(fname).name]
        else:
            k = int(np.argmin(np.abs(jd - float(row["jd"]))))
            if abs(jd[k] - float(row["jd"])) * 86400.0 <= tolerance_s:
                frame = k
        if frame is None:
            continue
        sigma = float(row["sigma_px"]) if "sigma_px" in rows.colnames else 0.1
        track = track.with_click(
            Click(frame, float(jd[frame]), float(row["x"]), float(row["y"]), sigma=sigma)
        )
    if not track.clicks:
        raise ExportError("no row of the positions file matches a frame (by file name or time)")
    return track
