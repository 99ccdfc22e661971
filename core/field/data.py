"""A night's photometry of every star: per-frame tables in, one long table out.

Photometry is made frame by frame (one table per frame, one row per star);
a light curve is the same star in every frame. :class:`FieldData` holds the
night as arrays indexed ``[frame, star]`` (the form magnitude fitting, EPD
and TFA work on) and turns it into the long-format table that is written
(:data:`FIELD_COLUMNS`, one row per star and frame, a star's rows together in
time order) and read back (:func:`field_from_table`). The transpose is
AutoWISP's "light curve generation".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from .flags import BAD_BITS, FieldFlag
from .noise import MAG_PER_LN
from .stats import column_median

__all__ = ["FIELD_COLUMNS", "STAR_COLUMNS", "FieldData", "field_from_frames", "field_from_table"]

#: Columns of the long-format table, in order (``mag_detrended`` and others follow).
FIELD_COLUMNS = (
    "star_id", "frame", "file", "jd_utc", "bjd_tdb", "flux", "flux_err", "mag", "mag_err",
    "flags", "x", "y", "fwhm", "sky", "airmass",
)  # fmt: skip

#: Per-star columns (the star list): identity, place in the reference frame, catalogue.
STAR_COLUMNS = ("star_id", "ra", "dec", "x_ref", "y_ref", "catalog_mag", "colour")

_FRAME_COLUMNS = ("frame", "file", "jd_utc", "fwhm", "airmass")
_PER_POINT = ("flux", "flux_err", "flags", "x", "y", "sky")


@dataclass
class FieldData:
    """Every star in every frame of a night.

    Attributes
    ----------
    stars : Table
        One row per star: :data:`STAR_COLUMNS` (``ra``, ``dec``, ``catalog_mag``,
        ``colour`` NaN when unknown; ``x_ref, y_ref`` in the reference frame's pixels).
    frames : Table
        One row per frame in time order: ``frame``, ``file``, ``jd_utc``,
        ``fwhm`` (px), ``airmass``, and ``exptime`` (s) when known.
    flux, flux_err : ndarray (n_frames, n_stars)
        Aperture flux and its error (electrons), NaN where not measured.
    flags : ndarray of int (n_frames, n_stars)
        Photometry flags in the low byte, :class:`FieldFlag` above.
    x, y : ndarray (n_frames, n_stars)
        Where the star was measured (0-based px of that frame).
    sky : ndarray (n_frames, n_stars)
        Sky under the star (e- per pixel).
    bjd_tdb : ndarray (n_frames, n_stars), optional
        Barycentric time of each point (each star its own light-travel time).
    meta : dict
        What the photometry was (aperture radius and area, gain, read noise, ...).
    """

    stars: Table
    frames: Table
    flux: np.ndarray
    flux_err: np.ndarray
    flags: np.ndarray
    x: np.ndarray
    y: np.ndarray
    sky: np.ndarray
    bjd_tdb: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.frames), len(self.stars))
        for name in _PER_POINT + (("bjd_tdb",) if self.bjd_tdb is not None else ()):
            value = np.asarray(getattr(self, name))
            if value.shape != shape:
                raise ValueError(f"{name} has shape {value.shape}, expected {shape}")
        self.flags = np.asarray(self.flags, dtype=np.int64)

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def n_stars(self) -> int:
        return len(self.stars)

    @property
    def star_id(self) -> np.ndarray:
        return np.asarray(self.stars["star_id"], dtype=np.int64)

    @property
    def jd(self) -> np.ndarray:
        return np.asarray(self.frames["jd_utc"], dtype=float)

    def frame_column(self, name: str) -> np.ndarray:
        """A per-frame column as floats (NaN when the frames table lacks it)."""
        if name not in self.frames.colnames:
            return np.full(self.n_frames, np.nan)
        return np.asarray(self.frames[name], dtype=float)

    def star_column(self, name: str) -> np.ndarray:
        """A per-star column as floats (NaN when the star list lacks it)."""
        if name not in self.stars.colnames:
            return np.full(self.n_stars, np.nan)
        col = self.stars[name]
        return np.asarray(np.ma.filled(np.ma.asarray(col, dtype=float), np.nan), dtype=float)

    @property
    def good(self) -> np.ndarray:
        """Points measured cleanly: no bad flag (:data:`BAD_BITS`), finite, positive flux."""
        with np.errstate(invalid="ignore"):
            return (
                ((self.flags & BAD_BITS) == 0)
                & np.isfinite(self.flux)
                & np.isfinite(self.flux_err)
                & (self.flux > 0)
            )

    def instrumental_mag(self) -> tuple[np.ndarray, np.ndarray]:
        """-2.5 log10(flux) and its error (NaN where the flux is not positive).

        The error is the flux error over the point's flux where that is
        measured to better than 10 %, else over the flux the star has in that
        frame as the brighter stars tell it (its median flux times the frame's
        transparency): a faint star's noisy flux would make its error as noisy
        as itself.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            flux = np.where(self.flux > 0, self.flux, np.nan)
            typical = column_median(flux)
            precise = flux > 10.0 * self.flux_err
            ratio = np.where(precise, flux / typical, np.nan)
            transparency = column_median(ratio.T)
            transparency = np.where(np.isfinite(transparency), transparency, 1.0)
            expected = typical[None, :] * transparency[:, None]
            denominator = np.where(precise, flux, expected)
            return -2.5 * np.log10(flux), MAG_PER_LN * self.flux_err / denominator

    def to_table(self, columns: Mapping[str, np.ndarray] | None = None) -> Table:
        """The long-format table: one row per star and frame, a star's rows together.

        Parameters
        ----------
        columns : mapping, optional
            ``name -> (n_frames, n_stars)`` arrays to write as columns, e.g.
            ``mag``, ``mag_err`` (the fitted magnitudes) and ``mag_detrended``;
            without ``mag`` the instrumental magnitude is written.
        """
        columns = dict(columns or {})
        n_f, n_s = self.n_frames, self.n_stars
        star = np.repeat(np.arange(n_s), n_f)
        frame = np.tile(np.arange(n_f), n_s)

        def flat(a: np.ndarray) -> np.ndarray:
            return np.asarray(a).T.reshape(-1)  # star-major: a star's frames together

        mag, err = self.instrumental_mag()
        mag = columns.pop("mag", mag)
        err = columns.pop("mag_err", err)
        flags = columns.pop("flags", self.flags)
        bjd = self.bjd_tdb if self.bjd_tdb is not None else np.full((n_f, n_s), np.nan)
        out = Table()
        out["star_id"] = self.star_id[star]
        out["frame"] = np.asarray(self.frames["frame"], dtype=np.int64)[frame]
        out["file"] = np.asarray(self.frames["file"]).astype(str)[frame]
        out["jd_utc"] = self.jd[frame]
        out["bjd_tdb"] = flat(bjd)
        out["flux"] = flat(self.flux)
        out["flux_err"] = flat(self.flux_err)
        out["mag"] = flat(mag)
        out["mag_err"] = flat(err)
        out["flags"] = flat(flags).astype(np.int64)
        out["x"] = flat(self.x)
        out["y"] = flat(self.y)
        out["fwhm"] = self.frame_column("fwhm")[frame]
        out["sky"] = flat(self.sky)
        out["airmass"] = self.frame_column("airmass")[frame]
        for name, values in columns.items():
            out[name] = flat(values)
        for name in ("flux", "flux_err", "sky"):
            out[name].unit = "electron"
        for name in ("mag", "mag_err", *[c for c in columns if c.startswith("mag")]):
            out[name].unit = "mag"
        for name in ("x", "y", "fwhm"):
            out[name].unit = "pix"
        out.meta.update(self.meta)
        out.meta["stars"] = {c: self.stars[c].tolist() for c in self.stars.colnames}
        extra = [c for c in self.frames.colnames if c not in _FRAME_COLUMNS]
        out.meta["frame_columns"] = {c: self.frames[c].tolist() for c in extra}
        return out


def _matrix(values: np.ndarray, star: np.ndarray, frame: np.ndarray, shape) -> np.ndarray:
    out = np.full(shape, np.nan)
    out[frame, star] = np.asarray(values, dtype=float)
    return out


def field_from_table(table: Table) -> tuple[FieldData, dict[str, np.ndarray]]:
    """A long-format table back into :class:`FieldData` and its other columns.

    Returns
    -------
    data : FieldData
    columns : dict
        ``mag``, ``mag_err`` and every column beyond :data:`FIELD_COLUMNS`, as
        (n_frames, n_stars) arrays.

    Raises
    ------
    ValueError
        When a column of :data:`FIELD_COLUMNS` is missing.
    """
    missing = [c for c in FIELD_COLUMNS if c not in table.colnames]
    if missing:
        raise ValueError(f"not a field light-curve table: no {', '.join(missing)} column")
    ids, star = np.unique(np.asarray(table["star_id"], dtype=np.int64), return_inverse=True)
    frames_seen, frame = np.unique(np.asarray(table["frame"], dtype=np.int64), return_inverse=True)
    shape = (len(frames_seen), len(ids))
    first = np.zeros(len(frames_seen), dtype=int)
    first[frame[::-1]] = np.arange(len(table))[::-1]
    frames = Table()
    frames["frame"] = frames_seen
    frames["file"] = np.asarray(table["file"]).astype(str)[first]
    for c in ("jd_utc", "fwhm", "airmass"):
        frames[c] = np.asarray(table[c], dtype=float)[first]
    for c, values in (table.meta.get("frame_columns") or {}).items():
        if len(values) == len(frames):
            frames[c] = values
    listed = table.meta.get("stars") or {}
    stars = Table()
    stars["star_id"] = ids
    order = None
    if listed and "star_id" in listed:
        known = {int(s): k for k, s in enumerate(listed["star_id"])}
        order = np.array([known.get(int(s), -1) for s in ids])
    for c in STAR_COLUMNS[1:]:
        values = np.full(len(ids), np.nan)
        if order is not None and c in listed:
            src = np.asarray(listed[c], dtype=float)
            values[order >= 0] = src[order[order >= 0]]
        stars[c] = values

    def m(name: str) -> np.ndarray:
        return _matrix(np.asarray(table[name]), star, frame, shape)

    flags = np.full(shape, int(FieldFlag.OUTSIDE), dtype=np.int64)
    flags[frame, star] = np.asarray(table["flags"], dtype=np.int64)
    meta = {k: v for k, v in table.meta.items() if k not in ("stars", "frame_columns")}
    data = FieldData(
        stars=stars, frames=frames, flux=m("flux"), flux_err=m("flux_err"), flags=flags,
        x=m("x"), y=m("y"), sky=m("sky"), bjd_tdb=m("bjd_tdb"), meta=meta,
    )  # fmt: skip
    skip = set(FIELD_COLUMNS) - {"mag", "mag_err"}
    columns = {c: m(c) for c in table.colnames if c not in skip and table[c].dtype.kind in "fiu"}
    return data, columns


def field_from_frames(
    stars: Table,
    frames: Table,
    photometry: Sequence[Table | None],
    meta: Mapping | None = None,
) -> FieldData:
    """Transpose per-frame photometry tables into :class:`FieldData`.

    Parameters
    ----------
    stars : Table
        The star list with ``star_id`` (other :data:`STAR_COLUMNS` optional).
    frames : Table
        One row per frame: ``file``, ``jd_utc`` and, when known, ``fwhm``,
        ``airmass``, ``exptime`` (a ``frame`` column is added when absent).
    photometry : sequence of Table or None
        One table per frame with ``star_id``, ``x``, ``y``, ``flux``,
        ``flux_err``, ``flags`` and ``sky`` (e-/px); None for a frame that
        could not be measured (its points are flagged ``NOT_PLACED``). A
        star missing from a frame's table is flagged ``OUTSIDE`` there.
    meta : mapping, optional

    Raises
    ------
    ValueError
        When the numbers of frames differ, or a table lacks a column.
    """
    if len(photometry) != len(frames):
        raise ValueError(f"{len(photometry)} photometry tables for {len(frames)} frames")
    stars = Table(stars, copy=True)
    for c in STAR_COLUMNS[1:]:
        if c not in stars.colnames:
            stars[c] = np.full(len(stars), np.nan)
    frames = Table(frames, copy=True)
    if "frame" not in frames.colnames:
        frames.add_column(np.arange(len(frames), dtype=np.int64), name="frame", index=0)
    for c in ("fwhm", "airmass"):
        if c not in frames.colnames:
            frames[c] = np.full(len(frames), np.nan)
    ids = np.asarray(stars["star_id"], dtype=np.int64)
    index = {int(s): k for k, s in enumerate(ids)}
    shape = (len(frames), len(ids))
    arrays = {c: np.full(shape, np.nan) for c in _PER_POINT if c != "flags"}
    flags = np.full(shape, int(FieldFlag.OUTSIDE), dtype=np.int64)
    for i, table in enumerate(photometry):
        if table is None:
            flags[i] = int(FieldFlag.NOT_PLACED)
            continue
        missing = [c for c in ("star_id", *_PER_POINT) if c not in table.colnames]
        if missing:
            raise ValueError(f"frame {i}: photometry table lacks {', '.join(missing)}")
        cols = np.asarray([index.get(int(s), -1) for s in np.asarray(table["star_id"])], int)
        known = cols >= 0
        for c in arrays:
            arrays[c][i, cols[known]] = np.asarray(table[c], dtype=float)[known]
        flags[i, cols[known]] = np.asarray(table["flags"], dtype=np.int64)[known]
    return FieldData(stars=stars, frames=frames, flags=flags, meta=dict(meta or {}), **arrays)
