"""Photometry of a frame: apertures with a curve-of-growth radius, PSF fits, and a
crowdsource-style fitter of the whole scene for crowded fields.

The step is :class:`Photometry` configured by :class:`PhotometryParams`.
"""

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
