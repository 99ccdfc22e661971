"""The data behind the plots TESS follow-up (TFOP SG1) asks for, as tables.

Core draws nothing (it never imports a plotting library); each plot is a
table that the window draws with pyqtgraph and ``fluxion transit`` writes as
ECSV beside the PNGs the app layer renders from the same tables:

* ``lightcurve``: relative flux with the model, the detrended flux, the
  transit, residuals; ``binned``: the detrended flux and residuals in bins;
* ``systematics``: the baseline and the per-frame regressors (airmass,
  FWHM, sky, x/y) against time;
* ``rms_vs_bin``: rms of binned residuals against bin size with white noise's
  1/sqrt(n);
* ``comparisons`` (when the light curve was measured here): each comparison
  star's flux against the ensemble of the others.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from .data import TransitData
from .noise import rms_by_bin_size
from .run import TransitResult

__all__ = ["plot_tables", "binned"]


def binned(t: np.ndarray, y: np.ndarray, err: np.ndarray, minutes: float) -> Table:
    """Weighted means of ``y`` in consecutive time bins of ``minutes``."""
    t, y, err = (np.asarray(a, dtype=float) for a in (t, y, err))
    ok = np.isfinite(t) & np.isfinite(y) & np.isfinite(err) & (err > 0)
    t, y, err = t[ok], y[ok], err[ok]
    out = Table(names=("t", "value", "err", "n"), dtype=(float, float, float, int))
    if t.size == 0:
        return out
    edges = np.arange(t.min(), t.max() + minutes / 1440.0, minutes / 1440.0)
    idx = np.clip(np.digitize(t, edges) - 1, 0, max(edges.size - 1, 0))
    for k in np.unique(idx):
        m = idx == k
        w = 1.0 / err[m] ** 2
        out.add_row((np.sum(w * t[m]) / w.sum(), np.sum(w * y[m]) / w.sum(), w.sum() ** -0.5,
                     int(m.sum())))  # fmt: skip
    return out


def plot_tables(
    data: TransitData,
    result: TransitResult,
    *,
    bin_minutes: float = 10.0,
    comparisons: Table | None = None,
) -> dict[str, Table]:
    """Every plot's data (see the module), by name."""
    m = result.model
    lc = Table()
    for name in ("t", "flux", "flux_err", "model", "transit", "baseline", "detrended",
                 "detrended_err", "residual", "used"):  # fmt: skip
        lc[name] = m[name]
    lc.meta["tmid"] = result.values["tmid"]
    lc.meta["tmid_err"] = result.errors["tmid"]
    lc.meta["predicted_tc"] = result.timing["tc_predicted"]
    used = np.asarray(m["used"], dtype=bool)
    b = binned(m["t"][used], m["detrended"][used], m["detrended_err"][used], bin_minutes)
    r = binned(m["t"][used], m["residual"][used], m["detrended_err"][used], bin_minutes)
    b["residual"] = r["value"] if len(r) == len(b) else np.full(len(b), np.nan)
    b.meta["bin_minutes"] = bin_minutes
    sysm = Table()
    sysm["t"] = m["t"]
    sysm["baseline"] = m["baseline"]
    for name, values in data.columns.items():
        sysm[name] = values
    rms = rms_by_bin_size(m["residual"][used])
    cadence_min = float(np.median(np.diff(m["t"]))) * 1440.0 if len(m["t"]) > 1 else np.nan
    rvb = Table(rms)
    rvb["bin_minutes"] = rvb["bin_points"] * cadence_min
    rvb.meta["beta"] = result.beta
    out = {"lightcurve": lc, "binned": b, "systematics": sysm, "rms_vs_bin": rvb}
    if comparisons is not None:
        out["comparisons"] = comparisons
    return out
