"""Exoplanet transits: model, systematics, red noise, sampling, ephemerides.

* :mod:`.model` - batman's limb-darkened transit and the orbit's geometry.
* :mod:`.limb_darkening` - tabulated quadratic coefficients as priors.
* :mod:`.systematics` - baseline regressors and their choice by the BIC.
* :mod:`.fit` - the likelihood with the baseline marginalised; least squares.
* :mod:`.sampling` - the posterior by emcee.
* :mod:`.noise` - red noise by time-averaging (beta).
* :mod:`.ephemeris`, :mod:`.archive` - period and T0 from the user or the
  NASA Exoplanet Archive; predicted mid-time and O-C.
* :mod:`.data`, :mod:`.setup`, :mod:`.run` - from a light-curve table to a result.
"""
