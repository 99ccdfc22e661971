"""One checked quantity: the student's number, the truth, and what the data allow."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GOOD_SIGMA", "Finding", "fmt", "verdict"]

#: A result within this many expected errors of the truth is as good as the data allow.
GOOD_SIGMA = 3.0


def fmt(value: float) -> str:
    """A number as people read it: Julian dates to 0.00001 d, others to 5 digits."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.5f}" if abs(value) >= 1e5 else f"{value:.5g}"


def verdict(deviation: float, expected_error: float, error: float | None) -> str:
    """``good``, ``fair`` or ``off`` for a result ``deviation`` away from the truth.

    ``good``: within :data:`GOOD_SIGMA` of the noise-limited error of the night;
    ``fair``: further than the data allow but within the student's own
    :data:`GOOD_SIGMA` errors (an honest but imprecise result); ``off``: beyond
    both.
    """
    d = abs(deviation)
    if not math.isfinite(d):
        return "off"
    if d <= GOOD_SIGMA * expected_error:
        return "good"
    if error is not None and math.isfinite(error) and d <= GOOD_SIGMA * error:
        return "fair"
    return "off"


@dataclass
class Finding:
    """A quantity of the student's project checked against the truth.

    Attributes
    ----------
    name : str
        Machine name (``transit_mid_jd``, ``track_rms_px`` ...).
    label, unit : str
        For people.
    measured, true : float
        The student's value and the simulator's.
    error : float or None
        The student's own error on ``measured`` (None when not given).
    expected_error : float
        The error the night's data allow (the noise-limited one).
    verdict : str
        ``good``, ``fair`` or ``off`` (see :func:`verdict`).
    explanation : list of str
        Plain sentences: what "good" means here and, when off, what most
        likely went wrong.
    """

    name: str
    label: str
    unit: str
    measured: float
    true: float
    error: float | None
    expected_error: float
    verdict: str
    explanation: list[str] = field(default_factory=list)

    @property
    def deviation(self) -> float:
        """measured - true."""
        return self.measured - self.true

    def to_dict(self) -> dict[str, Any]:
        """The JSON entry of ``fluxion check --json``."""

        def num(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "name": self.name,
            "label": self.label,
            "unit": self.unit,
            "measured": num(self.measured),
            "true": num(self.true),
            "error": num(self.error),
            "expected_error": num(self.expected_error),
            "verdict": self.verdict,
            "explanation": " ".join(self.explanation),
        }

    def line(self) -> str:
        """One line for a terminal: the numbers and the verdict."""
        return f"{self.verdict.upper():5s} {self.label}: {self.numbers()}"

    def numbers(self) -> str:
        """The measured value, its error, the truth, the deviation and the allowed error."""
        own = "" if self.error is None else f" +/- {self.error:.2g}"
        return (
            f"{fmt(self.measured)}{own} {self.unit} (true {fmt(self.true)}; off by "
            f"{self.deviation:+.2g}, the data allow +/- {self.expected_error:.2g})"
        )
