"""Calibrated light curves of the real EY UMa night (stellarphot): each point's error.

94 frames of the Feder Observatory's photometry (R) calibrated frame by frame
against APASS. A star's calibrated magnitude carries the zero point's error:
its frame-to-frame part (the calibration stars' noise) in each point's
``mag_err``, its catalogue part (APASS's errors and the intrinsic scatter,
the same stars' in every frame) in ``mag_err_sys``. The night's stars are
constant but for EY UMa and one more: their curves' chi2/N measure how
honest the errors are. The photometry's own errors (stellarphot's
``mag_error``) leave out part of the real noise, so even faint stars, whose
errors are all their own, show chi2/N ~1.3; bright stars, whose errors are
mostly the zero point's, must show the same. With the catalogue part in each
point they showed 0.37 (errors twice their scatter).
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from fluxion.core.zeropoint import ZeroPoint, ZeroPointParams

PHOT = "stellarphot/stellarphot/differential_photometry/tests/data/2014-12-29-ey-uma-9.fits"
APASS = "stellarphot/stellarphot/tests/data/all_apass_ey_uma.ecsv"


def _pooled_chi2(curves, with_sys=False):
    """chi2/N of constant-offset curves pooled (rows: mag, mag_err, mag_err_sys)."""
    chi2 = dof = 0.0
    for c in curves:
        err = np.hypot(c[:, 1], c[:, 2]) if with_sys else c[:, 1]
        w = 1.0 / err**2
        r = c[:, 0] - np.sum(w * c[:, 0]) / np.sum(w)
        chi2, dof = chi2 + float(np.sum(w * r**2)), dof + len(r) - 1
    return chi2 / dof


def test_bright_stars_calibrated_errors_are_as_honest_as_faint_ones(shared_data):
    phot = Table.read(shared_data / PHOT)
    catalog = Table.read(shared_data / APASS)
    step = ZeroPoint(ZeroPointParams(colour_index="B-V"))
    rows: dict[int, list] = {}
    for name in np.unique(phot["file"]):
        r = step(phot[phot["file"] == name], catalog, filter="R")
        assert r.calibrated
        assert np.isclose(r.zero_point_err**2, r.zero_point_err_stat**2 + r.zero_point_err_sys**2)
        s = r.sources
        cols = (s["star_id"], s["mag"], s["mag_err"], s["mag_err_sys"])
        for sid, m, e, e_sys in zip(*cols, strict=True):
            if np.isfinite(m):
                rows.setdefault(int(sid), []).append((m, e, e_sys))
    curves = [np.array(c) for c in rows.values() if len(c) >= 80]
    # Variables (EY UMa, and a star scattering 2.5x its errors) are left out.
    curves = [c for c in curves if _pooled_chi2([c]) < 3.0]
    mag = np.array([np.median(c[:, 0]) for c in curves])
    bright = [c for c, m in zip(curves, mag, strict=True) if m < 12.5]
    faint = [c for c, m in zip(curves, mag, strict=True) if m > 14.4]
    assert len(bright) >= 6 and len(faint) >= 10
    # Bright stars' errors are mostly the zero point's: its catalogue part is
    # larger than its frame-to-frame part there.
    assert np.median(np.concatenate([c[:, 2] / c[:, 1] for c in bright])) > 1.0
    ratio = _pooled_chi2(bright) / _pooled_chi2(faint)
    print(
        f"chi2/N bright {_pooled_chi2(bright):.2f} faint {_pooled_chi2(faint):.2f}; "
        f"with the catalogue part {_pooled_chi2(bright, True):.2f}, {_pooled_chi2(faint, True):.2f}"
    )
    assert 0.8 < ratio < 1.25, ratio
    # The catalogue part counted in each point made bright stars' errors too large.
    assert _pooled_chi2(bright, True) / _pooled_chi2(faint, True) < 0.5
