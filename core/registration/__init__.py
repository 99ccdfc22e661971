"""Frame-to-frame registration: each frame's transform to a reference frame, from its stars."""

from .register import (
    REGISTRATION_COLUMNS,
    REGISTRATION_MODELS,
    FrameRegistration,
    Registration,
    RegistrationParams,
    register_frames,
    register_sources,
)
from .sources import RegistrationSources, cfa_pattern, registration_sources, sources_from_table
from .transform import FrameTransform, fit_affine

__all__ = [
    "REGISTRATION_COLUMNS",
    "REGISTRATION_MODELS",
    "FrameRegistration",
    "FrameTransform",
    "Registration",
    "RegistrationParams",
    "RegistrationSources",
    "cfa_pattern",
    "fit_affine",
    "register_frames",
    "register_sources",
    "registration_sources",
    "sources_from_table",
]
