"""The real asteroid 2713 Luxembourg night as a session of the multi-night period fit.

The light curve is measured as the window and ``fluxion lightcurve`` do it
(the asteroid clicked in the first and last light and tracked through the
registration, the author's comparison star C1 = 12.2, 5 px apertures); the
period fit takes it as a session: 1.2 h of a 3.58 h rotation cannot give the
period alone, but the Fourier series at the published period must describe
the night to its noise, and the night written as ALCDEF must pass the checker.
"""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.lightcurve.comparison import ComparisonChoice
from fluxion.core.lightcurve.run import LightCurveParams, assemble_light_curve, measure_frames
from fluxion.core.reports.alcdef import AlcdefSession, check_alcdef
from fluxion.core.rotation import fourier_fit, period_search, session_from_table
from fluxion.core.rotation.report import rotation_alcdef
from fluxion.core.rotation.sessions import join_sessions
from fluxion.core.targets.inputs import load_target_frames
from fluxion.core.targets.tracking import Click, Track, fit_track, refine_click

PUBLISHED_PERIOD_H = 3.58  # LCDB, as SOURCE.txt quotes it
CLEAR = 20  # the later lights are in dawn twilight


@pytest.fixture(scope="module")
def session(shared_data):
    folder = shared_data / "asteroid2713-night1"
    if not folder.is_dir():
        pytest.skip("asteroid2713-night1 not in the shared data")
    frames = load_target_frames([folder])
    jd = frames.times.jd
    first = refine_click(frames.image(0), 441, 438)
    track = Track().with_click(Click(0, jd[0], first.x, first.y, first.sigma))
    track = track.with_click(Click(24, jd[24], 435.7, 416.0, 1.0, refined=False))
    reg = frames.registration
    pred = fit_track(track, registration=reg).predict(jd, registration=reg)
    star_xy = frames.in_every_light(np.array([[230.0, 856.0], [611.0, 272.0]]))
    gain = frames.gain()
    m = measure_frames(
        lambda i: frames.image(i) * gain, np.column_stack([pred["x"], pred["y"]]), star_xy,
        LightCurveParams(aperture_radius=5.0),
    )  # fmt: skip
    lc = assemble_light_curve(
        m, ComparisonChoice((0,), 1, {}, np.full(2, np.nan)), frames.times, files=frames.files,
        location=frames.location, comparison_mag=np.array([12.2, 13.92]),
        pointing=frames.pointing(),
    )  # fmt: skip
    return session_from_table(lc[:CLEAR], "2713 Luxembourg 2018-10-13", filter="C")


def test_the_real_night_is_a_session_the_fit_takes(session):
    assert len(session.jd) == CLEAR and not session.has_geometry
    t, m, e, k = join_sessions([session])
    # The night covers a quarter of a rotation: only the double-peaked curve's
    # main harmonic (half the published period) is determined; one sinusoid at
    # that period describes the night to its noise (errors from the CCD
    # equation, 0.03-0.04 mag) and has an amplitude of the published 0.58 mag's order.
    fit = fourier_fit(t, m, e, k, PUBLISHED_PERIOD_H / 2.0 / 24.0, order=1)
    assert fit.chi2 / fit.dof < 2.0  # 17 dof: chi2/N above 2 has p < 0.01
    assert 0.25 < fit.amplitude < 0.8
    flat = np.sum(((m - np.average(m, weights=e**-2)) / e) ** 2)
    assert flat - fit.chi2 > 25  # the rotation shows, far above the noise
    # Alone, the night bounds the period only loosely: the search runs and
    # says so through its error and the aliases it could not beat.
    result = period_search([session], 2.0, 8.0, orders=(2,))
    assert not result.period_err < 0.1  # an infinite error (no curvature) is honest too
    assert any(n.startswith("ambiguous") for n in result.notes)
    text = rotation_alcdef(
        [session],
        AlcdefSession(
            object_number=2713,
            object_name="Luxembourg",
            contact_name="Test",
            contact_info="[test@example.org]",
            observers="C. Minsky",
            mpc_code="500",
            filter="C",
            magband="V",
        ),  # fmt: skip
    )
    assert check_alcdef(text) == []
    assert "REDUCEDMAGS=NONE" in text and "LTCAPP=NONE" in text
