#!/usr/bin/env bash
# Fetches the Agent Threat Rules corpus (npm package agent-threat-rules,
# MIT) into .cache/atr with npm's ordinary client; the corpus is not
# committed. Prints the directory holding the rules.
set -euo pipefail
VERSION="${ATR_VERSION:-4.0.0}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/.cache/atr"
if [ ! -d "$dest/package" ] || [ "$(cat "$dest/version" 2>/dev/null)" != "$VERSION" ]; then
	rm -rf "$dest" && mkdir -p "$dest"
	(cd "$dest" && npm pack --silent "agent-threat-rules@$VERSION" >/dev/null && tar -xzf agent-threat-rules-"$VERSION".tgz)
	echo "$VERSION" >"$dest/version"
fi
echo "$dest/package"
