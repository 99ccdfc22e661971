"""Lessons: steps through a night, kept as data (``resources/lessons/*.json``).

A lesson file holds a title, the night kinds it fits, an introduction and the
steps. Each step has a ``title``, plain-language ``text`` (the science of the
step), ``look_for`` (what the student should see), the window's ``panel`` to
open for it, and ``done``: when the step counts as done, read from the
project's own state, never ticked by hand:

* ``frames``: the project has inputs (the night is open);
* ``step:NAME``: the project recorded a result for the step ``NAME``
  (``calibration``, ``detection``, ``astrometry``, ``photometry``, ``zeropoint``,
  ``lightcurve``, ``transit`` ...);
* ``clicks:N``: a moving target has at least N clicks;
* ``light_curve``: a target's light curve is kept in the project;
* ``answers``: every answer the step asks for (its ``answers`` list) is given.

Translating or adding a lesson is adding a file; no code changes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..project.document import Project
from .answers import ANSWERS, Answer

__all__ = [
    "LESSONS_FOLDER",
    "Lesson",
    "LessonStep",
    "available_lessons",
    "load_lesson",
    "lesson_for_kind",
    "progress",
    "step_done",
]

#: The lessons that come with Fluxion (the package data of ``fluxion.resources``).
LESSONS_FOLDER = Path(str(resources.files("fluxion.resources").joinpath("lessons")))
_CONDITIONS = ("frames", "step:", "clicks:", "light_curve", "answers")


@dataclass(frozen=True)
class LessonStep:
    """One step of a lesson (see the module docstring for the fields)."""

    title: str
    text: str
    look_for: str = ""
    panel: str = ""
    done: str = ""
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lesson:
    """A lesson: its file's name, title, the night kinds it fits and its steps."""

    name: str
    title: str
    kinds: tuple[str, ...]
    intro: str
    steps: tuple[LessonStep, ...] = field(default_factory=tuple)

    @property
    def answers(self) -> tuple[str, ...]:
        """Every answer the lesson asks for, in order."""
        return tuple(a for s in self.steps for a in s.answers)


def load_lesson(path: str | os.PathLike[str]) -> Lesson:
    """Read one lesson file.

    Raises
    ------
    ValueError
        Naming the file and what is wrong in it.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        steps = []
        for k, s in enumerate(doc["steps"]):
            done = str(s.get("done", ""))
            if done and not done.startswith(_CONDITIONS):
                raise ValueError(f"step {k + 1}: unknown 'done' condition {done!r}")
            answers = tuple(str(a) for a in s.get("answers", []))
            unknown = [a for a in answers if a not in ANSWERS]
            if unknown:
                raise ValueError(f"step {k + 1}: unknown answer(s) {', '.join(unknown)}")
            steps.append(
                LessonStep(
                    title=str(s["title"]),
                    text=str(s["text"]),
                    look_for=str(s.get("look_for", "")),
                    panel=str(s.get("panel", "")),
                    done=done,
                    answers=answers,
                )
            )
        return Lesson(
            name=path.stem,
            title=str(doc["title"]),
            kinds=tuple(str(k) for k in doc.get("kinds", [])),
            intro=str(doc.get("intro", "")),
            steps=tuple(steps),
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"cannot read the lesson {path}: {exc}") from exc


def available_lessons(folder: str | os.PathLike[str] = LESSONS_FOLDER) -> list[Lesson]:
    """Every readable lesson in ``folder``, by file name (unreadable ones are skipped)."""
    out = []
    for p in sorted(Path(folder).glob("*.json")):
        try:
            out.append(load_lesson(p))
        except ValueError:
            continue
    return out


def lesson_for_kind(kind: str, lessons: list[Lesson]) -> Lesson | None:
    """The first lesson that fits a night of ``kind``."""
    return next((lesson for lesson in lessons if kind in lesson.kinds), None)


def step_done(step: LessonStep, project: Project, answers: dict[str, Answer]) -> bool:
    """Whether the project's state shows ``step`` as done."""
    cond = step.done
    if not cond:
        return False
    if cond == "frames":
        return bool(project.inputs)
    if cond.startswith("step:"):
        return cond[5:] in project.results
    if cond.startswith("clicks:"):
        need = int(cond[7:])
        return any(
            t.get("kind") == "moving" and len(t.get("clicks", [])) >= need for t in project.targets
        )
    if cond == "light_curve":
        return any(t.get("light_curve") for t in project.targets)
    if cond == "answers":
        return bool(step.answers) and all(a in answers for a in step.answers)
    return False


def progress(lesson: Lesson, project: Project, answers: dict[str, Answer]) -> list[bool]:
    """The done mark of each step of ``lesson`` for this project."""
    return [step_done(s, project, answers) for s in lesson.steps]
