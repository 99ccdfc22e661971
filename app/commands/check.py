"""``fluxion check PROJECT [--json]``: a project made from a simulated night against its truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import CommandError

NAME = "check"
HELP = (
    "check a project made from a simulated night ('fluxion demo') against the night's truth: "
    "the asteroid's track, light curves, zero points and the lesson's answers (classroom.json), "
    "each with the error the data allow and what most likely went wrong"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", type=Path, help="the project folder (or its project.json)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON: one entry per quantity with name, measured, true, error, "
        "expected_error, verdict and explanation",
    )


def run(args: argparse.Namespace) -> int:
    from fluxion.core.classroom.check import check_project

    if not args.project.exists():
        raise CommandError(f"no such project: {args.project}")
    try:
        report = check_project(args.project)
    except ValueError as exc:  # ProjectError, TruthError, unreadable answers
        raise CommandError(str(exc)) from exc
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.text())
    return 0
