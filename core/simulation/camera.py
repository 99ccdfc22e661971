"""The simulated camera: bias pattern, dark current, flat field, readout, cosmic rays.

Everything here is in the camera's own units: electrons (e-) before the
analogue-to-digital converter, ADU after it. The maps are fixed for a night,
so that calibration frames taken with the same camera can remove them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

__all__ = [
    "Camera",
    "make_camera",
    "warm_tail_rates",
    "cosmic_ray_electrons",
    "read_out",
    "bleed_columns",
]

ADC_MAX = 65535  # 16-bit converter


@dataclass(frozen=True)
class Camera:
    """Fixed properties of the simulated camera.

    Attributes
    ----------
    bias_level : ndarray
        Bias (ADU) of every pixel: a level plus a column pattern.
    dark_current : ndarray
        Dark current (e-/s) of every pixel, hot pixels and amplifier glow included.
    flat : ndarray
        Relative response (mean 1): vignetting, dust donuts and pixel-to-pixel
        non-uniformity. Light (stars and sky) is multiplied by it.
    gain : float
        e-/ADU.
    read_noise : float
        e- rms per read.
    saturation : float
        ADU at which the output clips (SATURATE).
    hot_pixels : ndarray
        Boolean mask of the hot pixels.
    warm_pixels : ndarray or None
        Boolean mask of the pixels of the warm tail (None: the camera has none).
    full_well : float
        Electrons a pixel holds; the excess bleeds along its column
        (:func:`bleed_columns`). Infinite: no bleeding.
    """

    bias_level: np.ndarray
    dark_current: np.ndarray
    flat: np.ndarray
    gain: float
    read_noise: float
    saturation: float
    hot_pixels: np.ndarray
    full_well: float = np.inf
    warm_pixels: np.ndarray | None = None


def _flat_field(
    shape: tuple[int, int], vignetting: float, n_dust: int, prnu: float, rng: np.random.Generator
) -> np.ndarray:
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (cx**2 + cy**2)
    # cos^4-like fall-off written as a quadratic in r: ``vignetting`` is the
    # loss in the corners relative to the centre.
    flat = 1.0 - vignetting * r2
    scale = min(nx, ny) / 1024.0
    for _ in range(n_dust):
        # Dust on a filter or window is out of focus: it casts a ring (the
        # telescope's annular pupil) with soft edges, a few % deep.
        dx, dy = rng.uniform(0.1, 0.9) * nx, rng.uniform(0.1, 0.9) * ny
        outer = rng.uniform(12.0, 30.0) * max(scale, 0.35)
        inner = outer * rng.uniform(0.35, 0.5)
        depth = rng.uniform(0.02, 0.06)
        edge = 1.2
        r = np.hypot(xx - dx, yy - dy)
        ring = expit((outer - r) / edge) - expit((inner - r) / edge)
        flat *= 1.0 - depth * ring
    flat *= 1.0 + prnu * rng.standard_normal(shape)
    return (flat / flat.mean()).astype(np.float32)


def make_camera(
    shape: tuple[int, int],
    *,
    gain: float,
    read_noise: float,
    bias_level: float,
    bias_column_rms: float,
    dark_current: float,
    hot_pixel_fraction: float,
    saturation: float,
    vignetting: float,
    n_dust: int,
    prnu: float,
    rng: np.random.Generator,
    full_well: float = np.inf,
    warm_pixel_fraction: float = 0.0,
    warm_pixel_rate: float = 0.3,
) -> Camera:
    """Draw the fixed maps of a camera for one night.

    ``warm_pixel_fraction`` of the pixels (none by default) get a warm tail on
    top of the dark current: an excess rate above ``warm_pixel_rate`` e-/s
    whose number falls as 1/rate up to 1000 e-/s (:func:`warm_tail_rates`).
    """
    ny, nx = shape
    columns = bias_column_rms * rng.standard_normal(nx)
    # A slow ramp along rows on top of the column pattern, as amplifiers show.
    rows = np.linspace(-0.5, 0.5, ny) * 0.5 * bias_column_rms
    bias = (bias_level + columns[None, :] + rows[:, None]).astype(np.float32)

    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    # Amplifier glow in one corner, a few times the base dark current.
    glow = 4.0 * dark_current * np.exp(-np.hypot(xx - (nx - 1), yy) / (0.08 * max(nx, ny)))
    dark = dark_current * (1.0 + 0.05 * rng.standard_normal(shape)).clip(0.0) + glow
    hot = rng.random(shape) < hot_pixel_fraction
    # Hot pixels span decades of rate (log-uniform 0.5 - 50 e-/s).
    dark[hot] += 10 ** rng.uniform(np.log10(0.5), np.log10(50.0), hot.sum())
    warm = None
    if warm_pixel_fraction > 0:
        # Drawn from a generator of its own so that a camera without the tail
        # keeps every other map it had (the flat field draws after this).
        warm_rng = np.random.default_rng(rng.integers(2**63))
        warm = warm_rng.random(shape) < warm_pixel_fraction
        dark[warm] += warm_tail_rates(warm_rng, int(warm.sum()), warm_pixel_rate)
    flat = _flat_field(shape, vignetting, n_dust, prnu, rng)
    return Camera(
        bias_level=bias,
        dark_current=dark.astype(np.float32),
        flat=flat,
        gain=float(gain),
        read_noise=float(read_noise),
        saturation=float(saturation),
        hot_pixels=hot,
        full_well=float(full_well),
        warm_pixels=warm,
    )


def warm_tail_rates(
    rng: np.random.Generator, n: int, lowest: float, highest: float = 1000.0
) -> np.ndarray:
    """Excess dark rates (e-/s) of ``n`` warm pixels: N(> rate) falls as 1 / rate.

    Measured on the two real cameras of the shared data (SBIG ST-10 of the
    TrES-1 night, 10 x 60 s darks; SBIG STL-1001E of the asteroid night, 5 x
    180 s darks, bias subtracted): the fraction of pixels whose master dark
    exceeds the median by a rate r is about 1e-2 at r = 0.3-0.65 e-/s, 1e-3 at
    1.8-2.1 e-/s and 1e-4 at 16-28 e-/s, up to ~700 e-/s: one decade of pixels
    per decade of rate, a Pareto tail of index 1 (whose inverse CDF is
    ``lowest / u``).
    """
    u = rng.uniform(lowest / highest, 1.0, n)
    return lowest / u


def cosmic_ray_electrons(
    shape: tuple[int, int], n_hits: int, rng: np.random.Generator
) -> np.ndarray:
    """An image of ``n_hits`` cosmic-ray tracks (electrons).

    Tracks are straight, 1-8 px long at random angles (muons crossing the
    depleted layer obliquely), with a log-normal deposit of ~300-20000 e-.
    """
    ny, nx = shape
    out = np.zeros(shape, dtype=np.float32)
    for _ in range(n_hits):
        x0, y0 = rng.uniform(0, nx), rng.uniform(0, ny)
        length = rng.uniform(0.0, 8.0)
        angle = rng.uniform(0, np.pi)
        energy = float(np.exp(rng.normal(np.log(2000.0), 0.8)))
        n = max(int(length / 0.3), 1)
        t = np.linspace(0.0, length, n)
        xs = np.floor(x0 + t * np.cos(angle)).astype(int)
        ys = np.floor(y0 + t * np.sin(angle)).astype(int)
        ok = (xs >= 0) & (xs < nx) & (ys >= 0) & (ys < ny)
        np.add.at(out, (ys[ok], xs[ok]), energy / n)
    return out


def read_out(
    expected_electrons: np.ndarray,
    camera: Camera,
    rng: np.random.Generator,
    extra_electrons: np.ndarray | None = None,
) -> np.ndarray:
    """Draw one exposure and digitise it.

    Parameters
    ----------
    expected_electrons : ndarray
        Mean photo- and thermal electrons per pixel (Poisson mean).
    camera : Camera
        Bias, gain, read noise, saturation.
    rng : numpy.random.Generator
        Noise source.
    extra_electrons : ndarray, optional
        Deposits without shot noise of their own (cosmic rays).

    Returns
    -------
    ndarray of uint16
        ADU, clipped at ``camera.saturation`` and the 16-bit limit.
    """
    electrons = rng.poisson(np.clip(expected_electrons, 0.0, None)).astype(np.float64)
    if np.isfinite(camera.full_well):
        electrons = bleed_columns(electrons, camera.full_well)
    electrons += camera.read_noise * rng.standard_normal(expected_electrons.shape)
    if extra_electrons is not None:
        electrons += extra_electrons
    adu = camera.bias_level + electrons / camera.gain
    top = min(camera.saturation, ADC_MAX)
    return np.clip(np.rint(adu), 0, top).astype(np.uint16)


def bleed_columns(electrons: np.ndarray, full_well: float) -> np.ndarray:
    """Charge above ``full_well`` spilled along the column, as a CCD's does.

    Each run of over-full pixels keeps ``full_well`` per pixel; its excess
    fills the pixels above and below it, half each way, up to ``full_well``,
    so a bright star grows a vertical streak whose length is its excess over
    the well (charge that runs off the frame is lost). Charge is conserved
    on the frame otherwise.
    """
    out = np.array(electrons, dtype=np.float64, copy=True)
    for col in np.nonzero((out > full_well).any(axis=0))[0]:
        c = out[:, col]
        over = c > full_well
        # Runs of over-full pixels: starts and ends of the True segments.
        edges = np.diff(np.concatenate([[0], over.astype(np.int8), [0]]))
        for start, stop in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
            excess = float(np.sum(c[start:stop] - full_well))
            c[start:stop] = full_well
            for step, share in ((-1, 0.5 * excess), (1, 0.5 * excess)):
                k = start - 1 if step < 0 else stop
                while share > 0 and 0 <= k < len(c):
                    room = max(full_well - c[k], 0.0)
                    take = min(room, share)
                    c[k] += take
                    share -= take
                    k += step
        out[:, col] = c
    return out
