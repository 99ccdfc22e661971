"""Calibration: master bias, dark and flat; calibrated lights and their masks.

Typical use::

    bias = make_master_bias([RawFrame.from_info(f) for f in groups.bias])
    dark = make_master_dark(dark_frames, bias)
    flat = make_master_flat(flat_frames, bias, dark)
    flat = make_sky_flat(twilight_lights, bias, dark)  # no flats: illumination only
    step = Calibration(CalibrationParams(), CalibrationMasters(bias, (dark,), (flat,)))
    calibrated = step(RawFrame.from_info(light))    # .data, .mask, .header, .applied
"""

from typing import TYPE_CHECKING

from ..runtime.lazy import lazy_exports

# Eager: ``combine`` is both this function and its submodule's name; importing
# the submodule later (as the masters do) would otherwise leave the package's
# ``combine`` bound to the module. combine.py itself is light.
from .combine import COMBINE_METHODS, combine

if TYPE_CHECKING:
    from .apply import (
        CalibratedFrame,
        Calibration,
        CalibrationMasters,
        calibrated_saturation,
    )
    from .cards import RAW_SATURATION_CARD
    from .masks import MaskBits, bad_pixels_from_masters, cosmic_rays, saturation_mask
    from .masters import (
        CalibrationError,
        MasterFrame,
        MasterParams,
        make_master_bias,
        make_master_dark,
        make_master_flat,
    )
    from .overscan import Overscan, OverscanError, overscan_from_header, parse_section
    from .params import CalibrationParams
    from .raw import RawFrame
    from .run import FrameOutcome, build_masters, calibrate_lights, write_master
    from .skyflat import SkyFlatParams, make_sky_flat

__all__ = [
    "COMBINE_METHODS",
    "CalibratedFrame",
    "Calibration",
    "CalibrationError",
    "CalibrationMasters",
    "CalibrationParams",
    "FrameOutcome",
    "MaskBits",
    "MasterFrame",
    "MasterParams",
    "Overscan",
    "OverscanError",
    "RAW_SATURATION_CARD",
    "RawFrame",
    "SkyFlatParams",
    "bad_pixels_from_masters",
    "build_masters",
    "calibrate_lights",
    "calibrated_saturation",
    "combine",
    "cosmic_rays",
    "make_master_bias",
    "make_master_dark",
    "make_master_flat",
    "make_sky_flat",
    "overscan_from_header",
    "parse_section",
    "saturation_mask",
    "write_master",
]

# Cosmic rays, sky flats and overscans import scipy and astroscrappy: a process
# that needs only the parameters (.params) or the masters does not pay for them. Each
# name's submodule is imported on first access.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".apply": (
            "CalibratedFrame",
            "Calibration",
            "CalibrationMasters",
            "calibrated_saturation",
        ),
        ".cards": ("RAW_SATURATION_CARD",),
        ".masks": ("MaskBits", "bad_pixels_from_masters", "cosmic_rays", "saturation_mask"),
        ".masters": (
            "CalibrationError",
            "MasterFrame",
            "MasterParams",
            "make_master_bias",
            "make_master_dark",
            "make_master_flat",
        ),
        ".params": ("CalibrationParams",),
        ".overscan": ("Overscan", "OverscanError", "overscan_from_header", "parse_section"),
        ".raw": ("RawFrame",),
        ".run": ("FrameOutcome", "build_masters", "calibrate_lights", "write_master"),
        ".skyflat": ("SkyFlatParams", "make_sky_flat"),
    },
)
