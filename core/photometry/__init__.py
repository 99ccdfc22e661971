"""Photometry of a frame: apertures with a curve-of-growth radius, PSF fits, and a
crowdsource-style fitter of the whole scene for crowded fields.

The step is :class:`Photometry` configured by :class:`PhotometryParams`.
"""

from typing import TYPE_CHECKING

from ..runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from .flags import PhotometryFlag, describe_flags
    from .growth import CurveOfGrowth
    from .noise import NoiseModel
    from .params import CHANNEL_SETS, METHODS, PhotometryParams
    from .step import Photometry, PhotometryError, PhotometryResult

__all__ = [
    "CHANNEL_SETS",
    "METHODS",
    "CurveOfGrowth",
    "NoiseModel",
    "Photometry",
    "PhotometryError",
    "PhotometryFlag",
    "PhotometryParams",
    "PhotometryResult",
    "describe_flags",
]

# The steps import scipy, photutils and astropy.modeling: a process that needs
# only the parameter classes (the main process of `fluxion run`) does not pay
# for them. Each name's submodule is imported on first access.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".flags": ("PhotometryFlag", "describe_flags"),
        ".growth": ("CurveOfGrowth",),
        ".noise": ("NoiseModel",),
        ".params": ("CHANNEL_SETS", "METHODS", "PhotometryParams"),
        ".step": ("Photometry", "PhotometryError", "PhotometryResult"),
    },
)
