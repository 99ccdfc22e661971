"""The Astrometry panel solves the demo frames against the demo night's own catalog."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from astropy.io import fits
from astropy.wcs import WCS

from fluxion.app.panels.astrometry import AstrometryPanel, describe
from fluxion.core.astrometry import SolveParams


def _panel(window) -> AstrometryPanel:
    """The Astrometry panel, brought to the front: only the panel in front draws overlays."""
    panel = next(p for p in window.panels if isinstance(p, AstrometryPanel))
    window.raise_step(panel.title)
    return panel


def test_panel_solves_current_frame_and_marks_matched_stars(
    window, qtbot, open_and_wait, demo_night: Path, tmp_path: Path
) -> None:
    # The panel saves the project and its solutions beside the demo's inputs:
    # a copy keeps the session's shared night without a project in it.
    demo_night = Path(shutil.copytree(demo_night, tmp_path / "night"))
    open_and_wait(window, demo_night)
    panel = _panel(window)
    params = replace(
        SolveParams(),
        catalog="Local file",
        catalog_file=str(demo_night / "truth" / "reference_catalog.ecsv"),
        mag_limit=20.0,
        min_matches=6,
        use_solve_field=False,
    )
    panel.form.set_params(params)
    assert panel.params() == params
    panel.run_current()
    i = window.session.current
    qtbot.waitUntil(lambda: i in panel.results, timeout=20_000)
    result = panel.results[i]
    assert result.solved, result.reason
    # The demo lights carry the exact WCS. With ~20 stars on this small frame the
    # solver drops to a quadratic SIP, so the cubic distortion leaves ~1 px at the
    # corners while the centre is exact.
    truth = WCS(fits.getheader(window.session.sequence[i].path))
    sky = result.wcs.pixel_to_world([128, 0, 255], [128, 0, 255])
    sep = truth.pixel_to_world([128, 0, 255], [128, 0, 255]).separation(sky).arcsec
    assert sep[0] < 0.2 and sep.max() < 2.0
    assert panel.result_label.text() == describe(i, result)
    assert "solved by hinted" in panel.result_label.text()
    overlays = (
        window.image_view.overlays if hasattr(window, "image_view") else panel.image_view.overlays
    )
    assert overlays.count("sources") == int(result.matches["used"].sum()) >= 6
    assert panel.summary(result) == pytest.approx(result.rms_arcsec)


def test_describe_gives_each_note_once_on_its_own_line() -> None:
    from fluxion.core.astrometry import SolveResult

    down = "Gaia DR3: VizieR could not be reached (connection failed)"
    result = SolveResult(
        True, "search", n_matched=10, rms_arcsec=0.18, rms_px=0.07, pixel_scale=2.375,
        messages=(down, "detected centroids", down, "detected centroids", "hinted: no scale."),
    )  # fmt: skip
    lines = describe(10, result).split("\n")
    assert lines[0].startswith("Frame 11: solved by search")
    assert lines[1:] == [f"- {down}.", "- Detected centroids.", "- Hinted: no scale."]


def test_describe_a_refusal() -> None:
    from fluxion.core.astrometry import not_solved

    text = describe(2, not_solved("hinted", "only 3 usable sources detected"))
    assert text == "Frame 3: not solved. Only 3 usable sources detected"


def test_residual_plots_draw_the_solution_residuals_and_rms_points_select_frames(
    open_panel, qtbot, demo_night: Path, tmp_path: Path
) -> None:
    """Vectors, residual-vs-magnitude and RMS-vs-time agree with residuals recomputed here."""
    import numpy as np
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    night = Path(shutil.copytree(demo_night, tmp_path / "night"))
    panel = open_panel(AstrometryPanel, night)
    catalog_file = night / "truth" / "reference_catalog.ecsv"
    panel.form.set_params(
        replace(
            SolveParams(),
            catalog="Local file",
            catalog_file=str(catalog_file),
            mag_limit=20.0,
            min_matches=6,
            use_solve_field=False,
        )
    )
    lights = [i for i, f in enumerate(panel.session.sequence.frames) if f.type == "light"]
    panel.run_all()
    qtbot.waitUntil(lambda: all(i in panel.results for i in lights), timeout=30_000)
    solved = [i for i in lights if panel.results[i].solved]
    assert len(solved) == len(lights)

    # RMS against time: one point per solved light; clicking one selects its frame.
    spots = panel.plot.points.points()
    assert sorted(int(p.data()) for p in spots) == solved
    target = solved[-1] if panel.session.current != solved[-1] else solved[0]
    spot = next(p for p in spots if int(p.data()) == target)
    assert spot.pos().y() == pytest.approx(panel.results[target].rms_arcsec)
    with qtbot.waitSignal(panel.session.current_changed, timeout=5_000):
        panel.plot.points.sigClicked.emit(panel.plot.points, [spot], None)
    assert panel.session.current == target
    result = panel.results[target]

    # Residual vectors: from each used star along measured-minus-fitted, times the stated factor.
    m = result.matches
    used = np.asarray(m["used"], bool)
    x, y = np.asarray(m["x"])[used], np.asarray(m["y"])[used]
    fx, fy = result.wcs.all_world2pix(np.asarray(m["ra"])[used], np.asarray(m["dec"])[used], 0)
    vec = panel.vector_plot
    sx, sy = vec.used_vectors.getData()
    assert np.allclose(sx[0::2], x) and np.allclose(sy[0::2], y)
    f = vec.factor
    assert f"{f:g} times longer" in vec.caption.text()
    assert np.abs((sx[1::2] - x) / f - (x - fx)).max() < 0.01  # px
    assert np.abs((sy[1::2] - y) / f - (y - fy)).max() < 0.01
    # The factor makes typical arrows visible without one filling the field.
    typical = np.percentile(np.hypot(x - fx, y - fy), 90) * f
    assert 0.012 * 256 < typical <= 0.061 * 256

    # Residual against magnitude: sky separation in arcsec at the truth catalog's magnitude.
    mags, arcsec = panel.magnitude_plot.used.getData()
    sky = result.wcs.pixel_to_world(x, y)
    star = SkyCoord(np.asarray(m["ra"])[used], np.asarray(m["dec"])[used], unit="deg")
    assert np.abs(arcsec - sky.separation(star).arcsec).max() < 0.01
    truth = Table.read(catalog_file)
    tsky = SkyCoord(truth["ra"], truth["dec"], unit="deg")
    k, d, _ = star.match_to_catalog_sky(tsky)
    assert d.arcsec.max() < 0.01
    # The magnitude is the catalog's, in whichever band the magnitude limit used.
    assert any(np.allclose(mags, np.asarray(truth[b], float)[k], atol=1e-6) for b in "BV")
    assert np.sqrt(np.mean(arcsec**2)) == pytest.approx(result.rms_arcsec, rel=0.02)
    assert panel.magnitude_plot.rms_line.value() == pytest.approx(result.rms_arcsec)


def test_describe_a_solution_read_back_gives_its_rms_in_pixels_from_the_scale() -> None:
    from fluxion.core.astrometry import SolveResult

    # A solution read from the project keeps its RMS in arcsec and its scale only.
    result = SolveResult(
        True, "search", n_matched=10, rms_arcsec=0.18, rms_px=float("nan"), pixel_scale=2.375
    )
    text = describe(10, result)
    assert "nan" not in text and 'RMS 0.18" (0.08 px)' in text
    unscaled = SolveResult(
        True, "search", n_matched=10, rms_arcsec=0.18, rms_px=float("nan"), pixel_scale=math.nan
    )
    assert 'RMS 0.18";' in describe(10, unscaled) and "nan" not in describe(10, unscaled)
