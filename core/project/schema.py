"""The shape ``project.json`` must have, checked whole when a project is opened.

A project file may have been edited by hand, damaged, or made to harm: a
string where a list belongs (``"inputs": "abc"`` would become three inputs),
``true`` where a number belongs (``schema_version: true`` is not 1), paths
that leave the project folder (``../../victim.txt`` as a light curve file the
window would write), nesting deep enough to exhaust the stack. :func:`check_document`
refuses such a document with a :class:`ProjectError` naming the field, before
any of it is used; :func:`inside` is the one test that a path a project names
for writing stays inside its folder.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

__all__ = ["MAX_DEPTH", "check_document", "inside", "relative_inside"]

#: Deepest nesting a project document may have (the real ones have 4 or 5 levels).
MAX_DEPTH = 32


class _Bad(ValueError):
    pass


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of ``value``, counted iteratively (no recursion to exhaust)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def _type(doc: dict, key: str, kind: type | tuple[type, ...], what: str) -> None:
    if key in doc and (isinstance(doc[key], bool) or not isinstance(doc[key], kind)):
        raise _Bad(f"'{key}' must be {what}, not {type(doc[key]).__name__}")


def relative_inside(text: Any, where: str) -> str:
    """``text`` when it is a relative path that stays inside the project folder."""
    if not isinstance(text, str) or not text:
        raise _Bad(f"{where} must be a file name, not {text!r}")
    if "\x00" in text:
        raise _Bad(f"{where} holds a NUL character")
    for pure in (PurePosixPath(text), PureWindowsPath(text)):
        if pure.is_absolute() or pure.anchor or ".." in pure.parts:
            raise _Bad(f"{where} = {text!r} leaves the project folder")
    return text


def inside(folder: str | os.PathLike[str], relative: str | os.PathLike[str]) -> Path:
    """``folder / relative``, or ValueError when that path is not inside ``folder``.

    Links are followed: a link in the project pointing out of it does not
    make a path outside look inside.
    """
    base = Path(os.path.realpath(folder))
    path = Path(os.path.realpath(base / relative))
    if path != base and base not in path.parents:
        raise ValueError(f"{relative} is not inside the project folder {folder}")
    return base / relative


def _input(p: Any, i: int) -> str:
    if not isinstance(p, str) or not p or "\x00" in p:
        raise _Bad(f"inputs[{i}] must be a path, not {p!r}")
    if not os.path.isabs(p):
        # Relative inputs are written only for files inside the project folder.
        relative_inside(p, f"inputs[{i}]")
    return p


def check_document(doc: Any) -> None:
    """Raise ValueError naming the first field of ``doc`` that is not as the schema says.

    Only the shape is checked (types, paths); values a step reads are checked
    by the step's parameters.
    """
    if not isinstance(doc, dict):
        raise _Bad("the file does not hold a JSON object")
    if _depth(doc, MAX_DEPTH) > MAX_DEPTH:
        raise _Bad(f"nested deeper than {MAX_DEPTH} levels")
    version = doc.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _Bad(f"not a Fluxion project file: it has no integer schema_version ({version!r})")
    for key in ("name", "created", "modified"):
        _type(doc, key, str, "text")
    for key in ("steps", "results", "display"):
        _type(doc, key, dict, "an object")
    if doc.get("site") is not None:
        # The numbers' ranges are ObservingSite's to check, when the project is read.
        _type(doc, "site", dict, "an object with longitude, latitude and height")
    aperture = doc.get("telescope_aperture_mm")
    if aperture is not None and (
        isinstance(aperture, bool) or not isinstance(aperture, int | float) or not aperture > 0
    ):
        raise _Bad(f"telescope_aperture_mm must be a diameter in mm (> 0), not {aperture!r}")
    for key in ("inputs", "targets"):
        _type(doc, key, list, "a list")
    for i, p in enumerate(doc.get("inputs", [])):
        _input(p, i)
    for step, params in doc.get("steps", {}).items():
        if not isinstance(params, dict):
            raise _Bad(f"steps.{step} must be an object of parameters")
    for i, t in enumerate(doc.get("targets", [])):
        if not isinstance(t, dict):
            raise _Bad(f"targets[{i}] must be an object")
        if t.get("light_curve") is not None:
            relative_inside(t["light_curve"], f"targets[{i}].light_curve")
    for step, r in doc.get("results", {}).items():
        if not isinstance(r, dict):
            raise _Bad(f"results.{step} must be an object")
        _type(r, "files", list, "a list")
        _type(r, "summary", dict, "an object")
        _type(r, "finished", str, "text")
        for j, f in enumerate(r.get("files", [])):
            if not isinstance(f, str):
                raise _Bad(f"results.{step}.files[{j}] must be a file name")
