"""Package list for setuptools; everything else is in pyproject.toml.

The layers live in top-level folders that map onto ``fluxion.<layer>``
(pyproject's package-dir), which setuptools' automatic discovery cannot follow,
so the subpackages are listed here from the tree.
"""

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

setup(packages=packages)
