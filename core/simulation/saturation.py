"""Which sources of a simulated light clip: the expected ADU of each one's peak pixel."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import camera as _camera
from .colour import FRACTION, ColourCamera
from .psf import pixel_fractions

if TYPE_CHECKING:
    from collections.abc import Callable

    from astropy.table import Table

    from .simulate import NightConfig

__all__ = ["NightSaturation"]


class NightSaturation:
    """The saturation flag of :class:`~fluxion.core.simulation.night.Night`'s truth tables."""

    config: NightConfig
    colour: ColourCamera | None
    camera: _camera.Camera

    sky_electrons: Callable[[int], np.ndarray]  # Night's noiseless sky of light i

    def _with_saturation(self, i: int, truth: Table, trail: list) -> Table:
        """Add ``saturated``: the expected ADU of the source's own peak pixel clips.

        Only the source's own light, the sky and the dark current count (not
        neighbours' wings), so that the flag is cheap and the same whether or
        not the frame is rendered.
        """
        c = self.config
        ny, nx = c.shape
        x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
        px = np.floor(x + 0.5).astype(int)
        py = np.floor(y + 0.5).astype(int)
        inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
        own = np.zeros(len(truth))
        # The peak pixel's share of the star's light: its own channel's on a colour night.
        peak_scale = np.ones(len(truth))
        if self.colour is not None:
            for k, mask in self.colour.masks(c.shape).items():
                on = np.zeros(len(truth), bool)
                on[inside] = mask[py[inside], px[inside]]
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.asarray(truth[f"flux_{k}"]) / FRACTION[k] / np.asarray(truth["flux"])
                peak_scale[on] = ratio[on]
        fwhm = np.asarray(truth["fwhm"], float)
        ell = np.asarray(truth["ellipticity"], float)
        theta = np.deg2rad(np.asarray(truth["theta"], float))
        trailed = (np.asarray(truth["kind"]) == "asteroid") & inside & bool(trail)
        point = inside & ~trailed
        # All point sources' peak pixels in one call: a crowded field has thousands.
        frac = pixel_fractions(
            px[point] - x[point],
            py[point] - y[point],
            fwhm[point],
            c.psf,
            c.moffat_beta,
            ellipticity=ell[point],
            theta=theta[point],
        )
        own[point] = np.asarray(truth["flux"], float)[point] * frac * peak_scale[point]
        for j in np.flatnonzero(trailed):
            sx, sy, f = trail[0]
            parts = pixel_fractions(
                px[j] - np.asarray(sx), py[j] - np.asarray(sy), fwhm[j], c.psf, c.moffat_beta,
                ellipticity=ell[j], theta=theta[j],
            )  # fmt: skip
            own[j] = f * float(np.sum(parts)) * peak_scale[j]
        pyi, pxi = py[inside], px[inside]
        sky = self.sky_electrons(i)[pyi, pxi]
        raw = self.camera.flat[pyi, pxi] * (sky + own[inside])
        raw += self.camera.dark_current[pyi, pxi] * c.exptime
        peak = self.camera.bias_level[pyi, pxi] + raw / c.gain
        saturated = np.zeros(len(truth), bool)
        saturated[inside] = peak >= min(c.saturation, _camera.ADC_MAX)
        truth["saturated"] = saturated
        return truth
