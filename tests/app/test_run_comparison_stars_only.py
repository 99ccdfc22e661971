"""``fluxion run`` compares with stars only: no galaxy core, none its moving target passes.

The simulated 'Filter 2' night (no zero points, so the run measures against
comparison stars) with six galaxies and its asteroid as the target: the
ensemble must hold no galaxy (their true places, from the simulator) and no
star the asteroid passes closer than three apertures plus the sky annulus
(its true track). The same on the Seestar night of M94: the galaxy's core is
the field's fourth brightest source, as constant as any star, and is refused
for its size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from night_helpers import filter2_night

from fluxion.app.cli import main
from fluxion.core.simulation.simulate import NightConfig, make_night

CONFIG = NightConfig(n_frames=16, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3, n_galaxies=6)
APERTURE = 5.0  # px, the run's (below)


@pytest.fixture(scope="module")
def asteroid_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("galaxies")
    night = filter2_night(root, CONFIG)
    frames = json.loads((night / "truth/night.json").read_text())["frames"]
    track = Table(
        {
            "jd": [f["jd_mid"] for f in frames],
            "x": [f["asteroid"]["x"] for f in frames],
            "y": [f["asteroid"]["y"] for f in frames],
        }
    )
    track.write(root / "track.ecsv")
    project = root / "p"
    args = [
        "run", str(night), "--project", str(project), "--positions", str(root / "track.ecsv"),
        "--catalog", str(night / "truth/reference_catalog.ecsv"), "--comparison", "on",
        "--workers", "1", "--aperture", str(APERTURE), "--no-cosmic-rays", "--no-report",
    ]  # fmt: skip
    main(args)
    return night, project


def test_no_galaxy_and_no_star_on_the_track_is_a_comparison_star(asteroid_run):
    night, project = asteroid_run
    lc = Table.read(project / "lightcurve.ecsv")
    comp = np.asarray(lc.meta["comparison_xy"], float)
    assert len(comp) >= 3
    explanation = " ".join(lc.meta["comparison_explanation"])
    frames = json.loads((night / "truth/night.json").read_text())["frames"]
    fwhm = float(np.median([f["fwhm"] for f in frames]))
    # A Moffat star's half-light radius; a galaxy's (exponential, r_eff along its major
    # axis) seen through it is about the two in quadrature. The run refuses sources
    # wider than 1.5 x the stars' (extended.py): a galaxy whose own circularised r_eff
    # passes that is wider whatever the seeing adds, and must not be compared with.
    beta = CONFIG.moffat_beta
    star_hlr = fwhm / 2 * np.sqrt((2 ** (1 / (beta - 1)) - 1) / (2 ** (1 / beta) - 1))
    galaxies = make_night(CONFIG).galaxies
    r_eff = np.asarray(galaxies["r_eff"]) * np.sqrt(np.asarray(galaxies["axis_ratio"]))
    wide = r_eff > 1.5 * star_hlr
    assert wide.sum() >= 1, (r_eff, star_hlr)
    gal_xy = np.column_stack([np.asarray(galaxies["x"]), np.asarray(galaxies["y"])])[wide]
    # The pointing moves by a pixel or two in a night: a galaxy is where its core is.
    d_gal = np.hypot(*(comp[:, None, :] - gal_xy[None, :, :]).transpose(2, 0, 1))
    assert d_gal.min() > 4.0, d_gal.min()
    # Wide galaxies were candidates the photometric tests let through.
    assert "an extended source, not a star" in explanation, explanation
    path = np.array([[f["asteroid"]["x"], f["asteroid"]["y"]] for f in frames])
    # Three apertures and the sky annulus's outer radius (8 FWHM by default).
    clearance = 3 * APERTURE + 8 * fwhm
    d_path = np.hypot(*(comp[:, None, :] - path[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    # The true track against the one fitted to it, placed with each light's stars: 1 px.
    assert d_path.min() > clearance - 1.0, (d_path.min(), clearance)
    assert "the target passes within" in explanation, explanation


#: M94's nucleus (NED, J2000); the run's target is a star 5.7' from it (conftest).
M94 = (192.72113, 41.12025)


def test_m94s_core_is_no_comparison_star_on_the_seestar_night(seestar_offline_run):
    project, printed = seestar_offline_run
    assert "light curve: against " in printed
    lc = Table.read(project / "lightcurve.ecsv")
    assert lc.meta["channel"] == "G"
    explanation = " ".join(lc.meta["comparison_explanation"])
    assert "1 an extended source, not a star" in explanation, explanation
    comp = np.asarray(lc.meta["comparison_xy"], float)
    assert len(comp) >= 5
    # The comparison stars' places are the reference light's: the one with the most
    # G-channel sources on the sky (ensemble.stored_measurement's choice).
    tables = [Table.read(p) for p in sorted((project / "magnitudes").glob("*.fit.ecsv"))]
    green = [t[np.asarray(t["channel"]) == "G"] for t in tables]
    ref = max(green, key=lambda t: int(np.isfinite(np.asarray(t["ra"], float)).sum()))
    xy = np.column_stack([np.asarray(ref["x"], float), np.asarray(ref["y"], float)])
    rows = [int(np.argmin(np.hypot(*(xy - c).T))) for c in comp]
    assert np.hypot(*(xy[rows] - comp).T).max() < 0.01
    ra, dec = np.asarray(ref["ra"], float)[rows], np.asarray(ref["dec"], float)[rows]
    sep = np.hypot((ra - M94[0]) * np.cos(np.radians(M94[1])), dec - M94[1]) * 3600
    # The core is 2" from its detection; the nearest star of the field is 5' away.
    assert sep.min() > 60.0, sep.min()
