"""Real frames solved from their own, wrong or partial, headers.

* The EY UMa thumbnail (astroquery's astrometry.net test data): a 256 x 256
  resample of a 4096 x 4096 frame whose header still carries the full
  frame's WCS (0.563 arcsec/px), 16 times too small; solved from that
  header alone against the field's APASS and ATLAS-RefCat2 extracts and
  compared with astrometry.net's recorded solution.
"""

from __future__ import annotations

import pytest
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

    Measured: 9.004 arcsec/px found (factor 16.0), 29 (RefCat2) and 27
    (APASS) stars, centre 0.35 and 0.44 arcsec from astrometry.net's
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


def test_seestar_colour_frames_with_the_tycho2_index_files(shared_data, tmp_path):
    """ZWO Seestar S50 frames (GRBG colour-filter array, 2.39 arcsec/px, 43' x 77').

    Stars are measured on 2x2 sums of the colour-filter array and put back
    in the frame's pixels. The Debian Tycho-2 index files hold only 4 stars
    inside this frame (M94, Galactic latitude 76 deg; 24 within 1 deg),
    which no verification can trust: the frames come back not solved, with
    the reason, as they do from solve-field on the same index files.
    """
    from fluxion.core.catalogs import CatalogChain, IndexFileCatalog, find_index_files

    if not find_index_files():
        pytest.skip("astrometry.net index files not installed (Debian astrometry-data-tycho2)")
    frames = sorted((shared_data / "seestar-osc").glob("*.fit"))[:1]
    params = SolveParams(sip_order=1, time_limit=10.0, search_radius_max=1.0)
    solver = PlateSolver(params, catalog=CatalogChain([IndexFileCatalog()]))
    row = solve_files(frames, solver, tmp_path)[0]
    assert not row["solved"]
    assert "stars match the catalog" in row["reason"]
    assert "search: no verified match" in row["reason"]
    assert not list(tmp_path.glob("*.wcs"))
