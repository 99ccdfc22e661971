"""Scroll areas that keep a step panel's form, results and plots in a dock's sight."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

__all__ = ["FormScroll", "fitted", "holding", "scrolling"]


class FormScroll(QScrollArea):
    """A scrolling parameter form that asks for at most ``FORM_HEIGHT`` px.

    A step panel scrolls inside its dock; a form scroll area that asks for its
    whole form's height pushed the result text and plots below the dock's edge
    (the Zero point panel's 18 parameters filled a 768-pixel screen). Asking for
    less keeps the results in sight; the form scrolls, and grows when there is room.
    """

    FORM_HEIGHT = 260

    def sizeHint(self):  # noqa: N802 (Qt override)
        hint = super().sizeHint()
        widget = self.widget()
        height = widget.sizeHint().height() if widget is not None else hint.height()
        hint.setHeight(min(height + 2, self.FORM_HEIGHT))
        return hint


_Scroll = TypeVar("_Scroll", bound=QScrollArea)


class _NoHeightForWidth(QVBoxLayout):
    """A layout that does not pass its items' height-for-width on (see :func:`fitted`)."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return False


def fitted(widget: QWidget) -> QWidget:
    """``widget`` in a box a scroll area fits to its viewport.

    A scroll area gives a widget whose layout has height-for-width items (word-wrapped
    result text) the whole height those items would like, not the viewport's: the
    Zero point panel was laid out 1421 px tall in a 586-px dock, its plots below the
    edge. In this box the panel gets the viewport's height (its minimum when larger)
    and its own layout shares it out.
    """
    box = QWidget()
    layout = _NoHeightForWidth(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(widget)
    return box


def scrolling(widget: QWidget, form: bool = False) -> QScrollArea:
    """``widget`` in a frameless scroll area, so that a tall form does not set
    a minimum height on the whole window; ``form``: one that asks for at most
    ``FormScroll.FORM_HEIGHT`` px (a step's parameters, above its results)."""
    return holding(FormScroll() if form else QScrollArea(), widget)


def holding(scroll: _Scroll, widget: QWidget) -> _Scroll:
    """``scroll``, frameless, holding ``widget`` at its width."""
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(widget)
    return scroll
