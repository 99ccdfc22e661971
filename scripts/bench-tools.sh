#!/usr/bin/env bash
# Install the reference tools that tests/benchmarks/ runs beside Fluxion, at the
# versions the benchmarks were measured with (requirements/benchmarks.txt, exotic.txt).
#
# Usage: bash scripts/bench-tools.sh [--exotic DIR]
#   (no option)   SExtractor, astrometry.net with the Tycho-2 index files (Debian
#                 packages), crowdsource and astroalign into .venv (pinned, --no-deps)
#   --exotic DIR  also EXOTIC in its own virtual environment DIR (its pins conflict
#                 with Fluxion's); then run bench_transit.py --exotic DIR/bin/exotic
# The tests never need any of these: only the benchmark scripts do, and each says
# what it skips when its tool is missing.
set -euo pipefail
EXOTIC_DIR=""
while [ $# -gt 0 ]; do
    case "$1" in
        --exotic) EXOTIC_DIR="${2:?--exotic needs a folder}"; shift 2 ;;
        *) echo "bench-tools: unknown option $1 (use --exotic DIR)" >&2; exit 2 ;;
    esac
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "bench-tools: run 'source scripts/bootstrap.sh' first (it makes .venv)" >&2; exit 1; }

# Debian packages: SExtractor (bench_detection_sextractor), solve-field and the
# index files for fields wider than ~0.4 deg (bench_astrometry).
PACKAGES="source-extractor astrometry.net astrometry-data-tycho2-10-19 astrometry-data-tycho2-09 astrometry-data-tycho2-08"
missing=""
for p in $PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q $missing >/dev/null
    else
        echo "bench-tools: needs Debian packages:$missing (sudo apt-get install$missing)" >&2
        exit 1
    fi
fi

# Python tools into .venv without their optional heavy dependencies (crowdsource's
# tensorflow is for its neural-network classifier, which the benchmarks do not use).
"$PY" -m pip install -q --no-deps -r "$ROOT/requirements/benchmarks.txt"
"$PY" - <<'PYEOF'
import crowdsource.crowdsource_base  # noqa: F401
import astroalign  # noqa: F401
print("bench-tools: crowdsource and astroalign import")
PYEOF

if [ -n "$EXOTIC_DIR" ]; then
    python3 -m venv "$EXOTIC_DIR"
    "$EXOTIC_DIR/bin/python" -m pip install -q -r "$ROOT/requirements/exotic.txt"
    "$EXOTIC_DIR/bin/exotic" --help >/dev/null
    echo "bench-tools: EXOTIC in $EXOTIC_DIR (bench_transit.py --exotic $EXOTIC_DIR/bin/exotic)"
fi
echo "bench-tools: solve-field $(command -v solve-field), source-extractor $(command -v source-extractor)"
