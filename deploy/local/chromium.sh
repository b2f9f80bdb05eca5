#!/usr/bin/env bash
# chromium.sh — Debian's headless-capable Chromium for the console's browser
# tests (cmd/tether TestConsoleInBrowser drives it over the DevTools protocol).
#
#   deploy/local/chromium.sh install   apt-get install chromium if missing; prints TETHER_TEST_CHROMIUM=PATH
set -euo pipefail

log() { echo "chromium: $*" >&2; }
die() { log "$*"; exit 1; }

find_chromium() { command -v chromium || command -v chromium-browser || true; }

cmd_install() {
	local bin
	bin="$(find_chromium)"
	if [[ -z $bin ]]; then
		local sudo=""
		if [[ $(id -u) -ne 0 ]]; then
			command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install Debian's chromium by hand"
			sudo="sudo"
		fi
		log "installing chromium from the Debian archive (a few minutes the first time)"
		export DEBIAN_FRONTEND=noninteractive
		$sudo apt-get update -q >&2
		$sudo apt-get install -y -q chromium >&2 || die "apt-get install chromium failed"
		bin="$(find_chromium)"
		[[ -n $bin ]] || die "installed, but no chromium binary on PATH"
	fi
	log "$("$bin" --version 2>/dev/null || echo "$bin")"
	echo "TETHER_TEST_CHROMIUM=$bin"
}

case "${1:-}" in
install) cmd_install ;;
*)
	echo "usage: $0 install" >&2
	exit 2
	;;
esac
