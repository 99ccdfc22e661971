"""Instrument header profiles: which cards give each fact, kept as data.

A profile is a JSON file in ``fluxion/resources/profiles`` (like the telescope
table of the Photometry Pipeline). It says which header cards give each fact,
in order of preference, with the unit conventions of the software that wrote
them (longitude sign, RA in hours or degrees, exposure in seconds or minutes,
time scale) and defaults. Profiles other than ``generic`` only list what differs
from ``generic``; they are merged over it on loading.

A profile matches a header when every regular expression of its ``match`` table
is found (case-insensitive) in the named card's value; among matching profiles
the one with most match rules, then highest ``priority``, wins. ``generic``
matches everything and is the fallback.

JSON layout::

    {
      "name": "theskyx",
      "description": "...",
      "match": {"SWCREATE": "TheSkyX"},
      "priority": 0,
      "cards": {"gain": ["EGAIN", "GAIN"]},
      "conventions": {"longitude_positive": "west"},
      "defaults": {"binning": [1, 1]}
    }
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from astropy.io import fits

__all__ = ["Profile", "ProfileError", "load_profiles", "match_profile", "profile_by_name"]

GENERIC = "generic"

# Convention keys and their allowed values; anything else in a profile is an error
# found when profiles load, not a silent misreading of every frame.
_CONVENTIONS: dict[str, tuple[str, ...]] = {
    "longitude_positive": ("east", "west", "auto"),
    "ra_numeric_unit": ("deg", "hour", "auto"),
    "exptime_unit": ("s", "min", "ms"),
    "time_scale": ("utc", "tai", "tt", "auto"),
    # What PIXSCALE/SECPIX-like cards and XPIXSZ-like cards count when their
    # comments do not say (see fluxion.core.io.pixscale).
    "plate_scale": ("binned", "unbinned", "auto"),
    "pixel_size": ("binned", "unbinned", "auto"),
}


class ProfileError(ValueError):
    """A profile file that cannot be used."""


@dataclass(frozen=True)
class Profile:
    """One instrument profile, already merged over the generic one.

    Attributes
    ----------
    name : str
        Short name shown to the user ("theskyx", "lco", ...).
    description : str
        What instruments or software the profile covers.
    match : Mapping[str, str]
        Card name to a regular expression that its value must contain.
    priority : int
        Tie-breaker between profiles with equally many match rules.
    cards : Mapping[str, Any]
        Fact name to the cards that give it, in order of preference.
    conventions : Mapping[str, str]
        Unit and sign conventions (see module docstring).
    defaults : Mapping[str, Any]
        Values used when no card gives a fact.
    image_types : tuple of (str, str)
        (regular expression, type) pairs mapping image-type card values to
        bias|dark|flat|light, tried in order.
    """

    name: str
    description: str = ""
    match: Mapping[str, str] = field(default_factory=dict)
    priority: int = 0
    cards: Mapping[str, Any] = field(default_factory=dict)
    conventions: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    image_types: tuple[tuple[str, str], ...] = ()

    def matches(self, header: fits.Header) -> bool:
        """True when every match rule finds its pattern in the header."""
        for key, pattern in self.match.items():
            if key not in header:
                return False
            if not re.search(pattern, str(header[key]), flags=re.IGNORECASE):
                return False
        return True

    def convention(self, key: str) -> str:
        """A convention value ("auto" when the profile does not say)."""
        return str(self.conventions.get(key, "auto"))


def _check(raw: Mapping[str, Any], origin: str) -> None:
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ProfileError(f"{origin}: a profile needs a 'name'")
    for key, value in dict(raw.get("conventions", {})).items():
        allowed = _CONVENTIONS.get(key)
        if allowed is None:
            raise ProfileError(f"{origin}: unknown convention {key!r}")
        if value not in allowed:
            raise ProfileError(f"{origin}: convention {key}={value!r}, expected one of {allowed}")
    for key, pattern in dict(raw.get("match", {})).items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ProfileError(f"{origin}: bad match pattern for {key}: {exc}") from exc


def _merge(base: Mapping[str, Any] | None, raw: Mapping[str, Any]) -> Profile:
    """Build a Profile from raw JSON, with ``base`` (generic) filling what it omits."""
    b = dict(base or {})
    cards = {**b.get("cards", {}), **raw.get("cards", {})}
    conventions = {**b.get("conventions", {}), **raw.get("conventions", {})}
    defaults = {**b.get("defaults", {}), **raw.get("defaults", {})}
    image_types = list(raw.get("image_types", [])) + list(b.get("image_types", []))
    return Profile(
        name=raw["name"],
        description=raw.get("description", ""),
        match=MappingProxyType(dict(raw.get("match", {}))),
        priority=int(raw.get("priority", 0)),
        cards=MappingProxyType(cards),
        conventions=MappingProxyType(conventions),
        defaults=MappingProxyType(defaults),
        image_types=tuple((str(p), str(t)) for p, t in image_types),
    )


def _read_json(path: Path | Any) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read profile ({exc})") from exc


def _builtin_files() -> list[Any]:
    folder = resources.files("fluxion.resources").joinpath("profiles")
    return sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)


def load_profiles(extra: Iterable[str | Path] = ()) -> tuple[Profile, ...]:
    """All profiles, built-in then ``extra`` JSON files, each merged over ``generic``.

    Parameters
    ----------
    extra : iterable of path, optional
        User profile files; a user profile with a built-in's name replaces it.

    Returns
    -------
    tuple of Profile
        ``generic`` first.
    """
    raws: dict[str, dict[str, Any]] = {}
    for f in [*_builtin_files(), *(Path(p) for p in extra)]:
        raw = _read_json(f)
        if raw.get("kind") == "camera":
            continue  # camera profiles: fluxion.core.io.cameras
        _check(raw, str(f))
        raws[raw["name"]] = raw
    if GENERIC not in raws:
        raise ProfileError("the generic profile is missing")
    generic = raws.pop(GENERIC)
    return (_merge(None, generic), *(_merge(generic, r) for r in raws.values()))


@lru_cache(maxsize=1)
def _builtin_profiles() -> tuple[Profile, ...]:
    return load_profiles()


def profile_by_name(name: str, profiles: Iterable[Profile] | None = None) -> Profile:
    """The profile called ``name``; raises KeyError when there is none."""
    for p in _builtin_profiles() if profiles is None else profiles:
        if p.name == name:
            return p
    raise KeyError(f"no header profile named {name!r}")


def match_profile(header: fits.Header, profiles: Iterable[Profile] | None = None) -> Profile:
    """The most specific profile matching ``header`` (``generic`` when none does).

    Parameters
    ----------
    header : astropy.io.fits.Header
        An image header.
    profiles : iterable of Profile, optional
        Candidates; the built-in profiles by default.
    """
    candidates = list(_builtin_profiles() if profiles is None else profiles)
    best = next(p for p in candidates if p.name == GENERIC)
    best_key = (0, best.priority)
    for p in candidates:
        if not p.match or not p.matches(header):
            continue
        key = (len(p.match), p.priority)
        if key > best_key:
            best, best_key = p, key
    return best
