"""A form built from a step's parameter dataclass (``fluxion.core.runtime.params`` metadata).

Floats and ints get spin boxes with their range and unit, choices a combo box,
booleans a check box, tuples a row of editors, strings a line edit; the help
text is the tooltip. Adding a parameter in core adds it here with no GUI code.
The widget kind follows the default value's type, because with
``from __future__ import annotations`` the field annotations are strings.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from fluxion.core.runtime.params import ParamInfo, param_infos

__all__ = ["ParamForm"]

_INT_LIMIT = 2_000_000_000


def _decimals(value: float, minimum: float | None, maximum: float | None) -> int:
    # enough digits to show the default and the range ends exactly (1e-4 -> 5)
    d = 2
    for v in (value, minimum, maximum):
        if v is not None and v != 0 and math.isfinite(v):
            d = max(d, min(8, 2 - int(math.floor(math.log10(abs(v))))))
    return d


def _float_box(value: float, info: ParamInfo) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(_decimals(float(value), info.minimum, info.maximum))
    box.setRange(
        -1e12 if info.minimum is None else float(info.minimum),
        1e12 if info.maximum is None else float(info.maximum),
    )
    box.setSingleStep(abs(float(value)) * 0.1 if value else 0.1)
    if info.zero and info.minimum == 0:
        box.setSpecialValueText(info.zero)  # 0 is a choice ("auto"), not "0.00 px"
    box.setValue(float(value))
    return box


def _int_box(value: int, info: ParamInfo) -> QSpinBox:
    box = QSpinBox()
    box.setRange(
        -_INT_LIMIT if info.minimum is None else int(info.minimum),
        _INT_LIMIT if info.maximum is None else int(info.maximum),
    )
    if info.zero and info.minimum == 0:
        box.setSpecialValueText(info.zero)
    box.setValue(int(value))
    return box


class _Field:
    """Editor(s) for one parameter, with get/set of the Python value."""

    def __init__(self, info: ParamInfo, on_change) -> None:
        self.info = info
        d = info.default
        self.editors: list[QWidget]
        if info.choices is not None:
            choice = QComboBox()
            for c in info.choices:
                choice.addItem(str(c), c)
            choice.currentIndexChanged.connect(on_change)
            self.editors, self.kind = [choice], "choice"
        elif isinstance(d, bool):
            check = QCheckBox()
            check.toggled.connect(on_change)
            self.editors, self.kind = [check], "bool"
        elif isinstance(d, tuple):
            self.editors = [self._scalar(v, on_change) for v in d]
            self.kind = "tuple"
        elif isinstance(d, int | float):
            self.editors, self.kind = [self._scalar(d, on_change)], "scalar"
        else:
            line = QLineEdit("" if d is None else str(d))
            line.editingFinished.connect(on_change)
            self.editors, self.kind = [line], "text"
        for e in self.editors:
            e.setToolTip(info.help)
            if info.unit and isinstance(e, QSpinBox | QDoubleSpinBox):
                e.setSuffix(f" {info.unit}")
        self.set(d)

    def _scalar(self, value: Any, on_change) -> QWidget:
        if isinstance(value, bool):
            check = QCheckBox()
            check.toggled.connect(on_change)
            return check
        box = _int_box(value, self.info) if isinstance(value, int) else _float_box(value, self.info)
        box.valueChanged.connect(on_change)
        return box

    def widget(self) -> QWidget:
        """The editor, or a row holding a tuple's editors (made once: the form owns it)."""
        if len(self.editors) == 1:
            return self.editors[0]
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        for e in self.editors:
            lay.addWidget(e)
        return row

    @staticmethod
    def _get_one(e: QWidget) -> Any:
        if isinstance(e, QCheckBox):
            return e.isChecked()
        if isinstance(e, QSpinBox):
            return int(e.value())
        if isinstance(e, QDoubleSpinBox):
            return float(e.value())
        if isinstance(e, QLineEdit):
            return e.text()
        raise TypeError(f"no value in a {type(e).__name__}")

    @staticmethod
    def _set_one(e: QWidget, v: Any) -> None:
        e.blockSignals(True)
        try:
            if isinstance(e, QCheckBox):
                e.setChecked(bool(v))
            elif isinstance(e, QSpinBox | QDoubleSpinBox):
                e.setValue(v)
            elif isinstance(e, QLineEdit):
                e.setText("" if v is None else str(v))
        finally:
            e.blockSignals(False)

    def _choice(self) -> QComboBox:
        box = self.editors[0]
        if not isinstance(box, QComboBox):
            raise TypeError(f"{self.info.name} is not a choice")
        return box

    def get(self) -> Any:
        if self.kind == "choice":
            return self._choice().currentData()
        if self.kind == "tuple":
            return tuple(self._get_one(e) for e in self.editors)
        value = self._get_one(self.editors[0])
        if self.kind == "text" and self.info.default is None and value == "":
            return None
        return value

    def set(self, value: Any) -> None:
        if self.kind == "choice":
            box = self._choice()
            box.blockSignals(True)
            box.setCurrentIndex(max(box.findData(value), 0))
            box.blockSignals(False)
        elif self.kind == "tuple":
            for e, v in zip(self.editors, value, strict=True):
                self._set_one(e, v)
        else:
            self._set_one(self.editors[0], value)


class ParamForm(QWidget):
    """Editors for every field of a parameter dataclass.

    Parameters
    ----------
    params_type : type
        A dataclass whose fields were declared with :func:`fluxion.core.runtime.params.param`.
    values : instance of params_type, optional
        Initial values (default: the dataclass defaults).

    Signals
    -------
    params_changed(object)
        A new ``params_type`` instance after any edit.
    """

    params_changed = Signal(object)

    def __init__(
        self, params_type: type, values: Any | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        if not dataclasses.is_dataclass(params_type):
            raise TypeError(f"{params_type!r} is not a parameter dataclass")
        self.params_type = params_type
        self.fields: dict[str, _Field] = {}
        layout = QFormLayout(self)
        for info in param_infos(params_type):
            f = _Field(info, self._changed)
            self.fields[info.name] = f
            editor = f.widget()
            layout.addRow(info.label, editor)
            label = layout.labelForField(editor)
            if label is not None:
                label.setToolTip(info.help)
        if values is not None:
            self.set_params(values)

    def params(self) -> Any:
        """The parameters as shown, as a ``params_type`` instance."""
        return self.params_type(**{name: f.get() for name, f in self.fields.items()})

    def set_params(self, values: Any) -> None:
        """Show ``values`` (an instance of ``params_type``) without emitting."""
        for name, f in self.fields.items():
            f.set(getattr(values, name))

    def editor(self, name: str) -> QWidget:
        """The (first) editor of parameter ``name``, for tests and focus."""
        return self.fields[name].editors[0]

    def _changed(self, *args: Any) -> None:
        try:
            params = self.params()
        except (TypeError, ValueError):
            # the dataclass refused the combination (its __post_init__); keep
            # the last valid parameters until the user finishes editing
            return
        self.params_changed.emit(params)
