"""Every folder of Python modules in a layer is a package that setup.py installs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_folder_is_a_package() -> None:
    # setup.py finds subpackages by their __init__.py; a folder without one would
    # work in the editable install and be missing from a real install.
    missing = []
    for layer in ("core", "widgets", "app"):
        for folder in {p.parent for p in (ROOT / layer).rglob("*.py")}:
            if "__pycache__" not in folder.parts and not (folder / "__init__.py").exists():
                missing.append(str(folder.relative_to(ROOT)))
    assert not missing, f"folders without __init__.py: {missing}"
