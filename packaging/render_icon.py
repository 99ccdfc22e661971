"""Render the application icon's PNG from its SVG.

``python packaging/render_icon.py [--size 256]`` writes resources/icons/fluxion.png
from resources/icons/fluxion.svg. Desktops, AppStream and the window use the PNG;
the SVG is the source. Runs offscreen, so it needs no display.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def render(svg: Path, png: Path, size: int = 256) -> None:
    """Render ``svg`` into a ``size`` x ``size`` PNG with a transparent background.

    The PNG is written atomically (temp file in the same folder, then os.replace).
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=png.parent)
    os.close(fd)
    try:
        if not image.save(tmp, "PNG"):
            raise OSError(f"could not write {tmp}")
        os.replace(tmp, png)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="PNG width and height in pixels")
    args = p.parse_args(argv)
    render(ICONS / "fluxion.svg", ICONS / "fluxion.png", args.size)
    print(f"wrote {ICONS / 'fluxion.png'} ({args.size} x {args.size})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
