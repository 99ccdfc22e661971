"""Targets: clicked tracks, ephemerides and how a target is given."""
