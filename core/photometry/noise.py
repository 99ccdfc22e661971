"""The CCD noise model and the Cramér-Rao bound of a star's flux and position.

Everything here works in electrons: the photometry step multiplies the frame by
the gain once, so Poisson noise is simply the signal and read noise adds in
quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MAG_PER_LN", "NoiseModel", "StarBound", "isolated_star_bound"]

#: Magnitudes per unit relative flux, 2.5 / ln 10 = 1.0857: d(mag) = MAG_PER_LN * d(flux) / flux.
MAG_PER_LN = 2.5 / np.log(10.0)


@dataclass(frozen=True)
class NoiseModel:
    """Gain and read noise of a detector.

    Parameters
    ----------
    gain : float
        Electrons per ADU. When unknown, 1.0 (fluxes stay in ADU and the
        Poisson part of the noise is then only approximate).
    read_noise : float
        Read noise in electrons.
    """

    gain: float = 1.0
    read_noise: float = 0.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.gain) or self.gain <= 0:
            raise ValueError(f"gain must be a positive number of e-/ADU, got {self.gain}")
        if not np.isfinite(self.read_noise) or self.read_noise < 0:
            raise ValueError(f"read noise must be >= 0 e-, got {self.read_noise}")

    def to_electrons(self, image: np.ndarray) -> np.ndarray:
        """The frame in electrons as float64 (a new array; the input is untouched)."""
        return np.asarray(image, dtype=np.float64) * self.gain

    def variance(self, expected: np.ndarray | float) -> np.ndarray:
        """Per-pixel variance (e-^2) for an expected signal (sky + stars, e-).

        The expected signal, not the observed one, should be passed where it
        is known: weighting by the observed value biases faint fluxes low
        (an upward fluctuation gets a smaller weight).
        """
        return np.maximum(np.asarray(expected, dtype=np.float64), 0.0) + self.read_noise**2


@dataclass(frozen=True)
class StarBound:
    """Cramér-Rao bounds of an isolated star (one value per requested flux)."""

    flux: np.ndarray
    """The fluxes the bound was computed for (e-)."""
    sigma_flux: np.ndarray
    """Smallest achievable flux error (e-)."""
    sigma_x: np.ndarray
    """Smallest achievable x error (px)."""
    sigma_y: np.ndarray
    """Smallest achievable y error (px)."""


def isolated_star_bound(
    psf_stamp: np.ndarray,
    dpsf_dx: np.ndarray,
    dpsf_dy: np.ndarray,
    flux: np.ndarray | float,
    sky: float,
    read_noise: float,
) -> StarBound:
    """Cramér-Rao bound of flux and position for a star alone on a flat sky.

    The Fisher matrix of (flux, x, y) is summed over the pixels of the stamp
    with the Poisson + read-noise variance of the expected signal; the sky is
    taken as known, which is what a fitter that estimates it over a large
    area achieves.

    Parameters
    ----------
    psf_stamp : ndarray
        Pixel-integrated PSF normalised to the star's total flux (sums to
        at most 1), centred as the star whose bound is wanted.
    dpsf_dx, dpsf_dy : ndarray
        Derivatives of ``psf_stamp`` with respect to the star's x and y.
    flux : float or ndarray
        Star flux(es) in electrons.
    sky : float
        Sky level in electrons per pixel.
    read_noise : float
        Read noise in electrons.

    Returns
    -------
    StarBound
    """
    f = np.atleast_1d(np.asarray(flux, dtype=np.float64))
    p = np.asarray(psf_stamp, dtype=np.float64).ravel()
    px = np.asarray(dpsf_dx, dtype=np.float64).ravel()
    py = np.asarray(dpsf_dy, dtype=np.float64).ravel()
    var = sky + read_noise**2 + f[:, None] * np.clip(p, 0, None)[None, :]
    w = 1.0 / var
    # Fisher matrix of (F, x, y): d(model)/dF = p, d(model)/dx = F px.
    cols = (p, px, py)
    fisher = np.empty((f.size, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            fij = np.sum(w * (cols[i] * cols[j])[None, :], axis=1)
            scale = (f if i > 0 else 1.0) * (f if j > 0 else 1.0)
            fisher[:, i, j] = fisher[:, j, i] = fij * scale
    cov = np.linalg.inv(fisher)
    return StarBound(
        flux=f,
        sigma_flux=np.sqrt(cov[:, 0, 0]),
        sigma_x=np.sqrt(cov[:, 1, 1]),
        sigma_y=np.sqrt(cov[:, 2, 2]),
    )
