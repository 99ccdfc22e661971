"""The parameter form is built from the dataclass metadata and round-trips values."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from fluxion.core.runtime.params import param
from fluxion.widgets.param_form import ParamForm


@dataclass(frozen=True)
class DetectionParams:
    threshold: float = param(
        5.0,
        label="Threshold",
        unit="sigma",
        minimum=0.5,
        maximum=100.0,
        help="Detection threshold above the local sky noise.",
    )
    min_area: int = param(5, label="Minimum area", unit="px", minimum=1, maximum=1000)
    method: str = param("sep", label="Method", choices=("sep", "photutils"))
    deblend: bool = param(True, label="Deblend")
    box: tuple[int, int] = param((64, 64), label="Sky box", unit="px", minimum=8)
    tiny: float = param(1e-4, label="Tolerance", minimum=0.0)
    note: str = param("", label="Note")


@pytest.fixture
def form(show) -> ParamForm:
    return show(ParamForm(DetectionParams))


def test_editors_follow_the_metadata(form: ParamForm) -> None:
    th = form.editor("threshold")
    assert isinstance(th, QDoubleSpinBox)
    assert (th.minimum(), th.maximum(), th.value()) == (0.5, 100.0, 5.0)
    assert th.suffix() == " sigma"
    assert th.toolTip() == "Detection threshold above the local sky noise."
    assert isinstance(form.editor("min_area"), QSpinBox)
    combo = form.editor("method")
    assert isinstance(combo, QComboBox)
    assert [combo.itemText(i) for i in range(combo.count())] == ["sep", "photutils"]
    assert isinstance(form.editor("deblend"), QCheckBox)
    assert isinstance(form.editor("note"), QLineEdit)
    assert len(form.fields["box"].editors) == 2
    # a small default keeps its significant digits
    assert form.editor("tiny").value() == pytest.approx(1e-4)
    assert form.params() == DetectionParams()


def test_edits_emit_a_new_instance(form: ParamForm, qtbot) -> None:
    with qtbot.waitSignal(form.params_changed) as blocker:
        form.editor("threshold").setValue(3.25)
    assert blocker.args[0] == DetectionParams(threshold=3.25)
    with qtbot.waitSignal(form.params_changed) as blocker:
        form.editor("method").setCurrentIndex(1)
    assert blocker.args[0].method == "photutils"
    with qtbot.waitSignal(form.params_changed) as blocker:
        form.fields["box"].editors[1].setValue(32)
    assert blocker.args[0].box == (64, 32)
    # the range is enforced by the editor
    form.editor("threshold").setValue(1000.0)
    assert form.params().threshold == 100.0


def test_set_params_shows_values_without_emitting(form: ParamForm, qtbot) -> None:
    values = DetectionParams(
        threshold=7.5, min_area=9, method="photutils", deblend=False, box=(16, 24), note="test"
    )
    with qtbot.assertNotEmitted(form.params_changed):
        form.set_params(values)
    assert form.params() == values


def test_refuses_a_non_dataclass() -> None:
    with pytest.raises(TypeError, match="not a parameter dataclass"):
        ParamForm(int)


def test_a_zero_that_means_auto_reads_as_words(qtbot) -> None:
    from fluxion.core.astrometry.params import SolveParams
    from fluxion.core.photometry import PhotometryParams

    @dataclass(frozen=True)
    class P:
        radius: float = param(0.0, label="Radius", unit="px", minimum=0.0, zero="auto")
        count: int = param(0, label="Count", minimum=0, zero="all")

    form = ParamForm(P)
    qtbot.addWidget(form)
    radius = form.editor("radius")
    assert radius.text() == "auto" and form.editor("count").text() == "all"
    radius.setValue(2.5)
    assert radius.text() == "2.50 px" and form.params().radius == 2.5
    radius.setValue(0.0)
    assert radius.text() == "auto" and form.params().radius == 0.0
    # The step forms that take 0 for "find it yourself" say so.
    for params, name, words in (
        (SolveParams, "pixel_scale", "from the header"),
        (PhotometryParams, "aperture_radius", "auto"),
        (PhotometryParams, "fwhm", "measured"),
    ):
        step = ParamForm(params)
        qtbot.addWidget(step)
        assert step.editor(name).text() == words
