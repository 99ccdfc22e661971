"""A teacher's sheet: several students' projects checked, in one table.

:func:`class_projects` finds the projects of a class (a folder of project
folders, or the projects named); :func:`class_summary` checks each against
its own night's truth (every student may have a night of their own seed) and
gives one row per student and quantity, ready for grading or discussion.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..io.folders import PROJECT_FILE
from .check import CheckReport, check_project

__all__ = ["check_class", "class_projects", "class_summary", "summary_lines"]


def class_projects(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """The project folders among ``paths``: each a project, or a folder of projects."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / PROJECT_FILE).is_file() or p.name == PROJECT_FILE:
            out.append(p.parent if p.name == PROJECT_FILE else p)
        elif p.is_dir():
            out += sorted(d for d in p.iterdir() if (d / PROJECT_FILE).is_file())
    return out


def class_summary(reports: list[CheckReport]) -> Table:
    """One row per student and checked quantity.

    Columns: ``student`` (the project folder's name), ``seed``, ``difficulty``,
    ``quantity``, ``measured``, ``true``, ``error`` (the student's own, NaN when
    none), ``expected_error``, ``sigma`` (the deviation in expected errors),
    ``verdict``, and the quantity's ``label`` and ``unit`` for people.
    """
    rows = []
    for r in reports:
        for f in r.findings:
            err = math.nan if f.error is None else f.error
            rows.append((
                r.project.name, int(r.lesson.get("seed") or -1),
                str(r.lesson.get("difficulty", "")), f.name, f.measured, f.true, err,
                f.expected_error, abs(f.deviation) / f.expected_error if f.expected_error else
                math.inf, f.verdict, f.label, f.unit,
            ))  # fmt: skip
    names = ("student", "seed", "difficulty", "quantity", "measured", "true", "error",
             "expected_error", "sigma", "verdict", "label", "unit")  # fmt: skip
    dtypes = ("U64", "i8", "U8", "U40", "f8", "f8", "f8", "f8", "f8", "U4", "U80", "U16")
    if not rows:
        return Table(names=names, dtype=dtypes)
    return Table(rows=rows, names=names, dtype=dtypes)


def summary_lines(table: Table) -> list[str]:
    """A line per student: how many quantities are good, fair and off."""
    lines = []
    for student in dict.fromkeys(table["student"]):
        v = np.asarray(table["verdict"][table["student"] == student])
        counts = {k: int(np.sum(v == k)) for k in ("good", "fair", "off")}
        lines.append(
            f"{student}: {counts['good']} good, {counts['fair']} fair, {counts['off']} off"
        )
    return lines


def check_class(paths: list[str | os.PathLike[str]]) -> tuple[list[CheckReport], list[str]]:
    """Check every project of a class; (reports, problems) where a project cannot be checked."""
    reports, problems = [], []
    for folder in class_projects(paths):
        try:
            reports.append(check_project(folder))
        except ValueError as exc:
            problems.append(f"{folder.name}: {exc}")
    return reports, problems
