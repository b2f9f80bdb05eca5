#!/usr/bin/env bash
# Creates the Python environment of the peers benchmark: .cache/venv-peers
# (or $TETHER_CACHE/venv-peers) with the pinned River package from PyPI
# (bench/venv.sh). Prints the venv's python path.
set -euo pipefail
exec "$(dirname "$0")/../venv.sh" peers river 0.26.1
