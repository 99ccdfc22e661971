"""Which points of the light curve count: the user's exclusions and the doubtful points.

Noisy points (:func:`noisy_points`) and points whose aperture holds another
source's light (:func:`blended_points`) are left out of the curve and the
reports by default; the user brings one back with "Exclude / include this
frame", and the choice is kept by file in the target's project entry
(``excluded`` and ``included``).
"""

from __future__ import annotations

import numpy as np

from .lightcurve_model import NOISY_FACTOR, NOISY_FLOOR, blended_points, noisy_points
from .lightcurve_state import LightCurveState

__all__ = ["LightCurvePointsMixin", "check_star_note"]

# A check star scattering beyond this reduced chi2 about its mean says the
# comparison ensemble (or the check star) is not steady: 4 is far outside what
# honest errors give over a handful of lights (chi2/N of 8 points: 2.0 at 1 in 20).
CHECK_CHI2 = 4.0


def check_star_note(mag: np.ndarray, err: np.ndarray, keep: np.ndarray) -> str:
    """A warning when the check star scatters far beyond its errors ('' otherwise).

    The check star is steady by choice: when it is not, a comparison star
    varies or is no star (a galaxy's core, a blend), and the target's curve
    carries the same error.
    """
    mag, err = np.asarray(mag, float), np.asarray(err, float)
    ok = np.asarray(keep, bool) & np.isfinite(mag) & np.isfinite(err) & (err > 0)
    if ok.sum() < 4:
        return ""
    w = 1.0 / err[ok] ** 2
    mean = np.sum(w * mag[ok]) / np.sum(w)
    chi2 = float(np.sum(w * (mag[ok] - mean) ** 2) / (ok.sum() - 1))
    if chi2 <= CHECK_CHI2:
        return ""
    scatter = float(np.std(mag[ok]))
    return (
        f" The check star scatters {scatter:.3f} mag, {np.sqrt(chi2):.1f} times its errors: "
        "a comparison star may vary or be no star (a galaxy's core, a blend); look at them "
        "on the image and click steadier ones (Clicks add comparison stars)."
    )


class LightCurvePointsMixin(LightCurveState):
    """Exclusion of light-curve points for :class:`LightCurvePanel`.

    Needs ``run``, ``rows``, ``session``, ``_target_doc`` and ``_update_curve``.
    """

    def excluded(self) -> np.ndarray:
        """Which lights are excluded (kept in the target's project entry by file).

        The user's exclusions, and the noisy points (:func:`noisy_points`)
        unless the user brought them back (the entry's ``included``).
        """
        if self.run is None:
            return np.zeros(0, bool)
        doc = self._target_doc() or {}
        gone, kept = set(doc.get("excluded", [])), set(doc.get("included", []))
        noisy = self._doubtful()
        files = [str(f) for f in self.run.table["file"]]
        return np.array([f in gone or (bad and f not in kept)
                         for f, bad in zip(files, noisy, strict=True)], bool)  # fmt: skip

    def noisy_note(self) -> str:
        """A sentence on the noisy points left out ('' when none)."""
        if self.run is None:
            return ""
        lc = self.run.table
        measured = np.isfinite(np.asarray(lc["mag"], float))
        n = int((noisy_points(lc["mag_err"]) & measured).sum())
        blended = int((self._doubtful() & measured).sum()) - n
        if not n and not blended:
            return ""
        parts = []
        if n:
            parts.append(f"{n} noisy light(s) (error above {NOISY_FACTOR:g}x the median and "
                         f"{NOISY_FLOOR:g} mag)")  # fmt: skip
        if blended:
            parts.append(
                f"{blended} light(s) where a star's light in the target's aperture or "
                "annulus is above half its error (subtracted, but model-dependent)"
            )
        return (
            f" Left out of the curve and the reports: {'; '.join(parts)}. "
            '"Exclude / include this frame" brings one back.'
        )

    def _doubtful(self) -> np.ndarray:
        """Noisy or blended points, left out unless the user brings them back."""
        if self.run is None:
            return np.zeros(0, bool)
        lc = self.run.table
        bad = noisy_points(lc["mag_err"])
        if "flags" in lc.colnames:
            bad |= blended_points(lc["flags"])
        return bad

    def toggle_exclusion(self, light: int | None = None) -> None:
        """Exclude the current frame from the curve (or include it again)."""
        doc = self._target_doc()
        if self.run is None or doc is None:
            return
        if light is None:
            light = self._row_of(self.session.current)
            if light is None:
                return
        name = str(self.run.table["file"][light])
        gone, kept = list(doc.get("excluded", [])), list(doc.get("included", []))
        noisy = bool(self._doubtful()[light])
        if name in gone:
            gone.remove(name)
        elif noisy and name not in kept:
            kept.append(name)  # a noisy point the user wants back
        elif name in kept:
            kept.remove(name)
        else:
            gone.append(name)
        doc["excluded"], doc["included"] = gone, kept
        self._update_curve()

    def _row_of(self, index: int) -> int | None:
        """The row of the curve shown measured in frame ``index`` (None: none)."""
        hits = np.flatnonzero(self.rows == index)
        return int(hits[0]) if len(hits) and self.run is not None else None
