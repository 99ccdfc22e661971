"""A student's answers: the numbers a lesson asks for, kept beside the project.

The answers live in ``classroom.json`` in the project folder (the project
file keeps the data's steps; the answers are the student's reading of them):
``{"answers": {"transit_mid_bjd": {"value": 2460564.489, "error": 0.0008}, ...}}``.
The Lesson panel writes them; ``fluxion check`` reads them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..io.fitsio import atomic_write_text

__all__ = ["ANSWERS", "ANSWERS_FILE", "Answer", "AnswerSpec", "read_answers", "write_answers"]

ANSWERS_FILE = "classroom.json"


@dataclass(frozen=True)
class AnswerSpec:
    """One number a lesson can ask for."""

    name: str
    label: str
    unit: str
    help: str


#: Every answer a lesson can ask for, by name.
ANSWERS: dict[str, AnswerSpec] = {
    s.name: s
    for s in (
        AnswerSpec(
            "asteroid_period_h",
            "Asteroid rotation period",
            "h",
            "From the asteroid's light curve: the time of one full rotation "
            "(two maxima and two minima).",
        ),
        AnswerSpec(
            "asteroid_amplitude_mag",
            "Asteroid light-curve amplitude",
            "mag",
            "Peak to peak, brightest to faintest, of the rotation.",
        ),
        AnswerSpec(
            "transit_mid_bjd",
            "Transit mid-time",
            "BJD_TDB",
            "The middle of the transit: halfway between first and last contact.",
        ),
        AnswerSpec(
            "transit_depth",
            "Transit depth",
            "fraction",
            "The fraction of the star's light the planet hides (0.01 is 1 %).",
        ),
        AnswerSpec(
            "eclipse_min_bjd",
            "Primary eclipse minimum",
            "BJD_TDB",
            "The time of the deeper eclipse's minimum light.",
        ),
        AnswerSpec(
            "eclipsing_period_d",
            "Eclipsing binary period",
            "d",
            "Twice the time from the secondary to the primary eclipse.",
        ),
        AnswerSpec(
            "variable_ra",
            "Variable star RA",
            "deg",
            "Which star is the variable: its right ascension.",
        ),
        AnswerSpec(
            "variable_dec",
            "Variable star Dec",
            "deg",
            "Which star is the variable: its declination.",
        ),
        AnswerSpec(
            "supernova_ra",
            "Supernova RA",
            "deg",
            "Where the new star is: its right ascension.",
        ),
        AnswerSpec(
            "supernova_dec",
            "Supernova Dec",
            "deg",
            "Where the new star is: its declination.",
        ),
        AnswerSpec(
            "supernova_mag",
            "Supernova V",
            "mag",
            "How bright the supernova is, on the catalogue's scale, without its galaxy's light.",
        ),
    )  # fmt: skip
}


@dataclass(frozen=True)
class Answer:
    """A value and the student's own error on it (None when not given)."""

    value: float
    error: float | None = None


def _path(project_folder: str | os.PathLike[str]) -> Path:
    return Path(project_folder) / ANSWERS_FILE


def read_answers(project_folder: str | os.PathLike[str]) -> dict[str, Answer]:
    """The answers kept in a project folder (empty when none).

    Raises
    ------
    ValueError
        When ``classroom.json`` exists but cannot be read, naming the file.
    """
    path = _path(project_folder)
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        out = {}
        for name, raw in dict(doc.get("answers", {})).items():
            if isinstance(raw, dict):
                err = raw.get("error")
                out[name] = Answer(float(raw["value"]), None if err is None else float(err))
            else:
                out[name] = Answer(float(raw))
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot read the answers in {path}: {exc}") from exc


def write_answers(project_folder: str | os.PathLike[str], answers: dict[str, Answer]) -> Path:
    """Keep ``answers`` in the project folder (atomically); unknown names are refused."""
    unknown = sorted(set(answers) - set(ANSWERS))
    if unknown:
        raise ValueError(f"unknown answer(s) {', '.join(unknown)}; known: {', '.join(ANSWERS)}")
    path = _path(project_folder)
    doc = {"answers": {k: {"value": a.value, "error": a.error} for k, a in answers.items()}}
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return path
