"""The teacher's class sheet: every student's verdicts, and plots whose points are the students'."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fluxion.app.cli import main
from fluxion.core.classroom.answers import Answer, write_answers
from fluxion.core.classroom.check_answers import _expected
from fluxion.core.classroom.truth import load_truth
from fluxion.core.project.document import Project
from fluxion.core.simulation.lessons import simulate_lesson

pytest.importorskip("PySide6")

SMALL = {"shape": (256, 256), "n_bias": 1, "n_dark": 1, "n_flat": 1}


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """Three students' projects on one mixed night, each with known answers and mistakes."""
    night = tmp_path_factory.mktemp("night")
    simulate_lesson(night, "mixed", "normal", seed=4, **SMALL)
    truth = load_truth(night)
    mid, mid_err = _expected(truth, "transit_mid_bjd")
    depth, depth_err = _expected(truth, "transit_depth")
    ra, dec = truth.variable_sources()["eclipsing"]
    star = truth.night.catalog[0]  # a constant star
    answers = {
        # Everything right, within the errors the night allows.
        "ada": {"transit_mid_bjd": Answer(mid + 0.5 * mid_err, mid_err),
                "transit_depth": Answer(depth - 0.3 * depth_err, depth_err),
                "variable_ra": Answer(ra), "variable_dec": Answer(dec)},
        # A constant star taken for the variable, a mid-time 10 min late with a tiny error.
        "bob": {"transit_mid_bjd": Answer(mid + 10 / 1440, 2 / 1440),
                "transit_depth": Answer(depth + 0.5 * depth_err, depth_err),
                "variable_ra": Answer(float(star["ra"])),
                "variable_dec": Answer(float(star["dec"]))},
        # An honest but loose depth (fair); no variable named.
        "cy": {"transit_mid_bjd": Answer(mid - mid_err, mid_err),
               "transit_depth": Answer(depth * 1.5, 0.01)},
    }  # fmt: skip
    folder = tmp_path_factory.mktemp("class")
    for name, given in answers.items():
        project = Project.from_inputs([night])
        project.save(folder / name)
        write_answers(folder / name, given)
    expected = {
        "ada": {"transit_mid_bjd": "good", "transit_depth": "good", "variable_identity": "good"},
        "bob": {"transit_mid_bjd": "off", "transit_depth": "good", "variable_identity": "off"},
        "cy": {"transit_mid_bjd": "good", "transit_depth": "fair"},
    }
    return folder, expected


def _pixel(image, x: int, y: int) -> tuple[int, int, int]:
    c = image.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def test_the_class_sheet_lists_verdicts_and_plots_each_students_point(klass, tmp_path, capsys):
    from PySide6.QtGui import QColor, QImage

    from fluxion.app.class_sheet import PLOTS_FOLDER, SHEET_FILE, VERDICT_COLOURS

    folder, expected = klass
    out = tmp_path / "sheet"
    assert main(["check", str(folder), "--out", str(out)]) == 0
    assert f"class sheet: {out / SHEET_FILE}" in capsys.readouterr().out
    page = (out / SHEET_FILE).read_text()

    # The verdict grid: one row per student, each checked quantity's verdict in its cell.
    grid = page[page.index("<table class='grid'>") : page.index("</table>")]
    header = re.findall(r"<th>([^<]*)</th>", grid.split("</tr>")[0])
    assert header[0] == "student" and header[-1] == "in all"
    for student, verdicts in expected.items():
        row = re.search(rf"<tr><th>{student}</th>(.*?)</tr>", grid).group(1)
        cells = re.findall(r"<td(?: class='(\w+)')?[^>]*>", row)[:-1]
        assert sorted(v for v in cells if v) == sorted(verdicts.values()), student
        counts = {v: list(verdicts.values()).count(v) for v in ("good", "fair", "off")}
        assert f"{counts['good']} good, {counts['fair']} fair, {counts['off']} off" in row

    # One plot per quantity; each student's point is drawn where the page's map says,
    # in its verdict's colour, and hovering it names the student.
    for quantity in ("transit_mid_bjd", "transit_depth", "variable_identity"):
        png = out / PLOTS_FOLDER / f"{quantity}.png"
        assert png.is_file() and png.stat().st_size > 1000
        image = QImage(str(png))
        assert not image.isNull()
        figure = page[page.index(f"{PLOTS_FOLDER}/{quantity}.png") :].split("</figure>")[0]
        areas = re.findall(
            r"<area shape='circle' coords='(\d+),(\d+),\d+' data-verdict='(\w+)' title='(\w+):",
            figure,
        )
        students = {s: v[quantity] for s, v in expected.items() if quantity in v}
        assert {a[3]: a[2] for a in areas} == students
        for x, y, verdict, _student in areas:
            x, y = int(x), int(y)
            assert 0 <= x < image.width() and 0 <= y < image.height()
            want = QColor(VERDICT_COLOURS[verdict])
            # The marker's middle, give or take the pixel the rounding moved it.
            near = [_pixel(image, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
            assert (want.red(), want.green(), want.blue()) in near, (quantity, verdict, near)
        # No marker of a verdict nobody has in this quantity.
        pixels = image.convertToFormat(QImage.Format.Format_RGB32)
        arr = np.frombuffer(pixels.constBits(), np.uint8).reshape(image.height(), -1, 4)
        for verdict, colour in VERDICT_COLOURS.items():
            c = QColor(colour)
            found = np.any(np.all(arr[..., :3] == (c.blue(), c.green(), c.red()), axis=-1))
            assert found == (verdict in students.values()), (quantity, verdict)


def test_the_window_makes_the_class_sheet_of_a_folder(klass, window, qtbot, monkeypatch):
    """Lesson panel > Class sheet...: the same sheet as 'fluxion check FOLDER --out'."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog

    from fluxion.app.class_sheet import SHEET_FILE
    from fluxion.app.class_sheet_action import SHEET_FOLDER

    folder, expected = klass
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    panel = window.lesson_panel
    panel.class_sheet.open_page = False
    window.lesson_dock.show()
    window.lesson_dock.raise_()
    qtbot.waitUntil(panel.sheet_button.isVisible, timeout=5_000)
    with qtbot.waitSignal(panel.class_sheet.done, timeout=180_000) as done:
        qtbot.mouseClick(panel.sheet_button, Qt.MouseButton.LeftButton)
    page = done.args[0]
    assert page == folder / SHEET_FOLDER / SHEET_FILE and page.is_file()
    text = page.read_text()
    for student in expected:
        assert f"<tr><th>{student}</th>" in text
    assert str(page) in panel.status.text()
    # The sheet's folder is an output folder: checking the class again does not read it.
    from fluxion.core.classroom.sheet import class_projects

    assert sorted(p.name for p in class_projects([folder])) == sorted(expected)
    # The File menu has it too.
    assert window.class_sheet_action.text().startswith("&Class sheet")
