"""A PSF that varies across the frame: built from the frame's stars, read from and written to
photutils' ``GriddedPSFModel`` FITS format, and evaluated at each star by the PSF and
crowded methods.

:class:`PSFField` is the one form every varying PSF takes (basis images and
their weights across the frame); :func:`choose_psf` decides, by held-out
residuals, whether a frame needs one; :func:`read_psf_grid` and
:func:`write_psf_grid` read and write grids.
"""

from .choose import PSFChoice, choose_psf, refit_field, refit_shape
from .field import PSFField, as_field
from .shape import PSFShape, psf_shape

__all__ = [
    "PSFChoice",
    "PSFField",
    "PSFShape",
    "as_field",
    "choose_psf",
    "psf_shape",
    "refit_field",
    "refit_shape",
]
