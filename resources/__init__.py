"""Data files: instrument header profiles, icons, default settings."""
