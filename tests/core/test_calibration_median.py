"""The stack median by selection network: numpy's median, number for number."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fluxion.core.calibration import median as median_module
from fluxion.core.calibration.median import _batcher, _network, stack_median


@pytest.mark.parametrize("n", range(1, 41))
def test_stack_median_is_numpys(n):
    rng = np.random.default_rng(n)
    stack = rng.normal(1000.0, 30.0, (n, 37, 53)).astype(np.float32)
    stack[:, ::4] = np.round(stack[:, ::4] / 10.0)  # ties between frames
    stack[:, 1, 1] = 7.0  # a pixel equal in every frame
    before = stack.copy()
    got = stack_median(stack)
    assert got.dtype == np.float32 and got.shape == stack.shape[1:]
    np.testing.assert_array_equal(got, np.median(stack, axis=0).astype(np.float32))
    np.testing.assert_array_equal(stack, before)  # the input is left alone


def test_long_stacks_use_partition_and_agree(monkeypatch):
    rng = np.random.default_rng(3)
    for n in (6, 7):
        stack = rng.normal(0.0, 1.0, (n, 9, 2100)).astype(np.float32)
        monkeypatch.setattr(median_module, "_NETWORK_MAX", 2)
        by_partition = stack_median(stack)
        monkeypatch.undo()
        expected = np.median(stack, axis=0).astype(np.float32)
        np.testing.assert_array_equal(by_partition, expected)
        np.testing.assert_array_equal(stack_median(stack), expected)


@pytest.mark.parametrize("n", range(1, 13))
def test_batcher_network_sorts_every_zero_one_input(n):
    # The 0-1 principle: a comparator network that sorts every 0/1 input sorts every input.
    network = _batcher(n)
    for bits in itertools.product((0, 1), repeat=n):
        wires = list(bits)
        for i, j in network:
            if wires[i] > wires[j]:
                wires[i], wires[j] = wires[j], wires[i]
        assert wires == sorted(wires)


def test_pruned_network_is_smaller_than_a_sort():
    assert len(_network(5)) < len(_batcher(5))
    assert len(_network(32)) < len(_batcher(32))


def test_empty_stack_is_refused():
    with pytest.raises(ValueError, match="no frames"):
        stack_median(np.empty((0, 3, 3), np.float32))
