"""Every step's parameters of ``fluxion run``: the project's, with what the command line sets.

A project's ``project.json`` keeps each step's parameters, whether a
previous run wrote them or the window's step panels changed them. A run
starts from those (defaults for a step the project has none of) and replaces
only the fields its options set, so that a zero-point, photometry or
detection setting chosen in the window survives a later ``fluxion run``, and
a run given the same options as the last one finds every product current.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fluxion.core.chain.night import NightParams
    from fluxion.core.project.document import Project

__all__ = ["night_params"]


def night_params(
    args: argparse.Namespace, project: Project, solve_fields: dict[str, Any]
) -> NightParams:
    """The night's parameters: the project's, with the command line's options replaced.

    Parameters
    ----------
    args : argparse.Namespace
        ``fluxion run``'s options. Those left out (None, or a flag not given)
        keep the project's value: ``--aperture`` (radius, and with it the
        aperture correction), ``--channel`` (the channels measured),
        ``--band``, ``--no-cosmic-rays``.
    project : Project
        The project the run writes into (new or loaded).
    solve_fields : dict
        The astrometry's catalog fields from ``--catalog`` (and ``--offline``).

    Raises
    ------
    ProjectError
        When a stored value is not of its parameter's type.
    """
    from fluxion.core.astrometry import SolveParams
    from fluxion.core.calibration import CalibrationParams, MasterParams
    from fluxion.core.chain.night import NightParams
    from fluxion.core.detection.params import DetectionParams
    from fluxion.core.photometry import PhotometryParams
    from fluxion.core.zeropoint import ZeroPointParams

    calibration = project.step_params("calibration", CalibrationParams)
    if args.no_cosmic_rays:
        calibration = dataclasses.replace(calibration, find_cosmic_rays=False)
    astrometry = project.step_params("astrometry", SolveParams)
    # A named catalog leaves no earlier run's file behind it.
    fields = {"catalog_file": "", **solve_fields}
    astrometry = dataclasses.replace(astrometry, **fields)
    photometry = project.step_params("photometry", PhotometryParams)
    if args.aperture is not None:
        # 0: the best radius from the curve of growth, with its aperture correction.
        photometry = dataclasses.replace(
            photometry, aperture_radius=args.aperture, aperture_correction=args.aperture <= 0
        )
    if args.channel is not None:
        photometry = dataclasses.replace(
            photometry, channels="RGB+L" if args.channel == "L" else "RGB"
        )
    zeropoint = project.step_params("zeropoint", ZeroPointParams)
    if args.band is not None:
        zeropoint = dataclasses.replace(zeropoint, band=args.band)
    return NightParams(
        calibration=calibration,
        masters=project.step_params("masters", MasterParams),
        detection=project.step_params("detection", DetectionParams),
        astrometry=astrometry,
        photometry=photometry,
        zeropoint=zeropoint,
    )
