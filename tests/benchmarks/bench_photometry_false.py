"""The false detections of bench_photometry, by what lies near them."""

from __future__ import annotations

import numpy as np

FALSE_KINDS = ("star", "faint star", "second", "nothing")


def false_kinds(dt: np.ndarray, it: np.ndarray, found: np.ndarray, snr: np.ndarray) -> np.ndarray:
    """Counts of the false detections by what lies within 2.5 px of them (:data:`FALSE_KINDS`).

    ``dt``, ``it``: each detection's nearest true star and its distance;
    ``found``: true stars with a detection within 1 px; ``snr``: the true
    stars' isolated S/N. A false detection (no true star within 1 px) is a
    *star* (S/N >= 5) or a *faint star* (S/N < 5) found 1-2.5 px from where
    it is (which that star's own detection would be, none being within
    1 px of it), a *second* detection of a star or pair already found, or
    *nothing* (no star within 2.5 px: a noise peak or a PSF residual).
    """
    false = dt > 1.0
    near = false & (dt <= 2.5)
    lone = near & ~found[it]
    return np.array(
        [
            np.sum(lone & (snr[it] >= 5)),
            np.sum(lone & (snr[it] < 5)),
            np.sum(near & found[it]),
            np.sum(false & ~near),
        ]
    )
