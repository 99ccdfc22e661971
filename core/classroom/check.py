"""Check my answer: a student's project against the simulated night's truth.

:func:`check_project` reads the project (its targets' clicks and light curves,
the per-light zero points in ``frames.ecsv``, the answers in
``classroom.json``), finds the simulated night it was made from and returns
one :class:`~.findings.Finding` per quantity it can check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from astropy.table import Table

from ..project.document import Project, ProjectError
from .answers import read_answers
from .check_answers import check_answers
from .check_data import check_light_curve, check_track, check_zero_points
from .findings import Finding
from .truth import NightTruth, TruthError, find_truth_folder, load_truth

__all__ = ["CheckReport", "check_project"]

_FRAMES_FILE = "frames.ecsv"


@dataclass
class CheckReport:
    """What :func:`check_project` found."""

    project: Path
    night: Path
    lesson: dict
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdicts(self) -> dict[str, int]:
        """How many findings are good, fair and off."""
        out = {"good": 0, "fair": 0, "off": 0}
        for f in self.findings:
            out[f.verdict] = out.get(f.verdict, 0) + 1
        return out

    def text(self) -> str:
        """The report for a terminal: one block per finding."""
        head = (
            f"{self.lesson.get('difficulty', '')} {self.lesson.get('kind', '')} night "
            f"{self.night} (seed {self.lesson.get('seed')})"
        ).strip()
        lines = [f"checked {self.project} against the truth of the {head}"]
        for f in self.findings:
            lines.append(f.line())
            lines += [f"      {t}" for t in f.explanation]
        lines += self.notes
        v = self.verdicts
        lines.append(f"{v['good']} good, {v['fair']} fair, {v['off']} off")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The report as JSON: the night and one entry per quantity."""
        return {
            "project": str(self.project),
            "night": str(self.night),
            "lesson": {k: self.lesson.get(k) for k in ("kind", "difficulty", "seed", "target")},
            "quantities": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }


def _read_table(path: Path, notes: list[str]) -> Table | None:
    try:
        return Table.read(path, format="ascii.ecsv")
    except (OSError, ValueError) as exc:
        notes.append(f"cannot read {path}: {exc}")
        return None


def check_project(
    project_folder: str | os.PathLike[str], truth: NightTruth | None = None
) -> CheckReport:
    """Check a project made from a simulated night against the night's truth.

    Parameters
    ----------
    project_folder : path
        The project (its folder or ``project.json``).
    truth : NightTruth, optional
        The night's truth when already loaded; found from the project's inputs
        otherwise.

    Raises
    ------
    ValueError
        When the project cannot be read or its night is not a simulated one
        (the message names the file and the cause).
    """
    try:
        project = Project.load(project_folder)
    except ProjectError as exc:
        raise ValueError(str(exc)) from exc
    folder = project.folder
    assert folder is not None
    if truth is None:
        night = find_truth_folder(list(project.inputs))
        if night is None:
            raise TruthError(
                f"the project {folder} was not made from a simulated night: none of its "
                "inputs lies in a folder with truth/night.json ('fluxion demo' writes one)"
            )
        truth = load_truth(night)
    report = CheckReport(folder, truth.folder, truth.lesson)
    for target in project.targets:
        if target.get("kind") == "moving":
            report.findings += check_track(truth, target)
        lc_name = target.get("light_curve")
        if lc_name:
            table = _read_table(folder / lc_name, report.notes)
            if table is not None:
                report.findings += check_light_curve(truth, target, table, folder)
    frames_path = folder / _FRAMES_FILE
    if frames_path.is_file():
        frames = _read_table(frames_path, report.notes)
        if frames is not None:
            report.findings += check_zero_points(truth, frames)
    report.findings += check_answers(truth, read_answers(folder))
    if not report.findings:
        report.notes.append(
            "nothing to check yet: click the target, make its light curve, or give the "
            "lesson's answers (classroom.json)"
        )
    return report
