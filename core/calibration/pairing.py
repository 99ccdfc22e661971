"""Which masters calibrate which frame: pairing by binning, shape, exposure and filter.

A night's calibration frames may come in several geometries (a 1x1 and a
2x2 set of darks, a sub-frame) and filters, often from sibling folders
(``DARK/``, ``FLAT/``). Masters are made per geometry (and per exposure for
darks, per filter for flats), and a frame takes:

* the master bias of its binning and (trimmed) shape;
* the master dark of its binning and shape whose exposure is nearest its
  own (the same when there is one; otherwise scaled by the exposure ratio);
* the master flat of its binning, shape and filter. A flat of another filter
  is never used; a lone flat is used with a warning only when the frame or
  the flat does not say its filter.

:meth:`CalibrationMasters.select` says, for each master it cannot give, why:
the night has none of that kind, or none that matches (and which it has).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .masters import MasterFrame
from .raw import as_pair

__all__ = [
    "NONE_IN_NIGHT",
    "CalibrationMasters",
    "MasterChoice",
    "describe_geometry",
    "missing_summary",
    "unmatched",
    "same_filter",
]

#: How a reason for a missing master starts when the night has no frames of
#: that kind at all (a fact of the night, not a problem of one frame).
NONE_IN_NIGHT = "the night has no"

_NOT_DONE = {"bias": "no bias subtracted", "dark": "no dark subtracted", "flat": "not flat-fielded"}
# Frames named in a summary line before "and N more".
_NAMES_SHOWN = 3


def describe_geometry(binning: tuple[int, int], shape: tuple[int, int]) -> str:
    """``"1x1 binning, 1024x1024 px"`` (width x height)."""
    return f"{binning[0]}x{binning[1]} binning, {shape[1]}x{shape[0]} px"


def _norm(name: str | None) -> str | None:
    return None if name is None else str(name).strip().casefold() or None


def same_filter(a: str | None, b: str | None) -> bool:
    """Whether two FILTER values name the same filter (case and padding ignored)."""
    return _norm(a) == _norm(b)


def _label(m: MasterFrame) -> str:
    what = ""
    if m.kind == "dark" and m.exptime is not None:
        what = f"{m.exptime:g} s, "
    elif m.kind == "flat":
        what = f"{m.filter}, "
    return what + describe_geometry(as_pair(m.binning), m.shape)


@dataclass(frozen=True)
class MasterChoice:
    """The masters for one frame, and why any is missing.

    Attributes
    ----------
    bias, dark, flat : MasterFrame or None
    missing : dict of str to str
        ``'bias'``, ``'dark'``, ``'flat'`` to the reason there is none.
    warnings : tuple of str
        Masters used with a caveat (a flat whose filter is not known).
    """

    bias: MasterFrame | None = None
    dark: MasterFrame | None = None
    flat: MasterFrame | None = None
    missing: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CalibrationMasters:
    """The masters available for a night.

    Attributes
    ----------
    bias : MasterFrame or None
        The master bias (the first of ``biases``).
    darks : tuple of MasterFrame
        One per exposure time and geometry.
    flats : tuple of MasterFrame
        One per filter and geometry.
    biases : tuple of MasterFrame
        One per geometry; ``bias`` is always among them.
    """

    bias: MasterFrame | None = None
    darks: tuple[MasterFrame, ...] = ()
    flats: tuple[MasterFrame, ...] = ()
    biases: tuple[MasterFrame, ...] = ()

    def __post_init__(self) -> None:
        biases = tuple(self.biases)
        if self.bias is not None and not any(b is self.bias for b in biases):
            biases = (self.bias, *biases)
        object.__setattr__(self, "biases", biases)
        if self.bias is None and biases:
            object.__setattr__(self, "bias", biases[0])

    def all(self) -> tuple[MasterFrame, ...]:
        """Every master: biases, darks, flats."""
        return (*self.biases, *self.darks, *self.flats)

    def select(
        self,
        binning: tuple[int, int],
        shape: tuple[int, int],
        exptime: float | None,
        filter_name: str | None,
    ) -> MasterChoice:
        """The masters that calibrate a frame of this geometry, exposure and filter.

        Parameters
        ----------
        binning : (int, int)
        shape : (int, int)
            (ny, nx) after trimming the overscan, as the masters are.
        exptime : float or None
            The frame's exposure (s); None takes the longest dark.
        filter_name : str or None
        """
        geometry = (as_pair(binning), as_pair(shape))
        missing: dict[str, str] = {}
        warnings: list[str] = []
        where = describe_geometry(*geometry)

        def fitting(masters: tuple[MasterFrame, ...], kind: str) -> list[MasterFrame]:
            fit = [m for m in masters if (tuple(m.binning), m.shape) == geometry]
            if not masters:
                missing[kind] = f"{NONE_IN_NIGHT} {kind} frames"
            elif not fit:
                have = "; ".join(sorted(_label(m) for m in masters))
                missing[kind] = f"no master {kind} for {where} (only for {have})"
            return fit

        biases = fitting(self.biases, "bias")
        bias = biases[0] if biases else None
        darks = fitting(self.darks, "dark")
        dark = None
        if darks:
            if exptime is None:
                dark = max(darks, key=lambda d: d.exptime or 0.0)
            else:
                dark = min(darks, key=lambda d: abs((d.exptime or 0.0) - exptime))
        flats = fitting(self.flats, "flat")
        flat = next((f for f in flats if same_filter(f.filter, filter_name)), None)
        if flats and flat is None:
            unknown = filter_name is None or any(f.filter is None for f in flats)
            if len(flats) == 1 and unknown:
                flat = flats[0]
                warnings.append(
                    f"flat filter {flat.filter!r} and the light's {filter_name!r}: "
                    "one of them is not known; the only flat is used"
                )
            else:
                have = ", ".join(sorted({str(f.filter) for f in flats}))
                missing["flat"] = (
                    f"no master flat in filter {filter_name!r} for {where} (flats in {have})"
                )
        return MasterChoice(bias, dark, flat, missing, tuple(warnings))

    def dark_for_exposure(
        self, binning: tuple[int, int], shape: tuple[int, int], exptime: float | None
    ) -> MasterFrame | None:
        """The dark :meth:`select` gives a frame of this geometry and exposure (for flats)."""
        return self.select(binning, shape, exptime, None).dark


def missing_summary(outcomes: Iterable[tuple[str, Mapping[str, str]]]) -> list[str]:
    """One line per (step, reason) that lights went without, naming the lights.

    Parameters
    ----------
    outcomes : iterable of (name, missing)
        A light's file name and its ``missing`` mapping (step to reason).

    Returns
    -------
    list of str
        E.g. ``"not flat-fielded, 25 lights (a.fit, b.fit, c.fit and 22 more):
        the night has no flat frames"``; empty when every light had every master.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for name, missing in outcomes:
        for step, why in missing.items():
            groups.setdefault((step, why), []).append(name)
    lines = []
    for (step, why), names in sorted(groups.items()):
        shown = ", ".join(names[:_NAMES_SHOWN])
        if len(names) > _NAMES_SHOWN:
            shown += f" and {len(names) - _NAMES_SHOWN} more"
        count = f"{len(names)} light" + ("s" if len(names) > 1 else "")
        lines.append(f"{_NOT_DONE.get(step, step)}, {count} ({shown}): {why}")
    return lines


def unmatched(missing: Mapping[str, str]) -> list[str]:
    """``"no dark: why"`` for each master the night has but none of which fits the frame.

    A kind the whole night lacks (no flats) is a fact of the night, said once
    for it (:func:`missing_summary`), not a problem of each frame.
    """
    return [f"no {s}: {why}" for s, why in missing.items() if not why.startswith(NONE_IN_NIGHT)]
