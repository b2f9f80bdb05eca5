# Tether's developer and CI entry points. `make test` is the one command that
# sets everything up (a local Kafka broker and ClickHouse server, see
# deploy/local/services.sh) and runs every test, integration tests included.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
AGENTDOJO ?= ../shared/datasets/agentdojo
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: build test test-short services-up services-down services-status demo eval eval-reworded corpus eval-corpus bench bench-contain bench-e2e bench-peers fuzz vet lint fmt

## build: compile the tether binary into bin/tether (version and commit from git; `bin/tether --version`)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/tether ./cmd/tether

## test: start Kafka and ClickHouse (idempotent), install the deployment linters (deploy/local/tools.sh), then run all tests
test:
	env_lines="$$(deploy/local/services.sh up)"; \
	tool_lines="$$(deploy/local/tools.sh)"; \
	set -a; eval "$$env_lines"; eval "$$tool_lines"; set +a; \
	echo "testing with TETHER_TEST_KAFKA=$$TETHER_TEST_KAFKA TETHER_TEST_CLICKHOUSE=$${TETHER_TEST_CLICKHOUSE:-}"; \
	$(GO) test -count=1 ./...

## test-short: unit tests only, no services needed
test-short:
	$(GO) test -short ./...

## services-up / services-down / services-status: the local Kafka and ClickHouse
services-up:
	deploy/local/services.sh up

services-down:
	deploy/local/services.sh down

services-status:
	deploy/local/services.sh status

## demo: the embedded demo (in-process broker, simulated fleet, Parquet findings)
demo:
	$(GO) run ./cmd/tether demo

## eval: import AgentDojo runs and score the detectors (AGENTDOJO=path to override)
eval:
	$(GO) run ./cmd/tether import agentdojo --out out/agentdojo $(AGENTDOJO)
	$(GO) run ./cmd/tether eval --events out/agentdojo/events.jsonl --labels out/agentdojo/labels.jsonl \
		--inventory out/agentdojo/inventory.yaml --json out/eval.json --plot out/roc.png

## eval-reworded: the AgentDojo evaluation with the injected text reworded in each
## style (REWORD_STYLES, seed REWORD_SEED; "mixed": a choice per run among them and the original,
## one stream): out/agentdojo-reworded/STYLE and out/eval-STYLE.json
REWORD_STYLES ?= prose notice values de es paraphrase mixed
REWORD_SEED   ?= 1
## (plus the original as out/eval.json) and the combined tables in out/eval-reworded.md
eval-reworded: build
	bin/tether import agentdojo --out out/agentdojo $(AGENTDOJO)
	bin/tether eval --quiet --events out/agentdojo/events.jsonl --labels out/agentdojo/labels.jsonl \
		--inventory out/agentdojo/inventory.yaml --json out/eval.json > out/eval.txt
	reports="original=out/eval.json"; \
	for style in $(REWORD_STYLES); do \
		bin/tether import agentdojo --reword $$style --seed $(REWORD_SEED) --out out/agentdojo-reworded/$$style $(AGENTDOJO); \
		bin/tether eval --quiet --events out/agentdojo-reworded/$$style/events.jsonl --labels out/agentdojo-reworded/$$style/labels.jsonl \
			--inventory out/agentdojo-reworded/$$style/inventory.yaml --json out/eval-$$style.json > out/eval-$$style.txt; \
		reports="$$reports reword-$$style=out/eval-$$style.json"; \
	done; \
	bin/tether eval combine --md out/eval-reworded.md $$reports

## corpus: the development corpus from AgentDojo's ground truth (every suite version, user
## task, injection task and attack template; bench/corpus), as a labelled stream in out/corpus.
## Needs the Python environment bench/corpus/setup.sh creates (.cache/venv-agentdojo).
CORPUS_ARGS ?=
corpus: build
	python="$$(bench/corpus/setup.sh)"; \
	mkdir -p out/corpus; \
	"$$python" bench/corpus/generate.py --out out/corpus/runs.jsonl $(CORPUS_ARGS)
	bin/tether import agentdojo --out out/corpus out/corpus/runs.jsonl

## eval-corpus: score the detectors on the corpus (out/eval-corpus.json, per-template tables)
eval-corpus: build
	bin/tether eval --quiet --events out/corpus/events.jsonl --labels out/corpus/labels.jsonl \
		--inventory out/corpus/inventory.yaml --json out/eval-corpus.json > out/eval-corpus.txt
	bin/tether eval combine --md out/eval-corpus.md corpus=out/eval-corpus.json

## bench: every benchmark, no tests
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## bench-e2e: end-to-end throughput and latency against the local Kafka and
## ClickHouse (started if needed): E2E_EVENTS events (default 500k) into a
## fresh topic, a plain franz-go consumer, `tether run` with ClickHouse on
## and off; writes out/bench-e2e.json (see bench/README.md)
E2E_EVENTS ?= 500000
E2E_AGENTS ?= 5000
bench-e2e: build
	env_lines="$$(deploy/local/services.sh up)"; \
	set -a; eval "$$env_lines"; set +a; \
	mkdir -p out; \
	$(GO) run ./bench/e2e -events $(E2E_EVENTS) -agents $(E2E_AGENTS) -tether bin/tether -out out/bench-e2e.json

## bench-peers: River HalfSpaceTrees (own venv, .cache/venv-peers) vs Tether on the
## AgentDojo stream of `make eval` (out/agentdojo): events/s and hijacked AUROC of both,
## out/bench-peers.json (bench/peers/README.md); not part of `make test`
bench-peers:
	bench/peers/run.sh

## fuzz: run each Fuzz target for FUZZTIME (default 10s)
fuzz:
	found=0; \
	for dir in $$($(GO) list -f '{{.Dir}}' ./...); do \
		for target in $$(grep -hoE '^func Fuzz[A-Za-z0-9_]*' "$$dir"/*_test.go 2>/dev/null | awk '{print $$2}'); do \
			found=1; \
			echo "fuzz: $$target in $$dir for $(FUZZTIME)"; \
			(cd "$$dir" && $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) .); \
		done; \
	done; \
	if [[ $$found == 0 ]]; then echo "fuzz: no Fuzz targets found"; fi

## vet: go vet
vet:
	$(GO) vet ./...

## lint: go vet and staticcheck (fetched through the Go module proxy, pinned)
lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## fmt: gofmt -s every package in place
fmt:
	gofmt -s -w $$($(GO) list -f '{{.Dir}}' ./...)

## bench-contain: containment loop latency on the real broker and ClickHouse (1,000 and 20,000 events/s)
bench-contain:
	$(GO) test -run '^$$' -bench BenchmarkContainLoop -benchtime 1x -timeout 20m ./bench/contain/
