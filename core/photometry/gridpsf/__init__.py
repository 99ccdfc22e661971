"""A PSF that varies across the frame: built from the frame's stars, read from and written to
photutils' ``GriddedPSFModel`` FITS format, and evaluated at each star by the PSF and
crowded methods.

:class:`PSFField` is the one form every varying PSF takes (basis images and
their weights across the frame); :func:`choose_psf` decides, by held-out
residuals, whether a frame needs one; :func:`read_psf_grid` and
:func:`write_psf_grid` read and write grids.
"""

from typing import TYPE_CHECKING

from ...runtime.lazy import lazy_exports

if TYPE_CHECKING:
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

# The fields import scipy.interpolate and the ePSF: the aperture chain, which
# needs only :mod:`.moffat`'s stamps (its sampling error), does not pay for
# them. Each name's submodule is imported on first access.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".choose": ("PSFChoice", "choose_psf", "refit_field", "refit_shape"),
        ".field": ("PSFField", "as_field"),
        ".shape": ("PSFShape", "psf_shape"),
    },
)
