"""A reference catalog kept in a local file (ECSV, FITS table or CSV) or in memory.

The file needs right ascension and declination in degrees and at least one
magnitude column. Column names are recognised in the forms services and people
use (``ra``/``RAJ2000``/``RA_ICRS``, ``V``/``Vmag``/``mag_V``/``r'mag``, errors as
``e_Vmag``/``Vmag_err``/``V_err``), so a VizieR download or a spreadsheet export
works as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from astropy.table import Table

from .base import (
    MAGNITUDE_COLUMNS,
    UNNAMED_BAND,
    CatalogError,
    CatalogSource,
    Cone,
    select_cone,
    standard_table,
)

__all__ = ["LocalCatalog", "read_catalog_file", "normalise_table", "position_error_columns"]

_RA = ("ra", "raj2000", "_raj2000", "ra_icrs", "ra_deg", "radeg", "alpha_j2000", "alpha")
_DEC = ("dec", "dej2000", "_dej2000", "de_icrs", "dec_deg", "decdeg", "delta_j2000", "delta", "de")
_PMRA = ("pm_ra", "pmra", "pmra_cosdec", "pm_ra_cosdec")
_PMDEC = ("pm_dec", "pmde", "pmdec")
_EPOCH_COLS = ("epoch", "ref_epoch")
# Position errors: VizieR's e_RAJ2000 (APASS, arcsec) and e_RA_ICRS (Gaia, mas,
# with a unit), Gaia archive's ra_error (mas), a user's ra_err (arcsec).
# APASS's e_RAJ2000 is the scatter of one night's position: the error of the
# catalog's mean is that over sqrt(nobs) (on EY UMa, APASS - Gaia DR2 gives
# chi^2 per axis 1.26 so, 0.3 without the division).
_NOBS = "nobs"
_RA_ERR = ("e_raj2000", "e_ra_icrs", "ra_error", "e_ra", "ra_err")
_DEC_ERR = ("e_dej2000", "e_de_icrs", "dec_error", "e_de", "e_dec", "dec_err")
# A magnitude column: "V", "Vmag", "mag_V", "r'mag", "phot_g_mean_mag", "Gmag".
_MAG = re.compile(
    r"^(?:(?P<a>[A-Za-z]{1,2})'?(?:mag)?|mag_?(?P<b>[A-Za-z]{1,2})'?|phot_(?P<c>[a-z]{1,2})_mean_mag)$"
)
_NOT_BANDS = {"ra", "de", "id", "pm", "e", "n"}
# A bare name ("V", "r") counts as a magnitude only for these photometric bands,
# so that columns such as "AG" (extinction) are not taken for one. Tycho's BT
# and VT are the bands of the astrometry.net Tycho-2 index files.
_KNOWN_BANDS = set("UBVRIugrizyJHKG") | {"BP", "RP", "Ks", "Rc", "Ic", "BT", "VT"}


def _find(colnames: list[str], aliases: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in colnames}
    for a in aliases:
        if a in lower:
            return lower[a]
    return None


def position_error_columns(colnames: list[str]) -> tuple[str | None, str | None]:
    """Names of the RA and Dec position-error columns among ``colnames`` (None: absent)."""
    return _find(colnames, _RA_ERR), _find(colnames, _DEC_ERR)


def _magnitude_columns(table: Table, taken: set[str]) -> dict[str, tuple[str, str | None]]:
    """``band -> (magnitude column, error column)`` recognised in ``table``."""
    names = table.colnames
    lower = {c.lower(): c for c in names}
    bands: dict[str, tuple[str, str | None]] = {}
    for col in names:
        if col in taken or col.lower().startswith(("e_", "err", "u_", "_")):
            continue
        if col.lower().endswith(("_err", "_error", "err")):
            continue
        m = _MAG.match(col)
        if col.lower() == UNNAMED_BAND:
            band = UNNAMED_BAND  # a bare "mag": one band, not named
        elif not m:
            continue
        else:
            band = m.group("a") or m.group("b") or m.group("c")
        if band.lower() in _NOT_BANDS or band in bands:
            continue
        if band == col.rstrip("'") and band not in _KNOWN_BANDS | {UNNAMED_BAND}:
            continue
        if table[col].dtype.kind not in "fiu":
            continue
        if m and band.lower() in ("bp", "rp", "g") and m.group("c"):
            band = band.upper()
        err = None
        for cand in (
            f"e_{col}",
            f"{col}_err",
            f"{col}_error",
            f"err_{col}",
            f"{band}_err",
            f"e_{band}",
            f"{band}err",
        ):
            if cand.lower() in lower:
                err = lower[cand.lower()]
                break
        bands[band] = (col, err)
    return bands


def normalise_table(
    raw: Table, *, source: str, mag_band: str | None = None, epoch: float | None = None
) -> Table:
    """A user's table (or a service download) in the catalog schema.

    Raises
    ------
    CatalogError
        When no position or no magnitude column is recognised.
    """
    names = raw.colnames
    ra, dec = _find(names, _RA), _find(names, _DEC)
    if ra is None or dec is None:
        raise CatalogError(
            f"{source}: no right ascension / declination columns in degrees found "
            f"(looked for ra/RAJ2000/RA_ICRS and dec/DEJ2000/DE_ICRS; columns are "
            f"{', '.join(names[:15])})"
        )
    for c in (ra, dec):
        if raw[c].dtype.kind not in "fiu":
            raise CatalogError(f"{source}: column {c!r} must hold degrees as numbers")
    pm_ra, pm_dec = _find(names, _PMRA), _find(names, _PMDEC)
    epoch_col = _find(names, _EPOCH_COLS)
    ra_err, dec_err = position_error_columns(names)
    taken = {c for c in (ra, dec, pm_ra, pm_dec, epoch_col, ra_err, dec_err) if c}
    bands = _magnitude_columns(raw, taken)
    if not bands:
        raise CatalogError(
            f"{source}: no magnitude column found; a catalog file needs ra, dec in degrees "
            f"and {MAGNITUDE_COLUMNS} (columns are {', '.join(names[:15])})"
        )
    if epoch_col:
        epoch_value: float | str = epoch_col
    else:
        epoch_value = float(epoch if epoch is not None else raw.meta.get("epoch", 2000.0))
    return standard_table(
        raw,
        source=source,
        ra=ra,
        dec=dec,
        bands=bands,
        pm_ra=pm_ra,
        pm_dec=pm_dec,
        epoch=epoch_value,
        mag_band=mag_band,
        extra=[c for c in ("id", "name", "source_id", "auid") if c in names],
        pos_err=(ra_err, dec_err),
        # Without a unit only Gaia's own ra_error/dec_error are in mas.
        pos_err_unit="mas" if ra_err and ra_err.lower() == "ra_error" else "arcsec",
        pos_err_nobs=_NOBS if ra_err == "e_RAJ2000" and _NOBS in names else None,
    )


def read_catalog_file(
    path: str | Path, *, mag_band: str | None = None, epoch: float | None = None
) -> Table:
    """Read an ECSV, FITS or CSV catalog file into the catalog schema.

    ``epoch`` (Julian year) is the epoch of the positions when the file has no
    epoch column or metadata (2000.0 by default).
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    suffix = "".join(path.suffixes[-2:]).lower()
    fmt = None
    if suffix.endswith(".ecsv"):
        fmt = "ascii.ecsv"
    elif suffix.endswith((".csv", ".csv.gz")):
        fmt = "ascii.csv"
    elif suffix.endswith((".fits", ".fit", ".fts", ".fits.gz")):
        fmt = "fits"
    try:
        raw = Table.read(path, format=fmt) if fmt else Table.read(path)
    except Exception as exc:
        raise CatalogError(f"cannot read catalog file {path.name}: {exc}") from exc
    return normalise_table(raw, source=path.name, mag_band=mag_band, epoch=epoch)


class LocalCatalog(CatalogSource):
    """Cone searches on a catalog held in a file or an astropy Table.

    Parameters
    ----------
    source : path or Table
        The file (ECSV/FITS/CSV), or a Table with ra, dec and magnitudes
        (e.g. the simulator's or the classroom demo's catalog).
    mag_band : str, optional
        Band for the magnitude limit; the first recognised one if None.
    name : str, optional
        Name shown to the user; the file name by default.
    epoch : float, optional
        Epoch of the positions (Julian year) when the file does not say; 2000.0.
    """

    online = False

    def __init__(
        self,
        source: str | Path | Table,
        *,
        mag_band: str | None = None,
        name: str | None = None,
        epoch: float | None = None,
    ) -> None:
        self.epoch = epoch
        if isinstance(source, Table):
            self.name = name or str(source.meta.get("source", "local table"))
            self._table = normalise_table(source, source=self.name, mag_band=mag_band, epoch=epoch)
            self.path = None
        else:
            self.path = Path(source)
            self.name = name or self.path.name
            self._table = None
        self.mag_band = mag_band

    @property
    def table(self) -> Table:
        """The whole catalog in the schema (read on first use)."""
        if self._table is None:
            if self.path is None:
                raise RuntimeError(f"{self.name}: neither a table nor a file to read it from")
            t = read_catalog_file(self.path, mag_band=self.mag_band, epoch=self.epoch)
            t.meta["source"] = self.name
            self._table = t
        return self._table

    def query(self, cone: Cone) -> Table:
        """Rows of the file inside ``cone``."""
        out = select_cone(self.table, cone)
        out.meta["source"] = self.name
        return out

    def __len__(self) -> int:
        return len(self.table)
