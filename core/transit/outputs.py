"""What a transit fit leaves in its output folder.

* ``transit.json``: every number of the fit (mid-time, Rp/Rs, a/Rs,
  inclination, depth, duration with errors; residual rms, beta, the
  detrending chosen and the BIC of every candidate; limb darkening, priors,
  ephemeris, O-C; sampler diagnostics; notes);
* ``transit_model.ecsv``: per point the flux, its inflated error, the model,
  the transit, the baseline, the detrended flux and the residual;
* ``plots/*.ecsv``: each plot's data (:mod:`.plots`);
* ``aavso_exoplanet_report.txt``: the AAVSO Exoplanet Report, checked;
* ``exoclock.txt`` and ``exoclock_lightcurve.txt``: what the ExoClock
  project's upload form asks for, and the detrended light curve in BJD_TDB.

Every file is written atomically; nothing else in the folder is touched.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..io.fitsio import atomic_write_ecsv, atomic_write_text
from ..reports.aavso_exoplanet import (
    ExoplanetReport,
    aavso_filter_code,
    check_aavso_exoplanet,
    format_aavso_exoplanet,
)
from .data import TransitData
from .run import TransitResult

__all__ = ["ObservationInfo", "result_summary", "write_transit_outputs", "exoclock_text"]


@dataclass(frozen=True)
class ObservationInfo:
    """Who observed what, for the reports (all optional)."""

    planet: str = ""
    star: str = ""
    obscode: str = ""
    observer: str = ""
    telescope: str = ""
    camera: str = ""
    filter: str = ""
    exposure_s: float | None = None
    binning: str = "1x1"
    software: str = "Fluxion"
    notes: str = ""


def _clean(v):
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def result_summary(result: TransitResult, info: ObservationInfo | None = None) -> dict:
    """The numbers of ``transit.json`` (NaN written as null)."""
    v, e = result.values, result.errors
    out = {
        "planet": (info.planet if info else "") or result.ephemeris.name,
        "tmid_bjd_tdb": v["tmid"], "tmid_err": e["tmid"],
        "tmid_err_low": result.errors_low["tmid"], "tmid_err_high": result.errors_high["tmid"],
        "rp_rs": v["rp_rs"], "rp_rs_err": e["rp_rs"],
        "a_rs": v["a_rs"], "a_rs_err": e["a_rs"],
        "b": v["b"], "b_err": e["b"],
        "inc_deg": v["inc_deg"], "inc_err": e["inc_deg"],
        "depth": v["depth"], "depth_err": e["depth"],
        "duration_h": v["duration_h"], "duration_err_h": e["duration_h"],
        "u1": v["u1"], "u1_err": e["u1"], "u2": v["u2"], "u2_err": e["u2"],
        "period_days": result.ephemeris.period,
        "residual_rms": result.residual_rms,
        "beta": result.beta, "noise_scale": result.noise_scale,
        "detrending": list(result.detrending),
        "baseline_coefficients": result.coefficients,
        "bic": result.bic, "bic_table": result.bic_table,
        "free_parameters": list(result.free),
        "priors": {k: {"mean": m, "sigma": s} for k, (m, s) in result.priors.items()},
        "limb_darkening": result.limb_darkening.to_dict(),
        "ephemeris": result.ephemeris.to_dict(),
        "timing": result.timing,
        "method": result.method, "sampler": result.sampler,
        "n_points": result.n_points, "n_clipped": result.n_clipped,
        "red_noise_bins_points": [int(x) for x in result.red_noise.bin_points],
        "red_noise_betas": [float(x) for x in result.red_noise.betas],
        "notes": list(result.notes),
    }  # fmt: skip
    return _clean(out)


def _model_table(result: TransitResult, data: TransitData) -> Table:
    t = Table()
    for name, values in result.model.items():
        t[name] = values
    if data.files:
        t["file"] = data.files
    t.meta["tmid_bjd_tdb"] = result.values["tmid"]
    t.meta["detrending"] = list(result.detrending)
    return t


def exoclock_text(result: TransitResult, data: TransitData, info: ObservationInfo) -> str:
    """The facts ExoClock's upload form asks for, one per line."""
    v, e = result.values, result.errors
    start, stop = float(data.t[0]), float(data.t[-1])
    lines = [
        "# ExoClock observation summary (upload the light curve exoclock_lightcurve.txt)",
        f"Planet: {info.planet or result.ephemeris.name}",
        f"Observer: {info.observer}",
        f"Telescope: {info.telescope}",
        f"Camera: {info.camera}",
        f"Filter: {info.filter or data.filter or ''}",
        f"Exposure time (s): {(info.exposure_s or data.exposure_s or 0):g}",
        f"Observation start (BJD_TDB): {start:.6f}",
        f"Observation end (BJD_TDB): {stop:.6f}",
        "Time format: BJD_TDB",
        "Flux format: relative flux, detrended",
        f"Mid-time (BJD_TDB): {v['tmid']:.6f} +/- {e['tmid']:.6f}",
        f"O-C (min): {result.timing['o_minus_c_min']:.2f} +/- "
        f"{result.timing['o_minus_c_err_min']:.2f} (epoch {result.timing['epoch']})",
        f"Rp/Rs: {v['rp_rs']:.5f} +/- {e['rp_rs']:.5f}",
        f"Depth: {v['depth'] * 100:.3f} +/- {e['depth'] * 100:.3f} %",
        f"Detrending: {', '.join(result.detrending) or 'none (constant baseline)'}",
        f"Residual rms: {result.residual_rms * 1000:.2f} ppt; red-noise beta {result.beta:.2f}",
        f"Fitting: batman + {result.method}; software {info.software}",
    ]
    return "\n".join(lines) + "\n"


def write_transit_outputs(
    out_dir: str | os.PathLike[str],
    data: TransitData,
    result: TransitResult,
    tables: dict[str, Table],
    info: ObservationInfo | None = None,
) -> dict[str, Path]:
    """Write every product of a fit into ``out_dir`` (created); return their paths.

    The AAVSO report is checked; its problems (e.g. no observer code given)
    are listed in ``transit.json``'s ``aavso_report_problems``.
    """
    info = info or ObservationInfo()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    paths["model"] = atomic_write_ecsv(out / "transit_model.ecsv", _model_table(result, data))
    for name, table in tables.items():
        paths[f"plot_{name}"] = atomic_write_ecsv(out / "plots" / f"{name}.ecsv", table)
    m = result.model
    used = np.asarray(m["used"], dtype=bool)
    report = ExoplanetReport(
        obscode=info.obscode, star_name=info.star or _host(info.planet or result.ephemeris.name),
        exoplanet_name=info.planet or result.ephemeris.name,
        filter=aavso_filter_code(info.filter or data.filter),
        exposure_s=float(info.exposure_s or data.exposure_s or 0.0), binning=info.binning,
        software=info.software, notes=info.notes,
        priors={"Period": (result.ephemeris.period, result.ephemeris.period_err or None),
                **{k: result.priors[k] for k in result.priors}},
        results={"Tc": (result.values["tmid"], result.errors["tmid"]),
                 "Rp/R*": (result.values["rp_rs"], result.errors["rp_rs"]),
                 "a/R*": (result.values["a_rs"], result.errors["a_rs"]),
                 "inc": (result.values["inc_deg"], result.errors["inc_deg"])},
    )  # fmt: skip
    detrend = {name: data.columns[name][used] for name in result.detrending if name in data.columns}
    text = format_aavso_exoplanet(
        report, m["t"][used], m["detrended"][used], m["detrended_err"][used], detrend
    )
    problems = check_aavso_exoplanet(text)
    paths["aavso"] = atomic_write_text(out / "aavso_exoplanet_report.txt", text)
    lc = Table({"BJD_TDB": m["t"][used], "flux": m["detrended"][used],
                "flux_err": m["detrended_err"][used]})  # fmt: skip
    for c in ("BJD_TDB", "flux", "flux_err"):
        lc[c].info.format = ".6f"
    paths["exoclock_lightcurve"] = _write_plain(out / "exoclock_lightcurve.txt", lc)
    paths["exoclock"] = atomic_write_text(out / "exoclock.txt", exoclock_text(result, data, info))
    summary = result_summary(result, info)
    summary["aavso_report_problems"] = problems
    summary["files"] = {k: p.name if p.parent == out else str(p.relative_to(out))
                        for k, p in paths.items()}  # fmt: skip
    paths["json"] = atomic_write_text(out / "transit.json", json.dumps(summary, indent=1) + "\n")
    return paths


def _host(planet: str) -> str:
    """The host's name from a planet's ("TrES-1 b" -> "TrES-1")."""
    parts = planet.split()
    return " ".join(parts[:-1]) if len(parts) > 1 and len(parts[-1]) == 1 else planet


def _write_plain(path: Path, table: Table) -> Path:
    import io

    buf = io.StringIO()
    table.write(buf, format="ascii.commented_header", delimiter=" ")
    return atomic_write_text(path, buf.getvalue())
