#!/usr/bin/env bash
# Regenerate testdata/otlp (OTLP fixtures from a scripted agent run) with the
# OpenTelemetry Python SDK in a venv under .cache (PyPI is needed once; the
# tests only read the checked-in files).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${TETHER_CACHE:-$root/.cache}/otlp-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q 'opentelemetry-sdk==1.45.2' 'opentelemetry-exporter-otlp-proto-common==1.45.2'
"$venv/bin/python" "$root/testdata/otlp/make_fixtures.py"
