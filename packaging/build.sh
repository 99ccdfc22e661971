#!/usr/bin/env bash
# Build Fluxion as a standalone folder app with PyInstaller, then smoke-test it.
#
#   bash packaging/build.sh              build into packaging/dist/fluxion, then smoke-test
#   bash packaging/build.sh --smoke-only smoke-test an existing packaging/dist/fluxion
#
# PyInstaller and the installed (non-editable) project live in their own venv,
# packaging/.build-venv, so PyInstaller never becomes a dependency of Fluxion.
# When the project's .venv exists its package versions pin the build venv's, so
# the standalone app carries the versions the tests ran against.
# Environment: PYTHON (interpreter for the build venv; it must have a shared
# libpython, which PyInstaller needs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
VENV="$HERE/.build-venv"
DIST="$HERE/dist"
WORK="$HERE/build"
APP="$DIST/fluxion/fluxion"

smoke_only=0
case "${1:-}" in
    --smoke-only) smoke_only=1 ;;
    "") ;;
    *) echo "usage: bash packaging/build.sh [--smoke-only]" >&2; exit 2 ;;
esac

say() { printf '== %s\n' "$*"; }

if [ "$smoke_only" = 0 ]; then
    started=$(date +%s)
    if [ -z "${PYTHON:-}" ]; then
        if [ -x "$ROOT/.venv/bin/python" ]; then
            # the interpreter the project's venv was made from
            PYTHON="$("$ROOT/.venv/bin/python" -c 'import sys; print(sys._base_executable)')"
        else
            PYTHON=python3
        fi
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the build venv $VENV from $PYTHON"
        "$PYTHON" -m venv "$VENV"
    fi
    mkdir -p "$WORK"
    constraints=()
    if [ -x "$ROOT/.venv/bin/python" ]; then
        "$ROOT/.venv/bin/python" -m pip freeze --exclude-editable --all \
            | grep -v -i -E '^(pip|setuptools|wheel)==' >"$WORK/constraints.txt"
        constraints=(-c "$WORK/constraints.txt")
    fi
    say "installing Fluxion and PyInstaller into the build venv"
    "$VENV/bin/python" -m pip install -q "${constraints[@]}" "pyinstaller>=6.10" "$ROOT"
    # Same version number as an earlier build: reinstall so the tree's code is what ships.
    "$VENV/bin/python" -m pip install -q --no-deps --force-reinstall "$ROOT"

    say "running PyInstaller"
    rm -rf "$DIST/fluxion"
    (cd "$HERE" && "$VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
        --distpath "$DIST" --workpath "$WORK" "$HERE/fluxion.spec")
    say "built $DIST/fluxion in $(($(date +%s) - started)) s, $(du -sh "$DIST/fluxion" | cut -f1)"
fi

if [ ! -x "$APP" ] || [ ! -x "$VENV/bin/python" ]; then
    echo "no built app at $APP or no build venv; run bash packaging/build.sh first" >&2
    exit 1
fi

# The smoke test: the frozen app alone (no venv on PATH or PYTHONPATH, a fresh
# HOME so the user's settings are neither read nor written) simulates a small
# night, scans it, calibrates it and detects its stars, and opens it in the
# window offscreen.
SMOKE="$(mktemp -d "${TMPDIR:-/tmp}/fluxion-smoke.XXXXXX")"
trap 'rm -rf "$SMOKE"' EXIT
mkdir -p "$SMOKE/home/.config" "$SMOKE/home/.cache"
run_app() {
    env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV HOME="$SMOKE/home" \
        XDG_CONFIG_HOME="$SMOKE/home/.config" XDG_CACHE_HOME="$SMOKE/home/.cache" \
        QT_QPA_PLATFORM=offscreen "$@"
}

# The build venv's Python checks the products: it has astropy and the installed fluxion.
checker="$VENV/bin/python"

say "smoke test 1/4: fluxion demo"
run_app "$APP" demo "$SMOKE/night" --frames 2 --size 128 128

say "smoke test 2/4: fluxion scan --json"
run_app "$APP" scan "$SMOKE/night" --json >"$SMOKE/scan.json"
# 2 lights + 5 bias + 5 darks + 5 flats, each read back 128 x 128 without problems
"$checker" - "$SMOKE/scan.json" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
lights = [r for r in rows if r.get("type") == "light"]
assert len(rows) == 17 and len(lights) == 2, f"scan found {len(rows)} frames, {len(lights)} lights"
bad = [r["file"] for r in rows if r["shape"] != [128, 128] or r["problems"]]
assert not bad, f"frames read wrongly: {bad}"
print(f"scan: {len(rows)} frames, {len(lights)} lights")
EOF

say "smoke test 3/4: fluxion calibrate and detect (astroscrappy, sep)"
# The compiled science modules run frozen and give the numbers the installed
# package gives: the same sources at the same positions.
run_app "$APP" calibrate "$SMOKE/night" --out "$SMOKE/calibrated" >/dev/null
run_app "$APP" detect "$SMOKE/calibrated" --out "$SMOKE/frozen" >/dev/null
# (from $SMOKE: in the repository root the source folder fluxion/ would shadow the install)
(cd "$SMOKE" && "$checker" -m fluxion.app.cli detect calibrated --out installed >/dev/null)
"$checker" - "$SMOKE/frozen" "$SMOKE/installed" <<'EOF'
import sys
from pathlib import Path
import numpy as np
from astropy.table import Table
frozen, installed = map(Path, sys.argv[1:])
files = sorted(frozen.glob("*.ecsv"))
assert len(files) == 2, f"detect wrote {len(files)} tables, expected 2"
for f in files:
    a, b = Table.read(f), Table.read(installed / f.name)
    assert len(a) >= 5 and len(a) == len(b), f"{f.name}: {len(a)} sources frozen, {len(b)} installed"
    shift = np.hypot(a["x"] - b["x"], a["y"] - b["y"]).max()
    assert shift < 1e-6, f"{f.name}: positions differ by up to {shift} px"
    print(f"detect {f.name}: {len(a)} sources, same positions as installed (max {shift:.1e} px)")
EOF

say "smoke test 4/4: the window opens the demo night (offscreen), then quits"
# FLUXION_QUIT_AFTER_MS makes the app exit 0 that long after the night's first
# frame is on screen, and non-zero when it never gets there.
run_app env FLUXION_QUIT_AFTER_MS=3000 timeout 300 "$APP" --demo --demo-dir "$SMOKE/night"
say "smoke test passed"
