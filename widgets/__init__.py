"""Reusable Qt widgets: image view, overlays, parameter forms, plots. Never imports app."""

from .qt_compat import make_singletons_immortal

# before any signal is emitted: see qt_compat for the PySide6 bug this avoids
make_singletons_immortal()
