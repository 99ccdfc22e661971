"""Package list for setuptools; everything else is in pyproject.toml.

The layers live in top-level folders that map onto ``fluxion.<layer>``
(pyproject's package-dir), which setuptools' automatic discovery cannot follow,
so the subpackages are listed here from the tree.
"""

from pathlib import Path

from setuptools import find_packages, setup

LAYERS = {
    "core": "fluxion.core",
    "widgets": "fluxion.widgets",
    "app": "fluxion.app",
    "resources": "fluxion.resources",
}

packages = ["fluxion"]
for folder, name in LAYERS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

# Data-only folders of resources/ (profiles, icons) are packages too, so that
# setuptools installs their files without warning about importable folders.
resources = Path(__file__).parent / "resources"
packages += [
    f"fluxion.resources.{d.name}"
    for d in sorted(resources.iterdir())
    if d.is_dir() and not d.name.startswith((".", "__"))
]

setup(packages=packages)
