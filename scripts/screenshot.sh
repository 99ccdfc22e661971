#!/usr/bin/env bash
# Screenshot of the main window on the classroom demo night, under Xvfb (a real X
# display, so fonts, docks and the xcb platform are exercised as on a desktop).
# Writes screenshots/main_window.png (git-ignored).
# Usage: bash scripts/screenshot.sh [--panel NAME] [--out FILE] [--size WxH] [--presentation]
#   --panel NAME  bring this step panel to the front (its title, e.g. "Zero point", or its
#                 module, e.g. zeropoint) and run it on the current frame before the grab
#   --out FILE    where to write the PNG (default screenshots/main_window.png)
#   --size WxH    the screen and window size (default 1600x1000), e.g. 1366x768
#   --presentation  in presentation mode (View > Presentation mode: large text, thick lines)
set -euo pipefail
PANEL=""
OUT=""
SIZE="1600x1000"
PRESENTATION=""
while [ $# -gt 0 ]; do
    case "$1" in
        --panel) PANEL="${2:?--panel needs a name}"; shift 2 ;;
        --out) OUT="${2:?--out needs a file}"; shift 2 ;;
        --size) SIZE="${2:?--size needs WxH}"; shift 2 ;;
        --presentation) PRESENTATION=1; shift ;;
        *) echo "screenshot: unknown option $1 (use --panel NAME, --out FILE, --size WxH, --presentation)" >&2; exit 2 ;;
    esac
done
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
OUT="$(realpath -m "${OUT:-$ROOT/screenshots/main_window.png}")"
mkdir -p "$(dirname "$OUT")"
# The demo night is kept between runs so the second screenshot takes seconds.
DEMO="${FLUXION_DEMO_DIR:-${TMPDIR:-/tmp}/fluxion-screenshot-demo}"
export FLUXION_SETTINGS="$(mktemp -d)/settings.ini"  # never touch the user's settings
env -u QT_QPA_PLATFORM -u WAYLAND_DISPLAY QT_QPA_PLATFORM=xcb \
    xvfb-run -a -s "-screen 0 ${SIZE}x24" "$PY" - "$DEMO" "$OUT" "$PANEL" "$SIZE" "$PRESENTATION" <<'PYEOF'
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from fluxion.app.main_window import MainWindow

demo, out, panel_name = sys.argv[1], sys.argv[2], sys.argv[3]
width, height = (int(v) for v in sys.argv[4].split("x"))
presentation = bool(sys.argv[5])
app = QApplication([sys.argv[0]])
window = MainWindow()
window.resize(width, height)
window.show()
if presentation:
    window.presentation.set_on(True, remember=False)
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
    if not panel_name:
        panel = window.panels[0]
        panel.step_finished.connect(lambda _: QTimer.singleShot(800, finish))
        panel.run_all()
        return
    panel = find_panel(panel_name)
    window.raise_step(panel.title)
    # a panel whose Run button is hidden has nothing to run on a frame alone
    task = None if panel.run_button.isHidden() else panel.run_current()
    if task is None:  # the panel has nothing to run on its own (e.g. no target yet)
        QTimer.singleShot(1500, finish)
    else:
        task.finished.connect(lambda: QTimer.singleShot(1500, finish))


def find_panel(name: str):
    key = name.strip().lower()
    for panel in window.panels:
        module = type(panel).__module__.rsplit(".", 1)[-1]
        if key in (panel.title.lower(), module, panel.step):
            return panel
    names = ", ".join(p.title for p in window.panels)
    print(f"screenshot: no panel {name!r}; use one of {names}")
    app.exit(2)
    raise SystemExit(2)


def on_error(info) -> None:
    print("screenshot:", info.text())
    if not panel_name:
        app.exit(1)  # the default run must succeed; a panel's error is worth a look


window.session.frame_ready.connect(first_frame)
window.workers.error.connect(on_error)
window.start_demo(demo)
QTimer.singleShot(300_000, finish)  # never hang
code = app.exec()
window.close()
sys.exit(code)
PYEOF
