"""What calibrating a light does: :class:`CalibrationParams`.

Apart from :mod:`.apply` (the calibration itself, its masks and cosmic rays,
which import scipy and astroscrappy), so that a process that only passes the
parameters on (the main process of a run on worker processes, the window)
does not import the calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.params import param

__all__ = ["CalibrationParams"]


@dataclass(frozen=True)
class CalibrationParams:
    """What :class:`Calibration` does to each light."""

    subtract_overscan: bool = param(
        True, label="Overscan", help="Subtract the overscan and trim (BIASSEC/TRIMSEC)."
    )
    subtract_bias: bool = param(True, label="Bias", help="Subtract the master bias.")
    subtract_dark: bool = param(
        True, label="Dark", help="Subtract the master dark scaled to the light's exposure."
    )
    divide_flat: bool = param(True, label="Flat", help="Divide by the master flat.")
    find_cosmic_rays: bool = param(
        True, label="Cosmic rays", help="Mask cosmic-ray hits (L.A.Cosmic, astroscrappy)."
    )
    cosmic_sigma: float = param(
        4.5,
        label="Cosmic-ray threshold",
        help="L.A.Cosmic's sigclip: Laplacian significance of a hit; lower it to catch "
        "fainter hits, raise it when sky noise is flagged.",
        unit="sigma",
        minimum=2.0,
        maximum=50.0,
    )
    cosmic_neighbour_fraction: float = param(
        0.3,
        label="Cosmic-ray neighbours",
        help="L.A.Cosmic's sigfrac: a neighbour of a hit is flagged at this fraction of "
        "the threshold, so the fainter edges of a track are masked too.",
        minimum=0.05,
        maximum=1.0,
    )
    cosmic_object_limit: float = param(
        5.0,
        label="Cosmic-ray contrast",
        help="L.A.Cosmic's objlim: how much sharper than a star a hit must be; raise it "
        "when star cores are flagged.",
        minimum=1.0,
        maximum=50.0,
    )
    cosmic_iterations: int = param(
        1,
        label="Cosmic-ray passes",
        help="L.A.Cosmic's niter: each pass cleans the hits found and searches again, "
        "for hits next to hits. On simulated nights one pass finds the same 99.8% of "
        "the hits as two (the second adds 2% more faint edge pixels), at a quarter of "
        "the time: a second pass needs wider cut-outs around each hit.",
        minimum=1,
        maximum=8,
    )
    hot_sigma: float = param(
        8.0,
        label="Hot pixel threshold",
        help="Pixels whose dark exceeds the median by this many sigma of the dark (and by "
        "the sky-noise threshold below) are masked HOT.",
        unit="sigma",
        minimum=3.0,
        maximum=100.0,
    )
    hot_sky: float = param(
        5.0,
        label="Hot pixel sky threshold",
        help="A pixel is masked HOT in a light only when its excess dark, over the light's "
        "exposure, exceeds this many times the light's noise per pixel: where a 20% error in "
        "its dark (temperature, telegraph noise) would reach the noise. A real camera's "
        "warm pixels below it are dark-subtracted, not masked (an SBIG STL-1001E night: "
        "0.05% of pixels masked instead of 1.5% at 8 sigma of the dark). 0: the dark's "
        "sigma alone.",
        unit="x noise",
        minimum=0.0,
        maximum=1000.0,
    )
    cold_flat: float = param(
        0.5,
        label="Cold pixel threshold",
        help="Pixels responding less than this fraction of their surroundings in the "
        "flat are masked COLD.",
        minimum=0.0,
        maximum=1.0,
    )
    saturation: float = param(
        0.0,
        label="Saturation",
        help="Raw level at which a pixel is saturated; 0 takes the header's "
        "(SATURATE), else the largest value of 16-bit data.",
        unit="ADU",
        minimum=0.0,
        zero="from the header",
    )
