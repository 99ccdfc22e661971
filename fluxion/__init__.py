"""Fluxion: interactive photometry of astronomical image sequences.

The engine lives in :mod:`fluxion.core`, reusable Qt widgets in
:mod:`fluxion.widgets` and the application in :mod:`fluxion.app`.
"""

__version__ = "0.1.0"
