"""Reading frames: FITS files, header facts, instrument profiles, observation
times, folder scans and the lazy sequence."""
