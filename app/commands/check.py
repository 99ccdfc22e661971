"""``fluxion check PROJECT... [--json] [--out DIR]``: projects made from simulated nights
against their truth; several projects (or a folder of them) make a class summary."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from . import CommandError

NAME = "check"
HELP = (
    "check a project made from a simulated night ('fluxion demo') against the night's truth: "
    "the asteroid's track, light curves, zero points and the lesson's answers (classroom.json), "
    "each with the error the data allow and what most likely went wrong; several projects, "
    "or a folder of them, give a class summary"
)
SUMMARY_FILE = "class_summary.ecsv"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "projects",
        type=Path,
        nargs="+",
        metavar="PROJECT",
        help="a project folder (or its project.json), or a folder of students' projects",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON: one entry per quantity with name, measured, true, error, "
        "expected_error, verdict and explanation (a list of reports for a class)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"also write the class summary, one row per student and quantity, as "
        f"{SUMMARY_FILE} and .csv in DIR, and the teacher's sheet: class_sheet.html with "
        "every student's verdicts and a plot per quantity of the errors against the "
        "errors the data allow",
    )


def write_class_summary(out: Path, table) -> Path:
    """Write the class summary as ``class_summary.ecsv`` and ``.csv`` into ``out`` (made,
    and marked as an output folder so that it is never read as a night); the .ecsv's path.

    Qt-free (the window runs it in a worker). Raises OSError when it cannot be written.
    """
    from fluxion.core.io.fitsio import atomic_write_ecsv, atomic_write_text
    from fluxion.core.io.folders import mark_output_folder

    out.mkdir(parents=True, exist_ok=True)
    mark_output_folder(out)
    atomic_write_ecsv(out / SUMMARY_FILE, table)
    text = io.StringIO()
    table.write(text, format="ascii.csv")
    atomic_write_text(out / Path(SUMMARY_FILE).with_suffix(".csv").name, text.getvalue())
    return out / SUMMARY_FILE


def check_class_into(folder: Path, out: Path, state=None) -> tuple[object, list[str]]:
    """Check every student's project under ``folder`` and write the class summary into
    ``out``: (the summary table, the projects that could not be checked with why).

    Qt-free; the sheet's plots are drawn after, on the GUI thread
    (:func:`fluxion.app.class_sheet.write_class_sheet`). Raises ValueError when no
    project could be checked.
    """
    from fluxion.core.classroom.sheet import check_class, class_summary

    reports, problems = check_class([folder])
    if not reports:
        raise ValueError(
            f"no project in {folder} could be checked"
            + (": " + "; ".join(problems) if problems else "")
        )
    table = class_summary(reports)
    write_class_summary(out, table)
    return table, problems


def run(args: argparse.Namespace) -> int:
    from fluxion.core.classroom.check import check_project
    from fluxion.core.classroom.sheet import (
        check_class,
        class_projects,
        class_summary,
        summary_lines,
    )

    missing = [str(p) for p in args.projects if not p.exists()]
    if missing:
        raise CommandError(f"no such project: {', '.join(missing)}")
    single = len(args.projects) == 1 and class_projects(args.projects) == [
        args.projects[0].parent if args.projects[0].is_file() else args.projects[0]
    ]
    if single and args.out is None:
        try:
            report = check_project(args.projects[0])
        except ValueError as exc:  # ProjectError, TruthError, unreadable answers
            raise CommandError(str(exc)) from exc
        print(json.dumps(report.to_dict(), indent=1) if args.json else report.text())
        return 0
    reports, problems = check_class(args.projects)
    if not reports:
        raise CommandError(
            "no project could be checked" + (": " + "; ".join(problems) if problems else "")
        )
    table = class_summary(reports)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=1))
    else:
        for r in reports:
            print(r.text(), end="\n\n")
        print("\n".join(summary_lines(table)))
    for line in problems:
        print(f"not checked: {line}")
    if args.out is not None:
        try:
            write_class_summary(args.out, table)
        except OSError as exc:
            raise CommandError(f"cannot write the class summary into {args.out}: {exc}") from exc
        print(f"class summary: {args.out / SUMMARY_FILE}")
        from fluxion.app.class_sheet import write_class_sheet

        try:
            page = write_class_sheet(args.out, table, problems)
        except OSError as exc:
            raise CommandError(f"cannot write the class sheet into {args.out}: {exc}") from exc
        if page is None:
            print("class sheet: not drawn (Qt cannot run here); the table is written")
        else:
            print(f"class sheet: {page}")
    return 0
