"""Reusable Qt widgets: image view, overlays, parameter forms, plots. Never imports app."""
