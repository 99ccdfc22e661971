"""Frame-to-frame registration: each frame's transform to a reference frame, from its stars."""

from typing import TYPE_CHECKING

from ..runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from .register import register_frames, register_sources
    from .results import (
        REGISTRATION_COLUMNS,
        REGISTRATION_MODELS,
        FrameRegistration,
        Registration,
        RegistrationParams,
    )
    from .sources import (
        RegistrationSources,
        cfa_pattern,
        registration_sources,
        sources_from_table,
    )
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

# Matching stars (scipy.stats, the astrometry's matcher) is the registering
# process's to import: one that only reads a registration's results (the main
# process of a run on worker processes) does not pay for it.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".register": ("register_frames", "register_sources"),
        ".results": (
            "REGISTRATION_COLUMNS",
            "REGISTRATION_MODELS",
            "FrameRegistration",
            "Registration",
            "RegistrationParams",
        ),
        ".sources": (
            "RegistrationSources",
            "cfa_pattern",
            "registration_sources",
            "sources_from_table",
        ),
        ".transform": ("FrameTransform", "fit_affine"),
    },
)
