"""The crowded-field scene fitter (the crowdsource algorithm, Schlafly et al. 2018).

All sources of a frame are fitted at once as a sparse linear system, with the
PSF re-estimated and the sky re-measured from the residual between passes.
photutils has no whole-scene fitter, so this package is written by hand on
scipy (sparse matrices, LSQR, ndimage); see ``fitter.py`` for the main loop.
"""
