"""The sky side of the simulator: star catalog, WCS of each frame, site and airmass."""

from __future__ import annotations

import functools

import astropy.units as u
import numpy as np
import numpy.typing as npt
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.table import Table
from astropy.time import Time
from astropy.utils import iers
from astropy.wcs import WCS, Sip

__all__ = ["tan_wcs", "star_catalog", "airmass", "catalog_errors"]


def _sip(shape: tuple[int, int], corner_shift: float) -> Sip:
    """Barrel-like radial distortion moving the corners by ``corner_shift`` px.

    u' = u (1 + k r^2) expands to the cubic SIP terms A_3_0, A_1_2, B_2_1, B_0_3;
    a small quadratic term adds the asymmetry of a slightly tilted sensor.
    """
    ny, nx = shape
    rc = np.hypot(nx / 2.0, ny / 2.0)
    k = corner_shift / rc**3
    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    a[3, 0] = a[1, 2] = k
    b[2, 1] = b[0, 3] = k
    a[2, 0] = 0.15 * corner_shift / rc**2
    b[1, 1] = 0.1 * corner_shift / rc**2
    crpix = ((nx + 1) / 2.0, (ny + 1) / 2.0)
    ap, bp = _inverse_sip(a.tobytes(), b.tobytes(), nx, ny)
    return Sip(a, b, ap.copy(), bp.copy(), crpix)


@functools.lru_cache(maxsize=8)
def _inverse_sip(
    a_bytes: bytes, b_bytes: bytes, nx: int, ny: int, order: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares AP/BP so that tools without an iterative inverse (ds9,
    astrometry.net's wcs-rd2xy) map sky to pixels too; astropy's
    ``all_world2pix`` iterates on the forward terms and does not use them.

    Cached (keyed by the coefficients' bytes): every frame of a night has the
    same distortion. Callers get copies.
    """
    a = np.frombuffer(a_bytes).reshape(4, 4)
    b = np.frombuffer(b_bytes).reshape(4, 4)
    gu, gv = np.meshgrid(np.linspace(-0.6 * nx, 0.6 * nx, 25), np.linspace(-0.6 * ny, 0.6 * ny, 25))
    u, v = gu.ravel(), gv.ravel()
    fu = u + sum(a[p, q] * u**p * v**q for p in range(4) for q in range(4))
    fv = v + sum(b[p, q] * u**p * v**q for p in range(4) for q in range(4))
    terms = [(p, q) for p in range(order + 1) for q in range(order + 1 - p)]
    scale = float(max(nx, ny))  # conditions the design matrix
    design = np.column_stack([(fu / scale) ** p * (fv / scale) ** q for p, q in terms])
    cu = np.linalg.lstsq(design, u - fu, rcond=None)[0]
    cv = np.linalg.lstsq(design, v - fv, rcond=None)[0]
    ap = np.zeros((order + 1, order + 1))
    bp = np.zeros((order + 1, order + 1))
    for (p, q), ku, kv in zip(terms, cu, cv, strict=True):
        ap[p, q] = ku / scale ** (p + q)
        bp[p, q] = kv / scale ** (p + q)
    ap.flags.writeable = bp.flags.writeable = False
    return ap, bp


def tan_wcs(
    shape: tuple[int, int],
    center: SkyCoord,
    pixel_scale: float,
    rotation: float,
    sip_corner_shift: float = 0.0,
) -> WCS:
    """A TAN (optionally TAN-SIP) WCS with the reference pixel at the image centre.

    Parameters
    ----------
    shape : (ny, nx)
        Image shape.
    center : SkyCoord
        Sky position of the image centre (ICRS).
    pixel_scale : float
        arcsec per pixel.
    rotation : float
        Position angle of the +y axis, degrees east of north.
    sip_corner_shift : float
        Distortion at the corners (px); 0 for none.
    """
    ny, nx = shape
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
    w.wcs.crval = [center.ra.deg, center.dec.deg]
    s = pixel_scale / 3600.0
    th = np.deg2rad(rotation)
    # East to the left (-x) with north up (+y) at rotation 0, as the sky looks.
    w.wcs.cd = np.array([[-s * np.cos(th), s * np.sin(th)], [s * np.sin(th), s * np.cos(th)]])
    w.wcs.radesys = "ICRS"
    w.pixel_shape = (nx, ny)
    if sip_corner_shift:
        w.sip = _sip(shape, sip_corner_shift)
        w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.set()
    return w


def catalog_errors(mag: npt.ArrayLike, mag_faint: float) -> np.ndarray:
    """Catalog magnitude errors: a floor plus photon noise rising toward the limit."""
    return 0.005 + 0.05 * 10 ** (0.4 * (np.asarray(mag) - mag_faint))


def star_catalog(
    reference_wcs: WCS,
    shape: tuple[int, int],
    margin: float,
    density: float,
    mag_bright: float,
    mag_faint: float,
    slope: float,
    rng: np.random.Generator,
) -> tuple[Table, np.ndarray, np.ndarray]:
    """Stars uniformly spread over the frame plus a margin.

    Magnitudes follow the luminosity function ``dN/dm ~ 10^(slope * m)``
    (slope ~0.3 at mid galactic latitude: about twice as many stars per
    magnitude fainter). Colours B-V are drawn around 0.7 mag.

    Returns
    -------
    catalog : Table
        id, ra, dec, B, B_err, V, V_err: the catalog *values*, which carry
        catalog errors, as a real reference catalog does.
    true_V, true_B : ndarray
        The stars' true magnitudes, used to make the images.
    """
    ny, nx = shape
    # Pixel area from the determinant: the CD diagonal alone shrinks with rotation
    # (cos of the angle) and would empty a field turned by 90 degrees.
    scale = float(np.sqrt(abs(np.linalg.det(reference_wcs.wcs.cd)))) * 60.0  # arcmin/px
    area = (nx + 2 * margin) * (ny + 2 * margin) * scale**2
    n = int(rng.poisson(density * area))
    x = rng.uniform(-margin, nx - 1 + margin, n)
    y = rng.uniform(-margin, ny - 1 + margin, n)
    lo, hi = 10 ** (slope * mag_bright), 10 ** (slope * mag_faint)
    v = np.log10(lo + rng.random(n) * (hi - lo)) / slope
    bv = np.clip(rng.normal(0.7, 0.3, n), -0.2, 1.9)
    b = v + bv
    ra, dec = reference_wcs.wcs_pix2world(x, y, 0)
    v_err = catalog_errors(v, mag_faint)
    b_err = catalog_errors(b, mag_faint + 0.5)
    cat = Table(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "ra": ra,
            "dec": dec,
            "B": b + b_err * rng.standard_normal(n),
            "B_err": b_err,
            "V": v + v_err * rng.standard_normal(n),
            "V_err": v_err,
        }
    )
    cat["ra"].unit = cat["dec"].unit = u.deg
    for c in ("B", "B_err", "V", "V_err"):
        cat[c].unit = u.mag
    return cat, v, b


def airmass(coord: SkyCoord, times: Time, location: EarthLocation) -> np.ndarray:
    """Airmass (sec z, from astropy's AltAz frame) of ``coord`` at ``times``.

    IERS tables are never downloaded: the bundled ones are precise to far
    better than an airmass needs, and the simulator must work offline.
    """
    with iers.conf.set_temp("auto_download", False):
        altaz = coord.transform_to(AltAz(obstime=times, location=location))
    alt = altaz.alt.deg
    if np.any(alt < 5.0):
        raise ValueError(
            f"the field is at altitude {alt.min():.1f} deg during the night; choose another "
            "start time, site or field"
        )
    return np.asarray(altaz.secz.value, dtype=float)
