#!/usr/bin/env bash
# Creates the Python environment of the peers benchmark: .cache/venv-peers
# (or $TETHER_CACHE/venv-peers) with the pinned River package from PyPI.
# Idempotent: an environment that already has the pinned version is left
# alone. Prints the venv's python path.
set -euo pipefail
RIVER_VERSION=0.26.1
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${TETHER_CACHE:-$root/.cache}"
venv="$cache/venv-peers"
python="${PYTHON:-python3}"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('river') != '$RIVER_VERSION')" 2>/dev/null; then
	echo "$venv/bin/python"
	exit 0
fi
mkdir -p "$cache"
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet "river==$RIVER_VERSION" >&2
echo "$venv/bin/python"
