"""A project's field from its products to its analysed light curves, in one call.

What ``fluxion field`` and the window's Field panel both do: the project's
usable lights and reference stars, every star measured in every light
(:func:`~fluxion.core.chain.field.field_photometry`), the known variables
marked from VSX when asked (cached; offline the cache serves, and without it
the analysis goes on unmarked, saying so), then magnitude fitting, EPD/TFA and
the variability search (:func:`~fluxion.core.field.run.analyse_field`).
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field

from astropy.table import Table

from ..field.data import FieldData
from ..field.run import FieldResult, FieldStepParams, analyse_field
from ..io.frames import FrameInfo
from ..runtime.pipeline import StepState
from .field import field_photometry, project_catalog, project_lights

__all__ = ["ProjectField", "known_variables", "project_field"]


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
