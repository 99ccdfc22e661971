"""Finding sources and measuring them: extraction, shapes, FWHM, centroids, batches of frames."""
