"""Camera profiles and the gain a header gives, in e-/ADU of the file's pixel values.

Many CMOS cameras (ZWO ASI and Seestar, QHYCCD, Player One, ToupTek...) write
``GAIN`` as the camera's gain *setting* (80, 100, 139), not a conversion factor.
A camera profile (``resources/profiles/camera-*.json``, ``"kind": "camera"``)
says which cards are settings, what e-/ADU is plausible for the sensor class,
and, per model, the conversion at each setting where the manufacturer
publishes it (each number with its source in the file):

    e-/ADU(file) = e_per_adu_gain0 x 10^(-setting x gain_setting_db / 20) / 2^(16 - adc_bits)

:func:`read_gain` applies, in order: an explicit e-/ADU card (``EGAIN``...) that
is plausible; the profile's conversion of the setting; any other gain card of
the header profile that is plausible as e-/ADU. A card that is not plausible is
never taken: it is reported, and the gain is left to be measured from the
frames (:mod:`fluxion.core.io.gainfit`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from astropy.io import fits

from .fitsio import card_float

__all__ = [
    "CameraModel",
    "CameraProfile",
    "GainReading",
    "camera_profiles",
    "match_camera",
    "read_gain",
]

# Cards that mean electrons per ADU whatever wrote them (SBIGFITSEXT EGAIN).
EXPLICIT_GAIN_CARDS = ("EGAIN", "GAIN_E", "E-GAIN", "EPERADU")
# e-/ADU any camera can have when no profile narrows it: CCDs 0.3-10, CMOS at
# high gain settings down to ~0.01 (0.001 once 12-bit values are padded to 16).
GENERIC_PLAUSIBLE = (0.001, 25.0)


@dataclass(frozen=True)
class CameraModel:
    """One model of a camera family: sensor, ADC depth and gain at setting 0 (ADC units)."""

    match: str
    sensor: str
    adc_bits: int
    e_per_adu_gain0: float | None
    source: str
    bayer_pattern: str | None = None


@dataclass(frozen=True)
class CameraProfile:
    """A camera family: which cards are gain settings and how to convert them."""

    name: str
    description: str
    match: Mapping[str, str]
    priority: int = 0
    gain_setting_cards: tuple[str, ...] = ()
    gain_setting_db: float = 0.1
    plausible_e_per_adu: tuple[float, float] = GENERIC_PLAUSIBLE
    models: tuple[CameraModel, ...] = ()
    comment: tuple[str, ...] = field(default=(), repr=False)

    def _values(self, header: fits.Header, keys: str) -> list[str]:
        return [str(header[k]) for k in keys.split("|") if k in header]

    def matches(self, header: fits.Header) -> bool:
        """True when every rule finds its pattern in one of its cards."""
        return bool(self.match) and all(
            any(re.search(p, v, flags=re.IGNORECASE) for v in self._values(header, keys))
            for keys, p in self.match.items()
        )

    def model(self, header: fits.Header) -> CameraModel | None:
        """The model named in the header's INSTRUME, CREATOR, CAMERA or TELESCOP, or None."""
        text = " ".join(self._values(header, "INSTRUME|CREATOR|CAMERA|CCDNAME|TELESCOP"))
        return next((m for m in self.models if re.search(m.match, text, re.IGNORECASE)), None)

    def bayer_pattern(self, header: fits.Header) -> str | None:
        """The colour-filter pattern of the header's model when the profile knows it."""
        model = self.model(header)
        return None if model is None else model.bayer_pattern

    def e_per_adu(self, model: CameraModel, setting: float) -> float | None:
        """e-/ADU of the file at a gain setting, or None without a published conversion."""
        if model.e_per_adu_gain0 is None:
            return None
        analogue = 10.0 ** (setting * self.gain_setting_db / 20.0)
        padding = 2.0 ** (16 - model.adc_bits)
        return model.e_per_adu_gain0 / analogue / padding


def _camera(raw: Mapping[str, Any], origin: str) -> CameraProfile:
    try:
        models = tuple(
            CameraModel(
                str(m["match"]),
                str(m.get("sensor", "")),
                int(m.get("adc_bits", 16)),
                None if m.get("e_per_adu_gain0") is None else float(m["e_per_adu_gain0"]),
                str(m.get("source", "")),
                m.get("bayer_pattern"),
            )
            for m in raw.get("models", ())
        )
        low, high = raw.get("plausible_e_per_adu", GENERIC_PLAUSIBLE)
        return CameraProfile(
            name=str(raw["name"]),
            description=str(raw.get("description", "")),
            match=dict(raw.get("match", {})),
            priority=int(raw.get("priority", 0)),
            gain_setting_cards=tuple(raw.get("gain_setting_cards", ())),
            gain_setting_db=float(raw.get("gain_setting_db", 0.1)),
            plausible_e_per_adu=(float(low), float(high)),
            models=models,
            comment=tuple(raw.get("comment", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        # A broken built-in file is a packaging error, found by the tests.
        raise ValueError(f"{origin}: not a camera profile ({exc})") from exc


@lru_cache(maxsize=1)
def camera_profiles() -> tuple[CameraProfile, ...]:
    """The built-in camera profiles (``"kind": "camera"`` files among the profiles)."""
    folder = resources.files("fluxion.resources").joinpath("profiles")
    out = []
    for f in sorted(folder.iterdir(), key=lambda f: f.name):
        if not f.name.endswith(".json"):
            continue
        raw = json.loads(f.read_text(encoding="utf-8"))
        if raw.get("kind") == "camera":
            out.append(_camera(raw, f.name))
    return tuple(out)


def match_camera(
    header: fits.Header, cameras: Sequence[CameraProfile] | None = None
) -> CameraProfile | None:
    """The camera profile matching the header (highest priority first), or None."""
    found = [c for c in (camera_profiles() if cameras is None else cameras) if c.matches(header)]
    return max(found, key=lambda c: c.priority) if found else None


@dataclass(frozen=True)
class GainReading:
    """The gain a header gives, and why.

    Attributes
    ----------
    gain : float or None
        e-/ADU of the file's pixel values; None when the header gives none.
    source : str or None
        Card, profile conversion, or why none (``"GAIN=80 is the ... setting"``).
    setting : float or None
        The camera's gain setting when a card is one.
    problems : tuple of str
        Cards that could not be taken.
    """

    gain: float | None
    source: str | None
    setting: float | None = None
    problems: tuple[str, ...] = ()


def read_gain(
    header: fits.Header, gain_cards: Sequence[str], camera: CameraProfile | None
) -> GainReading:
    """The header's gain in e-/ADU with its source, never a gain setting taken as one.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The frame's header.
    gain_cards : sequence of str
        The header profile's gain cards, in order of preference.
    camera : CameraProfile or None
        The matching camera profile.
    """
    low, high = camera.plausible_e_per_adu if camera is not None else GENERIC_PLAUSIBLE
    settings = camera.gain_setting_cards if camera is not None else ()
    problems: list[str] = []
    setting: tuple[str, float] | None = None
    for key in settings:
        value = card_float(header[key]) if key in header else None
        if value is not None:
            setting = (key, value)
            break
    ordered = [k for k in EXPLICIT_GAIN_CARDS if k in gain_cards or k == "EGAIN"]
    ordered += [k for k in gain_cards if k not in ordered]
    for key in ordered:
        if key not in header or not str(header[key]).strip():
            continue
        if key in settings and key not in EXPLICIT_GAIN_CARDS:
            continue
        value = card_float(header[key])
        if value is None:
            problems.append(f"{key}={header[key]!r} is not a number")
            continue
        if value <= 0:
            problems.append(f"{key}={header[key]!r} is not a valid gain; ignored")
            continue
        if not low <= value <= high:
            kind = f"a {camera.name} camera" if camera is not None else "any camera"
            problems.append(
                f"{key}={header[key]!r} is not plausible as e-/ADU for {kind} "
                f"({low:g}-{high:g}); not used"
            )
            continue
        return GainReading(value, key, setting[1] if setting else None, tuple(problems))
    if setting is None:
        return GainReading(None, None, None, tuple(problems))
    key, value = setting
    assert camera is not None  # settings come from a camera profile
    model = camera.model(header)
    if model is not None:
        g = camera.e_per_adu(model, value)
        if g is not None:
            source = (
                f"{camera.name} profile: {model.sensor} at {key} setting {value:g} "
                f"({model.e_per_adu_gain0:g} e-/ADU at 0, {model.adc_bits}-bit ADC)"
            )
            return GainReading(g, source, value, tuple(problems))
    which = f"{model.sensor} " if model is not None else ""
    source = f"unknown: {key}={value:g} is the {which}camera's gain setting ({camera.name})"
    return GainReading(None, source, value, tuple(problems))
