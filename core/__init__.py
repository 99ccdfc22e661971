"""The engine: calibration, detection, astrometry, photometry. Never imports Qt."""
