"""Astrometry: plate solving from header hints against reference catalogs.

The pieces, each usable alone:

- :mod:`.scale`: pixel-scale guesses (user, header WCS, focal length and pixel size);
- :mod:`.matching`: triangle-invariant matching of sources to catalog stars, verified;
- :mod:`.wcsfit`: TAN and TAN-SIP least-squares fits with outlier rejection;
- :mod:`.solve`: the hinted solve (:class:`PlateSolver`), with :mod:`.result`,
  :mod:`.sources`, :mod:`.extend` and :mod:`.verdict` (hint and result, the
  sources matched, the extended WCS fit, the quality verdict);
- :mod:`.search`: every pixel scale and a wider pointing when the hint is wrong;
- :mod:`.sequence`: a night of frames, each solution the hint for the next;
- :mod:`.fallbacks`: local solve-field and nova.astrometry.net.
"""

from typing import TYPE_CHECKING

from ..runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from .fallbacks import NovaAstrometryNet, SolveField, solve_field_available
    from .matching import Match, MatchError, match_sources
    from .params import SolveParams
    from .result import SolveHint, SolveResult, not_solved
    from .scale import ScaleGuess, from_hint, guess_scale, header_wcs
    from .sequence import FrameToSolve, hint_from_solution, solve_sequence
    from .solve import PlateSolver
    from .wcsfit import WcsFit, WcsFitError, fit_wcs, gnomonic, inverse_gnomonic

__all__ = [
    "NovaAstrometryNet",
    "SolveField",
    "solve_field_available",
    "FrameToSolve",
    "hint_from_solution",
    "solve_sequence",
    "Match",
    "MatchError",
    "match_sources",
    "ScaleGuess",
    "guess_scale",
    "header_wcs",
    "from_hint",
    "PlateSolver",
    "SolveHint",
    "SolveParams",
    "SolveResult",
    "not_solved",
    "WcsFit",
    "WcsFitError",
    "fit_wcs",
    "gnomonic",
    "inverse_gnomonic",
]

# The steps import scipy, photutils and astropy.modeling: a process that needs
# only the parameter classes (the main process of `fluxion run`) does not pay
# for them. Each name's submodule is imported on first access.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".fallbacks": ("NovaAstrometryNet", "SolveField", "solve_field_available"),
        ".matching": ("Match", "MatchError", "match_sources"),
        ".scale": ("ScaleGuess", "from_hint", "guess_scale", "header_wcs"),
        ".sequence": ("FrameToSolve", "hint_from_solution", "solve_sequence"),
        ".params": ("SolveParams",),
        ".result": ("SolveHint", "SolveResult", "not_solved"),
        ".solve": ("PlateSolver",),
        ".wcsfit": ("WcsFit", "WcsFitError", "fit_wcs", "gnomonic", "inverse_gnomonic"),
    },
)
