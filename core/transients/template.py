"""Templates for image subtraction: the night's own deep stack, a reference image, a survey.

* :func:`night_template` stacks the night's sharpest frames on the stars
  (:func:`fluxion.core.stacking.stack.stack_frames`, a sigma-clipped mean, so
  a short outburst or an asteroid does not enter it).
* :func:`reference_template` reads a user's reference image with its WCS.
* :func:`survey_template` asks CDS's hips2fits for a survey cutout (DSS2,
  Pan-STARRS, ...) on the frame's own WCS, through astroquery's hips2fits
  client, and keeps each answer in a cache folder for offline use.

Every template is a :class:`Template`: pixels, WCS and what its noise is made
of (an effective gain), reprojected onto each frame with ``reproject``
(:func:`template_on_frame`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS

from ..io.fitsio import FitsReadError, atomic_write_hdulist, read_image
from ..runtime.network import ServiceError, network_failure
from ..runtime.pipeline import StepState
from ..runtime.quiet import quiet
from ..stacking.stack import StackParams, stack_frames, star_offsets_from_wcs
from .frames import TransientFrame

__all__ = [
    "Template",
    "TemplateError",
    "night_template",
    "reference_template",
    "survey_template",
    "template_on_frame",
    "DEFAULT_SURVEY",
]

log = logging.getLogger(__name__)

#: The HiPS survey asked for by default: red DSS2 covers the whole sky.
DEFAULT_SURVEY = "CDS/P/DSS2/red"


class TemplateError(ServiceError, ValueError):
    """No template could be made; the message says why and what to do."""


@dataclass(frozen=True)
class Template:
    """A template image and what it is.

    Attributes
    ----------
    image : ndarray
        Pixels (float32), NaN where there are none.
    wcs : WCS
        Its astrometric solution (celestial, with the image size).
    gain : float or None
        Effective e- per image unit, for the sources' shot noise (a mean of
        ``n`` frames of gain ``g`` has ``n g``); None when unknown (a survey's
        scanned plate), and its sources' noise is then left out.
    source : str
        What it is, in words (shown to the user and written in the tables).
    """

    image: np.ndarray = field(repr=False)
    wcs: WCS = field(repr=False)
    gain: float | None = None
    source: str = ""


def _with_shape(w: WCS, shape: tuple[int, int]) -> WCS:
    w = w.celestial.deepcopy()
    w.pixel_shape = (shape[1], shape[0])
    return w


def night_template(
    frames: Sequence[TransientFrame],
    *,
    n_best: int | None = None,
    params: StackParams | None = None,
    state: StepState | None = None,
) -> Template:
    """A deep template from the night's sharpest frames.

    Parameters
    ----------
    frames : sequence of TransientFrame
        The night (each with its WCS and FWHM).
    n_best : int, optional
        How many of the sharpest frames to stack; default a third of the
        night, at least 3 and at most 15 (past that the template's noise no
        longer matters next to one frame's).
    params : StackParams, optional
        Default: a 3-sigma clipped mean.
    """
    usable = [f for f in frames if f.wcs is not None and math.isfinite(f.fwhm)]
    if not usable:
        raise TemplateError("no frame with a WCS and a measured FWHM to make a template from")
    n = n_best if n_best is not None else int(np.clip(round(len(usable) / 3), 3, 15))
    chosen = sorted(usable, key=lambda f: f.fwhm)[: max(1, n)]
    chosen.sort(key=lambda f: f.index)
    ref = int(np.argmin([f.fwhm for f in chosen]))
    shape = chosen[ref].image.shape
    wcs = [_with_shape(f.wcs, f.image.shape) for f in chosen]
    offsets = star_offsets_from_wcs(wcs, ref)

    def load(i: int) -> tuple[np.ndarray, np.ndarray | None]:
        return chosen[i].image, chosen[i].bad

    stack = stack_frames(
        load, offsets, params or StackParams(method="clipped"), reference=ref,
        files=[f.file for f in chosen], state=state,
    )  # fmt: skip
    data = np.where(stack.coverage > 0, stack.data, np.nan).astype(np.float32)
    gains = [f.gain for f in chosen if f.gain]
    gain = float(np.mean(gains)) * len(chosen) if gains else None
    names = ", ".join(f.file for f in chosen[:4]) + (" ..." if len(chosen) > 4 else "")
    return Template(
        data, _with_shape(chosen[ref].wcs, shape), gain,
        f"stack of the night's {len(chosen)} sharpest frames ({names})",
    )  # fmt: skip


def reference_template(path: str | os.PathLike[str], gain: float | None = None) -> Template:
    """A user's reference image (FITS with a celestial WCS) as the template.

    Raises
    ------
    TemplateError
        When the file cannot be read or has no WCS.
    """
    path = Path(path)
    try:
        image = read_image(path)
        with quiet():
            header = fits.getheader(path, ext=0)
            if header.get("NAXIS", 0) == 0:
                header = fits.getheader(path, ext=1)
            wcs = WCS(header)
    except (FitsReadError, OSError, ValueError) as exc:
        raise TemplateError(f"{path}: cannot be read as a template ({exc})") from exc
    if not wcs.has_celestial:
        raise TemplateError(
            f"{path}: the template has no WCS; solve it first (fluxion solve) or choose another"
        )
    if gain is None:
        g = header.get("GAIN", header.get("EGAIN"))
        gain = float(g) if isinstance(g, (int, float)) and g > 0 else None
    data = np.asarray(image, dtype=np.float32)
    return Template(data, _with_shape(wcs, data.shape), gain, f"reference image {path.name}")


def _linear_wcs(wcs: WCS) -> tuple[fits.Header, WCS]:
    """The header hips2fits is asked with, and the WCS of the pixels it sends.

    hips2fits draws on a plain projection: the frame's SIP distortion (if
    any) is left out of the request, and the cutout carries the WCS that was
    asked for, which ``reproject`` then maps onto the frame's full solution.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)  # "SIP keywords excluded"
        header = wcs.to_header(relax=False)
    nx, ny = wcs.pixel_shape
    header["NAXIS1"], header["NAXIS2"] = int(nx), int(ny)
    with quiet():
        linear = WCS(header)
    linear.pixel_shape = (int(nx), int(ny))
    return header, linear


def _survey_key(hips: str, header: fits.Header) -> str:
    text = json.dumps({"hips": hips, "wcs": {k: str(v) for k, v in header.items()}},
                      sort_keys=True)  # fmt: skip
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _hips2fits_payload(hips: str, header: fits.Header) -> dict[str, str]:
    """The request hips2fits documents, for a FITS cutout on ``header``'s WCS."""
    return {"hips": hips, "format": "fits", "wcs": json.dumps(dict(header.items()))}


def survey_template(
    wcs: WCS,
    shape: tuple[int, int],
    *,
    hips: str = DEFAULT_SURVEY,
    cache_dir: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> Template:
    """A survey cutout on the frame's own WCS from CDS's hips2fits, cached.

    Parameters
    ----------
    wcs : WCS
        The frame's WCS; the cutout has the frame's pixels.
    shape : (ny, nx)
        The frame's size.
    hips : str
        The HiPS survey (``CDS/P/DSS2/red``, ``CDS/P/PanSTARRS/DR1/r`` ...).
    cache_dir : path, optional
        Where answers are kept and looked up first.

    Raises
    ------
    TemplateError
        When hips2fits cannot be reached (and nothing is cached) or answers with an error.
    """
    from astroquery.hips2fits import conf, hips2fitsClass

    header, w = _linear_wcs(_with_shape(wcs, shape))
    cache = Path(cache_dir) / f"hips2fits-{_survey_key(hips, header)}.fits" if cache_dir else None
    if cache is not None and cache.is_file():
        try:
            data = np.asarray(fits.getdata(cache), dtype=np.float32)
            return Template(data, w, None, f"{hips} cutout (cached)")
        except (OSError, ValueError) as exc:
            log.warning("cached survey cutout %s unreadable (%s); asking again", cache, exc)
    # astroquery's query_with_wcs builds this request too, but imports
    # matplotlib for its colour-map argument (unused for FITS), which Fluxion
    # does not depend on: the client's request and parser are used directly.
    client = hips2fitsClass()
    try:
        response = client._request(
            method="GET", url=conf.server, params=_hips2fits_payload(hips, header),
            timeout=timeout, cache=False,
        )  # fmt: skip
        response.raise_for_status()
        with quiet():
            hdul = client._parse_result(response, verbose=False, format="fits")
            data = np.asarray(hdul[0].data, dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - network, HTTP and parsing failures alike
        failure = network_failure(exc)
        why = failure.text if failure is not None else f"answered: {exc}"
        raise TemplateError(
            f"hips2fits {why}. Use the night's own stack or a reference image as template.",
            service="hips2fits", failure=failure,
        ) from exc  # fmt: skip
    if data.ndim != 2 or data.shape != tuple(shape):
        raise TemplateError(f"hips2fits sent an image of shape {data.shape}, not {tuple(shape)}")
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_hdulist(cache, fits.HDUList([fits.PrimaryHDU(data, w.to_header())]))
        except OSError as exc:
            log.warning("survey cutout not cached in %s: %s", cache.parent, exc)
    return Template(data, w, None, f"{hips} cutout")


def template_on_frame(template: Template, wcs: WCS, shape: tuple[int, int]) -> np.ndarray:
    """The template resampled onto a frame's pixels (bicubic, ``reproject``); NaN outside it.

    Bicubic interpolation keeps the PSF sharp and a flat sky flat; at the
    same pixel scale it conserves flux as the frames' own stacks do.
    """
    from reproject import reproject_interp

    w = _with_shape(wcs, shape)
    image = np.asarray(template.image, dtype=np.float64)
    missing = ~np.isfinite(image)
    # A cubic spline spreads one NaN over the whole image: fill the holes with
    # the sky, and carry them over separately (bilinear, any share is a hole).
    filled = np.where(missing, np.nanmedian(image) if (~missing).any() else 0.0, image)
    out, footprint = reproject_interp(
        (filled, template.wcs), w, shape_out=tuple(shape), order="bicubic"
    )
    if missing.any():
        holes, _ = reproject_interp(
            (missing.astype(np.float64), template.wcs), w, shape_out=tuple(shape),
            order="bilinear",
        )  # fmt: skip
        out[~(np.nan_to_num(holes, nan=1.0) < 1e-3)] = np.nan
    out[~(footprint >= 1.0)] = np.nan
    return out.astype(np.float32)
