"""Real frames solved from their own, wrong or partial, headers.

* The EY UMa thumbnail (astroquery's astrometry.net test data): a 256 x 256
  resample of a 4096 x 4096 frame whose header still carries the full
  frame's WCS (0.563 arcsec/px), 16 times too small; solved from that
  header alone against the field's APASS and ATLAS-RefCat2 extracts and
  compared with astrometry.net's recorded solution.
* ZWO Seestar S50 frames of M94 (a colour-filter array): solved offline with
  the Tycho-2 index files, in ``fluxion solve`` and in the project chain,
  beside solve-field on the same stars.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from fluxion.core.astrometry import PlateSolver, SolveParams
from fluxion.core.astrometry.files import solve_files
from fluxion.core.catalogs import LocalCatalog


# The recorded solution is a header-only file (NAXIS = 0), which astropy remarks on.
@pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")
@pytest.mark.parametrize(
    "name,epoch,limit",
    [("all_refcat2_ey_uma.ecsv", 2015.5, 0.42), ("all_apass_ey_uma.ecsv", 2000.0, 0.5)],
    ids=["refcat2", "apass"],
)
def test_ey_uma_thumbnail_from_its_own_wrong_header(shared_data, tmp_path, name, epoch, limit):
    """Nothing typed: the header's scale is 16x wrong, its pointing 2.7' off.

    Measured: 9.004 arcsec/px found (factor 16.0), 30 (RefCat2) and 27
    (APASS) stars, centre 0.35 and 0.43 arcsec from astrometry.net's
    (index 5206, whose own error is not recorded; the fit's 1-sigma is
    0.17-0.19 arcsec per axis), as when the scale is typed.
    """
    base = shared_data / "astroquery" / "astrometry_net"
    cats = shared_data / "stellarphot" / "stellarphot" / "tests" / "data"
    image = base / "thumbnail-image.fit.gz"
    params = SolveParams(sip_order=3, min_matches=6, max_rms=0.6)
    solver = PlateSolver(params, catalog=LocalCatalog(cats / name, epoch=epoch))
    table = solve_files([image], solver, tmp_path)
    row = table[0]
    assert row["solved"], row["reason"]
    assert row["method"] == "search" and row["search"] == "scale"
    assert row["scale_factor"] == pytest.approx(16.0, rel=0.01)
    assert row["pixel_scale"] == pytest.approx(9.0, rel=0.005)
    assert row["n_matched"] >= 25
    recorded = WCS(fits.getheader(base / "wcs-sol-from-thumbnail-image-index-5200.fit"))
    ours = WCS(fits.getheader(tmp_path / "thumbnail-image.wcs"))
    theirs = recorded.pixel_to_world(127.5, 127.5)  # CRPIX of the recorded solution
    assert ours.pixel_to_world(127.5, 127.5).separation(theirs).arcsec < limit


# NGC 4736's nucleus (SIMBAD).
M94 = SkyCoord(192.721088, 41.120458, unit="deg")


def _seestar_frame(shared_data):
    from fluxion.core.catalogs import find_index_files

    names = {p.name for p in find_index_files()}
    if not {"index-tycho2-08.littleendian.fits", "index-tycho2-09.littleendian.fits"} <= names:
        pytest.skip("Tycho-2 index files 08-09 not installed (Debian astrometry-data-tycho2-08/09)")
    return sorted((shared_data / "seestar-osc").glob("*.fit"))[0]


def _nucleus(path, wcs):
    """M94's catalog position through ``wcs`` and the nucleus's peak in the image (frame px)."""
    from photutils.centroids import centroid_quadratic, centroid_sources

    from fluxion.core.io.cfa import bin_cfa
    from fluxion.core.io.fitsio import read_image

    green = bin_cfa(read_image(path), "GRBG")
    x, y = (float(v) for v in wcs.world_to_pixel(M94))
    # The brightest pixel within 15 green pixels (72 arcsec), a quadratic through its 5 x 5.
    gx, gy = centroid_sources(
        green, (x - 0.5) / 2, (y - 0.5) / 2, box_size=31, centroid_func=centroid_quadratic
    )
    return (x, y), (2 * float(gx[0]) + 0.5, 2 * float(gy[0]) + 0.5)


@pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")
def test_seestar_colour_frame_solved_offline_like_solve_field(shared_data, tmp_path):
    """ZWO Seestar S50 frame of M94 (GRBG colour-filter array, 2.38 arcsec/px, 43' x 77').

    Stars are measured on the green pixels and matched to the stars of the
    Tycho-2 index files 08-19 (15 inside the frame): solved from the
    header's hint, whose pointing is 15' from the field's centre. Measured
    on the 8 frames: M94 lands 0.2-0.8 px from the nucleus's peak; the
    centre is 0.02-0.37 arcsec from solve-field's solution on the same stars
    and index files (RMS over the frame 0.2-1.3 arcsec: solve-field fits a
    quadratic distortion to its 12-15 stars).
    """
    from fluxion.core.astrometry import SolveField
    from fluxion.core.astrometry.cfa_sources import green_sources
    from fluxion.core.astrometry.files import hint_for_file
    from fluxion.core.catalogs import CatalogChain, IndexFileCatalog
    from fluxion.core.detection.extract import Detection
    from fluxion.core.io.fitsio import read_image

    frame = _seestar_frame(shared_data)
    params = SolveParams(use_solve_field=False, search=False)
    solver = PlateSolver(params, catalog=CatalogChain([IndexFileCatalog()]))
    row = solve_files([frame], solver, tmp_path)[0]
    assert row["solved"], row["reason"]
    assert row["method"] == "hinted" and row["catalog"] == "astrometry.net index files"
    assert row["n_matched"] >= 12
    assert row["pixel_scale"] == pytest.approx(2.376, rel=0.005)
    ours = WCS(fits.getheader(tmp_path / f"{frame.stem}.wcs"))
    predicted, seen = _nucleus(frame, ours)
    assert math.dist(predicted, seen) < 2.0
    header = fits.getheader(frame)
    ny, nx = header["NAXIS2"], header["NAXIS1"]
    centre = ours.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
    assert centre.separation(SkyCoord(header["RA"], header["DEC"], unit="deg")).arcmin > 10
    if shutil.which("solve-field") is None:
        return
    sources = green_sources(
        read_image(frame), "GRBG", lambda img, _m: Detection()(img).sources, max_sources=200
    )
    theirs = SolveField(timeout=60)(sources, (ny, nx), hint_for_file(header))
    assert theirs.solved, theirs.reason
    for x, y in (((nx - 1) / 2, (ny - 1) / 2), predicted):
        assert ours.pixel_to_world(x, y).separation(theirs.wcs.pixel_to_world(x, y)).arcsec < 1.0
    gx, gy = np.meshgrid(np.linspace(0, nx - 1, 6), np.linspace(0, ny - 1, 10))
    sep = ours.pixel_to_world(gx.ravel(), gy.ravel()).separation(
        theirs.wcs.pixel_to_world(gx.ravel(), gy.ravel())
    )
    assert np.sqrt(np.mean(sep.arcsec**2)) < 2.0


def test_seestar_colour_frame_solved_in_the_project_chain(shared_data, tmp_path):
    """The project chain measures a mosaic frame's stars on its green pixels too.

    Its stored detections, made on the mosaic as it is, are some 60 sources
    (the colour pattern breaks stars up); the green pixels give a thousand.
    """
    from fluxion.core import chain
    from fluxion.core.io.sequence import scan
    from fluxion.core.project.products import ProductStore

    path = _seestar_frame(shared_data)
    frame = next(f for f in scan([path]) if f.type == "light")
    assert frame.cfa == "GRBG"
    params = SolveParams(
        catalog="astrometry.net index files", offline=True, use_solve_field=False, search=False
    )
    result = chain.solve_frame(ProductStore(tmp_path), frame, params)
    assert result.solved, result.reason
    assert result.n_matched >= 12
    assert any("green pixels" in m for m in result.messages)
    predicted, seen = _nucleus(path, result.wcs)
    assert math.dist(predicted, seen) < 2.0
