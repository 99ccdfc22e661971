"""sparse_nonzero gives np.nonzero's index arrays, in its order, for any mask."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.runtime.sparse import sparse_nonzero


@pytest.mark.parametrize("shape", [(1024, 1024), (37, 53), (1, 9), (9, 1), (0, 5)])
@pytest.mark.parametrize("fraction", [0.0, 1e-4, 0.01, 0.3, 1.0])
def test_the_same_indices_in_the_same_order_as_nonzero(shape, fraction):
    rng = np.random.default_rng(len(shape) + int(1e4 * fraction) + shape[0])
    mask = rng.random(shape) < fraction
    expected = np.nonzero(mask)
    got = sparse_nonzero(mask)
    assert len(got) == 2
    for e, g in zip(expected, got, strict=True):
        assert g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)
    if fraction == 0.01 and shape[0] > 100:
        assert 0 < got[0].size < mask.size  # the sparse path ran on a mask with hits


def test_views_and_other_arrays_as_nonzero():
    rng = np.random.default_rng(3)
    mask = rng.random((200, 300)) < 0.001
    view = mask[::3, 7::2]  # not contiguous
    for a in (view, mask.T, mask.astype(np.uint8), np.asarray(mask[5])):
        for e, g in zip(np.nonzero(a), sparse_nonzero(a), strict=True):
            np.testing.assert_array_equal(g, e)
