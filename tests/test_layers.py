"""The layers point one way: app -> widgets -> core.

core never imports Qt, pyqtgraph, widgets or app; widgets never import app. The
check parses every module's imports (including function-local ones) rather than
importing them, so it also catches imports on code paths tests do not reach.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "core": ("PySide6", "pyqtgraph", "shiboken6", "fluxion.widgets", "fluxion.app", "matplotlib"),
    "widgets": ("fluxion.app",),
}


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``.

    ``package`` is the dotted package the module lives in, used to resolve
    relative imports.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # "from fluxion import app" names the forbidden package in the alias.
            found += [(node.lineno, f"{name}.{a.name}") for a in node.names]
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_never_imports_upwards(layer: str) -> None:
    modules = _modules(layer)
    assert modules, f"no modules found in {layer}/"
    bad = []
    for path in modules:
        package = ".".join(["fluxion", *path.relative_to(ROOT).parts[:-1]])
        for lineno, name in _imports(path, package):
            for forbidden in FORBIDDEN[layer]:
                if name == forbidden or name.startswith(forbidden + "."):
                    bad.append(f"{path.relative_to(ROOT)}:{lineno} imports {name}")
    assert not bad, "layering violated:\n" + "\n".join(bad)


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    """The parser sees absolute, relative and function-local imports."""
    src = (
        "import numpy\n"
        "def f():\n"
        "    import pyqtgraph as pg\n"
        "from PySide6.QtCore import QObject\n"
        "from fluxion import app\n"
        "from ...app import main_window\n"
    )
    p = tmp_path / "probe.py"
    p.write_text(src, encoding="utf-8")
    names = [n for _, n in _imports(p, "fluxion.core.photometry")]
    assert "pyqtgraph" in names
    assert "PySide6.QtCore" in names
    assert "fluxion.app" in names
    assert "fluxion.app.main_window" in names
