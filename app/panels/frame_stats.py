"""Frame statistics: sigma-clipped sky level and noise per frame.

The first step panel: it shows the panel lifecycle with real numbers a user
checks first (is the sky rising with twilight or the moon? is one frame off?).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.stats import sigma_clipped_stats

from fluxion.core.display.stretch import subsample
from fluxion.core.runtime.params import param
from fluxion.core.runtime.pipeline import StepState

from .base import FrameInputs, StepPanel
from .standalone import run_standalone

__all__ = ["FrameStatsParams", "FrameStats", "frame_stats", "FrameStatsPanel"]


@dataclass(frozen=True)
class FrameStatsParams:
    """How the sky statistics are computed."""

    sigma: float = param(
        3.0,
        label="Clip at",
        unit="sigma",
        minimum=1.0,
        maximum=10.0,
        help="Pixels further than this from the median (stars, cosmics) are ignored.",
    )
    maxiters: int = param(
        5, label="Iterations", minimum=1, maximum=50, help="Most clipping iterations."
    )
    max_pixels: int = param(
        1_000_000,
        label="Pixels used",
        minimum=10_000,
        maximum=100_000_000,
        help="A regular subsample of at most this many pixels; the sky is smooth.",
    )


@dataclass(frozen=True)
class FrameStats:
    """Sky statistics of one frame, in ADU."""

    sky: float
    noise: float
    mean: float


def frame_stats(
    data: np.ndarray, frame: Any, params: FrameStatsParams, state: StepState | None = None
) -> FrameStats:
    """Sigma-clipped median (sky), standard deviation (noise) and mean of a frame."""
    sample = subsample(data, params.max_pixels)
    mean, median, std = sigma_clipped_stats(sample, sigma=params.sigma, maxiters=params.maxiters)
    return FrameStats(sky=float(median), noise=float(std), mean=float(mean))


class FrameStatsPanel(StepPanel):
    """Sky level and noise of each frame."""

    title = "Frame statistics"
    step = "frame_stats"
    params_type = FrameStatsParams
    quantity = "sky (ADU)"

    @staticmethod
    def run(inputs: FrameInputs, params: FrameStatsParams, state: StepState | None) -> FrameStats:
        """Sky and noise of one frame (runs in a worker)."""
        return frame_stats(inputs.data, inputs.frame, params, state)

    def summary(self, result: FrameStats) -> float:
        return result.sky

    def show_result(self, index: int, result: FrameStats) -> None:
        self.result_label.setText(
            f"Frame {index + 1}: sky {result.sky:.1f} ADU, noise {result.noise:.2f} ADU"
        )


if __name__ == "__main__":
    sys.exit(run_standalone(FrameStatsPanel))
