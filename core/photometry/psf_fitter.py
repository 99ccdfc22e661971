"""photutils' group fits with the PSF model's analytic Jacobian.

photutils' ``PSFPhotometry`` fits a group of stars as one model with
parameters ``flux_i, x_0_i, y_0_i`` (its flat group model), which has no
``fit_deriv``: astropy's fitter then differences it numerically, one model
evaluation per parameter, each evaluating every star of the group, so a
group of n stars costs ~3n^2 star evaluations per step instead of n. On a
frame of 5000 stars in 1024^2 (FWHM 2.5 -> 4.5 px) these fits were a third
of the PSF method's time. :class:`GroupJacobianFitter` is astropy's
``TRFLSQFitter`` that gives such a group model the sum of its stars' own
derivatives (:meth:`.gridpsf.model.FieldPSFModel.fit_deriv`) before fitting;
models without derivatives are fitted as before.
"""

from __future__ import annotations

from collections.abc import Callable

from astropy.modeling.fitting import DEFAULT_ACC, DEFAULT_EPS, DEFAULT_MAXITER, TRFLSQFitter

__all__ = ["GroupJacobianFitter"]


def _group_deriv(base, n_sources: int, n_params: int) -> Callable:
    """``fit_deriv`` of photutils' flat model of ``n_sources`` copies of ``base``.

    The flat model's parameters are each star's ``base`` parameters in turn;
    a star's derivatives are non-zero for its own parameters only.
    """

    def deriv(x, y, *params):
        out = []
        for i in range(n_sources):
            out.extend(base.fit_deriv(x, y, *params[i * n_params : (i + 1) * n_params]))
        return out

    return deriv


class GroupJacobianFitter(TRFLSQFitter):
    """``TRFLSQFitter`` giving photutils' group models their stars' analytic Jacobian."""

    # The arguments spelled out: photutils passes ``maxiter`` only to a
    # fitter whose signature names it.
    def __call__(
        self,
        model,
        x,
        y,
        z=None,
        weights=None,
        maxiter=DEFAULT_MAXITER,
        acc=DEFAULT_ACC,
        epsilon=DEFAULT_EPS,
        estimate_jacobian=False,
        filter_non_finite=False,
        *,
        inplace=False,
    ):
        base = getattr(model, "base_psf_model", None)
        if (
            model.fit_deriv is None
            and base is not None
            and getattr(base, "fit_deriv", None) is not None
        ):
            n_params = len(base.param_names)
            n_sources = len(model.param_names) // n_params
            model.fit_deriv = _group_deriv(base, n_sources, n_params)
        return super().__call__(
            model,
            x,
            y,
            z,
            weights=weights,
            maxiter=maxiter,
            acc=acc,
            epsilon=epsilon,
            estimate_jacobian=estimate_jacobian,
            filter_non_finite=filter_non_finite,
            inplace=inplace,
        )
