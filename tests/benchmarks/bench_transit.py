"""Transit timing on the real TrES-1 frames: Fluxion next to EXOTIC, in one run.

Both reduce the same 70 lights and 10 darks of ``shared/data/tres1-oscaar``
(TrES-1 b, 2012-06-17) with the same ephemeris (SOURCE.txt: Yeung et al. 2022),
geometry priors (Winn et al. 2007), star and site (University of Maryland
Observatory, OSCAAR's ``umo.par``), target and comparison candidates (the
original author's ``stars2.reg``), and print the mid-time, its error, Rp/Rs,
the depth and the residual scatter beside the published mid-time.

EXOTIC (PyPI ``exotic``) runs in its own virtual environment outside the
repository (``--exotic PATH`` or ``$EXOTIC``: its ``exotic`` command), offline:

* barycorrpy, which EXOTIC imports first, downloads the IERS-B table at import
  time; the script puts the copy that ships in astropy's ``astropy-iers-data``
  package into EXOTIC's astropy download cache, so the import works offline;
* EXOTIC computes limb darkening with LDTk, which downloads PHOENIX spectra;
  offline the only way is to type the coefficients, so its prompts are
  answered from standard input with Claret & Bloemen (2011)'s nonlinear
  V-band law for Teff 5250 K, log g 4.5, [M/H] 0 (ATLAS, least squares),
  and the FWHM of the V band (500-600 nm);
* EXOTIC reads ``.fits`` files, not Rice-compressed ``.fit.fz``: the frames
  are decompressed into a work folder (the integers are unchanged);
* the headers give no image scale: 2.3 arcsec/px (13.6 um pixels of the
  binned ST-10 on a ~1.2 m focal length) is given; it only sets EXOTIC's
  plate-solving hints, which are off.

When EXOTIC stops anyway, the script prints where (the last lines of its
output, the light-curve fits its log holds) and compares Fluxion with the
published figures alone.

EXOTIC's own reduction is slow here: after aligning the frames it searches
20 apertures x 19 annuli (hard-coded, ``exotic.py``; the inits file cannot
fix them, only the comparison list) and at each pair fits the light curve
once without a comparison star and once per comparison. The fit without a
comparison star (raw counts, unscaled least squares) takes 10-27 s on a
loaded 2-core machine against 0.1-1 s for the others, so the search needs
380 of those, about two hours, whatever the comparison list.
``--exotic-prereduced`` has EXOTIC fit Fluxion's light curve instead (its
pre-reduced mode, the same nested sampling and priors): the fits compared
on the same photometry.

Fluxion also fits the same light curve with the ephemeris and the star alone
("Fl. free": no a/Rs, no inclination; EXOTIC cannot, it needs both). Measured
(--exotic-prereduced, EXOTIC 4.3.1): Fluxion +3.3 +- 2.3 min from the
published mid-time, Rp/Rs 0.130 +- 0.012; free +2.5 +- 7.1 min (was -10.9 +-
2.7, 3.9 sigma), Rp/Rs 0.130 +- 0.009, a/Rs 10.2 +- 1.1; EXOTIC -1.0 +- 2.4
min, Rp/Rs 0.125 +- 0.005, residual scatter 0.57 % against Fluxion's 0.47 %.

Run: ``.venv/bin/python tests/benchmarks/bench_transit.py [--exotic PATH] [--work DIR]
[--timeout S] [--exotic-comparisons 2,7] [--exotic-prereduced]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "real"))
sys.path.insert(0, str(ROOT / "tests"))

PUBLISHED = (2456095.6740, 0.0005)
# Claret & Bloemen (2011) nonlinear law, V, ATLAS, L, xi 2 km/s, 5250 K, 4.5, 0.0.
NONLINEAR_V = (0.5694, -0.3654, 1.1829, -0.5475)


def run_fluxion(data: Path, work: Path) -> dict:
    """The real-data test's pipeline, timed; its light curve kept for EXOTIC.

    ``WORK/fluxion_lightcurve.csv`` is the relative flux as EXOTIC reads a
    pre-reduced light curve (BJD_TDB, flux, error, airmass per line).
    """
    from conftest import shared_data_dir  # noqa: F401 - the same data lookup as the tests
    from test_real_transit import EPHEMERIS, TRES1, UMD

    from fluxion.core.calibration.masters import make_master_dark
    from fluxion.core.calibration.raw import RawFrame
    from fluxion.core.io.sequence import Sequence
    from fluxion.core.targets.inputs import target_frames
    from fluxion.core.transit.data import transit_data_from_table
    from fluxion.core.transit.frames import frames_light_curve, read_region_positions
    from fluxion.core.transit.run import TransitParams, fit_transit

    t0 = time.perf_counter()
    folder = data / "tres1-oscaar"
    sequence = Sequence.from_paths([folder])
    dark = make_master_dark([RawFrame.from_info(f) for f in sequence.frames if f.type == "dark"],
                            None).data  # fmt: skip
    frames = target_frames(sequence)
    regions = read_region_positions((folder / "stars2.reg").read_text())
    choice = frames_light_curve(frames, regions[0], EPHEMERIS, candidates_xy=regions[1:],
                                dark=dark, target=TRES1, location=UMD)  # fmt: skip
    lc = transit_data_from_table(choice.light_curve, "TrES-1")
    result = fit_transit(lc, EPHEMERIS, TransitParams(mcmc_steps=5000, mcmc_burn=1500))
    # The same light curve with the ephemeris and the star alone (no a/Rs, no inclination).
    alone = replace(EPHEMERIS, a_rs=None, a_rs_err=None, inc_deg=None, inc_err=None,
                    rp_rs=None, duration_h=None)  # fmt: skip
    free = fit_transit(lc, alone, TransitParams(mcmc_steps=5000, mcmc_burn=1500))
    work.mkdir(parents=True, exist_ok=True)
    rows = zip(lc.t, lc.flux, lc.flux_err, lc.columns["airmass"], strict=True)
    (work / "fluxion_lightcurve.csv").write_text(
        "".join(f"{t:.7f},{f:.7f},{e:.7f},{a:.5f}\n" for t, f, e, a in rows)
    )
    v, e = result.values, result.errors
    fv, fe = free.values, free.errors
    return {
        "free_geometry": {
            "tmid": fv["tmid"], "tmid_err": fe["tmid"], "rp_rs": fv["rp_rs"],
            "rp_rs_err": fe["rp_rs"], "depth_pct": 100 * fv["depth"],
            "scatter_pct": 100 * free.residual_rms, "a_rs": fv["a_rs"], "a_rs_err": fe["a_rs"],
            "detrending": ", ".join(free.detrending), "seconds": float("nan"),
        },
        "tmid": v["tmid"], "tmid_err": e["tmid"], "rp_rs": v["rp_rs"], "rp_rs_err": e["rp_rs"],
        "depth_pct": 100 * v["depth"], "scatter_pct": 100 * result.residual_rms,
        "beta": result.beta, "detrending": ", ".join(result.detrending),
        "aperture": f"{choice.radius:.1f} px, {len(choice.comparison)} comparison stars",
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip


# Ten of stars2.reg's comparison candidates (1-based; the saturated star at 643.6, 454
# is among those left out), numbered as EXOTIC numbers them.
EXOTIC_CANDIDATES = [[397, 407], [874, 351], [682, 381], [856, 466], [347, 555], [417, 333],
                     [741, 661], [635, 441], [576, 365], [811, 414]]  # fmt: skip


def _prepare_exotic(
    exotic: Path, data: Path, work: Path, comparisons: list, prereduced: Path | None = None
) -> Path:
    python = exotic.parent / "python"
    lights, darks, out = work / "lights", work / "darks", work / "out"
    for d in (lights, darks, out):
        d.mkdir(parents=True, exist_ok=True)
    script = f"""
import glob, os
from astropy.io import fits
from astropy.utils import iers
from astropy.utils.data import import_file_to_cache, is_url_in_cache
for p in sorted(glob.glob({str(data / "tres1-oscaar" / "tres1-*.fit.fz")!r})):
    name = os.path.basename(p).replace('.fit.fz', '.fits')
    dest = {str(darks)!r} if name.endswith('d.fits') else {str(lights)!r}
    if os.path.exists(os.path.join(dest, name)):
        continue
    with fits.open(p) as h:
        fits.PrimaryHDU(h[1].data, header=h[1].header).writeto(os.path.join(dest, name))
if not is_url_in_cache(iers.IERS_B_URL):
    import_file_to_cache(iers.IERS_B_URL, iers.IERS_B_FILE, remove_original=False)
"""
    subprocess.run([str(python), "-c", script], check=True, capture_output=True)
    from test_real_transit import EPHEMERIS as E

    inits = {
        "user_info": {
            "Directory with FITS files": str(lights), "Directory to Save Plots": str(out),
            "Directory of Flats": None, "Directory of Darks": str(darks),
            "Directory of Biases": None, "AAVSO Observer Code (blank if none)": "",
            "Secondary Observer Codes (blank if none)": "", "Observation date": "17-June-2012",
            "Obs. Latitude": "+38.98060", "Obs. Longitude": "-76.93720",
            "Obs. Elevation (meters)": 20, "Camera Type (CCD or DSLR)": "CCD",
            "Pixel Binning": "2x2", "Filter Name (aavso.org/filters)": "Filter 2",
            "Observing Notes": "OSCAAR sample", "Plate Solution? (y/n)": "n",
            "Add Comparison Stars from AAVSO? (y/n)": "n",
            "Target Star X & Y Pixel": "[571, 346]",
            "Comparison Star(s) X & Y Pixel": json.dumps(comparisons),
            "Demosaic Format": None, "Demosaic Output": None,
        },
        "planetary_parameters": {
            "Target Star RA": "19:04:09.85", "Target Star Dec": "+36:37:57.4",
            "Planet Name": "TrES-1 b", "Host Star Name": "TrES-1",
            "Orbital Period (days)": E.period, "Orbital Period Uncertainty": E.period_err,
            "Published Mid-Transit Time (BJD-UTC)": E.t0, "Mid-Transit Time Uncertainty": E.t0_err,
            "Ratio of Planet to Stellar Radius (Rp/Rs)": E.rp_rs,
            "Ratio of Planet to Stellar Radius (Rp/Rs) Uncertainty": 0.0014,
            "Ratio of Distance to Stellar Radius (a/Rs)": E.a_rs,
            "Ratio of Distance to Stellar Radius (a/Rs) Uncertainty": E.a_rs_err,
            "Orbital Inclination (deg)": E.inc_deg,
            "Orbital Inclination (deg) Uncertainty": E.inc_err,
            "Orbital Eccentricity (0 if null)": 0.0, "Argument of Periastron (deg)": 0.0,
            "Star Effective Temperature (K)": E.teff,
            "Star Effective Temperature (+) Uncertainty": 50.0,
            "Star Effective Temperature (-) Uncertainty": -50.0,
            "Star Metallicity ([FE/H])": E.feh, "Star Metallicity (+) Uncertainty": 0.05,
            "Star Metallicity (-) Uncertainty": -0.05, "Star Surface Gravity (log(g))": E.logg,
            "Star Surface Gravity (+) Uncertainty": 0.03,
            "Star Surface Gravity (-) Uncertainty": -0.03, "Star Distance (pc)": 159.7,
            "Star Proper Motion RA (mas/yr)": -9.3, "Star Proper Motion DEC (mas/yr)": -34.1,
        },
        "optional_info": {
            "Pre-reduced File:": str(prereduced or ""),
            "Comparison Star used in Photometry (leave blank if none)": {
                "ra": "", "dec": "", "x": "", "y": ""},
            "Pre-reduced File Time Format (BJD_TDB, JD_UTC, MJD_UTC)":
            "BJD_TDB", "Pre-reduced File Units of Flux (flux, magnitude, millimagnitude)": "flux",
            "Filter Minimum Wavelength (nm)": None, "Filter Maximum Wavelength (nm)": None,
            "Image Scale (Ex: 5.21 arcsecs/pixel)": "2.3", "Exposure Time (s)": 60.0,
        },
    }  # fmt: skip
    path = work / "inits.json"
    path.write_text(json.dumps(inits, indent=1))
    return path


def _number(text: str) -> tuple[float, float]:
    m = re.match(r"\s*([-\d.eE+]+)\s*\+/-\s*([-\d.eE+]+)", text)
    return (float(m.group(1)), float(m.group(2))) if m else (float("nan"), float("nan"))


def start_exotic(
    exotic: Path, data: Path, work: Path, comparisons: list, prereduced: Path | None = None
) -> tuple[subprocess.Popen, float] | str:
    """Start EXOTIC in the background (it runs while Fluxion does), or say why not.

    It runs as ``python -u -m exotic.exotic``: unbuffered, so its printed
    progress reaches ``WORK/exotic_stdout.log`` as it happens (through a pipe
    the last few hundred bytes sat in the buffer and a stopped run looked
    further back than it was), and as a script, so EXOTIC's own debug log with
    a time stamp per line (every light curve fit of its comparison star and
    aperture search) is written to ``WORK/exotic.log``.
    """
    if not exotic.is_file():
        return f"EXOTIC not found at {exotic} (pip install exotic in its own venv; --exotic PATH)"
    inits = _prepare_exotic(exotic, data, work, comparisons, prereduced)
    answers = ["n"] + [x for c in NONLINEAR_V for x in (str(c), "0.05")] + ["500", "600"]
    for old in ("exotic.log", "exotic_stdout.log"):
        (work / old).unlink(missing_ok=True)
    for old in (work / "out").rglob("FinalParams_*.json"):
        old.unlink()
    stdin = work / "exotic_answers.txt"
    stdin.write_text("\n".join(answers) + "\n")
    with stdin.open() as answers_in, (work / "exotic_stdout.log").open("w") as out:
        proc = subprocess.Popen(
            [str(exotic.parent / "python"), "-u", "-m", "exotic.exotic",
             "--prereduced" if prereduced else "--reduce", str(inits), "--override"],
            stdin=answers_in, stdout=out, stderr=subprocess.STDOUT, cwd=work,
        )  # fmt: skip
    return proc, time.perf_counter()


def _where_exotic_is(work: Path) -> str:
    """The last lines EXOTIC printed and how far its search had gone."""
    printed = (work / "exotic_stdout.log").read_text(errors="replace").strip().splitlines()
    tail = " | ".join(line.strip() for line in printed[-4:] if line.strip())
    debug = work / "exotic.log"
    lines = debug.read_text(errors="replace").splitlines() if debug.is_file() else []
    # Its own lines start with a time stamp (a library's root handler repeats some without).
    stamped = [line for line in lines if re.match(r"\d{4}-\d\d-\d\dT", line)]
    fits = sum("Residual Standard Deviation" in line for line in stamped)
    last = stamped[-1][:23] if stamped else "-"
    return f"last printed: {tail}; light curve fits logged: {fits}; last log line at {last}"


def finish_exotic(started: tuple[subprocess.Popen, float] | str, work: Path,
                  timeout: float) -> dict | str:  # fmt: skip
    """EXOTIC's result, or where it stopped."""
    if isinstance(started, str):
        return started
    proc, t0 = started
    try:
        proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - t0)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"EXOTIC did not finish in {timeout:.0f} s ({_where_exotic_is(work)})"
    found = sorted((work / "out").rglob("FinalParams_*.json"))
    if not found:
        return f"EXOTIC stopped (exit {proc.returncode}): {_where_exotic_is(work)}"
    params = json.loads(found[-1].read_text())["FINAL PLANETARY PARAMETERS"]
    tmid, tmid_err = _number(params["Mid-Transit Time (Tmid)"])
    rp, rp_err = _number(params["Ratio of Planet to Stellar Radius (Rp/R*)"])
    depth, _ = _number(params["Transit depth (Rp/Rs)^2"])
    scatter = float(params["Scatter in the residuals of the lightcurve fit is"].split()[0])
    return {
        "tmid": tmid, "tmid_err": tmid_err, "rp_rs": rp, "rp_rs_err": rp_err,
        "depth_pct": depth, "scatter_pct": scatter, "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def main() -> int:
    from conftest import shared_data_dir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exotic", type=Path, default=Path(os.environ.get(
        "EXOTIC", str(ROOT.parent / "exotic-venv" / "bin" / "exotic"))))  # fmt: skip
    p.add_argument("--work", type=Path, default=Path("/tmp/fluxion-bench-transit"))
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument(
        "--exotic-prereduced", action="store_true",
        help="EXOTIC fits Fluxion's light curve (its pre-reduced mode: the same photometry, "
        "EXOTIC's nested-sampling fit) instead of reducing the frames itself.",
    )  # fmt: skip
    p.add_argument(
        "--exotic-comparisons", default="",
        help="EXOTIC's comparison candidates by number (1-10, comma-separated; default all "
        "ten). Its search fits every candidate at 20 apertures x 19 annuli (plus once "
        "without a comparison): 4180 light-curve fits for ten, 1140 for two.",
    )  # fmt: skip
    args = p.parse_args()
    data = shared_data_dir()
    if data is None or not (data / "tres1-oscaar").is_dir():
        print("the TrES-1 frames (shared/data/tres1-oscaar) are not here")
        return 1
    picked = [int(k) for k in args.exotic_comparisons.split(",") if k.strip()]
    comparisons = [EXOTIC_CANDIDATES[k - 1] for k in picked] or EXOTIC_CANDIDATES
    if args.exotic_prereduced:
        fl = run_fluxion(data, args.work)
        started = start_exotic(args.exotic, data, args.work, comparisons,
                               args.work / "fluxion_lightcurve.csv")  # fmt: skip
    else:
        started = start_exotic(args.exotic, data, args.work, comparisons)
        fl = run_fluxion(data, args.work)
    # Fluxion's numbers are kept while EXOTIC runs on (a stopped run keeps them).
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "fluxion.json").write_text(json.dumps(fl, indent=1))
    print(f"Fluxion done: {json.dumps(fl)}", flush=True)
    ex = finish_exotic(started, args.work, args.timeout)
    tc, tc_err = PUBLISHED
    print(f"\nTrES-1 b, 2012-06-17; published Tc = {tc} +/- {tc_err} BJD_TDB (Yeung et al. 2022)")
    rows = [("Fluxion", fl), ("Fl. free", fl["free_geometry"])]
    rows += [("EXOTIC", ex)] if isinstance(ex, dict) else []
    print(f"{'':8} {'Tc (BJD_TDB)':>15} {'err (min)':>9} {'O-C (sig)':>9} {'Rp/Rs':>14} "
          f"{'depth %':>8} {'rms %':>6} {'time s':>7}")  # fmt: skip
    for name, r in rows:
        sig = (r["tmid"] - tc) / np.hypot(r["tmid_err"], tc_err)
        print(f"{name:8} {r['tmid']:15.5f} {r['tmid_err'] * 1440:9.2f} {sig:9.2f} "
              f"{r['rp_rs']:7.4f}+-{r['rp_rs_err']:.4f} {r['depth_pct']:8.2f} "
              f"{r['scatter_pct']:6.3f} {r['seconds']:7.0f}")  # fmt: skip
    print(
        f"Fluxion: {fl['aperture']}; detrending {fl['detrending'] or 'none'}; beta {fl['beta']:.2f}"
    )
    free = fl["free_geometry"]
    print(f"Fl. free: the ephemeris and the star alone (no a/Rs, no inclination): a/Rs "
          f"{free['a_rs']:.2f} +- {free['a_rs_err']:.2f}, "
          f"detrending {free['detrending']}")  # fmt: skip
    if args.exotic_prereduced:
        print("EXOTIC fitted Fluxion's light curve (pre-reduced mode): the same photometry")
    else:
        print(f"EXOTIC's comparison candidates: {comparisons}")
    if isinstance(ex, dict):
        print(
            f"ratios Fluxion/EXOTIC: Tc error {fl['tmid_err'] / ex['tmid_err']:.2f}, "
            f"residual scatter {fl['scatter_pct'] / ex['scatter_pct']:.2f}"
        )
    else:
        print(ex)
    return 0


if __name__ == "__main__":
    sys.exit(main())
