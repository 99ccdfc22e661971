"""Calibration in the project: masters once per set of calibration frames, one product per light.

Masters go to ``masters/`` in the project with a ``masters.json`` holding the
fingerprint of the frames and parameters they were made from, so they are
rebuilt only when those change. Each calibrated light is a FITS file with its
``MASK`` extension in the ``calibrated`` step folder, and carries the
fingerprint of the raw file it came from (``FLXRAWFP``), so that
:func:`frame_image` can tell a calibrated frame that is still valid from one
whose raw file changed without knowing the parameters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits

from ..calibration.cards import RAW_SATURATION_CARD, missing_from_header
from ..calibration.masters import MasterFrame, MasterParams
from ..calibration.pairing import CalibrationMasters, missing_summary, unmatched
from ..calibration.params import CalibrationParams
from ..calibration.raw import RawFrame
from ..calibration.run import build_masters
from ..io.cfa import read_cfa
from ..io.digest import remember_digest
from ..io.fitsio import atomic_write_text, read_frame
from ..io.frames import FrameInfo
from ..io.sequence import group_frames
from ..project.products import ProductStore, fingerprint, product_intact
from ..runtime.params import params_to_dict
from ..runtime.pipeline import StepState
from ..runtime.quiet import quiet
from .batch import StepOutcome, portable, run_frames

if TYPE_CHECKING:
    from ..calibration.apply import CalibratedFrame, Calibration

# The calibration itself (its masks, cosmic rays, scipy) is imported where a
# light is calibrated: the main process of a run on worker processes makes the
# masters and reads the products' fingerprints, and does not pay for it.

__all__ = [
    "FrameImage",
    "calibrate_frames",
    "calibrate_light",
    "calibrated_image",
    "calibration_fingerprint",
    "frame_image",
    "image_fingerprint",
    "load_masters",
    "masters_fingerprint",
    "prepare_masters",
    "raw_fingerprint",
    "stored_problem",
    "write_calibrated",
]

log = logging.getLogger(__name__)

MASTERS_FOLDER = "masters"
_MASTERS_INDEX = "masters.json"


@dataclass(frozen=True)
class FrameImage:
    """A frame's pixels as the later steps should see them.

    Unpacks as ``data, mask, header``. ``calibrated`` says whether this is
    the project's calibrated frame (else the raw file, with no mask);
    ``fingerprint`` identifies exactly these pixels for the next step's
    fingerprint. ``saturation`` is the level (ADU) at and above which these
    pixels may be saturated: the calibrated frame's own (calibration moved
    the raw level), or the raw header's; None when unknown.
    """

    data: np.ndarray = field(repr=False)
    mask: np.ndarray | None = field(repr=False)
    header: fits.Header = field(repr=False)
    calibrated: bool
    fingerprint: str
    saturation: float | None = None
    cfa: str | None = None
    """Bayer pattern of these pixels for a colour frame (the calibrated header's, or the
    frame's), None for monochrome."""

    def __iter__(self):
        return iter((self.data, self.mask, self.header))

    @property
    def bad(self) -> np.ndarray | None:
        """Pixels no measurement may use (bool), or None when there is no mask.

        Every flagged pixel, except saturated ones when the saturation level
        is known: those keep their values, so that a measurement touching
        them reaches ``saturation`` and is flagged saturated rather than
        merely masked.
        """
        if self.mask is None:
            return None
        if self.saturation is None:
            return self.mask != 0
        from ..calibration.masks import MaskBits

        return (self.mask & ~np.uint8(MaskBits.SATURATED)) != 0


def raw_fingerprint(frame: FrameInfo) -> str:
    """Fingerprint of a raw input file (name, size, content digest, HDU, colour pattern)."""
    # The digest the scan took through its own open: the file is not read for it again.
    remember_digest(frame.digest)
    if frame.cfa is None:
        return fingerprint("raw", Path(frame.path), frame.hdu)
    # The pattern decides how the pixels are calibrated and measured.
    return fingerprint("raw", Path(frame.path), frame.hdu, frame.cfa)


def masters_fingerprint(frames: Sequence[FrameInfo], master_params: MasterParams) -> str:
    """Fingerprint of the masters made from the calibration frames among ``frames``."""
    g = group_frames(frames)
    return fingerprint(
        "masters",
        params_to_dict(master_params),
        [Path(f.path) for f in g.bias],
        {str(t): [Path(f.path) for f in fs] for t, fs in g.darks.items()},
        {str(k): [Path(f.path) for f in fs] for k, fs in g.flats.items()},
    )


def calibration_fingerprint(
    frame: FrameInfo, calib_params: CalibrationParams, masters_fp: str
) -> str:
    """Fingerprint of ``frame``'s calibrated product."""
    return fingerprint(
        "calibration", params_to_dict(calib_params), masters_fp, raw_fingerprint(frame)
    )


def _masters_folder(store: ProductStore) -> Path:
    return store.folder / MASTERS_FOLDER


def load_masters(
    store: ProductStore, masters_fp: str | None = None, *, stats: bool = True
) -> CalibrationMasters | None:
    """The project's masters, or None when there are none (or not made with ``masters_fp``).

    ``stats=False``: without each master's robust statistics (:meth:`MasterFrame.from_fits`),
    for a worker that only calibrates lights with them.
    """
    folder = _masters_folder(store)
    try:
        index = json.loads((folder / _MASTERS_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if masters_fp is not None and index.get("fingerprint") != masters_fp:
        return None
    try:
        loaded = [
            MasterFrame.from_fits(str(folder / name), stats=stats)
            for name in index.get("files", [])
        ]
    except (OSError, ValueError) as exc:
        log.warning("masters in %s unreadable, rebuilding: %s", folder, exc)
        return None
    return CalibrationMasters(
        biases=tuple(m for m in loaded if m.kind == "bias"),
        darks=tuple(m for m in loaded if m.kind == "dark"),
        flats=tuple(m for m in loaded if m.kind == "flat"),
    )


def masters_problems(store: ProductStore) -> list[str]:
    """What went wrong making the project's masters (frames left out, masters not made)."""
    try:
        index = json.loads((_masters_folder(store) / _MASTERS_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    problems = index.get("problems", []) if isinstance(index, dict) else []
    return [str(p) for p in problems] if isinstance(problems, list) else []


def prepare_masters(
    store: ProductStore,
    frames: Sequence[FrameInfo],
    master_params: MasterParams,
    masters_fp: str,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> CalibrationMasters:
    """The night's masters: the project's when made from the same frames and parameters,
    else combined now (on ``executor`` when it is a thread pool) and kept in the project."""
    state = state if state is not None else StepState()
    return _masters(store, frames, master_params, masters_fp, executor, state)


def _masters(
    store: ProductStore,
    frames: Sequence[FrameInfo],
    master_params: MasterParams,
    masters_fp: str,
    executor: Executor | None,
    state: StepState,
) -> CalibrationMasters:
    masters = load_masters(store, masters_fp)
    if masters is not None:
        state.progress(1.0, "masters current")
        return masters
    g = group_frames(frames)

    def raw(group: Sequence[FrameInfo]) -> list[RawFrame]:
        return [RawFrame.from_info(f) for f in group]

    folder = _masters_folder(store)
    # Combining shares band buffers between threads: it runs on a thread pool,
    # never on processes or a cluster (the masters are made once per night).
    if not isinstance(executor, ThreadPoolExecutor):
        executor = None
    report = build_masters(
        raw(g.bias),
        {t: raw(fs) for t, fs in g.darks.items()},
        {k: raw(fs) for k, fs in g.flats.items()},
        master_params,
        folder=folder,
        executor=executor,
        state=state,
    )
    for problem in report.problems:
        log.warning("masters: %s", problem)
    index = {
        "fingerprint": masters_fp,
        "files": [p.name for p in report.files],
        "problems": list(report.problems),
    }
    atomic_write_text(folder / _MASTERS_INDEX, json.dumps(index, indent=1))
    return report.masters


def calibrate_light(step: Calibration, frame: FrameInfo) -> CalibratedFrame:
    """Calibrate one light in memory (its raw file read once); nothing written."""
    result = step(RawFrame.from_info(frame, with_pixels=True))  # one open
    result.header["FLXRAWFP"] = (raw_fingerprint(frame), "Fluxion fingerprint of the raw file")
    return result


def calibrated_image(result: CalibratedFrame, calib_fp: str) -> FrameImage:
    """The image later steps see of a light calibrated in memory: as its product reads back."""
    return FrameImage(
        result.data,
        result.mask,
        result.header,
        True,
        fingerprint("calibrated", calib_fp),
        _calibrated_saturation(result.header),
        read_cfa(result.header, result.data.shape).pattern,
    )


def write_calibrated(
    store: ProductStore, frame: FrameInfo, result: CalibratedFrame, calib_fp: str
) -> Path:
    """Write a light calibrated in memory as its product and record it as current."""
    out = store.path("calibration", frame.path, ".fits")
    out.parent.mkdir(parents=True, exist_ok=True)
    from ..calibration.apply import write_calibrated_product

    write_calibrated_product(out, result.data, result.mask, result.header)
    store.record("calibration", frame.path, calib_fp)
    return out


def _calibrate_one(step: Calibration, frame: FrameInfo, out: Path, raw_fp: str) -> dict:
    """Calibrate one light and write it (runs on a worker: picklable in and out)."""
    from ..calibration.apply import write_calibrated_product

    result = calibrate_light(step, frame)
    write_calibrated_product(out, result.data, result.mask, result.header)
    return {
        "applied": list(result.applied),
        "warnings": list(result.warnings),
        "missing": dict(result.missing),
    }


def calibrate_frames(
    store: ProductStore,
    frames: Sequence[FrameInfo],
    calib_params: CalibrationParams | None = None,
    master_params: MasterParams | None = None,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> list[StepOutcome]:
    """Calibrate the lights among ``frames`` into the project, skipping current products.

    Parameters
    ----------
    store : ProductStore
        The project's products.
    frames : sequence of FrameInfo
        A night's frames: the bias, darks and flats make the masters, the
        lights are calibrated.
    calib_params, master_params : optional
        Step parameters (defaults when None).
    executor : Executor, optional
        Masters and lights in parallel.
    state : StepState, optional
        Progress and cancellation; a cancel keeps the lights already done.

    Returns
    -------
    list of StepOutcome
        One per light; ``value`` is the product path (None when failed).
    """
    state = state if state is not None else StepState()
    calib_params = calib_params or CalibrationParams()
    master_params = master_params or MasterParams()
    lights = [f for f in frames if f.type == "light" and f.usable]
    mfp = masters_fingerprint(frames, master_params)
    fps = {f.path: calibration_fingerprint(f, calib_params, mfp) for f in lights}
    outcomes: dict[Path, StepOutcome] = {}
    todo = []
    for f in lights:
        if store.is_current("calibration", f.path, fps[f.path], ".fits"):
            path = store.path("calibration", f.path, ".fits")
            problem = _unmatched(_stored_missing(path))
            outcomes[f.path] = StepOutcome(store.names.file(f.path), "current", problem, value=path)
        else:
            todo.append(f)
    missing: list[tuple[str, dict]] = []
    if todo:
        masters = _masters(store, frames, master_params, mfp, executor, state.sub(0.0, 0.3))
        from ..calibration.apply import Calibration

        step = Calibration(calib_params, masters)
        store.step_folder("calibration").mkdir(parents=True, exist_ok=True)

        def args_of(f: FrameInfo) -> tuple:
            out = store.path("calibration", f.path, ".fits")
            return step, portable(f), out, raw_fingerprint(f)

        def on_result(f: FrameInfo, result: dict[str, Any] | BaseException) -> None:
            if isinstance(result, BaseException):
                log.warning("%s: not calibrated: %s", f.path.name, result)
                outcomes[f.path] = StepOutcome(
                    store.names.file(f.path), "failed", f"calibration: {result}"
                )
                return
            store.record("calibration", f.path, fps[f.path])
            path = store.path("calibration", f.path, ".fits")
            gaps = result.get("missing", {})
            outcomes[f.path] = StepOutcome(
                store.names.file(f.path), "done", _unmatched(gaps), value=path
            )
            missing.append((store.names.file(f.path), gaps))

        run_frames(
            todo,
            _calibrate_one,
            args_of,
            on_result,
            executor=executor,
            state=state.sub(0.3, 1.0),
            label="calibrated",
        )
    for line in missing_summary(missing):
        log.warning("calibration: %s", line)
    state.progress(1.0, f"{len(lights)} lights calibrated")
    return [outcomes[f.path] for f in lights if f.path in outcomes]


def stored_problem(store: ProductStore, frame: FrameInfo, header: fits.Header | None = None) -> str:
    """What a current calibrated product went without, for the frame's status ('' if nothing).

    ``header`` is the product's when the caller has read it (no second open).
    """
    if header is not None:
        return _unmatched(missing_from_header(header))
    return _unmatched(_stored_missing(store.path("calibration", frame.path, ".fits")))


def unmatched_problem(missing: dict[str, str]) -> str:
    """The frame's own calibration problem from what it went without ('' when none)."""
    return _unmatched(missing)


def _unmatched(missing: dict[str, str]) -> str:
    """The frame's own calibration problem, for its status ('' when none)."""
    gaps = unmatched(missing)
    return f"calibration: {'; '.join(gaps)}" if gaps else ""


def _stored_missing(path: Path) -> dict[str, str]:
    """The steps a stored calibrated frame went without, and why."""
    try:
        with quiet():
            return missing_from_header(fits.getheader(path))
    except (OSError, ValueError):
        return {}


def _calibrated_product(
    store: ProductStore, frame: FrameInfo, read_next: bool = False
) -> tuple[Path, str, str] | None:
    """``(path, recorded fingerprint, raw fingerprint)`` of a calibrated product to check.

    None when the store records none for ``frame`` or its file is gone or
    damaged. ``read_next``: the caller reads the product at once and checks
    its first card (:func:`_read_calibrated`), so only its size is checked
    here and the file is not opened twice.
    """
    path = store.path("calibration", frame.path, ".fits")
    recorded = store.fingerprint_of("calibration", frame.path)
    # A damaged product is not used (nor raw pixels in its place): it is redone.
    if recorded is None or not (_whole_blocks(path) if read_next else product_intact(path)):
        return None
    return path, recorded, raw_fingerprint(frame)


def _whole_blocks(path: Path) -> bool:
    """The size half of :func:`product_intact` for a FITS product: whole 2880-byte blocks."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return size > 0 and size % 2880 == 0


def image_fingerprint(store: ProductStore, frame: FrameInfo) -> tuple[str, bool]:
    """Fingerprint of the pixels later steps use for ``frame``, and whether they are calibrated.

    Reads headers only. A calibrated product is used when it is recorded in
    the store and was made from the raw file as it is now.
    """
    product = _calibrated_product(store, frame)
    if product is not None:
        path, recorded, raw_fp = product
        try:
            with quiet():
                made_from = fits.getval(path, "FLXRAWFP")
        except (OSError, KeyError, ValueError):
            made_from = None
        if made_from == raw_fp:
            return fingerprint("calibrated", recorded), True
    return raw_fingerprint(frame), False


def _calibrated_saturation(header: fits.Header) -> float | None:
    """A calibrated frame's saturation level (ADU) from its header, or None.

    Only frames whose calibration wrote the raw level aside (``FLXSATRW``)
    carry the calibrated level in ``SATURATE``; older ones kept the raw
    level there, which does not apply to their pixels.
    """
    if RAW_SATURATION_CARD not in header:
        return None
    try:
        level = float(header["SATURATE"])
    except (KeyError, TypeError, ValueError):
        return None
    return level if np.isfinite(level) else None


def _read_calibrated(path: Path, raw_fp: str) -> tuple[np.ndarray, np.ndarray | None, fits.Header]:
    """Pixels, mask and header of a calibrated product made from ``raw_fp``; opens it once.

    Raises
    ------
    ValueError
        When the product was made from another raw file.
    OSError
        When it cannot be read.
    """
    # Memory-mapped (the product is plain float32: several times faster than
    # reading it in); the arrays are copied out so that no map outlives the
    # file, which would stop it being replaced on Windows.
    with quiet():
        hdul = fits.open(path, memmap=True, lazy_load_hdus=True)
    try:
        with quiet():
            header = hdul[0].header.copy()
        # The bytes half of product_intact, in this open: a FITS file begins with SIMPLE.
        if not header.cards or header.cards[0].keyword != "SIMPLE":
            raise ValueError("damaged product: no SIMPLE card first")
        if header.get("FLXRAWFP") != raw_fp:
            raise ValueError("made from another raw file")
        data = np.array(hdul[0].data, dtype=np.float32, order="C")
        with quiet():
            has_mask = "MASK" in hdul
        mask = np.array(hdul["MASK"].data, dtype=np.uint8) if has_mask else None
    finally:
        hdul.close()
    if data.ndim != 2 or (mask is not None and mask.shape != data.shape):
        mask_shape = np.shape(mask) if mask is not None else ()
        raise ValueError(f"damaged product: image {data.shape}, mask {mask_shape}")
    return data, mask, header


def frame_image(store: ProductStore, frame: FrameInfo) -> FrameImage:
    """``frame``'s calibrated image and mask when the project has a valid one, else the raw.

    See :func:`image_fingerprint` for "valid"; each file is opened once. A
    calibrated product that cannot be read gives the raw file, as a stale one does.

    Raises
    ------
    fluxion.core.io.fitsio.FitsReadError
        When the raw file cannot be read.
    """
    product = _calibrated_product(store, frame, read_next=True)
    if product is not None:
        path, recorded, raw_fp = product
        try:
            data, mask, header = _read_calibrated(path, raw_fp)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.debug("%s: calibrated product not used: %s", path.name, exc)
        else:
            fp = fingerprint("calibrated", recorded)
            cfa = read_cfa(header, data.shape).pattern
            return FrameImage(data, mask, header, True, fp, _calibrated_saturation(header), cfa)
    hdu = frame.hdu if frame.hdu is not None and frame.hdu >= 0 else None
    data, header, _ = read_frame(frame.path, hdu=hdu, dtype=np.float32)
    return FrameImage(
        data, None, header, False, raw_fingerprint(frame), frame.saturation, frame.cfa
    )
