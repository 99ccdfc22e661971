"""TrES-1 b's transit (tres1-oscaar) through ``fluxion run`` offline: comparison stars, the fit.

Offline there is no catalog for the field (no cached Gaia answer) and its
FILTER 'Filter 2' names no band, so no light has a zero point and the
target's instrumental magnitudes carry the night's extinction (airmass 1.6
to 1.0). The run then measures the target against an ensemble of the
night's stars (``--comparison auto``), and the transit fit on that curve
must give the published depth (about 2 %, Rp/Rs 0.138, Winn et al. 2007)
and mid-time (Yeung et al. 2022), as the comparison-star path of
test_real_transit.py does from the same frames.

The run measures at the curve of growth's radius (2.1-2.2 px, 0.9 FWHM);
with the lights unflattened (the night has no flats) while the field drifts
200 px, the pixel sampling's error there left 6.35 ppt of point-to-point
scatter, and the fit gave Rp/Rs 0.126 +- 0.012, depth 1.9 +- 0.35 %, rms 6.4
ppt and a mid-time 8 min late (2.1 sigma). As EXOTIC does (and the
comparison-star path of test_real_transit.py), the run now measures its
ensemble again at 1-3 FWHM and keeps 2.9 px (1.25 FWHM), 4.67 ppt: Rp/Rs
0.132 +- 0.013, depth 2.06 +- 0.36 %, chi2/N 0.73, rms 4.7 ppt, mid-time 4 min
after the published ephemeris (1.5 sigma).

The run fits the transit itself (``--transit``) with the ephemeris of
SOURCE.txt and Winn et al.'s a/Rs 10.52 +- 0.18 and inclination 88.4 +- 0.5
deg as priors (``--a-rs``, ``--inclination``), offline and without
``--planet``. Measured: Rp/Rs 0.132 +- 0.013, depth 2.05 +- 0.37 %, chi2/N
0.73, mid-time 3.8 min after the published one (1.4 sigma). Without them
this one night fits a/Rs 7.7 +- 1.5 and puts the mid-time 9.3 min early (3.6
sigma); on the curve of the photometry step's radius it fitted a grazing
transit (Rp/Rs 0.41, a/Rs 2.6).

The ensemble keeps a candidate measured cleanly in 90 % of the lights (a
light that misses a member takes the others, renormalised): 62 of 150
candidates refused, 111 when every light had to measure them.

One run of the whole night (70 lights, 10 darks, the fit: about 60 CPU s)
into a temporary project serves the module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from test_real_transit import EPHEMERIS, PUBLISHED_TC, PUBLISHED_TC_ERR

from fluxion.app.cli import main

TRES1_RA, TRES1_DEC = 286.0410417, 36.6326111  # 19:04:09.85 +36:37:57.4 (SOURCE.txt)
#: University of Maryland Observatory (OSCAAR's umo.par), lon east, lat, height.
UMD = "-76.9372,38.9806,20"


@pytest.fixture(scope="module")
def tres1_run(shared_data, tmp_path_factory) -> tuple[Path, str]:
    folder = shared_data / "tres1-oscaar"
    if not folder.is_dir():
        pytest.skip("tres1-oscaar not in the shared data")
    project = tmp_path_factory.mktemp("tres1_run") / "project"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main([
            "run", str(folder), "--project", str(project),
            "--ra", repr(TRES1_RA), "--dec", repr(TRES1_DEC), f"--site={UMD}",
            "--site-name", "UMD Observatory", "--telescope-aperture", "152",
            "--offline", "--workers", "1", "--no-report",
            "--transit", "--name", "TrES-1 b", "--period", repr(EPHEMERIS.period),
            "--period-err", repr(EPHEMERIS.period_err), "--t0", repr(EPHEMERIS.t0),
            "--t0-err", repr(EPHEMERIS.t0_err),
            "--a-rs", f"{EPHEMERIS.a_rs}+-{EPHEMERIS.a_rs_err}",
            "--inclination", f"{EPHEMERIS.inc_deg}+-{EPHEMERIS.inc_err}",
            "--teff", repr(EPHEMERIS.teff), "--logg", repr(EPHEMERIS.logg),
            "--feh", repr(EPHEMERIS.feh), "--mcmc-steps", "2500", "--burn", "800",
        ])  # fmt: skip
    # No zero points ('Filter 2', no catalog): the lights are not "fully processed".
    assert status == 1
    return project, out.getvalue()


def test_the_run_measures_against_comparison_stars_and_says_why(tres1_run):
    project, said = tres1_run
    line = next(x for x in said.splitlines() if x.startswith("light curve: against "))
    assert "because only 0 of the 70 lights that measured the target have a zero point" in line
    (chosen,) = [x for x in said.splitlines() if x.startswith("light curve: aperture")]
    assert "of 6 tried (1-3 FWHM) and the photometry step's" in chosen
    lc_meta = Table.read(project / "lightcurve.ecsv").meta
    assert 1.0 < lc_meta["aperture_radius"] / 2.3 < 2.0  # FWHM 2.3 px
    lc = Table.read(project / "lightcurve.ecsv")
    assert len(lc) == 70 and np.all(np.isfinite(np.asarray(lc["bjd_tdb"], float)))
    comp = lc.meta["comparison_stars"]
    assert 5 <= len(comp) <= 12
    # The field drifts 200 px: a member missed in a few lights is kept, those lights'
    # ensemble renormalised (16 of 70 lights with 10-11 of 12); most lights have them all.
    n_comp = np.asarray(lc["n_comparison"])
    assert np.all(n_comp >= len(comp) - 3) and np.mean(n_comp == len(comp)) > 0.5
    (refused,) = [x for x in said.splitlines() if "candidate stars measured" in x]
    assert "measured in < 90% of frames" in refused and "in every frame" not in refused
    assert lc.meta["scintillation_included"] is True
    # The ensemble takes the night's extinction out: the instrumental curve falls by
    # tenths of a magnitude from airmass 1.6 to 1.0, the differential one by the transit.
    mag = np.asarray(lc["mag"], float)
    assert np.nanpercentile(mag, 95) - np.nanpercentile(mag, 5) < 0.05


def test_the_runs_transit_fit_gives_the_published_transit(tres1_run):
    project, said = tres1_run
    fit = json.loads((project / "transit" / "transit.json").read_text())
    assert fit["method"] == "emcee"
    assert fit["priors"]["a_rs"] == {"mean": 10.52, "sigma": 0.18}
    assert 0.015 < fit["depth"] < 0.025
    assert abs(fit["rp_rs"] - 0.138) < 2 * fit["rp_rs_err"]
    assert fit["rp_rs_err"] < 0.03
    sigma = np.hypot(fit["tmid_err"], PUBLISHED_TC_ERR)
    assert abs(fit["tmid_bjd_tdb"] - PUBLISHED_TC) < 2 * sigma
    assert fit["tmid_err"] < 0.004  # under 6 minutes
    # The errors are the photometry's and the scintillation's: the points scatter as they say.
    chi2 = fit["noise_scale"] ** 2
    assert 0.6 < chi2 < 1.2, chi2
    # 6.4 ppt at the photometry step's radius: the chosen aperture's is well below.
    assert fit["residual_rms"] < 0.0055
    # The lights that missed a member (renormalised) sit on the model as the others do
    # (a member's 5-10 % share left out unscaled would be a step of 10-20 sigma there).
    model = Table.read(project / "transit" / "transit_model.ecsv")
    lc = Table.read(project / "lightcurve.ecsv")
    members = dict(zip(lc["file"], lc["n_comparison"], strict=True))
    fewer = np.array([members[f] < len(lc.meta["comparison_stars"]) for f in model["file"]])
    pull = np.asarray(model["residual"], float) / np.asarray(model["flux_err"], float)
    # (16 lights did before a masked pixel in a member's aperture was replaced by its
    # mirror image through the star's centre; one does now.)
    assert fewer.sum() >= 1
    assert np.max(np.abs(pull[fewer])) < 3.5
    assert abs(np.mean(pull[fewer])) < 3 / np.sqrt(fewer.sum())
    # The run's notes say it.
    (line,) = [x for x in said.splitlines() if x.startswith("transit: Rp/Rs")]
    assert f"Rp/Rs {fit['rp_rs']:.4f} +/- {fit['rp_rs_err']:.4f}" in line
