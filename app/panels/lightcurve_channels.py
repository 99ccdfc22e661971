"""The Light curve panel's photometry of a colour camera's lights on each Bayer channel (Qt-free).

``fluxion run`` measures a colour (one-shot-colour) light on each channel's
own pixels (:func:`fluxion.core.photometry.channels.measure_channels`: the
red, the two green and the blue grids of the mosaic, each with its own sky,
no pixel made up from its neighbours) and follows one channel, green by
default. The panel measures its apertures the same way when the user picks
channels: :class:`ChannelPhotometry` stands in for
:func:`~fluxion.core.lightcurve.run.measure_frames` in
:func:`.lightcurve_model.run_light_curve`, measuring the target and the
comparison candidates in every light at the form's aperture and sky annulus
through the photometry step's colour path, once for all channels. The curve
shown (``mag``) is the first channel picked (green when picked); every
channel's curve against the same comparison stars is in the table as
``mag_<channel>``, ``mag_err_<channel>``, as the run's colour curves name them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

import numpy as np
from astropy.table import Table

from fluxion.core.lightcurve.run import LightCurveParams, Measurement, assemble_light_curve
from fluxion.core.photometry.flags import PhotometryFlag
from fluxion.core.photometry.params import PhotometryParams
from fluxion.core.photometry.scintillation import add_scintillation
from fluxion.core.photometry.step import Photometry
from fluxion.core.runtime.pipeline import StepState
from fluxion.core.targets.inputs import TargetFrames
from fluxion.core.zeropoint.channels import aavso_channel_code

from .lightcurve_model import LightCurveRun

__all__ = ["CHANNEL_CHOICES", "ChannelPhotometry", "with_channel_curves"]

#: The panel's choices: what the user reads, and the channels measured (none: the mosaic).
CHANNEL_CHOICES: dict[str, tuple[str, ...]] = {
    "All pixels together (the mosaic)": (),
    "Green (both green pixels, as fluxion run)": ("G",),
    "Red": ("R",),
    "Blue": ("B",),
    "Red, green and blue (a curve each)": ("G", "R", "B"),
}


def _photometry_params(params: LightCurveParams) -> tuple[PhotometryParams, float]:
    """The photometry step's settings for the form's aperture and annulus (px), and the
    nominal FWHM (px) that expresses the annulus in FWHM units.

    The step counts its sky annulus in FWHM and widens one narrower than a FWHM:
    a nominal FWHM no larger than the annulus' inner radius and its width keeps the
    form's radii as they are. The aperture is the form's, not the curve of growth's,
    and no aperture correction: it is the same for every star of a light and cancels
    in a differential curve.
    """
    fwhm = max(min(params.annulus_inner, params.annulus_outer - params.annulus_inner), 0.5)
    step = PhotometryParams(
        method="aperture", channels="RGB", aperture_radius=params.aperture_radius,
        annulus_inner=params.annulus_inner / fwhm, annulus_outer=params.annulus_outer / fwhm,
        aperture_correction=False,
    )  # fmt: skip
    return step, fwhm


class ChannelPhotometry:
    """Forced aperture photometry of every light on the channels asked for.

    Called as :func:`~fluxion.core.lightcurve.run.measure_frames` is; gives the
    first channel's :class:`~fluxion.core.lightcurve.run.Measurement` and keeps
    every channel's in :attr:`by_channel`. Neighbours' light is not subtracted
    (a moving target's contamination is the mosaic path's alone), and no seeing
    is measured (the curve has no ``fwhm`` column).

    Parameters
    ----------
    pattern : str
        The lights' Bayer pattern ('RGGB', ...).
    channels : sequence of str
        Among 'R', 'G' (both greens), 'B'; the first is the curve shown.
    """

    def __init__(self, pattern: str, channels: Sequence[str]) -> None:
        if not channels:
            raise ValueError("no colour channel to measure")
        self.pattern = pattern
        self.channels = tuple(channels)
        self.by_channel: dict[str, Measurement] = {}
        self.annulus: tuple[float, float] | None = None
        self._lock = threading.Lock()

    def __call__(
        self,
        load_image: Callable[[int], np.ndarray],
        target_xy: np.ndarray,
        star_xy: np.ndarray,
        params: LightCurveParams | None = None,
        *,
        noise=None,
        neighbours_xy=None,
        state: StepState | None = None,
        executor: Executor | None = None,
        scintillation: np.ndarray | None = None,
    ) -> Measurement:
        params = params or LightCurveParams()
        step_params, fwhm = _photometry_params(params)
        read_noise = float(getattr(noise, "read_noise", 0.0) or 0.0)
        target_xy = np.asarray(target_xy, float).reshape(-1, 2)
        star_xy = np.asarray(star_xy, float)
        n = len(target_xy)
        scint = np.zeros(n) if scintillation is None else np.asarray(scintillation, float)

        def one(i: int) -> dict[str, Table]:
            stars, here = star_xy[i], target_xy[i]
            # Unknown places are measured at the corner and forgotten below.
            known = np.all(np.isfinite(stars), axis=1)
            placed = bool(np.all(np.isfinite(here)))
            # The loader gives electrons: a gain of one.
            result = Photometry(step_params).run(
                load_image(i), np.where(known[:, None], stars, 0.0), gain=1.0,
                read_noise=read_noise, target=tuple(here) if placed else (0.0, 0.0),
                fwhm=fwhm, cfa=self.pattern,
            )  # fmt: skip
            with self._lock:
                self.annulus = result.annulus
            table = result.table
            out = {}
            for c in self.channels:
                rows = table[np.asarray(table["channel"]) == c]
                flux = np.asarray(rows["flux"], float).copy()
                err = np.asarray(rows["flux_err"], float).copy()
                flags = np.asarray(rows["flags"], np.int32).copy()
                if scint[i] > 0:
                    err = np.asarray(add_scintillation(flux, err, scint[i]), float)
                flux[:-1][~known] = err[:-1][~known] = np.nan
                if not placed:
                    flux[-1] = err[-1] = np.nan
                    flags[-1] |= PhotometryFlag.FIT_FAILED
                out[c] = Table({"flux": flux, "flux_err": err, "flags": flags})
            return out

        tick = state.counter(n, "photometry in " + ", ".join(self.channels)) if state else None
        results = []
        if executor is None:
            for i in range(n):
                results.append(one(i))
                if tick:
                    tick()
        else:
            futures = [executor.submit(one, i) for i in range(n)]
            for fut in futures:
                results.append(fut.result())
                if tick:
                    tick()
        for c in self.channels:
            rows = [r[c] for r in results]
            self.by_channel[c] = Measurement(
                target_xy=target_xy,
                target_flux=np.array([r["flux"][-1] for r in rows], float),
                target_err=np.array([r["flux_err"][-1] for r in rows], float),
                target_flags=np.array([r["flags"][-1] for r in rows], np.int32),
                star_xy=star_xy,
                star_flux=np.array([np.asarray(r["flux"][:-1]) for r in rows], float),
                star_err=np.array([np.asarray(r["flux_err"][:-1]) for r in rows], float),
                star_flags=np.array([np.asarray(r["flags"][:-1]) for r in rows], np.int32),
            )  # no fwhm: the step was told a nominal one (see _photometry_params)
        return self.by_channel[self.channels[0]]


def with_channel_curves(
    run: LightCurveRun, measured: ChannelPhotometry, frames: TargetFrames
) -> LightCurveRun:
    """``run`` (the first channel's curve) with every channel's magnitudes beside it.

    Each channel's curve is against the same comparison stars as ``run``'s,
    differential (no catalogue gives the channels' own bands here). Adds
    ``mag_<c>``, ``mag_err_<c>`` for every channel measured and says the
    channel, its AAVSO filter code and the channels in the meta, as the run's
    colour curves do.
    """
    table = run.table
    for c, m in measured.by_channel.items():
        lc = assemble_light_curve(m, run.choice, frames.times, files=frames.files)
        table[f"mag_{c}"] = np.asarray(lc["mag"], float)
        table[f"mag_err_{c}"] = np.asarray(lc["mag_err"], float)
    first = measured.channels[0]
    table.meta["channel"] = first
    table.meta["filter"] = aavso_channel_code(first)
    table.meta["channels"] = list(measured.channels)
    table.meta["bayer_pattern"] = measured.pattern
    if measured.annulus is not None:
        table.meta["sky_annulus"] = [float(a) for a in measured.annulus]
    return run
