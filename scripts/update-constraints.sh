#!/usr/bin/env bash
# Re-resolve Fluxion's dependencies to their newest releases and write the pins
# that scripts/bootstrap.sh installs (requirements/constraints.txt).
#
# Usage: bash scripts/update-constraints.sh
# Then run `bash scripts/test.sh` and commit requirements/constraints.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install -q --upgrade pip
# Every extra, so the pins cover whatever the scripts and the extras install.
EXTRAS="$(python3 - "$ROOT/pyproject.toml" <<'PYEOF'
import sys, tomllib
with open(sys.argv[1], "rb") as fh:
    print(",".join(tomllib.load(fh)["project"].get("optional-dependencies", {})))
PYEOF
)"
"$TMP/venv/bin/python" -m pip install -q "$ROOT[$EXTRAS]"
{
    echo "# Pinned versions installed by scripts/bootstrap.sh (pip -c)."
    echo "# Regenerate with: bash scripts/update-constraints.sh"
    "$TMP/venv/bin/python" -m pip freeze --exclude fluxion | grep -v '^-e '
    echo "pip==$("$TMP/venv/bin/python" -m pip --version | cut -d' ' -f2)"
} > "$ROOT/requirements/constraints.txt"
echo "wrote $ROOT/requirements/constraints.txt"
