"""The Lesson panel: a lesson's steps through the open night, done marks, answers, the check.

The lesson text is data (:mod:`fluxion.core.classroom.lessons`, one file per
lesson in ``resources/lessons``); the done marks are read from the project's
state (steps run, clicks made, light curves kept, answers given), so the panel
never needs the student to tick anything. "Check my answer" runs
:func:`fluxion.core.classroom.check.check_project` in a worker and shows each
quantity with its verdict and explanation.
"""

from __future__ import annotations

import html
import json
import logging
import math

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from fluxion.core.classroom.answers import ANSWERS, Answer, read_answers, write_answers
from fluxion.core.classroom.check import CheckReport, check_project
from fluxion.core.classroom.findings import fmt
from fluxion.core.classroom.lessons import (
    Lesson,
    available_lessons,
    lesson_for_kind,
    progress,
)
from fluxion.core.classroom.truth import find_truth_folder
from fluxion.core.simulation.lessons import LESSON_FILE
from fluxion.core.simulation.writer import TRUTH_FOLDER
from fluxion.widgets.flow_layout import WrappingStrip

from .class_sheet_action import ClassSheetMaker
from .session import Session
from .workers import ErrorInfo, Task

__all__ = ["LessonPanel"]

log = logging.getLogger("fluxion.app.lesson")

_DONE, _TODO = "\u2713", "\u25cb"  # check mark, open circle
_COLOURS = {"good": "#1b7f3b", "fair": "#b7791f", "off": "#c53030"}
_REFRESH_MS = 1500


class LessonPanel(QWidget):
    """Walks a student through a lesson on the open night.

    Signals
    -------
    open_panel(str)
        The title of the step panel the current lesson step uses.
    """

    open_panel = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.lessons: list[Lesson] = available_lessons()
        self.lesson: Lesson | None = None
        self.answers: dict[str, Answer] = {}
        self.report: CheckReport | None = None
        self.task: Task | None = None
        self._night_kind = ""

        self.choice = QComboBox()
        for lesson in self.lessons:
            self.choice.addItem(lesson.title, lesson.name)
        self.choice.currentIndexChanged.connect(self._choose)
        # A long lesson title is cut, not a reason for the dock to scroll sideways.
        self.choice.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.choice.setMinimumContentsLength(12)
        self.night_label = QLabel("Open a night made by 'fluxion demo' or the classroom demo.")
        self.night_label.setWordWrap(True)
        self.steps = QListWidget()
        # Long titles end in "..." (the whole title is the item's tooltip), no sideways scrolling.
        self.steps.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.steps.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.steps.currentRowChanged.connect(self._show_step)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        self.go_button = QPushButton("Open the step's panel")
        self.go_button.clicked.connect(self._go)
        self.previous_button = QPushButton("Previous step")
        self.previous_button.clicked.connect(self.previous_step)
        self.next_button = QPushButton("Next step")
        self.next_button.clicked.connect(self.next_step)
        # Rows that wrap, so that the dock stays narrow (a 1366-pixel screen gives it
        # about 220 px) and with large text (presentation mode).
        buttons = QVBoxLayout()
        buttons.addWidget(self.go_button)
        step_row = WrappingStrip()
        step_row.add(self.previous_button)
        step_row.add(self.next_button)
        buttons.addWidget(step_row)

        self.answer_box = QGroupBox("Your answers")
        self.answer_form = QFormLayout(self.answer_box)
        # Each answer's name above its fields: beside it, the fields of a narrow dock
        # were a few characters wide and the numbers scrolled out of sight.
        self.answer_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        self.answer_fields: dict[str, tuple[QLineEdit, QLineEdit]] = {}
        self.save_button = QPushButton("Save answers")
        self.save_button.clicked.connect(self.save_answers)
        self.check_button = QPushButton("Check my answer")
        self.check_button.clicked.connect(self.run_check)
        # The teacher's sheet of a whole class (as 'fluxion check FOLDER --out').
        self.class_sheet = ClassSheetMaker(session.workers, self)
        self.class_sheet.message.connect(self._say)
        self.sheet_button = QPushButton("Class sheet...")
        self.sheet_button.setToolTip(
            "For the teacher: check every student's project in a folder against its night "
            "and open the class sheet (verdicts and a plot per quantity)"
        )
        self.sheet_button.clicked.connect(lambda: self.class_sheet.choose_and_make(self))
        row = WrappingStrip()
        row.add(self.save_button)
        row.add(self.check_button)
        row.add(self.sheet_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        # The check's findings, shown under the last step's text.
        self.result_html = ""

        top = QWidget()
        t = QVBoxLayout(top)
        t.setContentsMargins(0, 0, 0, 0)
        t.addWidget(self.choice)
        t.addWidget(self.night_label)
        t.addWidget(self.steps, 1)
        t.addWidget(self.text, 3)
        t.addLayout(buttons)
        bottom = QWidget()
        b = QVBoxLayout(bottom)
        b.setContentsMargins(0, 0, 0, 0)
        b.addWidget(self.answer_box)
        b.addWidget(row)
        b.addWidget(self.status)
        b.addStretch(1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(split)

        session.sequence_changed.connect(self.on_night)
        session.project_changed.connect(self.on_night)
        # The done marks follow the project as steps finish and clicks are made.
        self.timer = QTimer(self)
        self.timer.setInterval(_REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        if self.lessons:
            self._choose(0)

    # -- lesson and night ------------------------------------------------------------
    def _night_lesson_kind(self) -> str:
        """The kind of the open night's lesson (``truth/lesson.json``), '' when none."""
        night = find_truth_folder(list(self.session.project.inputs))
        if night is None:
            return ""
        try:
            doc = json.loads((night / TRUTH_FOLDER / LESSON_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "mixed"  # a simulated night from before lessons: the demo
        self.night_label.setText(
            f"A {doc.get('difficulty', '')} {doc.get('kind', '')} night (seed {doc.get('seed')}), "
            f"{night}"
        )
        return str(doc.get("kind", "mixed"))

    def on_night(self) -> None:
        """A night or project opened: pick its lesson, read the saved answers."""
        kind = self._night_lesson_kind()
        if kind and kind != self._night_kind:
            self._night_kind = kind
            lesson = lesson_for_kind(kind, self.lessons)
            if lesson is not None:
                self.choice.setCurrentIndex(self.lessons.index(lesson))
        folder = self.session.project.folder
        if folder is not None:
            try:
                self.answers = read_answers(folder)
            except ValueError as exc:
                self.status.setText(str(exc))
            self._fill_answers()
        self.refresh()

    def _choose(self, index: int) -> None:
        if not 0 <= index < len(self.lessons):
            return
        self.lesson = self.lessons[index]
        self.steps.clear()
        for step in self.lesson.steps:
            item = QListWidgetItem(f"{_TODO}  {step.title}")
            item.setToolTip(step.title)
            self.steps.addItem(item)
        self._build_answers()
        self.refresh()
        self.steps.setCurrentRow(0)

    def _build_answers(self) -> None:
        while self.answer_form.rowCount():
            self.answer_form.removeRow(0)
        self.answer_fields = {}
        for name in self.lesson.answers if self.lesson else ():
            spec = ANSWERS[name]
            value, error = QLineEdit(), QLineEdit()
            value.setPlaceholderText(spec.unit)
            error.setPlaceholderText("error")
            for field in (value, error):
                # Never squeezed below a line of text when the status below grows
                # (the splitter then takes the room from the lesson's text above).
                field.setMinimumHeight(field.sizeHint().height())
            value.setToolTip(spec.help)
            row = QHBoxLayout()
            row.addWidget(value, 3)
            row.addWidget(QLabel("\u00b1"))
            row.addWidget(error, 2)
            self.answer_form.addRow(spec.label, row)
            self.answer_fields[name] = (value, error)
        self._fill_answers()

    def _fill_answers(self) -> None:
        for name, (value, error) in self.answer_fields.items():
            a = self.answers.get(name)
            value.setText("" if a is None else fmt(a.value))
            error.setText("" if a is None or a.error is None else f"{a.error:.2g}")

    # -- steps ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Update the done marks from the project's state."""
        if self.lesson is None or not self.isVisible() and self.sender() is self.timer:
            return
        marks = progress(self.lesson, self.session.project, self.answers)
        for k, done in enumerate(marks):
            item = self.steps.item(k)
            if item is not None:
                item.setText(f"{_DONE if done else _TODO}  {self.lesson.steps[k].title}")
        self.steps.setProperty("done_marks", marks)

    def done_marks(self) -> list[bool]:
        """The current done mark of each step."""
        if self.lesson is None:
            return []
        return progress(self.lesson, self.session.project, self.answers)

    def _show_step(self, row: int) -> None:
        if self.lesson is None or not 0 <= row < len(self.lesson.steps):
            return
        step = self.lesson.steps[row]
        parts = [f"<h3>{html.escape(step.title)}</h3>"]
        if row == 0 and self.lesson.intro:
            parts.append(f"<p><i>{html.escape(self.lesson.intro)}</i></p>")
        parts.append(f"<p>{html.escape(step.text)}</p>")
        if step.look_for:
            parts.append(f"<p><b>What to look for:</b> {html.escape(step.look_for)}</p>")
        if step.answers:
            labels = ", ".join(ANSWERS[a].label for a in step.answers)
            parts.append(f"<p><b>Your answer:</b> {html.escape(labels)} (below).</p>")
        if row == len(self.lesson.steps) - 1 and self.result_html:
            parts.append(f"<hr><a name='check'></a><h3>Check of your answer</h3>{self.result_html}")
        self.text.setHtml("".join(parts))
        self.go_button.setEnabled(bool(step.panel))
        self.go_button.setText(f"Open {step.panel}" if step.panel else "Open the step's panel")
        self.next_button.setEnabled(row + 1 < len(self.lesson.steps))
        self.previous_button.setEnabled(row > 0)

    def next_step(self) -> None:
        """Show the next step (stays on the last)."""
        if self.lesson is not None:
            self.steps.setCurrentRow(min(self.steps.currentRow() + 1, len(self.lesson.steps) - 1))

    def previous_step(self) -> None:
        """Show the previous step (stays on the first)."""
        if self.lesson is not None:
            self.steps.setCurrentRow(max(self.steps.currentRow() - 1, 0))

    def step_panel(self) -> str:
        """The title of the step panel the current step uses ('' when it uses none)."""
        row = self.steps.currentRow()
        if self.lesson is None or not 0 <= row < len(self.lesson.steps):
            return ""
        return self.lesson.steps[row].panel or ""

    def set_keys(self, keys: dict[str, str] | None) -> None:
        """Show on the buttons the keys that drive them (``{"next": "N", ...}``; None: none)."""
        keys = keys or {}
        for name, button, text in (
            ("next", self.next_button, "Next step"),
            ("previous", self.previous_button, "Previous step"),
            ("check", self.check_button, "Check my answer"),
        ):
            key = keys.get(name)
            button.setText(f"{text} ({key})" if key else text)

    def _go(self) -> None:
        row = self.steps.currentRow()
        if self.lesson is not None and 0 <= row < len(self.lesson.steps):
            panel = self.lesson.steps[row].panel
            if panel:
                self.open_panel.emit(panel)

    # -- answers and the check ----------------------------------------------------------
    def _read_fields(self) -> dict[str, Answer] | None:
        out = {}
        for name, (value, error) in self.answer_fields.items():
            v, e = value.text().strip(), error.text().strip()
            if not v:
                continue
            try:
                x = float(v)
                err = float(e) if e else None
            except ValueError:
                self.status.setText(f"{ANSWERS[name].label}: '{v} \u00b1 {e}' is not a number.")
                return None
            if not math.isfinite(x) or (err is not None and not err > 0):
                self.status.setText(f"{ANSWERS[name].label}: give a number and a positive error.")
                return None
            out[name] = Answer(x, err)
        return out

    def save_answers(self) -> bool:
        """Keep the typed answers in the project folder (``classroom.json``)."""
        answers = self._read_fields()
        if answers is None:
            return False
        folder = self.session.project.folder
        if folder is None:
            self.status.setText("Save the project first (File > Save project), then the answers.")
            return False
        kept = {k: a for k, a in self.answers.items() if k not in self.answer_fields}
        try:
            write_answers(folder, {**kept, **answers})
        except (OSError, ValueError) as exc:
            self.status.setText(f"The answers were not saved: {exc}")
            return False
        self.answers = {**kept, **answers}
        self.status.setText(f"{len(answers)} answer(s) saved in the project.")
        self.refresh()
        return True

    def _say(self, text: str) -> None:
        self.status.setText(text)

    def run_check(self) -> Task | None:
        """Save the answers, then check the project against the truth in a worker."""
        if not self.save_answers():
            return None
        folder = self.session.project.folder
        self.status.setText("Checking against the night's truth...")
        self.check_button.setEnabled(False)
        self.task = self.session.workers.submit(
            check_project, folder, name="Checking the answers", key="lesson:check",
            pass_state=False,
        )  # fmt: skip
        self.task.result.connect(self._checked)
        self.task.error.connect(self._check_failed)
        self.task.finished.connect(lambda: self.check_button.setEnabled(True))
        return self.task

    def _check_failed(self, info: ErrorInfo) -> None:
        self.status.setText(f"The check failed: {info.message}")

    def _checked(self, report: CheckReport) -> None:
        self.report = report
        v = report.verdicts
        self.status.setText(f"{v['good']} good, {v['fair']} fair, {v['off']} off.")
        rows = []
        for f in report.findings:
            colour = _COLOURS.get(f.verdict, "black")
            rows.append(
                f"<p><b style='color:{colour}'>{f.verdict.upper()}</b> "
                f"<b>{html.escape(f.label)}</b>: {html.escape(f.numbers())}<br>"
                f"{html.escape(' '.join(f.explanation))}</p>"
            )
        rows += [f"<p><i>{html.escape(n)}</i></p>" for n in report.notes]
        self.result_html = "".join(rows)
        last = len(self.lesson.steps) - 1 if self.lesson is not None else -1
        if self.steps.currentRow() == last:
            self._show_step(last)
        else:
            self.steps.setCurrentRow(last)
        self.text.scrollToAnchor("check")  # the result, not the step's text above it
        self.refresh()
