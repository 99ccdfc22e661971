"""Run Debian's ``source-extractor`` (SExtractor) on an image and compare detections with it.

Shared by tests/real/test_real_detection.py and
tests/benchmarks/bench_detection_sextractor.py. SExtractor runs on a float32
copy of exactly the pixels Fluxion searches (SExtractor cannot read Rice
tile-compressed files), with the configuration Debian ships
(/usr/share/source-extractor/default.sex: 1.5 sigma, 3 px, the 3x3 pyramid
filter, DEBLEND_MINCONT 0.005, 64 px mesh) unless overridden.

Coordinates returned are 0-based like Fluxion's (SExtractor's are 1-based).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from scipy.spatial import cKDTree

SHARE = Path("/usr/share/source-extractor")

#: Columns asked of SExtractor.
COLUMNS = (
    "NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "XWIN_IMAGE",
    "YWIN_IMAGE",
    "ERRX2WIN_IMAGE",
    "ERRY2WIN_IMAGE",
    "FLUX_AUTO",
    "FLUXERR_AUTO",
    "FLUX_ISO",
    "FLUXERR_ISO",
    "FWHM_IMAGE",
    "ISOAREA_IMAGE",
    "FLAGS",
)


def executable() -> str | None:
    """Path of ``source-extractor`` (or an older name), None without it or Debian's config files."""
    if not (SHARE / "default.sex").exists():
        return None
    for name in ("source-extractor", "sextractor", "sex"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run_sextractor(
    image: np.ndarray, *, gain: float = 0.0, saturation: float = 1e18, **config: object
) -> Table:
    """SExtractor's catalog of ``image`` (see :func:`sextractor_table`).

    ``meta["seconds"]`` is the wall time of SExtractor's run.

    Parameters
    ----------
    image : ndarray
        The 2-D frame as Fluxion reads it.
    gain : float
        e-/image unit for SExtractor's flux errors (0: background noise only).
    saturation : float
        SATUR_LEVEL, image units (SExtractor refuses values above about 1e18).
    **config
        Further SExtractor settings, e.g. ``DETECT_MINAREA=5``.
    """
    exe = executable()
    if exe is None:
        raise FileNotFoundError("source-extractor is not installed (Debian: source-extractor)")
    with tempfile.TemporaryDirectory(prefix="fluxion-sex-") as tmp:
        work = Path(tmp)
        fits.PrimaryHDU(np.asarray(image, dtype=np.float32)).writeto(work / "image.fits")
        (work / "cols.param").write_text("\n".join(COLUMNS) + "\n")
        settings: dict[str, object] = {
            "CATALOG_NAME": work / "out.fits",
            "CATALOG_TYPE": "FITS_1.0",
            "PARAMETERS_NAME": work / "cols.param",
            "FILTER_NAME": SHARE / "default.conv",
            "STARNNW_NAME": SHARE / "default.nnw",
            "CHECKIMAGE_TYPE": "NONE",
            "VERBOSE_TYPE": "QUIET",
            "GAIN": gain,
            "SATUR_LEVEL": saturation,
            "GAIN_KEY": "NO_SUCH_KEY",
            "SATUR_KEY": "NO_SUCH_KEY",
        }
        settings.update(config)
        cmd = [exe, str(work / "image.fits"), "-c", str(SHARE / "default.sex")]
        for key, value in settings.items():
            cmd += [f"-{key}", str(value)]
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"source-extractor failed: {done.stderr.strip()[-500:]}")
        with fits.open(work / "out.fits", memmap=False) as hdul:
            cat = Table(hdul[-1].data)
    out = sextractor_table(cat)
    out.meta["seconds"] = seconds  # SExtractor's own run, without our FITS copy
    return out


def read_catalog(path: str | Path) -> Table:
    """A SExtractor ASCII_HEAD catalog (e.g. sep's data/image.cat), see :func:`sextractor_table`."""
    return sextractor_table(Table.read(path, format="ascii.sextractor"))


def sextractor_table(cat: Table) -> Table:
    """SExtractor's columns under Fluxion's names, 0-based.

    ``x, y`` are the windowed position (XWIN/YWIN), ``x_iso, y_iso`` the
    isophotal barycentre, ``sigma_x, sigma_y`` their 1-sigma errors (windowed
    when the catalog has them), ``flux`` FLUX_AUTO and ``snr`` its S/N. Columns
    the catalog lacks are left out.
    """
    out = Table()
    out["x"] = np.asarray(cat["XWIN_IMAGE"], float) - 1.0
    out["y"] = np.asarray(cat["YWIN_IMAGE"], float) - 1.0
    out["x_iso"] = np.asarray(cat["X_IMAGE"], float) - 1.0
    out["y_iso"] = np.asarray(cat["Y_IMAGE"], float) - 1.0
    for axis in ("X", "Y"):
        for name in (f"ERR{axis}2WIN_IMAGE", f"ERR{axis}2_IMAGE"):
            if name in cat.colnames:
                out[f"sigma_{axis.lower()}"] = np.sqrt(np.asarray(cat[name], float))
                break
    out["flux"] = np.asarray(cat["FLUX_AUTO"], float)
    out["flux_err"] = np.asarray(cat["FLUXERR_AUTO"], float)
    optional = {"FLUX_ISO": "flux_iso", "FWHM_IMAGE": "fwhm", "ISOAREA_IMAGE": "npix"}
    for name, column in optional.items():
        if name in cat.colnames:
            out[column] = np.asarray(cat[name])
    out["flags"] = np.asarray(cat["FLAGS"], int)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["snr"] = np.where(out["flux_err"] > 0, out["flux"] / out["flux_err"], 0.0)
    return out


@dataclass(frozen=True)
class Comparison:
    """Detections of one tool against a reference catalog (SExtractor's).

    ``wanted`` marks the reference objects completeness is counted over,
    ``found`` those with a detection within the match radius, ``offset`` the
    distance to it (px, inf if none); ``extra`` marks detections with no
    reference object within the radius.
    """

    wanted: np.ndarray
    found: np.ndarray
    offset: np.ndarray
    match: np.ndarray
    extra: np.ndarray

    @property
    def completeness(self) -> float:
        """Fraction of the wanted reference objects found."""
        return float(self.found[self.wanted].mean()) if self.wanted.any() else float("nan")

    @property
    def purity(self) -> float:
        """Fraction of the detections that are reference objects."""
        return 1.0 - float(self.extra.mean()) if len(self.extra) else float("nan")


def compare(
    ref: Table, x: np.ndarray, y: np.ndarray, wanted: np.ndarray, radius: float = 1.0
) -> Comparison:
    """Match detections at ``(x, y)`` with the reference objects both ways."""
    det = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    ref_xy = np.column_stack([np.asarray(ref["x"]), np.asarray(ref["y"])])
    if len(det) == 0 or len(ref_xy) == 0:
        n = len(ref_xy)
        return Comparison(
            wanted, np.zeros(n, bool), np.full(n, np.inf), np.zeros(n, int), np.ones(len(det), bool)
        )
    dist, idx = cKDTree(det).query(ref_xy, distance_upper_bound=radius)
    back, _ = cKDTree(ref_xy).query(det, distance_upper_bound=radius)
    found = np.isfinite(dist)
    return Comparison(wanted, found, dist, np.where(found, idx, 0), ~np.isfinite(back))
