#!/usr/bin/env bash
# Run Fluxion's test suite (lint, type check of the engine, then pytest offscreen
# with warnings as errors).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/core -x`.
set -euo pipefail
HERE="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck disable=SC2046
source "$HERE/bootstrap.sh" $(grep -v '^#' "$HERE/test-system-packages.txt")
cd "$FLUXION_ROOT"
export QT_QPA_PLATFORM=offscreen
ruff check core widgets app resources fluxion tests packaging scripts
# mypy checks core, widgets and app as the fluxion package they install as (pyproject.toml's
# [tool.mypy]): a tree of links gives it those names, which the editable install hides.
rm -rf build/mypy && mkdir -p build/mypy/fluxion && cp fluxion/__init__.py build/mypy/fluxion/ && for layer in core widgets app resources; do ln -s "$PWD/$layer" "build/mypy/fluxion/$layer"; done && mypy
set +e
python -m pytest "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
    echo "fluxion: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit $rc
