"""The light curve's period: a Lomb-Scargle periodogram of the included points.

The period is claimed only when the data can constrain it
(:func:`period_verdict`); otherwise the panel says why and keeps its period.
"""

from __future__ import annotations

import numpy as np

from ..workers import Task
from .lightcurve_model import period_verdict, periodogram
from .lightcurve_state import LightCurveState

__all__ = ["LightCurvePeriodMixin"]


class LightCurvePeriodMixin(LightCurveState):
    """Periodogram of :class:`LightCurvePanel`'s curve in a worker.

    Needs ``run``, ``session``, ``excluded``, ``periodogram``, ``period_box`` and
    ``result_label``.
    """

    def find_period(self) -> Task | None:
        """Lomb-Scargle periodogram of the included points, in a worker; sets the period."""
        if self.run is None:
            return None
        keep = ~self.excluded()
        lc = self.run.table
        jd, mag, err = (np.asarray(lc[c], float)[keep] for c in ("jd_utc", "mag", "mag_err"))

        def work(state):
            period, power, best = periodogram(jd, mag, err)
            return period, power, best, *period_verdict(jd, mag, err, best)

        task = self.session.workers.submit(work, name="Periodogram", key="lightcurve:period")
        task.result.connect(lambda res: self._period_found(*res))
        return task

    def _period_found(
        self, period: np.ndarray, power: np.ndarray, best: float, found: bool = True,
        verdict: str = "",
    ) -> None:  # fmt: skip
        self.periodogram.set_power(period, power, best)
        self.periodogram.setVisible(True)
        if found:
            self.period_box.setValue(best)  # folding on a period the data do not give misleads
        self.result_label.setText(verdict or f"Best period {best:.4f} h (Lomb-Scargle).")
