#!/usr/bin/env bash
# Creates the Python environment of the AgentDojo corpus generator:
# .cache/venv-agentdojo (or $TETHER_CACHE/venv-agentdojo) with the pinned
# agentdojo package from PyPI. Idempotent: an environment that already has
# the pinned version is left alone. Prints the venv's python path.
set -euo pipefail
AGENTDOJO_VERSION=0.1.35
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${TETHER_CACHE:-$root/.cache}"
venv="$cache/venv-agentdojo"
python="${PYTHON:-python3}"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('agentdojo') != '$AGENTDOJO_VERSION')" 2>/dev/null; then
	echo "$venv/bin/python"
	exit 0
fi
mkdir -p "$cache"
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet "agentdojo==$AGENTDOJO_VERSION" >&2
echo "$venv/bin/python"
