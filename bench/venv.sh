#!/usr/bin/env bash
# Creates (or reuses) a pinned Python environment for one of the Python
# benchmarks and prints its python path:
#
#   bench/venv.sh NAME PACKAGE VERSION
#
# makes .cache/venv-NAME (or $TETHER_CACHE/venv-NAME) with PACKAGE==VERSION
# from PyPI. Idempotent: an environment that already has the pinned version
# is left alone. $PYTHON picks the interpreter (python3).
set -euo pipefail
if [[ $# -ne 3 ]]; then
	echo "usage: $0 NAME PACKAGE VERSION" >&2
	exit 2
fi
name="$1" package="$2" version="$3"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${TETHER_CACHE:-$root/.cache}"
venv="$cache/venv-$name"
python="${PYTHON:-python3}"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$package') != '$version')" 2>/dev/null; then
	echo "$venv/bin/python"
	exit 0
fi
mkdir -p "$cache"
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet "$package==$version" >&2
echo "$venv/bin/python"
