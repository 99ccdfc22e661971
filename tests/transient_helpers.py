"""Simulated frames and replayed service answers for the transient tests.

``simulated_frames`` calibrates a simulated night's lights exactly (the
simulator's own bias, dark and flat), detects their sources and pairs them
with the true WCS, as a chain would deliver them. ``skybot_votable`` writes
SkyBoT's cone-search answer (the VOTable astroquery parses, with the fields of
a recorded real answer) for given objects, so that a simulated asteroid is
"known" to a replayed SkyBoT.
"""

from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

from fluxion.core.detection.extract import Detection
from fluxion.core.simulation.simulate import NightConfig, make_night
from fluxion.core.transients.frames import TransientFrame

SKYBOT_PATH = "/webservices/skybot/api/conesearch.php"


def calibrated(night, i):
    """Light ``i`` of ``night`` calibrated exactly (e-), its saturated pixels and truth."""
    data, _, truth = night.light(i)
    c = night.config
    e = ((data - night.bias_level) * night.gain - night.dark_current * c.exptime) / night.flat_field
    return e.astype(np.float32), data >= min(c.saturation, 65535), truth


def simulated_frames(config: NightConfig, frames=None):
    """The night, its TransientFrames and truth tables."""
    night = make_night(config)
    out, truths = [], []
    step = Detection()
    for i in frames if frames is not None else range(config.n_frames):
        image, sat, truth = calibrated(night, i)
        det = step(image, mask=sat, gain=1.0)
        out.append(
            TransientFrame(
                image=image,
                mask=sat,
                wcs=night.wcs(i),
                sources=det.sources,
                file=f"light_{i + 1:04d}.fits",
                index=i,
                jd_utc=float(night.times[i].jd),
                gain=1.0,
                saturated=sat,
            )  # fmt: skip
        )
        truths.append(truth)
    return night, out, truths


_FIELDS = (
    ("num", "Num", 'datatype="char" arraysize="6"'),
    ("name", "Name", 'datatype="char" arraysize="32"'),
    ("ra", "RA", 'datatype="char" arraysize="13" unit="h:m:s"'),
    ("de", "DEC", 'datatype="char" arraysize="13" unit="d:m:s"'),
    ("class", "Class", 'datatype="char" arraysize="24"'),
    ("magV", "Mv", 'datatype="float" width="13" precision="2"'),
    ("errpos", "ErrPos", 'datatype="float" width="10" precision="3" unit="arcsec"'),
    ("angdist", "d", 'datatype="float" width="8" precision="3" unit="arcsec"'),
    ("dracosdec", "dRAcosDec", 'datatype="double" width="12" unit="arcsec/h"'),
    ("ddec", "dDEC", 'datatype="double" width="12" unit="arcsec/h"'),
    ("dgeo", "Dgeo", 'datatype="double" width="15" unit="AU"'),
    ("dhelio", "Dhelio", 'datatype="double" width="15" unit="AU"'),
    ("_raj2000", "_RAJ2000", 'datatype="double" precision="9" width="13" unit="deg"'),
    ("_decj2000", "_DECJ2000", 'datatype="double" precision="9" width="13" unit="deg"'),
)


def skybot_votable(objects, center: SkyCoord, epoch_iso: str) -> str:
    """SkyBoT's VOTable for ``objects``: dicts with number, name, ra, dec, v, rates, kind."""
    head = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        '<vot:VOTABLE version="1.3" xmlns:vot="http://www.ivoa.net/xml/VOTable/v1.3">\n'
        '<vot:INFO ID="status" name="QUERY_STATUS" value="OK"/>\n'
        f'<vot:INFO ID="reqEpoch" name="Epoch" value="{epoch_iso}"/>\n'
        '<vot:RESOURCE name="Skybot.ConeSearch">\n<vot:TABLE name="results">\n'
    )
    fields = "".join(
        f'<vot:FIELD ID="{fid}" name="{name}" {attrs}/>\n' for fid, name, attrs in _FIELDS
    )
    rows = []
    for o in objects:
        where = SkyCoord(o["ra"], o["dec"], unit="deg")
        ra = where.ra.to_string(unit="hourangle", sep=" ", precision=4, pad=True)
        dec = where.dec.to_string(sep=" ", precision=3, alwayssign=True, pad=True)
        values = (
            str(o["number"]) if o["number"] else "-", o["name"], ra, dec, o["kind"],
            f"{o['v']:.2f}", "0.050", f"{where.separation(center).arcsec:.3f}",
            f"{o['ra_rate']:.4f}", f"{o['dec_rate']:.4f}", "1.6", "2.5",
            f"{o['ra']:.9f}", f"{o['dec']:.9f}",
        )  # fmt: skip
        rows.append("<vot:TR>" + "".join(f"<vot:TD>{v}</vot:TD>" for v in values) + "</vot:TR>\n")
    tail = "</vot:TABLEDATA></vot:DATA>\n</vot:TABLE>\n</vot:RESOURCE>\n</vot:VOTABLE>\n"
    return head + fields + "<vot:DATA><vot:TABLEDATA>" + "".join(rows) + tail


def night_asteroid_answer(night, epoch_jd: float, center: SkyCoord) -> str:
    """SkyBoT's answer for the simulated night's asteroid at ``epoch_jd`` (and a far one)."""
    c = night.config
    where = night.asteroid_position(epoch_jd)
    rate = c.asteroid_rate * 60.0  # arcsec/h
    pa = np.radians(c.asteroid_pa)
    far = center.directional_offset_by(40 * u.deg, 0.15 * u.deg)
    objects = [
        {
            "number": 2713, "name": "Luxembourg", "ra": where.ra.deg, "dec": where.dec.deg,
            "v": c.asteroid_mag, "ra_rate": rate * np.sin(pa), "dec_rate": rate * np.cos(pa),
            "kind": "MB>Inner",
        },
        {
            "number": 0, "name": "2019 RB21", "ra": far.ra.deg, "dec": far.dec.deg, "v": 22.1,
            "ra_rate": -28.383, "dec_rate": 8.157, "kind": "MB>Middle",
        },
    ]  # fmt: skip
    return skybot_votable(objects, center, Time(epoch_jd, format="jd").iso)


HIPS2FITS_PATH = "/hips-image-services/hips2fits"


def hips2fits_answer(night, wcs, shape, seed: int = 0) -> bytes:
    """What hips2fits sends for a DSS2-red cutout on ``wcs``: a scanned plate's FITS.

    The night's catalogue stars drawn at the plate's resolution (2.4 arcsec
    FWHM on a 1.2 arcsec/px frame is 2 px wider than the frames' seeing would
    be), in photographic density units on a bright plate background with its
    grain noise, and the header hips2fits writes (the requested WCS, with
    the HiPS's name and the service's comment cards).
    """
    import io
    import warnings

    from astropy.io import fits
    from astropy.utils.exceptions import AstropyWarning
    from astropy.wcs import WCS

    from fluxion.core.simulation.psf import add_sources

    # hips2fits draws on the plain projection it was asked for (no SIP).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        header = wcs.to_header(relax=False)
    linear = WCS(header)
    rng = np.random.default_rng(seed)
    cat = night.true_magnitudes()
    x, y = linear.all_world2pix(night.catalog["ra"], night.catalog["dec"], 0)
    image = np.full(shape, 6500.0)
    flux = 10 ** (-0.4 * (np.asarray(cat["V"]) - 25.0))
    add_sources(image, x, y, flux, np.full(len(x), 2.4 / 1.2 * 1.6))
    image += rng.normal(0.0, 25.0, shape)
    header["HIPS"] = ("CDS/P/DSS2/red", "HiPS used")
    header["ORIGIN"] = "CDS hips2fits"
    header["COMMENT"] = "Generated by CDS hips2fits service - see https://alasky.cds.unistra.fr"
    buf = io.BytesIO()
    fits.PrimaryHDU(image.astype(np.float32), header).writeto(buf)
    return buf.getvalue()


def truth_kinds(rows, truths, radius: float = 2.0) -> list[str]:
    """The simulator's kind of the source under each candidate row ('false' when none).

    ``truths`` are the lights' truth tables, indexed by the rows' ``frame``.
    """
    kinds = []
    for row in rows:
        t = truths[int(row["frame"])]
        d = np.hypot(t["x"] - row["x"], t["y"] - row["y"])
        k = int(np.argmin(d))
        kinds.append(str(t["kind"][k]) if d[k] < radius else "false")
    return kinds
