#!/usr/bin/env bash
# instructions.sh PKG BENCH [N]: instructions per iteration of one
# benchmark, from valgrind's cachegrind: the run with N+1 iterations minus
# the run with 1 iteration, divided by N (default 20000). Unlike wall
# time, the count does not depend on the machine's load, so it is what
# bench/README.md uses for before/after comparisons of the in-process path.
# GOGC=off: garbage collection, which varies from run to run, is left out
# (allocation itself is counted; compare allocs/op for the rest).
# Example: bench/instructions.sh ./bench 'RecordPath/agents=1k$'
set -euo pipefail
pkg=${1:?package}
bench=${2:?benchmark regexp}
n=${3:-20000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/x.test" "$pkg"
dir=$(go list -f '{{.Dir}}' "$pkg")
count() {
	(cd "$dir" && GOGC=off GOMAXPROCS=1 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
		"$tmp/x.test" -test.run '^$' -test.bench "$bench" -test.benchtime "${1}x" 2>&1 >/dev/null) |
		awk '/I *refs:/ {gsub(",", "", $NF); print $NF}'
}
one=$(count 1)
many=$(count $((n + 1)))
echo "$bench: $(( (many - one) / n )) instructions per iteration ($n iterations)"
