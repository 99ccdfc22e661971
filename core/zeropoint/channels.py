"""Zero points of a colour frame: one calibration per colour channel.

A colour (Bayer) camera's photometry table has one row per star and channel
(:mod:`fluxion.core.photometry.channels`). Each channel is calibrated on its
own, against the catalog band it approximates, with its own zero point and
colour term: the green channel against V, blue against B and red against
Cousins R (the AAVSO's TG, TB and TR), the luminance against the clear
band. The bands come from the catalog as for any frame: Gaia DR3 synthetic
photometry has Johnson-Cousins B, V, R; APASS and Pan-STARRS bands are
transformed (:mod:`.bands`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from astropy.table import Table, vstack

from ..runtime.pipeline import StepState
from .bands import _load
from .step import ZeroPoint, ZeroPointResult

__all__ = ["ChannelCalibration", "aavso_channel_code", "calibrate_channels", "channel_band"]


def _channels_data() -> dict:
    return _load("photometric_bands.json")["colour_channels"]


def channel_band(channel: str, clear_band: str = "R") -> str:
    """The catalog band a colour channel is calibrated to (``'G'`` -> ``'V'``)."""
    data = _channels_data()
    if channel not in data or channel == "about":
        raise ValueError(f"unknown colour channel {channel!r}")
    band = data[channel][0]
    return clear_band if band == "clear" else band


def aavso_channel_code(channel: str, clear_band: str = "R") -> str:
    """The AAVSO filter code of a colour channel (TG, TB, TR; CV or CR for the luminance)."""
    data = _channels_data()
    if channel not in data or channel == "about":
        raise ValueError(f"unknown colour channel {channel!r}")
    if data[channel][0] == "clear":
        return "CV" if clear_band == "V" else "CR"
    return data[channel][1]


@dataclass(frozen=True)
class ChannelCalibration:
    """The calibrations of a colour frame's channels.

    Attributes
    ----------
    results : dict
        Channel name to its :class:`~.step.ZeroPointResult`, in the table's order.
    sources : Table
        Every row of the photometry with ``mag``, ``mag_err`` (the rows of each
        channel calibrated by that channel's fit).
    """

    results: dict[str, ZeroPointResult]
    sources: Table

    @property
    def primary(self) -> str:
        """The channel a light curve follows by default: green, else the first."""
        return "G" if "G" in self.results else next(iter(self.results))


def calibrate_channels(
    step: ZeroPoint,
    sources: Table,
    catalog: Table | None,
    *,
    state: StepState | None = None,
    **kw,
) -> ChannelCalibration:
    """Calibrate each channel of a colour frame's photometry (``channel`` column).

    Parameters
    ----------
    step : ZeroPoint
        The configured step; a band chosen by hand (not ``'auto'``) is kept
        for every channel, otherwise each channel gets its own (see
        :func:`channel_band`).
    sources : Table
        Photometry with a ``channel`` column.
    catalog : Table or None
        Reference stars.
    **kw
        As for :meth:`ZeroPoint.__call__` (``filter`` is replaced by the channel's).
    """
    if "channel" not in sources.colnames:
        raise ValueError("the photometry has no channel column: not a colour frame")
    kw.pop("filter", None)
    names = list(dict.fromkeys(str(c) for c in sources["channel"]))
    p = step.params
    results: dict[str, ZeroPointResult] = {}
    tables = []
    for k, name in enumerate(names):
        rows = sources[np.asarray(sources["channel"]) == name]
        rows.meta = dict(sources.meta)
        params = p
        if p.band == "auto":
            params = dataclasses.replace(p, band=channel_band(name, p.clear_band))
        sub = None if state is None else state.sub(k / len(names), (k + 1) / len(names))
        result = ZeroPoint(params)(rows, catalog, filter=None, state=sub, **kw)
        note = f"channel {name} ({aavso_channel_code(name, p.clear_band)})"
        result = dataclasses.replace(result, notes=(note, *result.notes))
        results[name] = result
        tables.append(result.sources)
    merged = vstack(tables, metadata_conflicts="silent")
    merged.meta = dict(sources.meta)
    return ChannelCalibration(results, merged)
