#!/usr/bin/env bash
# River HalfSpaceTrees vs Tether on the same labelled stream (default: the
# AgentDojo runs as `make eval` imports them into out/agentdojo). Builds
# bin/tether, creates the River environment (setup.sh), times `tether eval`
# on one core (GOMAXPROCS=1: reading, decoding and judging every event),
# runs halfspacetrees.py and prints events/s and hijacked AUROC of both;
# writes out/bench-peers.json. Not part of `make test`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
stream="${PEERS_STREAM:-out/agentdojo}"
if [[ ! -f "$stream/events.jsonl" ]]; then
	go run ./cmd/tether import agentdojo --out "$stream" ${AGENTDOJO:-}
fi
python="$(bench/peers/setup.sh)"
go build -o bin/tether ./cmd/tether
mkdir -p out
inv=()
[[ -f "$stream/inventory.yaml" ]] && inv=(--inventory "$stream/inventory.yaml")
t0=$(date +%s.%N)
GOMAXPROCS=1 bin/tether eval --quiet --events "$stream/events.jsonl" --labels "$stream/labels.jsonl" \
	"${inv[@]}" --json out/bench-peers-tether.json > /dev/null
t1=$(date +%s.%N)
secs=$(echo "$t1 - $t0" | bc -l)
"$python" bench/peers/halfspacetrees.py --events "$stream/events.jsonl" --labels "$stream/labels.jsonl" \
	--tether-json out/bench-peers-tether.json --tether-seconds "$secs" --json out/bench-peers.json "$@"
