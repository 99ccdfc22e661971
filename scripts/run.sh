#!/usr/bin/env bash
# Run Fluxion. With no arguments it opens the classroom demo night.
#   bash scripts/run.sh                 # the demo
#   bash scripts/run.sh /path/to/fits   # a folder of frames or a project
#   bash scripts/run.sh scan /path      # any headless subcommand
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
if [ $# -eq 0 ]; then
    exec fluxion --demo
fi
exec fluxion "$@"
