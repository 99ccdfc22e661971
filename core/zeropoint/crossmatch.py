"""Match a frame's measured sources to reference-catalog stars on the sky.

Matching is nearest neighbour on the sphere (what astropy's
``match_to_catalog_sky`` does: a KD-tree on unit vectors, the separation by
Vincenty's formula), made one-to-one so that two sources never claim
the same star. Stars unfit for calibration are then marked with the reason:
blends (another catalog star within a few FWHM, whose light the aperture
shares), saturated or otherwise flagged measurements, and measurements too
faint to carry weight.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import astropy.units as u
import erfa
import numpy as np
from astropy.coordinates import angular_separation
from astropy.table import Table
from scipy.spatial import KDTree

__all__ = ["CatalogSky", "Match", "catalog_sky", "match_sources", "sky_columns"]

log = logging.getLogger(__name__)

# Bit of the photometry table's ``flags`` column that marks saturation
# (fluxion.core.photometry.flags.PhotometryFlag.SATURATED); repeated here so
# that calibration works on any table with a flags column.
SATURATED_FLAG = 1

_RA_NAMES = ("ra", "RA", "RAJ2000", "RA_ICRS", "ra_icrs", "_RAJ2000", "ALPHA_J2000")
_DEC_NAMES = ("dec", "DEC", "Dec", "DEJ2000", "DE_ICRS", "dec_icrs", "_DEJ2000", "DELTA_J2000")


def _sky_names(table: Table) -> tuple[str, str] | None:
    ra = next((c for c in _RA_NAMES if c in table.colnames), None)
    dec = next((c for c in _DEC_NAMES if c in table.colnames), None)
    return None if ra is None or dec is None else (ra, dec)


def _deg(col: object) -> np.ndarray:
    unit = getattr(col, "unit", None)
    if unit is u.deg and not hasattr(col, "mask"):
        return np.array(col, dtype=float)  # degrees already: no Quantity round trip
    q = getattr(col, "quantity", None)
    if q is not None and unit is not None and unit.physical_type == "angle":
        return np.asarray(q.to_value(u.deg), dtype=float)
    arr: np.ma.MaskedArray = np.ma.asarray(col)
    return np.asarray(np.ma.filled(arr.astype(float), np.nan), dtype=float)


def sky_columns(table: Table) -> tuple[np.ndarray, np.ndarray] | None:
    """RA and Dec in degrees from the first matching column names, or None."""
    names = _sky_names(table)
    if names is None:
        return None
    return _deg(table[names[0]]), _deg(table[names[1]])


def _unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Cartesian unit vectors (n, 3) of positions in degrees, as astropy makes them."""
    return erfa.s2c(np.deg2rad(ra), np.deg2rad(dec))


@dataclass
class CatalogSky:
    """A reference catalog's positions, prepared once for every frame of a night.

    The matching is astropy's ``match_to_catalog_sky`` without its frame
    machinery, which cost more than the match itself: the same KD-tree
    (scipy's, built as astropy builds it) on the same unit vectors, the
    same separations (:func:`astropy.coordinates.angular_separation`).

    Attributes
    ----------
    ra, dec : ndarray
        Every row's position in degrees (NaN where it has none).
    rows : ndarray of int
        Rows with a position, in the order of the KD-tree.
    tree : KDTree or None
        The unit vectors of those rows (None when no row has a position).
    """

    ra: np.ndarray
    dec: np.ndarray
    rows: np.ndarray
    tree: KDTree | None
    _nearest: np.ndarray | None = field(default=None, repr=False)

    def match(self, ra: np.ndarray, dec: np.ndarray, nth: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Index (into :attr:`rows`) of each position's ``nth`` nearest star and its distance.

        The distance is in arcsec.
        """
        assert self.tree is not None
        _, idx = self.tree.query(_unit_vectors(ra, dec), nth)
        if nth > 1:
            idx = idx[:, -1]
        cat_ra, cat_dec = self.ra[self.rows[idx]], self.dec[self.rows[idx]]
        # Differences in degrees before radians, in astropy's order, so that
        # the separations are its own to the last bit.
        sep = angular_separation(0.0, np.deg2rad(cat_dec), np.deg2rad(ra - cat_ra), np.deg2rad(dec))
        return idx, np.rad2deg(sep) * 3600.0

    def nearest_other(self) -> np.ndarray:
        """Distance (arcsec) of each star of :attr:`rows` to its nearest other star."""
        if self._nearest is None:
            r = self.rows
            self._nearest = self.match(self.ra[r], self.dec[r], nth=2)[1]
        return self._nearest


# The reference catalog is the same for every frame of a night: its
# coordinates, KD-tree and nearest-neighbour distances are kept for the next
# frame, found again by the positions' content (a table edited in place or a
# new catalog gets its own entry). A few entries: a night has one catalog.
_CATALOGS: OrderedDict[bytes, CatalogSky] = OrderedDict()
_CATALOGS_LOCK = threading.Lock()
_CATALOGS_KEPT = 4


def _content_key(table: Table, names: tuple[str, str]) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for name in names:
        col = table[name]
        h.update(f"{name}:{getattr(col, 'unit', None)}:{col.dtype.str}".encode())
        h.update(np.ascontiguousarray(np.ma.getdata(col)).tobytes())
        h.update(np.ascontiguousarray(np.ma.getmaskarray(col)).tobytes())
    return h.digest()


def catalog_sky(catalog: Table) -> CatalogSky | None:
    """``catalog``'s positions and their coordinates (kept for the next frame), or None.

    None when the catalog has no RA/Dec columns.
    """
    names = _sky_names(catalog)
    if names is None:
        return None
    key = _content_key(catalog, names)
    with _CATALOGS_LOCK:
        kept = _CATALOGS.get(key)
        if kept is not None:
            _CATALOGS.move_to_end(key)
            return kept
    ra, dec = _deg(catalog[names[0]]), _deg(catalog[names[1]])
    rows = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
    tree = None
    if len(rows):
        # astropy's settings, so that ties resolve as its own match's do.
        tree = KDTree(_unit_vectors(ra[rows], dec[rows]), compact_nodes=False, balanced_tree=False)
    made = CatalogSky(ra, dec, rows, tree)
    with _CATALOGS_LOCK:
        _CATALOGS[key] = made
        while len(_CATALOGS) > _CATALOGS_KEPT:
            _CATALOGS.popitem(last=False)
    return made


@dataclass(frozen=True)
class Match:
    """The outcome of matching one frame's sources to the catalog.

    Attributes
    ----------
    source_index, catalog_index : ndarray of int
        Row numbers of each matched pair in the source and catalog tables.
    separation : ndarray
        Distance of each pair in arcsec.
    usable : ndarray of bool
        Pairs fit for calibration.
    reason : ndarray of str
        Empty for usable pairs, else why the pair is left out (``'blend'``,
        ``'saturated'``, ``'flagged'``, ``'faint'``, ``'no catalog magnitude'``).
    n_catalog_in_field : int
        Catalog stars that had a measured source to match at all.
    """

    source_index: np.ndarray
    catalog_index: np.ndarray
    separation: np.ndarray
    usable: np.ndarray
    reason: np.ndarray
    n_catalog_in_field: int

    def __len__(self) -> int:
        return len(self.source_index)

    def summary(self) -> str:
        """One line: how many pairs and why pairs were dropped."""
        parts = [f"{len(self)} matched", f"{int(self.usable.sum())} usable"]
        dropped, counts = np.unique(self.reason[~self.usable], return_counts=True)
        parts += [f"{n} {r}" for r, n in zip(dropped, counts, strict=True)]
        return ", ".join(parts)


def match_sources(
    sources: Table,
    catalog: Table,
    *,
    radius: float = 2.0,
    blend_radius: float = 0.0,
    allowed_flags: int = 0,
    min_snr: float = 0.0,
    snr: np.ndarray | None = None,
) -> Match:
    """Match measured sources to catalog stars and mark the pairs unfit to calibrate.

    Parameters
    ----------
    sources : Table
        Measured sources with sky positions (``ra``, ``dec`` in degrees) and
        optionally ``flags`` and ``saturated``.
    catalog : Table
        Reference stars with ``ra``, ``dec`` (or VizieR's ``RAJ2000``...).
    radius : float
        Largest source-star distance for a match, arcsec.
    blend_radius : float
        Catalog stars with another catalog star closer than this (arcsec) are
        blends; typically two FWHM. 0 keeps them.
    allowed_flags : int
        Bits of ``flags`` that are tolerated; any other set bit excludes the
        source. Saturated sources are excluded whatever this says.
    min_snr : float
        Sources with a signal-to-noise ratio below this are too faint.
    snr : ndarray, optional
        Signal-to-noise ratio of each source (needed for ``min_snr``).

    Returns
    -------
    Match
    """
    src_sky = sky_columns(sources)
    cat_sky = catalog_sky(catalog)
    if src_sky is None:
        raise ValueError("the sources have no ra, dec columns (the frame needs a WCS)")
    if cat_sky is None:
        raise ValueError("the catalog has no ra, dec columns")
    src_ok = np.isfinite(src_sky[0]) & np.isfinite(src_sky[1])
    empty = Match(
        *(np.zeros(0, dtype=int),) * 2, np.zeros(0), np.zeros(0, bool), np.zeros(0, "U24"), 0
    )
    if not src_ok.any() or cat_sky.tree is None:
        return empty
    s_idx = np.flatnonzero(src_ok)
    c_idx = cat_sky.rows
    nearest, sep = cat_sky.match(src_sky[0][s_idx], src_sky[1][s_idx])
    close = sep <= radius
    # One-to-one: when several sources fall on one star keep the closest, the
    # others are unrelated detections (or pieces of a shredded bright star).
    order = np.lexsort((sep, nearest))
    first = np.ones(len(order), bool)
    first[1:] = nearest[order][1:] != nearest[order][:-1]
    keep = np.zeros(len(sep), bool)
    keep[order[first]] = True
    pairs = np.flatnonzero(close & keep)
    source_index = s_idx[pairs]
    catalog_index = c_idx[nearest[pairs]]
    separation = sep[pairs]
    reason = np.full(len(pairs), "", dtype="U24")

    if blend_radius > 0 and len(c_idx) > 1:
        # Distance of each catalog star to its nearest other catalog star.
        blended = cat_sky.nearest_other() < blend_radius
        reason[blended[nearest[pairs]]] = "blend"

    if min_snr > 0 and snr is not None:
        faint = ~(np.asarray(snr, float)[source_index] >= min_snr)
        reason[faint & (reason == "")] = "faint"
    if "flags" in sources.colnames:
        flags = np.asarray(np.ma.filled(np.ma.asarray(sources["flags"]), 0), dtype=np.int64)
        f = flags[source_index]
        reason[((f & ~allowed_flags) != 0) & (reason == "")] = "flagged"
        reason[(f & SATURATED_FLAG) != 0] = "saturated"
    if "saturated" in sources.colnames:
        sat = np.asarray(np.ma.filled(np.ma.asarray(sources["saturated"]), False), dtype=bool)
        reason[sat[source_index]] = "saturated"
    usable = reason == ""
    return Match(
        source_index, catalog_index, separation, usable, reason, int(len(np.unique(nearest[close])))
    )
