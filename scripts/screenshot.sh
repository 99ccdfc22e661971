#!/usr/bin/env bash
# Screenshot of the main window on the classroom demo night, under Xvfb (a real X
# display, so fonts, docks and the xcb platform are exercised as on a desktop).
# Writes screenshots/main_window.png (git-ignored). Usage: bash scripts/screenshot.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "screenshot: run bash scripts/test.sh once to create .venv" >&2; exit 1; }

PACKAGES="xvfb xauth libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0"
if ! command -v xvfb-run >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q $PACKAGES >/dev/null
    else
        echo "screenshot: needs Xvfb; install: sudo apt-get install $PACKAGES" >&2
        exit 1
    fi
fi

mkdir -p screenshots
# The demo night is kept between runs so the second screenshot takes seconds.
DEMO="${FLUXION_DEMO_DIR:-${TMPDIR:-/tmp}/fluxion-screenshot-demo}"
export FLUXION_SETTINGS="$(mktemp -d)/settings.ini"  # never touch the user's settings
env -u QT_QPA_PLATFORM -u WAYLAND_DISPLAY QT_QPA_PLATFORM=xcb \
    xvfb-run -a -s "-screen 0 1600x1000x24" "$PY" - "$DEMO" "$ROOT/screenshots/main_window.png" <<'PYEOF'
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from fluxion.app.main_window import MainWindow

demo, out = sys.argv[1], sys.argv[2]
app = QApplication([sys.argv[0]])
window = MainWindow()
window.resize(1600, 1000)
window.show()
state = {"done": False}


def finish() -> None:
    if not state["done"]:
        state["done"] = True
        ok = window.grab().save(out)
        print(f"screenshot: {'wrote' if ok else 'FAILED to write'} {out}")
        app.exit(0 if ok else 1)


def first_frame(frame) -> None:
    window.session.frame_ready.disconnect(first_frame)
    view = window.image_view
    view.set_stretch("asinh")
    # show what the readout and the overlays look like on real pixels
    ny, nx = frame.data.shape
    view.show_readout(nx * 0.4, ny * 0.6)
    panel = window.panels[0]
    panel.step_finished.connect(lambda _: QTimer.singleShot(800, finish))
    panel.run_all()


window.session.frame_ready.connect(first_frame)
window.workers.error.connect(lambda info: (print("screenshot:", info.text()), app.exit(1)))
window.start_demo(demo)
QTimer.singleShot(300_000, finish)  # never hang
code = app.exec()
window.close()
sys.exit(code)
PYEOF
