#!/usr/bin/env bash
# Creates the Python environment of the AgentDojo corpus generator:
# .cache/venv-agentdojo (or $TETHER_CACHE/venv-agentdojo) with the pinned
# agentdojo package from PyPI (bench/venv.sh). Prints the venv's python path.
set -euo pipefail
exec "$(dirname "$0")/../venv.sh" agentdojo agentdojo 0.1.35
