"""A project's field from its products to its analysed light curves, in one call.

What ``fluxion field`` and the window's Field panel both do: the project's
usable lights and reference stars, every star measured in every light
(:func:`~fluxion.core.chain.field.field_photometry`), the known variables
marked from VSX when asked (cached; offline the cache serves, and without it
the analysis goes on unmarked, saying so), then magnitude fitting, EPD/TFA and
the variability search (:func:`~fluxion.core.field.run.analyse_field`).

The window keeps what a run gives in the project (``field/``: the two tables
``fluxion field`` writes, :func:`keep_field`) and shows it again when the
project is reopened (:func:`kept_field`): finished work is not lost with the
window.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..field.data import FieldData
from ..field.noise import NoiseCurve
from ..field.run import (
    LIGHTCURVES_FILE,
    VARIABILITY_FILE,
    FieldResult,
    FieldStepParams,
    analyse_field,
    write_field_tables,
)
from ..field.star import frame_positions
from ..io.frames import FrameInfo
from ..runtime.pipeline import StepState
from .field import field_photometry, project_catalog, project_lights

__all__ = [
    "FIELD_FOLDER",
    "FieldTables",
    "ProjectField",
    "keep_field",
    "kept_field",
    "known_variables",
    "project_field",
]

#: The project's sub-folder where the window keeps the field's tables.
FIELD_FOLDER = "field"


@dataclass
class ProjectField:
    """A project's analysed field, the lights it came from and what was taken."""

    result: FieldResult
    lights: list[FrameInfo]
    notes: list[str] = field(default_factory=list)


def known_variables(data: FieldData, *, offline: bool = False) -> tuple[list[str] | None, str]:
    """Per star, the VSX variable there ('' for none), and a line saying what was found.

    None (with the reason) when VSX cannot be asked and nothing is cached, or
    when no star has a sky position.
    """
    from ..catalogs import CatalogError
    from ..variability.vsx import field_cone, mark_known, vsx_variables

    ra, dec = data.star_column("ra"), data.star_column("dec")
    try:
        centre_ra, centre_dec, radius = field_cone(ra, dec)
        vsx = vsx_variables(centre_ra, centre_dec, radius, offline=offline)
    except (CatalogError, ValueError) as exc:
        return None, f"known variables not marked: {exc}"
    names, _ = mark_known(ra, dec, vsx)
    return names, f"VSX: {len(vsx)} variables in the field, {sum(bool(n) for n in names)} measured"


def project_field(
    project,
    params: FieldStepParams | None = None,
    *,
    catalog: tuple[Table | None, str] | None = None,
    offline: bool = False,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> ProjectField:
    """Measure and analyse every star of a project's night.

    Parameters
    ----------
    project : Project
        Made by ``fluxion run`` or the window (calibrated, detected, ideally solved).
    params : FieldStepParams, optional
    catalog : (Table or None, str), optional
        Reference stars and what they are; default the project's own file.
    offline : bool
        VSX from the cache only.
    executor : Executor, optional
        Lights are measured in parallel on it.
    state : StepState, optional

    Raises
    ------
    ValueError
        Fewer than two usable lights, or no detections stored (the message says which).
    """
    p = params or FieldStepParams()
    state = state if state is not None else StepState()
    stars, how = catalog if catalog is not None else project_catalog(project)
    lights = project_lights(project, state=state.sub(0.0, 0.05))
    if len(lights) < 2:
        raise ValueError(f"{project.folder}: fewer than two usable lights in its inputs")
    data = field_photometry(project.folder, lights, p.forced(), catalog=stars,
                            executor=executor, state=state.sub(0.05, 0.8))  # fmt: skip
    notes = [f"stars: {how}"]
    known = None
    if p.vsx:
        known, note = known_variables(data, offline=offline)
        notes.append(note)
    result = analyse_field(data, p.field(), known=known, state=state.sub(0.8, 1.0))
    return ProjectField(result, lights, notes + list(result.notes))


@dataclass
class FieldTables:
    """An analysed field as its two tables (what is written, kept and shown).

    Attributes
    ----------
    lightcurves : Table
        One row per star and light (``field_lightcurves.ecsv``).
    variability : Table
        One row per star, most variable first (``variability.ecsv``).
    notes : list of str
        What was taken and what was left out.
    folder : Path or None
        Where the tables are kept.
    """

    lightcurves: Table
    variability: Table
    notes: list[str] = field(default_factory=list)
    folder: Path | None = None

    def __post_init__(self) -> None:
        # Each light's rows, found once (made where the tables are made, in a
        # worker): the marks on a shown light then need no search of the table.
        files = np.asarray(self.lightcurves["file"]).astype(str)
        names, inverse = np.unique(files, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(names) + 1))
        self._rows = {str(n): order[bounds[k] : bounds[k + 1]] for k, n in enumerate(names)}

    def positions(
        self, file: str, star_ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where stars ``star_ids`` were measured in the light ``file``: ids, x, y."""
        rows = self._rows.get(str(file))
        if rows is None:
            return np.zeros(0, int), np.zeros(0), np.zeros(0)
        return frame_positions(self.lightcurves[rows], file, star_ids)

    @property
    def noise(self) -> NoiseCurve:
        """The expected-noise curve the analysis used."""
        return NoiseCurve(**dict(self.variability.meta.get("noise_curve", {})))

    def summary(self) -> list[str]:
        """A few lines: stars, lights, the scatter before and after detrending, candidates."""
        var = self.variability
        n_frames = len(np.unique(np.asarray(self.lightcurves["frame"])))
        rms = np.asarray(var["rms"], float)
        lines = [f"{len(var)} stars in {n_frames} lights"]
        if "rms_fitted" in var.colnames:
            before = np.asarray(var["rms_fitted"], float)
            lines.append(f"median star rms after magnitude fitting {np.nanmedian(before):.4f} "
                         f"mag, after EPD/TFA {np.nanmedian(rms):.4f} mag")  # fmt: skip
        searched = var.meta.get("searched", len(var))
        lines.append(f"{int(np.sum(var['candidate']))} candidate(s) of {searched} stars searched")
        return lines + list(self.notes)


def keep_field(
    result: FieldResult, folder: str | os.PathLike[str], notes: list[str] | None = None
) -> FieldTables:
    """Write the field's two tables into ``folder`` (atomically) and return them."""
    lc, var = result.light_curves(), result.variability
    var.meta["field_notes"] = list(notes or [])
    write_field_tables(lc, var, folder)
    return FieldTables(lc, var, list(notes or []), Path(folder))


def kept_field(folder: str | os.PathLike[str]) -> FieldTables | None:
    """The tables kept in ``folder`` by :func:`keep_field` (or ``fluxion field``), or None.

    Raises
    ------
    ValueError
        When the tables are there but cannot be read (the message names the file).
    """
    folder = Path(folder)
    lc_path, var_path = folder / LIGHTCURVES_FILE, folder / VARIABILITY_FILE
    if not (lc_path.is_file() and var_path.is_file()):
        return None
    tables = []
    for path in (lc_path, var_path):
        try:
            tables.append(Table.read(path, format="ascii.ecsv"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot be read: {exc}") from exc
    lc, var = tables
    missing = [c for c in ("star_id", "frame", "file", "mag", "mag_err", "flags")
               if c not in lc.colnames]  # fmt: skip
    if missing or "candidate" not in var.colnames:
        raise ValueError(f"{folder}: the field's tables lack {', '.join(missing) or 'candidate'}")
    return FieldTables(lc, var, [str(n) for n in var.meta.get("field_notes", [])], folder)
