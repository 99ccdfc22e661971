"""An object larger than sep's pixel stack is still detected, and sep's setting is left alone."""

from __future__ import annotations

import numpy as np
import sep

from fluxion.core.detection.extract import Detection


def test_an_object_over_seps_pixel_stack_is_detected_and_the_stack_put_back():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:1024, :1024]
    # A galaxy-sized glow: ~600 000 pixels above 1.5 sigma, twice sep's default stack.
    glow = 1e4 * np.exp(-((x - 512.0) ** 2 + (y - 500.0) ** 2) / (2 * 250.0**2))
    image = (glow + rng.normal(100.0, 5.0, glow.shape)).astype(np.float32)
    before = sep.get_extract_pixstack()
    result = Detection()(image)
    assert sep.get_extract_pixstack() == before
    d = np.hypot(np.asarray(result.sources["x"]) - 512.0, np.asarray(result.sources["y"]) - 500.0)
    assert d.min() < 25.0  # the glow itself (250 px wide), near its centre
