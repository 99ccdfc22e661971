"""Transients: what is new in a frame, and how bright it is or could have been.

* :mod:`.catalog_mode` - detections against a reference catalogue (STDWeb's
  "simple" mode), with :mod:`.blends` (catalogue stars merged as the frame
  sees them) and :mod:`.shapes` (artefacts by their shape).
* :mod:`.zogy` - ZOGY image subtraction; :mod:`.template` and
  :mod:`.difference` - templates (the night's stack, a reference image, survey
  cutouts) and the difference search.
* :mod:`.solar_system`, :mod:`.sequence` - known asteroids (SkyBoT) and the
  same position in several frames.
* :mod:`.forced` - forced photometry with upper limits.
* :mod:`.completeness` - artificial stars injected to measure what is found.
* :mod:`.candidates` - the candidate table; :mod:`.search` - over a sequence.
"""
