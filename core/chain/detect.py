"""Detection in the project: one source table per frame in the ``sources`` step folder."""

from __future__ import annotations

import math
from pathlib import Path

from astropy.table import Table

from ..detection.colour import detect_on_greens
from ..detection.extract import Detection, DetectionParams, DetectionResult, SkyBackground
from ..io.frames import FrameInfo, frame_table_meta
from ..project.products import ProductStore, fingerprint
from ..runtime.params import params_to_dict
from ..runtime.pipeline import StepState
from .calibrate import FrameImage, frame_image, image_fingerprint
from .record import FrameRecord

__all__ = ["detect_frame", "detect_image", "detection_fingerprint", "load_sources"]


def detection_fingerprint(params: DetectionParams, image_fp: str) -> str:
    """Fingerprint of a frame's sources found with ``params`` in the image ``image_fp``."""
    return fingerprint("detection", params_to_dict(params), image_fp)


def detect_image(image: FrameImage, frame: FrameInfo, params: DetectionParams) -> Table:
    """Detect the sources of a frame's image; the table's meta holds the frame's facts.

    A calibrated frame's saturation is in its mask; a raw one's in its header.
    """
    return _detect(image, frame, params).sources


def _detect(
    image: FrameImage, frame: FrameInfo, params: DetectionParams, keep_background: bool = False
) -> DetectionResult:
    """:func:`detect_image`'s result, with the sky maps when ``keep_background`` (monochrome)."""
    saturation = frame.saturation if image.mask is None else None
    if image.cfa is not None:
        # A colour frame: its sources are found on its green pixels.
        result = detect_on_greens(
            Detection(params), image.data, image.cfa, image.mask,
            gain=frame.gain, saturation=saturation,
        )  # fmt: skip
    else:
        result = Detection(params)(
            image.data, image.mask, gain=frame.gain, saturation=saturation,
            keep_background=keep_background,
        )  # fmt: skip
    table = result.sources
    table.meta.update(frame_table_meta(frame.path, frame))
    table.meta["calibrated"] = image.calibrated
    # Which pixels: photometry takes this FWHM only when it measures the same ones.
    table.meta["image_fingerprint"] = image.fingerprint
    return result


def _result_of(table: Table, background: SkyBackground | None = None) -> DetectionResult:
    m = table.meta

    def num(key: str) -> float:
        v = m.get(key)
        return float(v) if v is not None else math.nan

    return DetectionResult(
        sources=table,
        fwhm=num("fwhm"),
        fwhm_spread=num("fwhm_spread"),
        n_fwhm_stars=int(m.get("n_fwhm_stars", 0) or 0),
        sky=num("sky"),
        sky_noise=num("sky_noise"),
        background=background or SkyBackground(level=num("sky"), noise=num("sky_noise")),
    )


def load_sources(store: ProductStore, frame: FrameInfo) -> DetectionResult | None:
    """``frame``'s stored sources (whatever made them), or None.

    The background maps are not stored; ``background`` holds the levels only.
    """
    table = store.read_table("detection", frame.path)
    return None if table is None else _result_of(table)


def detect_frame(
    store: ProductStore,
    frame: FrameInfo,
    params: DetectionParams | None = None,
    state: StepState | None = None,
    *,
    record: FrameRecord | None = None,
) -> DetectionResult:
    """``frame``'s sources: the stored table when current, else detected now and stored.

    Sources are found in the calibrated frame when the project has a valid
    one, else in the raw file.

    Parameters
    ----------
    record : FrameRecord, optional
        The frame as the chain has it so far: its pixels' fingerprint and,
        when read, the pixels themselves are taken from it (no file opened
        for them); the sources go into it.

    Raises
    ------
    fluxion.core.detection.extract.DetectionError, fluxion.core.io.fitsio.FitsReadError
        The frame cannot be read or searched.
    """
    params = params or DetectionParams()
    state = state if state is not None else StepState()
    if record is not None and record.image_fingerprint is not None:
        image_fp = record.image_fingerprint
    else:
        image_fp, _ = image_fingerprint(store, frame)
    fp = detection_fingerprint(params, image_fp)
    if store.is_current("detection", frame.path, fp):
        stored = load_sources(store, frame)
        if stored is not None:
            state.progress(1.0, "sources current")
            if record is not None:
                record.sources = stored
                record.fingerprints["detection"] = fp
            return stored
    state.progress(0.1, f"detecting in {Path(frame.path).name}")
    image = record.image(store) if record is not None else frame_image(store, frame)
    fp = detection_fingerprint(params, image.fingerprint)
    # The chain's photometry of this frame takes its sky maps from the record.
    found = _detect(image, frame, params, keep_background=record is not None)
    table = found.sources
    store.write_table("detection", frame.path, table, fp)
    state.progress(1.0, f"{len(table)} sources")
    result = _result_of(table, found.background if record is not None else None)
    if record is not None:
        record.sources = result
        record.fingerprints["detection"] = fp
    return result
