"""The frame table: one row per frame with the normalised header facts from the scan.

Facts that were guessed (a default, or inferred from something other than
their own header card) are shown in italics with a tooltip saying how;
frames with problems are tinted, with the reasons in the tooltip and the last
column. Rows take :class:`fluxion.core.io.frames.FrameInfo` objects. Steps add
their per-frame results (FWHM, sky, sources...) as extra columns after those,
through :meth:`FrameTableModel.set_extra_column`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from fluxion.core.io.names import FrameNames
from fluxion.core.io.site import PROJECT_SOURCE

__all__ = ["COLUMNS", "FrameTableModel", "FrameTable", "is_guessed"]

# What Qt hands a model's methods as an index.
_Index = QModelIndex | QPersistentModelIndex

# (title, attribute, fact names the scan may record the origin under)
#: The File column's first width (px): beside the row number in the frame dock.
FILE_COLUMN_WIDTH = 160

COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("#", "", ()),
    ("File", "path", ()),
    ("Type", "type", ("image_type", "type")),
    ("Object", "object", ("object",)),
    ("Filter", "filter", ("filter",)),
    ("Exp (s)", "exptime", ("exptime",)),
    ("Mid-exposure (UTC)", "time_utc", ("time", "date_obs", "mid_time")),
    ("Time from", "time_origin", ("time",)),
    ("Airmass", "airmass", ("airmass",)),
    ("Site", "site", ("site",)),
    ("Bayer", "cfa", ("cfa",)),
    ("Problems", "problems", ()),
)

_PROBLEM_TINT = QColor(255, 120, 80, 70)
#: How the header reader ends the note on a card it left aside (FOCALLEN=0.0, APTDIA=0.0:
#: many cameras write 0 for "unknown"). The frame is read without the card, so such notes
#: do not tint the row: tinting every light of a night for them hid the frames with problems.
IGNORED_CARD = "; ignored"


def is_guessed(source: str | None) -> bool:
    """Whether a fact's origin means it was not read from its own header card."""
    return source is not None and (source == "default" or source.startswith("guessed"))


def _text(value: Any, attr: str) -> str:
    if value is None:
        return "-"
    if attr == "path":
        return Path(value).name
    if attr == "problems":
        return "; ".join(value)
    if attr == "time_utc":
        return str(value).replace("T", " ")[:22]
    if attr == "site":
        return _site_text(value)
    if isinstance(value, float):
        return f"{value:.3f}" if attr == "airmass" else f"{value:g}"
    return str(value)


def _site_text(site: Any) -> str:
    """(east longitude, latitude, height) as "38.99 N 76.94 W 40 m", as observers write it."""
    lon, lat, height = (float(v) for v in site)
    return (
        f"{abs(lat):.2f} {'N' if lat >= 0 else 'S'} {abs(lon):.2f} {'E' if lon >= 0 else 'W'}"
        f" {height:.0f} m"
    )


def _names_of(frames: Sequence[Any]) -> FrameNames:
    # Frames of the same name in different folders are shown with their folders,
    # as their products are named.
    return FrameNames.of(f.path for f in frames if getattr(f, "path", None) is not None)


class FrameTableModel(QAbstractTableModel):
    """Qt model over a list of frames (FrameInfo)."""

    def __init__(self, frames: Sequence[Any] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._frames: list[Any] = list(frames)
        self._names = _names_of(self._frames)
        # title -> (values by row, format); a step's results beside the header facts
        self._extra: dict[str, tuple[dict[int, Any], str]] = {}

    def set_frames(self, frames: Sequence[Any]) -> None:
        """Replace all rows (extra columns are dropped: they belonged to the old frames)."""
        self.beginResetModel()
        self._frames = list(frames)
        self._names = _names_of(self._frames)
        self._extra.clear()
        self.endResetModel()

    def set_extra_column(
        self, title: str, values: Mapping[int, Any] | None, fmt: str = "{:.2f}"
    ) -> None:
        """Add or replace column ``title`` with ``values`` by row; None removes it.

        ``fmt`` formats numbers (``"{:.2f}"``, ``"{:d}"``); rows without a value,
        or with NaN, show "-".
        """
        # Insert, remove or update the one column rather than resetting the model,
        # which would lose the selected row (the current frame).
        titles = list(self._extra)
        if values is None:
            if title in titles:
                col = len(COLUMNS) + titles.index(title)
                self.beginRemoveColumns(QModelIndex(), col, col)
                del self._extra[title]
                self.endRemoveColumns()
            return
        entry = ({int(k): v for k, v in values.items()}, fmt)
        if title in titles:
            self._extra[title] = entry
            col = len(COLUMNS) + titles.index(title)
            rows = max(len(self._frames) - 1, 0)
            self.dataChanged.emit(self.index(0, col), self.index(rows, col))
        else:
            col = len(COLUMNS) + len(titles)
            self.beginInsertColumns(QModelIndex(), col, col)
            self._extra[title] = entry
            self.endInsertColumns()

    def extra_titles(self) -> list[str]:
        """Titles of the extra columns, in order."""
        return list(self._extra)

    def extra_text(self, row: int, title: str) -> str:
        """What the extra column ``title`` shows in ``row``."""
        values, fmt = self._extra[title]
        value = values.get(row)
        if value is None:
            return "-"
        try:
            if isinstance(value, float) and value != value:  # NaN: not measured
                return "-"
            return fmt.format(value)
        except (TypeError, ValueError):
            return str(value)

    def frame(self, row: int) -> Any:
        """The frame shown in ``row``."""
        return self._frames[row]

    def rowCount(self, parent: _Index | None = None) -> int:  # noqa: N802 (Qt API)
        return 0 if parent is not None and parent.isValid() else len(self._frames)

    def columnCount(self, parent: _Index | None = None) -> int:  # noqa: N802 (Qt API)
        if parent is not None and parent.isValid():
            return 0
        return len(COLUMNS) + len(self._extra)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            if section >= len(COLUMNS):
                return list(self._extra)[section - len(COLUMNS)]
            return COLUMNS[section][0]
        return None

    def _source(self, frame: Any, facts: tuple[str, ...]) -> str | None:
        sources = getattr(frame, "sources", {}) or {}
        for fact in facts:
            if fact in sources:
                return str(sources[fact])
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        frame = self._frames[index.row()]
        if index.column() >= len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                title = list(self._extra)[index.column() - len(COLUMNS)]
                return self.extra_text(index.row(), title)
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        title, attr, facts = COLUMNS[index.column()]
        problems = tuple(getattr(frame, "problems", ()) or ())
        if role == Qt.ItemDataRole.DisplayRole:
            if not attr:
                return str(index.row() + 1)
            if attr == "path" and getattr(frame, "path", None) is not None:
                return self._names.file(frame.path)
            return _text(getattr(frame, attr, None), attr)
        source = self._source(frame, facts)
        if role == Qt.ItemDataRole.FontRole and is_guessed(source):
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and is_guessed(source):
            return QBrush(QColor(150, 150, 150))
        ignored = tuple(p for p in problems if p.endswith(IGNORED_CARD))
        problems = tuple(p for p in problems if not p.endswith(IGNORED_CARD))
        if role == Qt.ItemDataRole.BackgroundRole and problems:
            return QBrush(_PROBLEM_TINT)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = []
            if attr == "path":
                lines.append(str(getattr(frame, "path", "")))
            if source is not None:
                if attr == "cfa":
                    # The pattern of the stored pixels and what it was read from.
                    lines.append(f"colour-filter pattern: {source}")
                elif source.startswith(PROJECT_SOURCE):
                    # The header gave none: the site the user set for the project.
                    lines.append(f"{source} (File > Observing site)")
                else:
                    lines.append(
                        ("guessed: " if is_guessed(source) else "from header card ") + source
                    )
            if problems:
                lines.append("Problems:\n" + "\n".join(f"- {p}" for p in problems))
            if ignored:
                lines.append(
                    "Header cards left aside (the frame is read without them):\n"
                    + "\n".join(f"- {p.removesuffix(IGNORED_CARD)}" for p in ignored)
                )
            return "\n".join(lines) or None
        return None


class FrameTable(QTableView):
    """The frame list; selecting a row emits :attr:`frame_selected`.

    Signals
    -------
    frame_selected(int)
        Row index of the frame the user selected.
    """

    frame_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frame_model = FrameTableModel(parent=self)
        self.setModel(self.frame_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The file name takes the room left and is cut in the middle: a night's names
        # differ at their end ("lux-180.000secs.Light.Open.00000015.fit"), so cutting
        # the end made every row look alike. The tooltip has the whole path.
        file_column = next(k for k, c in enumerate(COLUMNS) if c[1] == "path")
        header.setSectionResizeMode(file_column, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(file_column, FILE_COLUMN_WIDTH)
        header.setStretchLastSection(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        self.selectionModel().currentRowChanged.connect(self._on_row)
        self._quiet = False

    def set_frames(self, frames: Sequence[Any]) -> None:
        """Show these frames."""
        self._quiet = True  # a model reset moves the current row; that is not the user
        try:
            self.frame_model.set_frames(frames)
        finally:
            self._quiet = False
        # Qt makes the first row current when the table gains focus with none
        # current, which would look like a user's choice; set one quietly now.
        self.select_row(0)

    def select_row(self, row: int) -> None:
        """Highlight ``row`` without emitting :attr:`frame_selected` (the app moved there)."""
        if not 0 <= row < self.frame_model.rowCount():
            return
        self._quiet = True
        try:
            index = self.frame_model.index(row, 0)
            self.selectionModel().setCurrentIndex(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self.scrollTo(index)
        finally:
            self._quiet = False

    def _on_row(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not self._quiet and current.isValid():
            self.frame_selected.emit(current.row())
