"""The standalone build's files: desktop entry, AppStream metainfo, icon, spec, smoke hook.

The quick tests read the files without building. ``FLUXION_BUILD_TEST=1`` also
runs packaging/build.sh (a PyInstaller build and its smoke test: minutes).
"""

from __future__ import annotations

import configparser
import fnmatch
import os
import struct
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import fluxion

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "resources" / "icons"
APP_ID = "io.github.fluxion.Fluxion"


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in desktop entries
    parser.read(PACKAGING / "fluxion.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def _metainfo() -> ET.Element:
    return ET.parse(PACKAGING / f"{APP_ID}.metainfo.xml").getroot()


def _png_size(path: Path) -> tuple[int, int]:
    # The IHDR chunk follows the 8-byte signature: width and height, big-endian.
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_desktop_entry_launches_fluxion_with_the_app_icon() -> None:
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Fluxion"
    assert entry["Exec"].split()[0] == "fluxion"
    assert entry["Icon"] == APP_ID
    assert "Astronomy" in entry["Categories"].split(";")
    assert entry["Terminal"] == "false"


def test_metainfo_names_the_same_app_desktop_entry_icon_and_version() -> None:
    root = _metainfo()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    launchable = root.find("launchable[@type='desktop-id']")
    assert launchable is not None and (PACKAGING / launchable.text).is_file()
    assert root.findtext("icon[@type='stock']") == _desktop_entry()["Icon"]
    assert root.findtext("provides/binary") == "fluxion"
    newest = root.find("releases/release")
    assert newest is not None and newest.get("version") == fluxion.__version__
    assert root.findtext("project_license") == "BSD-3-Clause"


def test_icon_files_exist_and_ship_as_package_data() -> None:
    svg = ET.parse(ICONS / "fluxion.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.get("viewBox") == "0 0 256 256"
    assert _png_size(ICONS / "fluxion.png") == (256, 256)
    # the installed package finds them (pyproject's package-data glob icons/*)
    icons = resources.files("fluxion.resources").joinpath("icons")
    assert icons.joinpath("fluxion.png").is_file() and icons.joinpath("fluxion.svg").is_file()


def test_png_is_rendered_from_the_current_svg(qapp, tmp_path) -> None:
    # A stale PNG (the SVG edited, render_icon.py not run) shows as pixel differences.
    import importlib.util

    from PySide6.QtGui import QImage

    spec = importlib.util.spec_from_file_location("render_icon", PACKAGING / "render_icon.py")
    render_icon = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render_icon)
    fresh = tmp_path / "fresh.png"
    render_icon.render(ICONS / "fluxion.svg", fresh, 256)

    def pixels(path: Path) -> np.ndarray:
        image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGBA8888)
        return np.array(image.constBits(), dtype=np.uint8).reshape(256, 256, 4).astype(int)

    diff = np.abs(pixels(fresh) - pixels(ICONS / "fluxion.png"))
    assert diff.max() <= 2, f"icon PNG differs from its SVG by up to {diff.max()} levels"
    # and it is a real drawing, not a blank square: the sky is opaque inside the corners
    assert pixels(fresh)[128, 128, 3] == 255 and pixels(fresh)[0, 0, 3] == 0


def test_spec_bundles_the_resources_and_the_compiled_modules() -> None:
    spec = (PACKAGING / "fluxion.spec").read_text(encoding="utf-8")
    assert 'collect_data_files("fluxion.resources")' in spec
    for package in ("astropy", "astropy_iers_data", "astroquery", "photutils"):
        assert f'"{package}"' in spec
    # Cython modules that import each other from C, invisible to the analysis
    for package in ("astroscrappy", "photutils"):
        assert f'collect_submodules("{package}"' in spec
    assert '"sep"' in spec and 'copy_metadata("photutils")' in spec
    assert 'collect_submodules("fluxion"' in spec  # subcommands load by name
    for heavy in ("matplotlib", "tkinter", "torch"):
        assert f'"{heavy}"' in spec
    # what collect_data_files("fluxion.resources") finds is what pyproject ships:
    # every data file under resources/ matches a package-data glob of its folder
    with open(ROOT / "pyproject.toml", "rb") as fh:
        package_data = tomllib.load(fh)["tool"]["setuptools"]["package-data"]
    unshipped = []
    for f in (ROOT / "resources").rglob("*"):
        if not f.is_file() or f.suffix in (".py", ".pyc") or "__pycache__" in f.parts:
            continue
        rel = f.relative_to(ROOT / "resources")
        package = ".".join(["fluxion.resources", *rel.parts[:-1]])
        globs = package_data.get(package, [])
        if not any(fnmatch.fnmatch(f.name, g) for g in globs):
            unshipped.append(str(rel))
    assert not unshipped, f"resources not in pyproject's package-data: {unshipped}"
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    for folder in ("packaging/.build-venv/", "packaging/build/", "packaging/dist/"):
        assert folder in ignored


def _tiny_night(folder: Path) -> Path:
    from fluxion.core.simulation.simulate import NightConfig, simulate_night

    config = NightConfig(n_frames=2, shape=(128, 128), n_bias=1, n_dark=1, n_flat=1)
    simulate_night(folder, config)
    return folder


@pytest.mark.parametrize("case", ["night", "empty folder"])
def test_quit_hook_exits_0_only_once_the_night_is_open(qapp, tmp_path, case) -> None:
    from fluxion.app.main import _quit_once_open, _set_window_icon
    from fluxion.app.main_window import MainWindow
    from fluxion.app.settings import Settings

    _set_window_icon(qapp)
    assert not qapp.windowIcon().isNull()
    folder = tmp_path / "frames"
    folder.mkdir()
    if case == "night":
        _tiny_night(folder)
    window = MainWindow(Settings(tmp_path / "settings.ini"))
    try:
        assert _quit_once_open(qapp, window, "50")
        window.open_path(folder)
        status = qapp.exec()
        shown = window.session.shown
    finally:
        window.close()
        window.deleteLater()
    if case == "night":
        assert status == 0 and shown is not None
    else:
        assert status == 1 and shown is None


def test_quit_hook_refuses_a_delay_that_is_not_a_number(qapp, tmp_path, capsys) -> None:
    from fluxion.app.main import _quit_once_open
    from fluxion.app.main_window import MainWindow
    from fluxion.app.settings import Settings

    window = MainWindow(Settings(tmp_path / "settings.ini"))
    try:
        assert not _quit_once_open(qapp, window, "soon")
    finally:
        window.close()
        window.deleteLater()
    assert "FLUXION_QUIT_AFTER_MS='soon'" in capsys.readouterr().err


@pytest.mark.skipif(
    os.environ.get("FLUXION_BUILD_TEST") != "1",
    reason="the PyInstaller build takes minutes: set FLUXION_BUILD_TEST=1 to run it",
)
def test_standalone_build_passes_its_smoke_test() -> None:
    done = subprocess.run(
        ["bash", str(PACKAGING / "build.sh")],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "smoke test passed" in done.stdout
    app = PACKAGING / "dist" / "fluxion"
    size_mb = sum(p.stat().st_size for p in app.rglob("*") if p.is_file()) / 2**20
    # measured 2026-11: see the README; a jump means an unwanted library got in
    assert size_mb < 600, f"standalone folder is {size_mb:.0f} MB"
