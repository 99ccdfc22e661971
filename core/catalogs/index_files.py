"""The stars stored inside installed astrometry.net index files.

Index files (e.g. Debian's ``astrometry-data-tycho2`` in /usr/share/astrometry)
carry, besides their quads, the star positions as a kd-tree: unit vectors
quantised to unsigned 32-bit integers (``kdtree_data_stars``) with the scale in
``kdtree_range_stars``, and a tag-along magnitude column (``MAG_VT`` for
Tycho-2, ``MAG`` or similar for others) in the same order. Reading them gives an
offline catalog of bright stars for any field, with no network at all.

There is no Python reader for this format in the libraries we use, hence the
small decoder here; its layout is astrometry.net's ``kdtree_fits_io.c``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from .base import CatalogError, CatalogSource, Cone, select_cone, standard_table

__all__ = ["IndexFileCatalog", "find_index_files", "DEFAULT_INDEX_DIRS"]

log = logging.getLogger(__name__)

DEFAULT_INDEX_DIRS = (
    Path("/usr/share/astrometry"),
    Path("/usr/local/astrometry/data"),
    Path("/opt/homebrew/share/astrometry"),
    Path.home() / ".local" / "share" / "astrometry",
)


def find_index_files(dirs: Iterable[str | Path] = DEFAULT_INDEX_DIRS) -> list[Path]:
    """Index files (``index-*.fits``) found in ``dirs``."""
    found: list[Path] = []
    for d in dirs:
        d = Path(d)
        if d.is_dir():
            found.extend(sorted(d.glob("index-*.fits")))
    return found


def _extension(hdul: fits.HDUList, column: str) -> fits.BinTableHDU | None:
    """The extension whose single column is named ``column`` (how index files name them)."""
    for hdu in hdul[1:]:
        if hdu.header.get("TTYPE1") == column or hdu.name == column.upper():
            return hdu
    return None


def _endian(header: fits.Header) -> str:
    # The primary header records how a u32 0x01020304 was laid out in memory.
    return ">" if str(header.get("ENDIAN", "04:03:02:01")).startswith("01") else "<"


def read_index_stars(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Unit vectors (N, 3) and magnitudes (N,) of the stars in one index file.

    Returns the magnitude column's name as the third item.
    """
    with fits.open(path, memmap=True) as hdul:
        order = _endian(hdul[0].header)
        data = _extension(hdul, "kdtree_data_stars")
        head = _extension(hdul, "kdtree_header_stars")
        if data is None or head is None:
            raise CatalogError(f"{path.name}: not an astrometry.net index file (no star tree)")
        kind = str(head.header.get("KDT_DATA", "double")).strip()
        ndim = int(head.header.get("KDT_NDIM", 3))
        raw = data.data.tobytes()
        if kind == "double":
            xyz = np.frombuffer(raw, f"{order}f8").reshape(-1, ndim)
        elif kind in ("u32", "u16"):
            rng_hdu = _extension(hdul, "kdtree_range_stars")
            if rng_hdu is None:
                raise CatalogError(f"{path.name}: quantised star tree without its range")
            rng = np.frombuffer(rng_hdu.data.tobytes(), f"{order}f8")
            lo, scale = rng[:ndim], rng[2 * ndim]
            dtype = f"{order}u4" if kind == "u32" else f"{order}u2"
            xyz = lo + np.frombuffer(raw, dtype).reshape(-1, ndim) / scale
        else:
            raise CatalogError(f"{path.name}: unsupported star tree type {kind!r}")
        mag_name, mags = "", np.full(len(xyz), np.nan)
        for hdu in hdul[1:]:
            if hdu.header.get("AN_FILE", "").strip() == "TAGALONG":
                names = [n for n in hdu.columns.names if "MAG" in n.upper()]
                if names:
                    mag_name = names[0]
                    mags = np.asarray(hdu.data[mag_name], dtype=float)
                break
    return np.array(xyz, dtype=float), mags, mag_name


class IndexFileCatalog(CatalogSource):
    """Stars of the astrometry.net index files installed on this computer.

    Parameters
    ----------
    paths : iterable of path, optional
        Index files or folders holding them; the usual install folders by default.

    Notes
    -----
    Tycho-2 index files hold stars to about V = 11-12, enough to solve fields of
    a degree or more; for smaller fields a deeper catalog serves better.
    """

    name = "astrometry.net index files"
    online = False

    def __init__(self, paths: Iterable[str | Path] | None = None) -> None:
        files: list[Path] = []
        for p in paths if paths is not None else DEFAULT_INDEX_DIRS:
            p = Path(p)
            files.extend(find_index_files([p]) if p.is_dir() else [p] if p.is_file() else [])
        self.files = files
        self._stars: list[tuple[np.ndarray, np.ndarray, str]] | None = None
        self._lock = threading.Lock()

    def _file_stars(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """Stars of every readable file, decoded once and kept in memory."""
        with self._lock:
            if self._stars is None:
                if not self.files:
                    raise CatalogError("no astrometry.net index files installed")
                stars = []
                for f in self.files:
                    try:
                        stars.append(read_index_stars(f))
                    except (OSError, ValueError, CatalogError) as exc:
                        log.warning("skipping index file %s: %s", f, exc)
                if not stars:
                    raise CatalogError("none of the astrometry.net index files could be read")
                self._stars = stars
            return self._stars

    def query(self, cone: Cone) -> Table:
        """Index-file stars inside ``cone``."""
        ra0, dec0 = np.radians(cone.ra), np.radians(cone.dec)
        centre = np.array([np.cos(dec0) * np.cos(ra0), np.cos(dec0) * np.sin(ra0), np.sin(dec0)])
        limit = np.cos(np.radians(cone.radius)) - 1e-12
        parts, mags, band_col = [], [], ""
        for xyz, mag, name in self._file_stars():
            near = xyz @ centre >= limit
            parts.append(xyz[near])
            mags.append(mag[near])
            band_col = band_col or name
        sub, submag = np.concatenate(parts), np.concatenate(mags)
        # The same star sits in several index files (one per quad scale): keep one
        # copy, matching positions rounded to ~0.2 arcsec.
        _, first = np.unique(np.round(sub * 1e6).astype(np.int64), axis=0, return_index=True)
        sub, submag = sub[first], submag[first]
        raw = Table()
        raw["ra"] = np.degrees(np.arctan2(sub[:, 1], sub[:, 0])) % 360.0
        raw["dec"] = np.degrees(np.arcsin(np.clip(sub[:, 2], -1, 1)))
        band = "VT" if band_col.upper().endswith("VT") else "mag"
        raw[band] = submag
        out = standard_table(
            raw, source=self.name, ra="ra", dec="dec", bands={band: (band, None)}, epoch=2000.0
        )
        return select_cone(out, cone)
