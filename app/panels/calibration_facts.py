"""What the Calibration panel shows, computed in workers: masters and per-light facts.

Qt-free, so the panel's workers call these and the GUI thread only draws:

* :func:`summarise_masters` - each master of the project with its statistics
  (mean, median, noise), its bad pixels (hot in a bias or dark, cold in a
  flat, found as calibration finds them) and display limits;
* :func:`light_facts` - what calibration did to one light (steps applied,
  warnings such as a flat of another filter, masked pixels), read back from
  the header of its product so a reopened project shows the same facts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from fluxion.core.calibration import (
    CalibrationMasters,
    CalibrationParams,
    MaskBits,
    MasterFrame,
    bad_pixels_from_masters,
)
from fluxion.core.calibration.apply import missing_from_header
from fluxion.core.calibration.pairing import unmatched
from fluxion.core.display.stretch import Limits, compute_limits
from fluxion.core.project.cache import ProductCache
from fluxion.core.project.products import ProductStore
from fluxion.core.runtime.quiet import quiet

__all__ = [
    "LightFacts",
    "MasterSummary",
    "light_facts",
    "stored_light_facts",
    "summarise_masters",
]


@dataclass(frozen=True)
class MasterSummary:
    """One master frame with the numbers a user checks before trusting it.

    Attributes
    ----------
    label : str
        "Bias", "Dark 120 s", "Flat V".
    stats : dict
        mean, median and robust noise (``std``) in ADU (a flat: relative units).
    bad_pixels : int
        Hot pixels of a bias or dark, cold pixels of a flat.
    bad_kind : str
        "hot" or "cold".
    bad_note : str
        What the count means, when a light masks fewer (a dark's warm pixels).
    """

    label: str
    kind: str
    data: np.ndarray = field(repr=False)
    limits: Limits
    n_frames: int
    stats: dict[str, float]
    bad_pixels: int
    bad_kind: str
    bad_note: str = ""

    def describe(self) -> str:
        """One line of statistics for the panel."""
        s = self.stats
        unit = "" if self.kind == "flat" else " ADU"
        digits = 4 if self.kind == "flat" else 2
        ny, nx = self.data.shape
        return (
            f"{self.label}: {self.n_frames} frames, {nx}x{ny} px; mean {s['mean']:.{digits}f}"
            f"{unit}, median {s['median']:.{digits}f}{unit}, noise {s['std']:.{digits}f}{unit}; "
            f"{self.bad_pixels} {self.bad_kind} pixels{self.bad_note}"
        )


@dataclass(frozen=True)
class LightFacts:
    """What calibration did to one light.

    Attributes
    ----------
    applied : tuple of str
        Among 'overscan', 'bias', 'dark', 'flat', 'cosmic rays'.
    warnings : tuple of str
        E.g. a flat whose filter differs from the light's.
    masked_fraction : float
        Fraction of the pixels flagged in the mask.
    error : str
        Why the light could not be calibrated ('' when it was).
    """

    applied: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    n_masked: int = 0
    masked_fraction: float = math.nan
    error: str = ""
    path: Path | None = None
    #: Masked pixels of each kind (a pixel may be of several).
    masked_kinds: tuple[tuple[str, int], ...] = ()

    def describe(self, index: int) -> str:
        """A sentence for the panel."""
        if self.error:
            return f"Frame {index + 1}: not calibrated. {self.error}"
        steps = ", ".join(self.applied) or "nothing applied"
        text = (
            f"Frame {index + 1}: {steps}; {self.n_masked} px masked "
            f"({100 * self.masked_fraction:.2f}%)."
        )
        if self.masked_kinds:
            kinds = ", ".join(f"{n} {MASK_WORDS.get(k, k)}" for k, n in self.masked_kinds if n)
            text += (
                f" Masked: {kinds}. Masked pixels are left out of detection and photometry; "
                "a star touching one is flagged."
            )
        if self.warnings:
            text += " Warning: " + "; ".join(self.warnings) + "."
        return text

    def short(self) -> str:
        """A few characters for the frame table."""
        if self.error:
            return "failed"
        names = {"overscan": "O", "bias": "B", "dark": "D", "flat": "F", "cosmic rays": "CR"}
        text = "+".join(names.get(a, a) for a in self.applied) or "none"
        return text + (" (!)" if self.warnings else "")


def light_facts(path: str | Path) -> LightFacts:
    """Facts of a calibrated light, from the cards calibration wrote in its header.

    The file is opened once, for the header and (when pixels are masked) the mask.
    """
    with quiet(), fits.open(path, memmap=False) as hdul:
        h = hdul[0].header
        n_masked = int(h.get("NMASKED", 0))
        kinds = _mask_kinds(hdul) if n_masked else ()
    ny, nx = int(h.get("NAXIS2", 0)), int(h.get("NAXIS1", 0))
    history = [str(c) for c in h.get("HISTORY", [])]
    steps = str(h.get("CALSTEPS", "none"))
    applied = () if steps == "none" else tuple(s for s in steps.split(",") if s)
    warnings = tuple(t[len("warning: ") :] for t in history if t.startswith("warning: "))
    # Masters the night has but none of which fits this light (binning, size, filter).
    warnings += tuple(unmatched(missing_from_header(h)))
    fraction = n_masked / (nx * ny) if nx * ny else math.nan
    return LightFacts(applied, warnings, n_masked, fraction, path=Path(path),
                      masked_kinds=kinds)  # fmt: skip


#: What each mask bit means, as the panel says it.
MASK_WORDS = {
    "HOT": "hot (dark current above the light's noise: see Hot pixel sky threshold)",
    "COLD": "cold (far below the flat's level)",
    "SATURATED": "saturated or next to a saturated pixel",
    "COSMIC_RAY": "cosmic-ray hits",
    "NAN": "without a value",
}


def _mask_kinds(hdul: fits.HDUList) -> tuple[tuple[str, int], ...]:
    """How many pixels of the product's MASK carry each bit (empty without a mask)."""
    try:
        if "MASK" not in hdul:
            return ()
        mask = np.asarray(hdul["MASK"].data)
    except (OSError, ValueError):
        return ()
    return tuple((str(b.name), int(np.count_nonzero(mask & int(b)))) for b in MaskBits)


def _label(m: MasterFrame) -> str:
    # Binned masters say so: a night may hold a 1x1 and a 2x2 set.
    binned = "" if tuple(m.binning) == (1, 1) else f" ({m.binning[0]}x{m.binning[1]})"
    if m.kind == "dark":
        return (f"Dark {m.exptime:g} s" if m.exptime else "Dark") + binned
    if m.kind == "flat":
        return (f"Flat {m.filter}" if m.filter is not None else "Flat") + binned
    return "Bias" + binned


def _bad_pixels(m: MasterFrame, params: CalibrationParams) -> tuple[int, str]:
    if m.kind == "dark":
        bits = bad_pixels_from_masters(m.data, None, hot_sigma=params.hot_sigma)
        return int(np.count_nonzero(bits & MaskBits.HOT)), "hot"
    if m.kind == "flat":
        bits = bad_pixels_from_masters(None, m.data, cold_flat=params.cold_flat)
        return int(np.count_nonzero(bits & MaskBits.COLD)), "cold"
    # A bias has no dark current; a pixel far above the others is stuck high,
    # judged like a hot pixel of a dark (the same robust threshold).
    bits = bad_pixels_from_masters(m.data, None, hot_sigma=params.hot_sigma)
    return int(np.count_nonzero(bits & MaskBits.HOT)), "hot"


def summarise_masters(
    masters: CalibrationMasters | None, params: CalibrationParams
) -> list[MasterSummary]:
    """Every master with its statistics, bad pixels and display limits."""
    if masters is None:
        return []
    frames = list(masters.all())
    out = []
    for m in frames:
        bad, kind = _bad_pixels(m, params)
        note = ""
        if m.kind == "dark" and params.hot_sky > 0:
            note = (f" ({params.hot_sigma:g} sigma of the dark; a light masks only those above "
                    f"{params.hot_sky:g}x its noise)")  # fmt: skip
        out.append(
            MasterSummary(
                label=_label(m),
                kind=m.kind,
                data=m.data,
                limits=compute_limits(m.data, "zscale"),
                n_frames=m.n_frames,
                stats=dict(m.stats),
                bad_pixels=bad,
                bad_kind=kind,
                bad_note=note,
            )
        )
    return out


def stored_light_facts(
    store: ProductStore, frames, cache: ProductCache | None = None
) -> dict[int, LightFacts]:
    """Facts of every light already calibrated in the project (index in ``frames``),
    read through ``cache`` when given."""
    out = {}
    for i, f in enumerate(frames):
        path = store.path("calibration", f.path, ".fits")
        if store.fingerprint_of("calibration", f.path) is not None and path.is_file():
            try:
                if cache is None:
                    out[i] = light_facts(path)
                else:
                    out[i] = cache.get(store, "calibration", f, _stored_facts, "light facts")
            except (OSError, ValueError):
                continue  # a damaged product is redone by the next run
    return out


def _stored_facts(store: ProductStore, frame) -> LightFacts:
    return light_facts(store.path("calibration", frame.path, ".fits"))
