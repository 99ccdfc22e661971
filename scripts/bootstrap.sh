#!/usr/bin/env bash
# Make sure the system libraries Qt needs are present and the project's virtual
# environment (.venv) exists and is up to date. Sourced by run.sh and test.sh.
#
# Usage: source scripts/bootstrap.sh [extra-apt-packages...]
set -euo pipefail

FLUXION_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FLUXION_VENV:-$FLUXION_ROOT/.venv}"
PY="${PYTHON:-python3}"

# Qt's offscreen and xcb platforms load these at run time; pip cannot provide them.
QT_DEBS=(libgl1 libegl1 libxkbcommon0 libglib2.0-0 libfontconfig1 libdbus-1-3)

ensure_debs() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "fluxion: installing system packages: ${missing[*]}" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    else
        echo "fluxion: please install these system packages first: ${missing[*]}" >&2
        echo "         (e.g. sudo apt-get install ${missing[*]})" >&2
        return 1
    fi
}

if command -v dpkg-query >/dev/null 2>&1; then
    ensure_debs "${QT_DEBS[@]}" "$@"
fi

# (Re)install when the venv is missing or pyproject.toml or the pins changed since
# the last install. requirements/constraints.txt pins every package to the versions
# the tests last passed with (bash scripts/update-constraints.sh renews it).
STAMP="$VENV/.fluxion-installed"
PINS="$FLUXION_ROOT/requirements/constraints.txt"
WANT="$(cat "$FLUXION_ROOT/pyproject.toml" "$PINS" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
    echo "fluxion: creating virtual environment in $VENV" >&2
    "$PY" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "fluxion: installing Fluxion and its dependencies into $VENV" >&2
    "$VENV/bin/python" -m pip install -q -c "$PINS" --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -c "$PINS" -e "$FLUXION_ROOT[test]"
    echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
