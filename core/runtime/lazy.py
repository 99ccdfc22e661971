"""Lazy re-exports for a package's ``__init__`` (PEP 562 module ``__getattr__``).

A package such as :mod:`fluxion.core.photometry` re-exports the public names
of its submodules, and importing them all eagerly costs seconds of scipy,
photutils and astropy.modeling in every process that only wants one light
name from it (the main process of ``fluxion run`` needs the parameter
classes; the workers need the steps). The package lists which submodule
defines each name and imports that submodule on first access instead.

    __getattr__, __dir__ = lazy_exports(__name__, {".step": ("Photometry", ...)})

with the same names imported under ``if TYPE_CHECKING:`` for type checkers.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` importing each name's submodule on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to iterable of str
        Relative submodule name (``".step"``) to the public names it defines.

    Returns
    -------
    getattr, dir : callable
        To assign to the package's ``__getattr__`` and ``__dir__``.
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        # Cached on the package: later look-ups are plain attribute reads.
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
