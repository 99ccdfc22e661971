"""The classroom demo: simulate the demo night into a folder (run in a worker)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fluxion.core.runtime.pipeline import StepState
from fluxion.core.simulation.lessons import simulate_lesson
from fluxion.core.simulation.simulate import NightConfig, simulate_night

__all__ = ["generate_demo", "demo_inputs"]


def generate_demo(
    outdir: str | os.PathLike[str] | None = None,
    config: NightConfig | None = None,
    state: StepState | None = None,
) -> Path:
    """Write the demo night into ``outdir`` (a new temporary folder when None).

    Returns the folder. Reuses a folder that already holds a complete demo
    night (its ``truth/night.json`` exists), so reopening the demo is instant.
    """
    folder = Path(outdir) if outdir is not None else Path(tempfile.mkdtemp(prefix="fluxion-demo-"))
    if (folder / "truth" / "night.json").is_file() and config is None:
        return folder
    if config is None:
        # The demo is the mixed lesson night: its truth says what the Lesson panel teaches.
        simulate_lesson(folder, "mixed", "normal", state=state)
    else:
        simulate_night(folder, config, state=state)
    return folder


def demo_inputs(folder: str | os.PathLike[str]) -> list[Path]:
    """The frames a user would open: the FITS files at the top of the folder, not the truth."""
    return sorted(p for p in Path(folder).glob("*.fits") if p.is_file())
