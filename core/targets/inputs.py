"""The light frames of a target sequence, with times, WCS or registration.

What ``fluxion track`` and ``fluxion lightcurve`` (and the Targets and Light-curve panels) need
before tracking: the usable light frames in time order, their mid-exposure
times, their WCS when every frame has one, and otherwise each frame's
transform to the first light found from its stars
(:func:`fluxion.core.registration.register_frames`), so that tracks and
comparison stars follow a field that drifts, rotates or changes scale
without a WCS. :meth:`TargetFrames.to_light` and
:meth:`TargetFrames.to_first_light` place positions either way.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from ..chain import frame_wcs
from ..detection.extract import Detection, SourceFlags
from ..io.frames import FrameInfo
from ..io.names import FrameNames
from ..io.sequence import Sequence
from ..io.site import ObservingSite, night_location, with_sites
from ..project.products import ProductStore
from ..registration import Registration, register_frames
from ..runtime.failures import FileFailure, per_file
from ..runtime.pipeline import StepState

__all__ = ["TargetFrames", "bright_isolated_stars", "load_target_frames", "target_frames"]

log = logging.getLogger(__name__)


@dataclass
class TargetFrames:
    """Light frames of one sequence, ready for tracking and light curves."""

    sequence: Sequence
    indices: list[int]  # positions of the lights in ``sequence``
    times: Time
    wcs: list[WCS] | None
    registration: Registration | None  # without a WCS: transforms from the first light
    stars: np.ndarray  # bright isolated stars of the first light (x, y), brightest first
    location: EarthLocation | None
    skipped: list[FileFailure] = field(default_factory=list)  # lights whose pixels failed

    def pointing(self) -> SkyCoord | None:
        """The mount's pointing in the first light (OBJCTRA/OBJCTDEC or RA/DEC)."""
        f = self.sequence[self.indices[0]]
        if f.ra is None or f.dec is None:
            return None
        return SkyCoord(f.ra * u.deg, f.dec * u.deg)

    def __len__(self) -> int:
        return len(self.indices)

    def without(self, drop: Iterable[int]) -> TargetFrames:
        """These lights without the lights numbered in ``drop`` (e.g. the unregistered ones).

        The registration's reference light must not be among them.
        """
        gone = set(drop)
        keep = [i for i in range(len(self)) if i not in gone]
        reg = self.registration
        if reg is not None:
            if reg.reference in gone:
                raise ValueError("the registration's reference light cannot be left out")
            reg = dataclasses.replace(
                reg, frames=[reg.frames[i] for i in keep], reference=keep.index(reg.reference)
            )
        return dataclasses.replace(
            self,
            indices=[self.indices[i] for i in keep],
            times=self.times[keep],
            wcs=None if self.wcs is None else [self.wcs[i] for i in keep],
            registration=reg,
        )

    def image(self, i: int) -> np.ndarray:
        """Light ``i`` as float (ADU as stored)."""
        return np.asarray(self.sequence.data(self.indices[i]), dtype=float)

    @property
    def files(self) -> list[str]:
        """The lights' unique names: file names, with their folders where two are alike."""
        names = FrameNames.of_night(self.sequence.frames)
        return [names.file(self.sequence[k].path) for k in self.indices]

    def gain(self) -> float:
        g = self.sequence[self.indices[0]].gain
        return float(g) if g else 1.0

    def to_light(self, light: int, xy_first: np.ndarray) -> np.ndarray:
        """Positions (N, 2) in the first light's pixels -> light ``light``'s.

        Through the WCS when every light has one, else the registration; NaN
        where the light could not be registered.
        """
        p = np.asarray(xy_first, dtype=float).reshape(-1, 2)
        if self.wcs is not None:
            sky = self.wcs[0].pixel_to_world(p[:, 0], p[:, 1])
            return np.column_stack(self.wcs[light].world_to_pixel(sky)).reshape(-1, 2)
        if self.registration is None:
            return p.copy()
        return self.registration.to_frame(light, p)

    def to_first_light(self, light: int, xy: np.ndarray) -> np.ndarray:
        """Positions (N, 2) in light ``light``'s pixels -> the first light's."""
        p = np.asarray(xy, dtype=float).reshape(-1, 2)
        if self.wcs is not None:
            sky = self.wcs[light].pixel_to_world(p[:, 0], p[:, 1])
            return np.column_stack(self.wcs[0].world_to_pixel(sky)).reshape(-1, 2)
        if self.registration is None:
            return p.copy()
        return self.registration.to_reference(light, p)

    def with_registration(self, table: Table) -> Table:
        """``table`` (one row per light) with each light's registration columns.

        ``reg_dx, reg_dy, reg_rotation, reg_scale, reg_flipped,
        reg_n_matched, reg_rms, reg_sigma, reg_status``
        (:meth:`fluxion.core.registration.Registration.table`); unchanged when
        the lights were placed by their WCS instead.
        """
        if self.registration is not None and len(table) == len(self):
            reg = self.registration.table()
            for c in reg.colnames:
                table[c] = reg[c]
        return table

    def in_every_light(self, xy_first: np.ndarray) -> np.ndarray:
        """Positions (N, 2) in the first light's pixels, in every light: (n_lights, N, 2)."""
        p = np.asarray(xy_first, dtype=float).reshape(-1, 2)
        return np.array([self.to_light(i, p) for i in range(len(self))]).reshape(-1, len(p), 2)


#: Neighbours fainter than this fraction of a star do not make it crowded.
_NEIGHBOUR_FRACTION = 0.01
_SPOILED = (
    SourceFlags.SATURATED
    | SourceFlags.TRUNCATED
    | SourceFlags.APERTURE_TRUNCATED
    | SourceFlags.APERTURE_ALL_MASKED
    | SourceFlags.NONPOSITIVE_FLUX
    | SourceFlags.SINGULAR
)


def bright_isolated_stars(image: np.ndarray, n: int = 40, *, isolation: float = 15.0) -> np.ndarray:
    """Up to ``n`` bright, unflagged, isolated stars (x, y), brightest first."""
    found = Detection()(np.asarray(image, dtype=np.float32)).sources
    if len(found) == 0:
        return np.zeros((0, 2))
    xy = np.column_stack([np.asarray(found["x"]), np.asarray(found["y"])])
    # Flags that spoil a star's light; being deblended from, or near, fainter
    # sources (MERGED, CROWDED, an isophotal centroid) does not, and the
    # isolation test below judges neighbours by their brightness.
    ok = (np.asarray(found["flags"]) & _SPOILED) == 0
    ny, nx = image.shape
    ok &= (xy[:, 0] > 25) & (xy[:, 0] < nx - 25) & (xy[:, 1] > 25) & (xy[:, 1] < ny - 25)
    flux = np.asarray(found["flux"], dtype=float)
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(d, np.inf)
    # A neighbour matters when it can move the star's photometry: one under
    # 1 % of its flux cannot by more than 0.01 mag even inside its aperture,
    # and a deep detection list finds such faint ones near most bright stars.
    faint = flux[None, :] < _NEIGHBOUR_FRACTION * flux[:, None]
    d[faint] = np.inf
    ok &= d.min(axis=1) > isolation
    order = np.argsort(-flux[ok])
    return xy[ok][order][:n]


def _readable(sequence: Sequence, lights: list[int]) -> tuple[list[int], list[FileFailure]]:
    """The lights whose pixels can be read, and the failures of the others.

    A compressed file's damage shows only when it is decompressed (its header
    reads well at the scan); it is tried here, once, so that a damaged light
    is left out with its cause instead of stopping the tracking, the light
    curve or the stack half-way. Uncompressed files were checked by the scan.
    """
    kept: list[int] = []
    skipped: list[FileFailure] = []
    for k in lights:
        path = sequence[k].path
        if not path.name.lower().endswith((".fz", ".gz", ".bz2")):
            kept.append(k)
            continue
        done = per_file(path, partial(sequence.data, k))
        if done.failure is None:
            kept.append(k)
        else:
            skipped.append(done.failure)
    return kept, skipped


def target_frames(
    sequence: Sequence,
    *,
    store: ProductStore | None = None,
    need_stars: bool = False,
    state: StepState | None = None,
    solved_wcs: Callable[[FrameInfo], WCS | None] | None = None,
) -> TargetFrames:
    """The light frames of ``sequence`` in time order, ready for tracking.

    Each light's WCS is the project's astrometric solution, else its header's
    own (:func:`fluxion.core.chain.frame_wcs`); the WCS list is kept only when
    every light has one. Bright isolated stars of the first light are found
    when ``need_stars`` (comparison candidates). When a light lacks a WCS the
    lights are registered to the first one from their stars instead; lights
    that cannot be registered are named in the log and get NaN positions.

    Parameters
    ----------
    sequence : Sequence
        An open sequence (nothing is rescanned).
    store : ProductStore, optional
        The project's products, for the astrometric solutions.
    need_stars : bool
    state : StepState, optional
    solved_wcs : callable, optional
        ``solved_wcs(frame)``: the frame's plate solution's WCS or None, for a
        caller that keeps the solutions it read (the window); replaces
        reading them from ``store``. The header's WCS is used where it gives None.

    Raises
    ------
    ValueError
        Fewer than two light frames with a time, or too few stars in the
        first light to register the others to it when a light has no WCS.
    """
    state = state if state is not None else StepState()
    light_times = {
        k: f.time for k, f in enumerate(sequence.frames) if f.type == "light" and f.time is not None
    }
    lights, skipped = _readable(sequence, list(light_times))
    if len(lights) < 2:
        raise ValueError(f"need at least two light frames with a time; found {len(lights)}")
    lights.sort(key=lambda k: light_times[k].jd)
    times = Time([light_times[k].utc.isot for k in lights], scale="utc")
    wcs_list = []
    for n, k in enumerate(lights):
        state.check()
        solved = solved_wcs(sequence[k]) if solved_wcs is not None else None
        if solved is None:
            store_k = store if solved_wcs is None else None
            solved = frame_wcs(store_k, sequence[k], sequence.header(k))
        wcs_list.append(solved)
        state.progress(0.3 * (n + 1) / len(lights), "reading the WCS")
    wcs = wcs_list if all(w is not None for w in wcs_list) else None
    stars = np.zeros((0, 2))
    if need_stars:
        state.progress(0.35, "finding bright stars in the first light")
        stars = bright_isolated_stars(np.asarray(sequence.data(lights[0]), dtype=float))
    location = night_location([sequence[k] for k in lights])
    frames = TargetFrames(sequence, lights, times, wcs, None, stars, location, skipped)
    if wcs is None:
        # The frame's pattern: its cards, its camera's profile, or the user's choice.
        cfa = getattr(sequence[lights[0]], "cfa", None)
        reg = register_frames(frames.image, len(lights), cfa=cfa, state=state.sub(0.4, 1.0))
        if not reg.frames[reg.reference].ok:
            raise ValueError(
                f"{frames.files[0]}: cannot register the lights to it: "
                f"{reg.frames[reg.reference].status}"
            )
        for i in reg.failed:
            log.warning("%s not registered: %s", frames.files[i], reg.frames[i].status)
        frames.registration = reg
        state.progress(1.0, f"{len(lights)} lights: {reg.summary()}")
        return frames
    state.progress(1.0, f"{len(lights)} lights ready")
    return frames


def load_target_frames(
    paths: Iterable[str | os.PathLike[str]],
    *,
    store: ProductStore | None = None,
    state: StepState | None = None,
    recursive: bool = True,
    site: ObservingSite | None = None,
) -> TargetFrames:
    """Scan ``paths`` and prepare the light frames for tracking (see :func:`target_frames`).

    Sub-folders are read too unless ``recursive`` is False. ``site`` fills the
    lights whose headers give no observing site.

    The bright isolated stars of the first light are always found.

    Raises
    ------
    ValueError
        When there are fewer than two usable light frames or no time in them.
    """
    sequence = Sequence.from_paths(paths, recursive=recursive)
    sequence.frames = with_sites(sequence.frames, site)
    return target_frames(sequence, store=store, need_stars=True, state=state)
