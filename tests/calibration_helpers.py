"""Raw frames and masters of a simulated night, as the calibration tests take them.

``raw_frame`` wraps one of the simulator's frames with the camera facts a
scan would read (exposure, filter, gain, read noise, saturation and, on a
one-shot-colour night, the Bayer pattern of its header); ``night_masters``
makes the master bias, dark and flat from all the night's calibration frames.
"""

from __future__ import annotations

from fluxion.core.calibration import (
    CalibrationMasters,
    MasterParams,
    RawFrame,
    make_master_bias,
    make_master_dark,
    make_master_flat,
)
from fluxion.core.io.cfa import read_cfa


def raw_frame(night, data, header, name: str = "frame") -> RawFrame:
    """One frame of ``night`` (its pixels and header) with the night's camera facts."""
    return RawFrame.from_array(
        data,
        header,
        name=name,
        exptime=header.get("EXPTIME"),
        filter=header.get("FILTER"),
        gain=night.gain,
        read_noise=night.read_noise,
        saturation=night.config.saturation,
        cfa=read_cfa(header).pattern if night.config.bayer_pattern else None,
    )


def night_masters(night) -> CalibrationMasters:
    """Master bias, dark and flat (sigma-clipped mean) of all the night's calibration frames."""
    c = night.config
    bias = make_master_bias([raw_frame(night, *night.bias(j)) for j in range(c.n_bias)])
    dark = make_master_dark([raw_frame(night, *night.dark(j)) for j in range(c.n_dark)], bias)
    flats = [raw_frame(night, *night.flat(j)) for j in range(c.n_flat)]
    flat = make_master_flat(flats, bias, dark, MasterParams(method="sigma-clipped mean"))
    return CalibrationMasters(bias, (dark,), (flat,))
