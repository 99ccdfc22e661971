"""The truth behind a student's project: the simulated night it was made from.

A night written by ``fluxion demo`` keeps its truth in ``truth/`` beside the
frames (``night.json``, ``lesson.json``, one table per light). The night is
rebuilt from the configuration in ``night.json`` (a fraction of a second: the
frames are not drawn), which gives every variable's brightness at any time,
the flat field and the asteroid's path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime.params import params_from_dict
from ..simulation.lessons import LESSON_FILE, lesson_truth
from ..simulation.night import Night
from ..simulation.simulate import NightConfig, make_night
from ..simulation.writer import NIGHT_FILE, TRUTH_FOLDER

__all__ = ["NightTruth", "TruthError", "find_truth_folder", "load_truth"]


class TruthError(ValueError):
    """The project's night has no usable truth; the message says why."""


def find_truth_folder(paths: list[Path]) -> Path | None:
    """The simulated night's folder above (or at) any of ``paths``, or None."""
    seen: set[Path] = set()
    for p in paths:
        p = Path(p)
        # A night's lights share their folders: each folder is looked at once.
        for folder in [p, *p.parents] if p.is_dir() else list(p.parents):
            if folder in seen:
                break
            seen.add(folder)
            if (folder / TRUTH_FOLDER / NIGHT_FILE).is_file():
                return folder
    return None


@dataclass
class NightTruth:
    """A simulated night's truth as the check needs it.

    Attributes
    ----------
    folder : Path
        The night's folder (frames and ``truth/``).
    night : Night
        The night rebuilt from its configuration.
    record : dict
        ``truth/night.json``.
    lesson : dict
        ``truth/lesson.json`` (made from the night when the file is absent).
    files : list of str
        Each light's file name, in light order.
    """

    folder: Path
    night: Night
    record: dict[str, Any]
    lesson: dict[str, Any]
    files: list[str]

    @property
    def config(self) -> NightConfig:
        """The night's configuration."""
        return self.night.config

    def light_index(self, file: str | os.PathLike[str]) -> int | None:
        """The light number of a file name (or path), None when it is not a light."""
        name = Path(file).name
        try:
            return self.files.index(name)
        except ValueError:
            return None

    def target(self, kind: str) -> dict[str, Any] | None:
        """The lesson's facts about the source of ``kind``, if the night has it."""
        return next((t for t in self.lesson.get("targets", []) if t["kind"] == kind), None)

    def require_target(self, kind: str) -> dict[str, Any]:
        """:meth:`target`, for a night that must have the source of ``kind``."""
        t = self.target(kind)
        if t is None:
            raise ValueError(f"{self.folder}: the lesson has no {kind}")
        return t

    def asteroid_xy(self, i: int) -> tuple[float, float] | None:
        """The asteroid's true pixel position in light ``i`` (mid-exposure)."""
        rec = self.record["frames"][i].get("asteroid")
        return None if rec is None else (float(rec["x"]), float(rec["y"]))

    def true_magnitudes(self, kind: str, jd: np.ndarray) -> np.ndarray:
        """True V of the source of ``kind`` at ``jd`` (UTC), above the atmosphere."""
        c = self.config
        rel = self.night.variable_relative_flux(np.asarray(jd, float))
        if kind == "asteroid":
            return c.asteroid_mag - 2.5 * np.log10(rel["asteroid"])
        base = {"transit": c.transit_mag, "eclipsing": c.eclipsing_mag}[kind]
        return base - 2.5 * np.log10(rel[kind])

    def variable_sources(self) -> dict[str, tuple[float, float]]:
        """(ra, dec) in degrees of each variable star of the field, by kind."""
        cat = self.night.catalog
        out = {}
        for kind, star_id in (("transit", self.night.transit_id),
                              ("eclipsing", self.night.eclipsing_id)):  # fmt: skip
            row = cat[np.asarray(cat["id"]) == star_id][0]
            out[kind] = (float(row["ra"]), float(row["dec"]))
        return out

    def bjd_tdb(self, jd_utc: float, kind: str) -> float:
        """``jd_utc`` as BJD_TDB for the star of ``kind``, as light curves time it."""
        from astropy.coordinates import SkyCoord
        from astropy.time import Time

        from ..lightcurve.differential import light_curve_times

        ra, dec = self.variable_sources()[kind]
        t = light_curve_times(
            Time([jd_utc], format="jd", scale="utc"),
            SkyCoord(ra, dec, unit="deg"),
            self.night.location,
        )
        return float(t["bjd_tdb"][0])

    def zero_point(self, i: int) -> float:
        """The true zero point of light ``i`` (V of 1 e-/s at the telescope)."""
        c = self.config
        n = self.night
        return float(c.zero_point - c.extinction * n.airmass[i] - n.cloud_loss[i])


def load_truth(folder: str | os.PathLike[str]) -> NightTruth:
    """Read the truth of the simulated night written into ``folder``.

    Raises
    ------
    TruthError
        When ``folder`` holds no simulated night or its truth cannot be read.
    """
    folder = Path(folder)
    path = folder / TRUTH_FOLDER / NIGHT_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        config = params_from_dict(NightConfig, record["config"])
    except FileNotFoundError:
        raise TruthError(
            f"{folder} is not a simulated night (no {TRUTH_FOLDER}/{NIGHT_FILE}); "
            "only nights made by 'fluxion demo' can be checked"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TruthError(f"cannot read the night's truth {path}: {exc}") from exc
    night = make_night(config)
    lesson_path = folder / TRUTH_FOLDER / LESSON_FILE
    if lesson_path.is_file():
        try:
            lesson = json.loads(lesson_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TruthError(f"cannot read {lesson_path}: {exc}") from exc
    else:
        # A night from before lessons: the demo's, with all its targets.
        lesson = lesson_truth(night, "mixed", "normal")
    files = [Path(f["file"]).name for f in record.get("frames", [])]
    return NightTruth(folder, night, record, lesson, files)
