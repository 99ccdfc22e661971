"""The Seestar S50's colour frames measured per channel (seestar-osc: 8 raw 10 s lights of M94).

No catalogue of the field is recorded with the frames, so the channels are
checked against themselves: the pattern against the sky (the two green
pixels of a block see the same sky, red and blue another), the stars found
on the green pixels in every light, and each star's colours (R - G and
B - G, instrumental) measured again in the other lights: a star's colour
does not change in a minute, so the differences between lights are noise,
in units of the errors stated for them.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from fluxion.core.io.cfa import channel_view
from fluxion.core.io.fitsio import read_frame
from fluxion.core.io.frames import frame_info
from fluxion.core.photometry import Photometry, PhotometryParams
from fluxion.core.photometry.channels import star_positions


@pytest.fixture(scope="module")
def lights(shared_data):
    paths = sorted((shared_data / "seestar-osc").glob("Light_*.fit"))
    if len(paths) != 8:
        pytest.skip("the Seestar frames are not all there")
    out = []
    for path in paths:
        info = frame_info(path)
        data = read_frame(path)[0]
        positions = star_positions(data, info.cfa)
        table = Photometry(PhotometryParams(channels="RGB")).run(data, positions, cfa=info.cfa)
        out.append((info, data, positions, table.table))
    return out


def test_the_pattern_agrees_with_the_sky(lights):
    for info, data, _, _ in lights:
        assert info.cfa == "GRBG"
        sky = {c: float(np.median(channel_view(data, info.cfa, c))) for c in ("R", "G1", "G2", "B")}
        assert sky["G1"] == pytest.approx(sky["G2"], rel=0.01), sky
        assert sky["R"] < 0.9 * sky["G1"] and sky["B"] < 0.9 * sky["G1"], sky


def test_stars_are_found_on_the_green_pixels_of_every_light(lights):
    # 72-83 per light; SExtractor-like sep at 5 sigma on the binned greens finds ~25
    # (its minimum area of 3 pixels misses the undersampled faint stars).
    counts = [len(p) for _, _, p, _ in lights]
    assert min(counts) >= 60, counts
    for _, _, _, table in lights:
        assert table.meta["bayer_pattern"] == "GRBG"
        assert table.meta["channels"] == ["R", "G", "B"]


def _colours(table):
    flux = {c: np.asarray(table["flux"][table["channel"] == c], float) for c in "RGB"}
    err = {c: np.asarray(table["flux_err"][table["channel"] == c], float) for c in "RGB"}
    flags = np.bitwise_or.reduce([np.asarray(table["flags"][table["channel"] == c]) for c in "RGB"])
    out = {}
    for c in ("R", "B"):
        with np.errstate(divide="ignore", invalid="ignore"):
            colour = -2.5 * np.log10(flux[c] / flux["G"])
            sigma = 1.0857 * np.hypot(err[c] / flux[c], err["G"] / flux["G"])
        out[c] = (colour, sigma)
    return out, flags == 0


def test_star_colours_repeat_within_their_errors(lights):
    """R - G and B - G of the stars of each light against the third light's.

    The stars move a few pixels between lights (the mount's drift): matched
    within 3 px after the median shift. The robust width (MAD) of the pulls
    is asserted; a few stars on a hot pixel or a neighbour's wing widen the
    rms (1.10 and 1.23 when this was written).
    """
    _, _, ref_pos, ref_table = lights[2]
    ref, ref_ok = _colours(ref_table)
    tree = cKDTree(ref_pos)
    pulls = {"R": [], "B": []}
    for i, (_, _, pos, table) in enumerate(lights):
        if i == 2:
            continue
        d, k = tree.query(pos, distance_upper_bound=60)
        near = np.isfinite(d)
        shift = np.median(ref_pos[k[near]] - pos[near], axis=0)
        d, k = tree.query(pos + shift, distance_upper_bound=3.0)
        colours, ok = _colours(table)
        ok &= np.isfinite(d)
        ok[ok] &= ref_ok[k[ok]]
        assert ok.sum() >= 15, (i, ok.sum())
        for c in pulls:
            (a, sa), (b, sb) = colours[c], ref[c]
            p = (a[ok] - b[k[ok]]) / np.hypot(sa[ok], sb[k[ok]])
            pulls[c].extend(p[np.isfinite(p)])
    for c, values in pulls.items():
        p = np.asarray(values)
        assert len(p) >= 100, (c, len(p))
        width = float(np.median(np.abs(p - np.median(p))) / 0.6745)
        assert 0.8 < width < 1.2, (c, width)
        assert abs(np.median(p)) < 0.3, (c, np.median(p))


def test_channels_against_tycho_vt_the_green_follows_v_best(shared_data, tmp_path):
    """Zero points of each channel against the Tycho-2 stars of the index files (V_T only).

    The Debian index files carry V_T for their stars, no B_T: each channel is
    calibrated to V_T without a colour term. The green channel, the one made
    to stand for V (TG), follows V_T with the smallest scatter (0.15 mag over
    14 stars when this was written, red and blue 0.23) and a slope of one
    (0.98; magnitudes 9.7-12.5, none saturated in 10 s).
    """
    from fluxion.core import chain
    from fluxion.core.astrometry import SolveParams
    from fluxion.core.catalogs import find_index_files
    from fluxion.core.catalogs.base import Cone
    from fluxion.core.catalogs.index_files import IndexFileCatalog
    from fluxion.core.io.sequence import scan
    from fluxion.core.project.products import ProductStore
    from fluxion.core.zeropoint import ZeroPoint, ZeroPointParams
    from fluxion.core.zeropoint.channels import calibrate_channels

    names = {p.name for p in find_index_files()}
    if not {"index-tycho2-08.littleendian.fits", "index-tycho2-09.littleendian.fits"} <= names:
        pytest.skip("Tycho-2 index files 08-09 not installed (Debian astrometry-data-tycho2-08/09)")
    path = sorted((shared_data / "seestar-osc").glob("Light_*.fit"))[2]
    frame = next(f for f in scan([path]) if f.type == "light")
    params = SolveParams(
        catalog="astrometry.net index files", offline=True, use_solve_field=False, search=False
    )
    solved = chain.solve_frame(ProductStore(tmp_path), frame, params)
    assert solved.solved, solved.reason
    wcs, (ny, nx) = solved.wcs, frame.shape
    centre = wcs.pixel_to_world(nx / 2, ny / 2)
    catalog = IndexFileCatalog().query(Cone(centre.ra.deg, centre.dec.deg, 0.8))
    x, y = wcs.world_to_pixel_values(catalog["ra"], catalog["dec"])
    inside = (x > 20) & (x < nx - 21) & (y > 20) & (y < ny - 21)
    catalog = catalog[inside]
    table = Photometry(PhotometryParams(channels="RGB")).run(
        read_frame(path)[0], np.c_[x[inside], y[inside]], cfa=frame.cfa, wcs=wcs
    )
    # V_T as the catalog's one magnitude, taken as V.
    catalog.rename_column("VT", "mag")
    catalog.meta = {}
    step = ZeroPoint(ZeroPointParams(band="V", fit_colour_term=False))
    results = calibrate_channels(step, table.table, catalog, exptime=frame.exptime).results
    for c, r in results.items():
        assert r.calibrated and r.n_stars >= 12, (c, r.reason, r.n_stars)
    scatter = {c: r.intrinsic_scatter for c, r in results.items()}
    assert scatter["G"] < 0.2 and scatter["G"] < min(scatter["R"], scatter["B"]), scatter
    used = results["G"].used_stars
    weight = 1.0 / np.asarray(used["mag_inst_err"]) ** 2
    slope = np.polyfit(
        np.asarray(used["mag_catalog"]), np.asarray(used["mag_inst"]), 1, w=np.sqrt(weight)
    )[0]
    assert 0.9 < slope < 1.1, slope
