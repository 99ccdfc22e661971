"""What registration gives: its parameters and every frame's transform.

* :class:`RegistrationParams` -- the transform model, detection threshold,
  match radius and the limits of a match;
* :class:`FrameRegistration` -- one frame's transform, matched stars, residual,
  the transform's own uncertainty and why it failed when it did;
* :class:`Registration` -- every frame's, with the mappings between frames'
  pixels and the per-frame table (:data:`REGISTRATION_COLUMNS`).

How the transforms are found is :mod:`.register`, which re-exports these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from ..runtime.params import param
from .transform import FrameTransform

__all__ = [
    "REGISTRATION_COLUMNS",
    "REGISTRATION_MODELS",
    "FrameRegistration",
    "Registration",
    "RegistrationParams",
]

REGISTRATION_MODELS = ("affine", "similarity")
#: Columns a frame table gets from :meth:`Registration.table`.
REGISTRATION_COLUMNS = (
    "reg_dx", "reg_dy", "reg_rotation", "reg_scale", "reg_flipped", "reg_n_matched",
    "reg_rms", "reg_sigma", "reg_status",
)  # fmt: skip


@dataclass(frozen=True)
class RegistrationParams:
    """Parameters of frame-to-frame registration."""

    model: str = param(
        "affine", label="Transform", choices=REGISTRATION_MODELS,
        help="'affine': shift, rotation, scale and shear (field rotation, refraction); "
        "'similarity': shift, rotation and one scale.",
    )  # fmt: skip
    threshold: float = param(
        5.0, label="Detection threshold", unit="sigma", minimum=2.0, maximum=1000.0,
        help="Stars this far above the sky are used to register the frames.",
    )  # fmt: skip
    match_radius: float = param(
        3.0, label="Match radius", unit="px", minimum=0.3, maximum=50.0,
        help="A frame's star and a listed star closer than this are the same star.",
    )  # fmt: skip
    max_scale_change: float = param(
        0.05, label="Largest scale change", minimum=0.001, maximum=0.5,
        help="Fractional scale difference a frame may have from its neighbour.",
    )  # fmt: skip
    min_matches: int = param(
        6, label="Fewest matched stars", minimum=3, maximum=1000,
        help="A frame with fewer stars matched is not registered.",
    )  # fmt: skip
    clip_sigma: float = param(
        3.0, label="Clipping", unit="sigma", minimum=1.5, maximum=10.0,
        help="Matched stars further than this from the fit are left out of it.",
    )  # fmt: skip
    n_triangle_stars: int = param(
        30, label="Stars for triangles", minimum=6, maximum=80,
        help="Brightest stars whose triangles are matched.",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.model not in REGISTRATION_MODELS:
            raise ValueError(f"model must be one of {REGISTRATION_MODELS}, not {self.model!r}")


@dataclass(frozen=True)
class FrameRegistration:
    """How one frame was registered.

    Attributes
    ----------
    transform : FrameTransform or None
        Reference pixels -> this frame's pixels; None when not registered.
    n_matched : int
        Stars in the final least-squares fit.
    rms : float
        RMS distance (px) of those stars from the fit.
    sigma : float
        The transform's own 1-sigma position error per axis (px), rms over
        the matched stars, from the fit's covariance.
    via : str
        "reference", "neighbour N" (frame N) or "" when not registered.
    status : str
        "ok" or why the frame was not registered.
    """

    transform: FrameTransform | None
    n_matched: int = 0
    rms: float = math.nan
    sigma: float = math.nan
    via: str = ""
    status: str = "ok"

    @property
    def ok(self) -> bool:
        return self.transform is not None


@dataclass
class Registration:
    """Transforms of every frame of a sequence to its reference frame."""

    frames: list[FrameRegistration]
    reference: int
    shape: tuple[int, int] | None = None
    stars: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def failed(self) -> list[int]:
        """Frames that could not be registered."""
        return [i for i, f in enumerate(self.frames) if not f.ok]

    def transform(self, i: int) -> FrameTransform | None:
        return self.frames[i].transform

    def to_frame(self, i: int, xy_ref: np.ndarray) -> np.ndarray:
        """Positions in the reference's pixels -> frame ``i`` (NaN if unregistered)."""
        p = np.asarray(xy_ref, dtype=float)
        t = self.frames[i].transform
        return np.full(p.shape, np.nan) if t is None else t.apply(p)

    def to_reference(self, i: int, xy: np.ndarray) -> np.ndarray:
        """Positions in frame ``i``'s pixels -> the reference's (NaN if unregistered)."""
        p = np.asarray(xy, dtype=float)
        t = self.frames[i].transform
        return np.full(p.shape, np.nan) if t is None else t.inverse().apply(p)

    def between(self, i: int, j: int, xy: np.ndarray) -> np.ndarray:
        """Positions in frame ``i``'s pixels -> frame ``j``'s."""
        return self.to_frame(j, self.to_reference(i, xy))

    def everywhere(self, xy_ref: np.ndarray) -> np.ndarray:
        """Positions (N, 2) in the reference's pixels in every frame: (n_frames, N, 2)."""
        p = np.asarray(xy_ref, dtype=float).reshape(-1, 2)
        return np.array([self.to_frame(i, p) for i in range(len(self))]).reshape(-1, len(p), 2)

    def table(self) -> Table:
        """One row per frame: :data:`REGISTRATION_COLUMNS`.

        ``reg_dx, reg_dy`` are where the reference's centre moved (px),
        ``reg_rotation`` in degrees, ``reg_scale`` the linear scale.
        """
        ny, nx = self.shape if self.shape is not None else (1, 1)
        cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
        rows = []
        for f in self.frames:
            t = f.transform
            if t is None:
                rows.append((math.nan, math.nan, math.nan, math.nan, False, 0, math.nan,
                             math.nan, f.status))  # fmt: skip
                continue
            dx, dy = t.shift_at(cx, cy)
            rows.append((dx, dy, t.rotation, t.scale, t.flipped, f.n_matched, f.rms, f.sigma,
                         f.status))  # fmt: skip
        dtypes = (float, float, float, float, bool, int, float, float, str)
        table = Table(rows=rows or None, names=REGISTRATION_COLUMNS, dtype=dtypes)
        for c in ("reg_dx", "reg_dy", "reg_rms", "reg_sigma"):
            table[c].unit = "pix"
        table["reg_rotation"].unit = "deg"
        table.meta["registration_reference"] = self.reference
        return table

    def summary(self, names: Sequence[str] | None = None) -> str:
        """One line: frames registered, median residual, largest shift and rotation.

        The frames not registered are named by ``names`` (one per frame, in the
        registration's order) when given, else by their index.
        """
        good = [f for f in self.frames if f.ok]
        text = f"{len(good)} of {len(self.frames)} frames registered"
        if good:
            t = self.table()
            ok = np.array([f.ok for f in self.frames])
            shift = np.hypot(np.asarray(t["reg_dx"])[ok], np.asarray(t["reg_dy"])[ok])
            text += (
                f" (median residual {np.median([f.rms for f in good]):.3f} px, "
                f"largest shift {np.max(shift):.0f} px, "
                f"rotation {np.ptp(np.asarray(t['reg_rotation'])[ok]):.2f} deg)"
            )
        failed = self.failed
        if failed:
            text += "; not registered: " + ", ".join(
                f"{i if names is None else names[i]} ({self.frames[i].status})" for i in failed[:5]
            )
            text += " ..." if len(failed) > 5 else ""
        return text
