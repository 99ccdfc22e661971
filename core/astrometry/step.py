"""The astrometry step as the application runs it: parameters -> catalog, fallbacks, hint.

The Astrometry panel and ``fluxion solve`` both build their solver here, so the
catalog choice, the cache and the fallbacks behave the same in both.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..catalogs import (
    CatalogCache,
    CatalogChain,
    IndexFileCatalog,
    LocalCatalog,
    catalog_by_name,
    find_index_files,
)
from .fallbacks import NovaAstrometryNet, SolveField, solve_field_available
from .scale import ScaleGuess, from_hint
from .solve import PlateSolver, SolveHint, SolveParams

__all__ = ["catalog_for", "fallbacks_for", "solver_for", "hint_for_frame"]

log = logging.getLogger(__name__)


def catalog_for(params: SolveParams, cache: CatalogCache | None = None) -> CatalogChain:
    """The catalog chain of the step: the chosen catalog, then the index files if any.

    Raises
    ------
    fluxion.core.catalogs.CatalogError
        Unknown catalog name, or 'Local file' without an existing file.
    """
    from ..catalogs import CatalogError

    if params.catalog == "Local file":
        if not params.catalog_file or not Path(params.catalog_file).is_file():
            raise CatalogError(f"catalog file not found: {params.catalog_file or '(none given)'}")
        return CatalogChain([LocalCatalog(params.catalog_file)])
    source = catalog_by_name(params.catalog)
    sources = [source]
    if not isinstance(source, IndexFileCatalog) and find_index_files():
        sources.append(IndexFileCatalog())  # bright stars offline, as a last resort
    return CatalogChain(
        sources, cache=cache if cache is not None else CatalogCache(), offline=params.offline
    )


def fallbacks_for(params: SolveParams, nova_key: str | None = None) -> list[Any]:
    """The fallbacks the parameters ask for and this computer can run."""
    out: list[Any] = []
    if params.use_solve_field and solve_field_available():
        # Blind when the frame has no pointing: the user's time limit bounds it.
        out.append(SolveField(timeout=params.time_limit))
    if params.use_nova and nova_key and not params.offline:
        out.append(NovaAstrometryNet(nova_key))
    return out


def solver_for(
    params: SolveParams, *, cache: CatalogCache | None = None, nova_key: str | None = None
) -> PlateSolver:
    """A configured :class:`PlateSolver` for the step's parameters."""
    return PlateSolver(params, catalog_for(params, cache), fallbacks_for(params, nova_key))


def hint_for_frame(frame: Any, params: SolveParams, tolerance: float = 0.05) -> SolveHint:
    """The hint of a frame (``fluxion.core.io.frames.FrameInfo``-like: ra, dec, time, scale).

    The scale is the user's when given, else the header's hint (``pixel_scale``:
    WCS, plate-scale card times the binning, or the optics).
    """
    scale: ScaleGuess | None
    if params.pixel_scale > 0:
        scale = ScaleGuess(params.pixel_scale, tolerance, "user")
    else:
        scale = from_hint(getattr(frame, "pixel_scale", None))
    t = getattr(frame, "time", None)
    return SolveHint(
        getattr(frame, "ra", None),
        getattr(frame, "dec", None),
        scale,
        epoch=float(t.jyear) if t is not None else None,
    )
