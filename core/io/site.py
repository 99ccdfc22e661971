"""The observing site: the headers' where they give one, else the one the user gave.

Many amateur cameras write no SITELAT/SITELONG (MaxIm DL without a site set,
most smart telescopes). Without a site a night has no airmass (no airmass
regressor in the light-curve and transit fits, no extinction term in the
field's zero points, no scintillation from the airmass) and its BJD_TDB is
geocentric, up to 21 ms (the Earth's radius in light time) from the
observer's. :class:`ObservingSite` is the site a user gives once for a project
(``fluxion run --site``, the window's File > Observing site); :func:`with_site`
fills a frame whose header has none, so that every step reading
``FrameInfo.site`` sees the same value, and says so in ``sources['site']``
("project setting") as it does for the header's facts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only stdlib at run time: the project file reads sites at start-up
    from astropy.coordinates import EarthLocation

    from .frames import FrameInfo

__all__ = [
    "PROJECT_SOURCE",
    "SITE_HELP",
    "ObservingSite",
    "night_location",
    "parse_site",
    "site_meta",
    "site_note",
    "with_site",
    "with_sites",
]

#: How ``sources['site']`` begins for a site the project gave (the header had none).
PROJECT_SOURCE = "project setting"

#: The convention, said wherever a site is typed.
SITE_HELP = (
    "longitude and latitude in decimal degrees, longitude east-positive (west of Greenwich "
    "is negative: -76.94 for College Park), latitude north-positive; height in metres "
    "above sea level (optional)"
)

# Heights a telescope on the ground may have: the Dead Sea shore to above the
# highest observatories (5.6 km); a larger number is a typo (feet, or a km slip).
_HEIGHT_RANGE = (-500.0, 9000.0)


@dataclass(frozen=True)
class ObservingSite:
    """Where the night was observed, as the user gave it.

    Attributes
    ----------
    longitude : float
        Degrees, east-positive, in [-180, 180).
    latitude : float
        Degrees, north-positive, in [-90, 90].
    height : float or None
        Metres above sea level; None when not given (taken as 0 m, and the
        scintillation's note says its height is unknown).
    name : str
        The observatory's name, for the notes (may be empty).
    """

    longitude: float
    latitude: float
    height: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        lon, lat = float(self.longitude), float(self.latitude)
        if not (math.isfinite(lon) and -180.0 <= lon < 360.0):
            raise ValueError(
                f"site longitude {self.longitude!r} is not in -180..360 degrees "
                "(east-positive: west of Greenwich is negative)"
            )
        if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise ValueError(
                f"site latitude {self.latitude!r} is not in -90..90 degrees (north-positive); "
                "the order is longitude, latitude"
            )
        lo, hi = _HEIGHT_RANGE
        if self.height is not None and not (
            math.isfinite(float(self.height)) and lo <= float(self.height) <= hi
        ):
            raise ValueError(
                f"site height {self.height!r} m is not in {lo:.0f}..{hi:.0f} m above sea level"
            )
        # One spelling of each place: 283.06 east is -76.94.
        object.__setattr__(self, "longitude", (lon + 180.0) % 360.0 - 180.0)
        object.__setattr__(self, "latitude", lat)
        if self.height is not None:
            object.__setattr__(self, "height", float(self.height))
        object.__setattr__(self, "name", str(self.name or "").strip())

    @property
    def triple(self) -> tuple[float, float, float]:
        """(longitude, latitude, height) as ``FrameInfo.site`` holds it (height 0 when unknown)."""
        return (self.longitude, self.latitude, 0.0 if self.height is None else self.height)

    def describe(self) -> str:
        """One line for notes and the window: name, longitude E, latitude, height."""
        height = "height unknown (0 m)" if self.height is None else f"{self.height:.0f} m"
        place = f"{self.longitude:+.5f} E, {self.latitude:+.5f} N, {height}"
        return f"{self.name}: {place}" if self.name else place

    def to_dict(self) -> dict[str, Any]:
        """The project file's ``site`` object."""
        out: dict[str, Any] = {"longitude": self.longitude, "latitude": self.latitude}
        if self.height is not None:
            out["height"] = self.height
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ObservingSite:
        """A site from the project file's ``site`` object (ValueError naming what is wrong)."""
        if not isinstance(doc, Mapping):
            raise ValueError("'site' must be an object with longitude, latitude and height")
        values: dict[str, Any] = {}
        for key in ("longitude", "latitude", "height"):
            v = doc.get(key)
            if v is None and key == "height":
                continue
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"site.{key} must be a number of degrees or metres, not {v!r}")
            values[key] = float(v)
        name = doc.get("name", "")
        if not isinstance(name, str):
            raise ValueError(f"site.name must be text, not {name!r}")
        return cls(name=name, **values)


def parse_site(text: str, name: str = "") -> ObservingSite:
    """``"LON,LAT[,HEIGHT]"`` (decimal degrees, east-positive; metres) as a site.

    Raises
    ------
    ValueError
        With what is wrong and the convention, for the command line and the window.
    """
    parts = [p.strip() for p in str(text).replace(";", ",").split(",")]
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"site {text!r}: give LON,LAT or LON,LAT,HEIGHT ({SITE_HELP})")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"site {text!r}: not numbers; give LON,LAT[,HEIGHT] ({SITE_HELP})"
        ) from None
    height = numbers[2] if len(numbers) == 3 else None
    return ObservingSite(numbers[0], numbers[1], height, name)


def _from_project(frame: FrameInfo) -> bool:
    return frame.sources.get("site", "").startswith(PROJECT_SOURCE)


def with_site(frame: FrameInfo, site: ObservingSite | None) -> FrameInfo:
    """``frame`` with the project's site where its header gives none.

    The header's site, when it has one, wins: it describes the frame. A site
    an earlier call filled in is replaced (or removed with ``site=None``), so
    a changed project setting applies to frames already resolved.
    """
    if frame.site is not None and not _from_project(frame):
        return frame
    sources = {k: v for k, v in frame.sources.items() if k != "site"}
    if site is None:
        if frame.site is None:
            return frame
        return replace(frame, site=None, sources=MappingProxyType(sources))
    said = PROJECT_SOURCE + (f" ({site.name})" if site.name else "")
    if site.height is None:
        # As for a header without a height: the scintillation says it is unknown.
        said += ", height default 0 m"
    sources["site"] = said
    return replace(frame, site=site.triple, sources=MappingProxyType(sources))


def with_sites(frames: Sequence[FrameInfo], site: ObservingSite | None) -> list[FrameInfo]:
    """:func:`with_site` of every frame (the same list's frames when nothing changes)."""
    return [with_site(f, site) for f in frames]


def night_location(lights: Sequence[FrameInfo]) -> EarthLocation | None:
    """The night's site as astropy wants it: the first light's that has one, None without.

    The one rule every step follows (light curve, field, transients, targets,
    ephemerides), so that they all compute a night's airmass and BJD for the same place.
    """
    site = next((f.site for f in lights if f.site is not None), None)
    if site is None:
        return None
    from astropy.coordinates import EarthLocation

    return EarthLocation.from_geodetic(*site)


def site_note(lights: Sequence[FrameInfo]) -> str:
    """What the night's site is and where it came from, or what is missing without one.

    Empty when every light's header gives the site.
    """
    if not lights:
        return ""
    missing = [f for f in lights if f.site is None]
    given = [f for f in lights if f.site is not None and _from_project(f)]
    if len(missing) == len(lights):
        return (
            "site: no observing site in the headers (SITELAT/SITELONG, OBSGEO-X/Y/Z) nor in "
            "the project, so no airmass (no airmass regressor in the light-curve and transit "
            "fits, no extinction term in the field's zero points, no scintillation from the "
            "airmass) and BJD_TDB is the geocentre's (up to 21 ms from the observer's); give "
            "it with --site LON,LAT[,HEIGHT] (degrees east-positive, metres) or File > "
            "Observing site"
        )
    parts = []
    if given:
        lon, lat, height = given[0].site or (0.0, 0.0, 0.0)
        parts.append(
            f"site: {given[0].sources['site']} ({lon:+.5f} E, {lat:+.5f} N, {height:.0f} m) for "
            f"{len(given)} of {len(lights)} lights (their headers give none)"
        )
    if missing:
        parts.append(f"site: {len(missing)} of {len(lights)} lights have none (no airmass)")
    return "; ".join(parts)


def site_meta(lights: Sequence[FrameInfo]) -> dict[str, Any]:
    """What a light curve's meta says of its site: the one used and where it came from.

    ``site`` (longitude east, latitude, height) and ``site_source`` (the header's
    cards or "project setting") of the first light that has one, as the
    curve's times use; without any, ``site_note`` says what is missing.
    """
    first = next((f for f in lights if f.site is not None), None)
    if first is None or first.site is None:
        return {"site_note": site_note(lights)} if lights else {}
    out: dict[str, Any] = {
        "site": [float(v) for v in first.site],
        "site_source": first.sources.get("site", ""),
    }
    note = site_note(lights)
    if note:
        out["site_note"] = note
    return out
