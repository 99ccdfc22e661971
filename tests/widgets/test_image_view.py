"""The image viewer: orientation, readout, stretch, zoom, overlays."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS
from PySide6.QtCore import QPoint, QPointF, Qt

from fluxion.core.display.stretch import Limits
from fluxion.widgets.display_controls import LUT_SIZE, make_lut
from fluxion.widgets.image_view import ImageView

NY, NX = 120, 200


def _frame() -> np.ndarray:
    # value = 1000*row + col: every pixel says where it is
    rows, cols = np.mgrid[0:NY, 0:NX]
    return (1000.0 * rows + cols).astype(np.float32)


def _wcs() -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 20.0]
    w.wcs.crpix = [100.5, 60.5]  # FITS 1-based
    w.wcs.cdelt = [-1.0 / 3600, 1.0 / 3600]
    return w


@pytest.fixture
def view(show) -> ImageView:
    v = ImageView()
    v.resize(900, 600)
    show(v)
    v.set_image(_frame(), limits=Limits(0.0, 120_000.0), wcs=_wcs())
    return v


def test_pixel_value_readout_is_zero_based_row_major(view: ImageView) -> None:
    r = view.readout_at(37.0, 81.0)
    assert r.value == 81_037.0
    # within half a pixel of a centre it is the same pixel; the edge belongs to the next
    assert view.readout_at(37.49, 80.51).value == 81_037.0
    assert view.readout_at(37.51, 81.0).value == 81_038.0
    assert view.readout_at(-0.6, 0.0).value is None
    assert "value 81037" in r.text()


def test_origin_is_bottom_left(view: ImageView) -> None:
    vb = view.view_box
    bottom = vb.mapViewToScene(QPointF(0.0, 0.0))
    top = vb.mapViewToScene(QPointF(0.0, NY - 1.0))
    right = vb.mapViewToScene(QPointF(NX - 1.0, 0.0))
    assert bottom.y() > top.y()  # scene y grows downwards: row 0 is at the bottom
    assert right.x() > bottom.x()
    rect = view.image_item.mapRectToView(view.image_item.boundingRect())
    assert (rect.left(), rect.top(), rect.width(), rect.height()) == (-0.5, -0.5, NX, NY)
    # the centre of data[row=7, col=3] (item coordinates col+0.5, row+0.5) is view (3, 7)
    p = view.image_item.mapToView(QPointF(3.5, 7.5))
    assert (p.x(), p.y()) == (3.0, 7.0)


def test_radec_readout_matches_the_wcs_in_fits_convention(view: ImageView) -> None:
    x, y = 12.0, 97.0
    r = view.readout_at(x, y)
    ra, dec = _wcs().all_pix2world([[x + 1, y + 1]], 1)[0]  # FITS pixels are 1-based
    assert abs(r.ra - ra) * 3600 * np.cos(np.radians(dec)) < 1e-6
    assert abs(r.dec - dec) * 3600 < 1e-6
    # the reference pixel FITS (100.5, 60.5) is 0-based (99.5, 59.5)
    ref = view.readout_at(99.5, 59.5)
    assert ref.ra == pytest.approx(150.0, abs=1e-9) and ref.dec == pytest.approx(20.0, abs=1e-9)
    assert "RA 10:00:00.00" in ref.text() and "Dec +20:00:00.0" in ref.text()


def test_hover_updates_readout_and_magnifier(view: ImageView, qtbot) -> None:
    view.zoom_to_fit()
    target = QPointF(150.0, 30.0)
    scene = view.view_box.mapViewToScene(target)
    pos = view.graphics.mapFromScene(scene)
    with qtbot.waitSignal(view.hover, timeout=2000) as blocker:
        qtbot.mouseMove(view.graphics.viewport(), QPoint(pos.x(), pos.y()))
    r = blocker.args[0]
    # the mouse lands on a whole screen pixel: within one image pixel of the target
    assert abs(r.x - 150.0) < 1.0 and abs(r.y - 30.0) < 1.0
    col, row = round(r.x), round(r.y)
    assert r.value == 1000.0 * row + col
    assert view.magnifier.centre == (col, row)


def test_stretch_and_colormap_change_only_the_lut(view: ImageView) -> None:
    before = view.image_item.image
    view.set_stretch("sqrt")
    lut = view.lut()
    i = LUT_SIZE // 4
    expected = np.round(
        np.round(np.sqrt(i / (LUT_SIZE - 1)) * (LUT_SIZE - 1)) * 255 / (LUT_SIZE - 1)
    )
    assert lut[i, 0] == expected
    view.set_colormap("inverted grey")
    assert tuple(view.lut()[0]) == (255, 255, 255)
    assert tuple(view.lut()[-1]) == (0, 0, 0)
    assert view.image_item.image is before
    with pytest.raises(ValueError, match="unknown stretch"):
        view.set_stretch("gamma")


def test_histogram_drag_sets_levels(view: ImageView, qtbot) -> None:
    with qtbot.waitSignal(view.levels_changed) as blocker:
        view.histogram.region.setRegion((500.0, 5000.0))
    assert blocker.args == [500.0, 5000.0]
    assert tuple(view.image_item.levels) == (500.0, 5000.0)
    view.set_levels(10.0, 20.0)
    assert view.histogram.levels() == Limits(10.0, 20.0)


class _Drag:
    """The parts of a pyqtgraph drag event the view box reads."""

    def __init__(self, x: float, y: float) -> None:
        self._pos = QPointF(x, y)

    def button(self):
        return Qt.MouseButton.RightButton

    def pos(self) -> QPointF:
        return self._pos

    def accept(self) -> None:
        pass


def test_right_drag_sets_contrast_and_bias_like_ds9(view: ImageView) -> None:
    rect = view.view_box.boundingRect()
    view.view_box.mouseDragEvent(_Drag(0.25 * rect.width(), 0.0))  # top: contrast 10
    s = view.display_settings()
    assert s["contrast"] == pytest.approx(10.0)
    assert s["bias"] == pytest.approx(0.25)
    np.testing.assert_array_equal(view.lut(), make_lut(contrast=10.0, bias=0.25))
    view.reset_contrast_bias()
    np.testing.assert_array_equal(view.lut(), make_lut())


def test_zoom_fit_and_one_to_one(view: ImageView) -> None:
    view.zoom_one_to_one()
    assert view.screen_pixels_per_image_pixel() == pytest.approx(1.0, rel=0.02)
    view.zoom(2.0)
    assert view.screen_pixels_per_image_pixel() == pytest.approx(2.0, rel=0.02)
    view.zoom_to_fit()
    r = view.view_box.viewRect()
    assert r.width() >= NX and r.height() >= NY
    assert min(r.width() - NX, r.height() - NY) < 0.1 * NX


def test_overlay_layers_hold_positions_and_toggle(view: ImageView) -> None:
    ov = view.overlays
    ov.set_sources([10.0, 20.0, 30.0], [5.0, 6.0, 7.0], radius=4.0)
    assert ov.count("sources") == 3
    (scatter,) = ov.items("sources")
    np.testing.assert_array_equal(scatter.data["x"], [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(scatter.data["size"], [8.0, 8.0, 8.0])  # diameter in px
    ov.set_apertures([50.0], [60.0], 5.0, annulus=(8.0, 12.0))
    assert len(ov.items("apertures")) == 3
    ov.set_catalog([1.0, 2.0], [3.0, 4.0])
    ov.set_targets(["2713"], [100.0], [50.0], tracks={"2713": ([90.0, 100.0], [45.0, 50.0])})
    ov.set_labels([5.0], [5.0], ["comp 1"])
    assert ov.count("targets") == 1 and ov.count("labels") == 1
    view.layer_actions["sources"].setChecked(False)
    assert not ov.is_visible("sources")
    ov.set_visible("catalog", False)
    assert not view.layer_actions["catalog"].isChecked()
    ov.clear("sources")
    assert ov.items("sources") == [] and ov.count("sources") == 0
    with pytest.raises(ValueError, match="no overlay layer"):
        ov.set_visible("stars", True)
    with pytest.raises(ValueError, match="differ in length"):
        ov.set_sources([1.0], [1.0, 2.0])


def test_bad_frame_is_refused(view: ImageView) -> None:
    with pytest.raises(ValueError, match="2-d"):
        view.set_image(np.zeros((2, 3, 4)))


def test_void_calls_and_emits_cannot_exhaust_none_or_true(view: ImageView) -> None:
    """PySide6 6.12 drops a reference per void call / emit; the workaround keeps them alive."""
    import sys

    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(1000):
        view.readout_label.setVisible(True)  # void: returns None without a reference
        view.levels_changed.emit(0.0, 1.0)  # emit: returns True without a reference
    assert sys.getrefcount(None) > 1 << 59 and sys.getrefcount(True) > 1 << 59
    assert before[0] > 1 << 59


def test_zoomed_out_big_frame_draws_the_block_preview(show) -> None:
    from fluxion.core.display.stretch import block_preview

    v = show(ImageView())
    v.resize(600, 500)
    data = np.random.default_rng(3).normal(100.0, 5.0, (2048, 3072)).astype(np.float32)
    preview = block_preview(data, max_side=512)
    v.set_image(data, limits=Limits(80.0, 120.0), preview=preview)
    assert v.screen_pixels_per_image_pixel() < 1.0 / preview[1]
    assert v.showing_preview
    assert v.image_item.image.shape == (2048 // 6, 3072 // 6)
    # the preview covers the frame's pixel coordinates: the readout still uses the frame
    rect = v.image_item.mapRectToView(v.image_item.boundingRect())
    assert (rect.left(), rect.top(), rect.width()) == (-0.5, -0.5, 3072.0)
    assert v.readout_at(1000.0, 700.0).value == data[700, 1000]
    v.zoom_one_to_one()
    assert not v.showing_preview
    assert v.image_item.image.shape == data.shape


def test_a_label_sits_beside_its_aperture_on_a_dark_backing(view: ImageView, qtbot) -> None:
    """A comparison star's pale label drawn on a bright star's yellow aperture could
    not be read: it begins beyond the aperture, on a dark backing."""
    view.set_image(np.zeros((NY, NX)))
    view.zoom_to_fit()
    x, y, radius = 40.0, 30.0, 5.0
    view.overlays.set_apertures([x], [y], radius)
    view.overlays.set_labels([x], [y], ["C2"], offset=radius)
    (label,) = view.overlays.items("labels")
    qtbot.wait(10)
    box = label.mapRectToView(label.boundingRect())
    assert box.left() >= x + radius - 1e-6  # the whole label right of the aperture's edge
    assert box.top() <= y <= box.bottom()  # level with the star it names
    backing = label.fill.color()
    text = label.textItem.defaultTextColor()
    assert backing.alpha() >= 128 and backing.lightness() < 60 and text.lightness() > 180
